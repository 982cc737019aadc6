"""Per-layer, teacher-forced parity: which layer of a flatbuffer disagrees with Keras, and why.

:func:`diagnose` runs the flatbuffer once with its intermediate tensors tapped as extra outputs
(:func:`~lq_ext.converters._flatbuffer_edit.with_outputs`; the tapped file's own outputs are
checked to equal the untapped file's bit for bit), maps each tapped tensor to the Keras layer
whose output it is (the layer name in the tensor name), then walks the Keras graph layer by
layer, feeding every layer the flatbuffer's own values where the flatbuffer has them. Each
tapped tensor closes a segment, compared element by element: a difference is a *tie* when a
binarizer input computed inside the segment sits within round-off of its threshold and taking
the other sign there moves that element, a *mismatch* otherwise. Against an int8 clone
(``convert(..., int8=True)``) int8 tensors are compared too, dequantized, to one quantization
step where the clone's value could round either way; so are the 8-/4-bit fake-quant parts of a
float model (PokeBNN), each quantizer a boundary. The long story: docs/guides/parity.md,
"Per-layer diagnosis", "Per-layer diagnosis in int8 mode" and "Per-layer diagnosis of the 8-/4-bit parts".
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import tensorflow as tf
from tensorflow.lite.python import schema_py_generated as schema

from lq_ext.converters import parity
from lq_ext.converters._flatbuffer import read_model
from lq_ext.converters._flatbuffer_edit import with_outputs
from lq_ext.converters._quantized_boundaries import (
    MAC_OPS,
    ROUNDING,
    before_rounding,
    feeds_input_quantizer,
    feeds_mac,
    float_input_quantizer,
    input_quantizer,
    layer_name,
    quantized_inputs,
    range_after,
    without_input_quantizer,
)
from lq_ext.converters._requantization import requantizations
from lq_ext.converters._roundoff_terms import summed_terms
from lq_ext.converters._tensor_names import untruncated
from lq_ext.converters.verify import parity_inputs

__all__ = ["DEFAULT_SEGMENT_RTOL", "DEFAULT_TIE_RTOL", "DIAGNOSIS_MEMORY", "INT8_MIDPOINT", "INT8_STEPS", "Diagnosis",
           "Segment", "diagnosable", "diagnose", "images_per_batch"]

#: Round-off bound of one segment: |keras − tflite| ≤ this · max|keras| (per sample and tensor).
DEFAULT_SEGMENT_RTOL = 1e-5
#: A binarizer input is a tie candidate when |x| ≤ this · max|x| (per sample and tensor).
DEFAULT_TIE_RTOL = 1e-5
#: An int8 tensor may differ from the int8 clone by this many of its quantization steps (TFLite
#: rounds its integer arithmetic, the clone its float arithmetic; the slack absorbs float
#: round-off of the step itself).
INT8_STEPS = 1.0 + 1e-3
#: ... where the clone's value before rounding lies within this many steps of the midpoint
#: between the two grid values (measured: see docs/guides/parity.md, "int8 mode").
INT8_MIDPOINT = 0.4
#: What ``diagnose(batch_size="auto")`` lets its images' activations take at once, in bytes: the
#: Keras values, their tie-flipped twins and the flatbuffer's taps (4 float32 copies of every
#: layer output, estimated from the model). 20 images of PokeBNN-1.0 at 224 px took 13 GB.
DIAGNOSIS_MEMORY = 2 * 2**30


@dataclass(frozen=True)
class Segment:
    """One compared tensor: the Keras layers evaluated since the previous one, the flatbuffer op
    that made it, and what differs (counted over all samples)."""

    layers: tuple[str, ...]  # Keras layers of the segment, the compared one last
    op: str  # the flatbuffer op whose output tensor is compared
    tensor: str
    elements: int
    ties: int
    mismatches: int
    max_abs_diff: float
    scale: float  # max |keras| of the compared tensor
    step: float = 0.0  # the int8 step of the compared tensor (0: a float tensor)
    steps: int = 0  # int8: elements one step apart (rounding, within the bound), counted apart
    midpoint: float = 0.0  # int8: the largest distance of the clone's value before rounding from the
    # midpoint between the two grid values, over the one-step elements, in steps (0: none measured)

    @property
    def layer(self) -> str:
        return self.layers[-1]


@dataclass(frozen=True)
class Diagnosis:
    """The per-segment comparison; ``passed`` when no segment has an unexplained mismatch."""

    segments: tuple[Segment, ...]
    n_samples: int
    taps_exact: bool  # the tapped flatbuffer's outputs equal the untapped ones bit for bit
    unmapped: tuple[str, ...]  # non-constant float tensors no Keras layer could be matched to
    rtol: float
    tie_rtol: float
    whole: parity.ParityReport | None = None  # the whole-output comparison, when made

    @property
    def mismatches(self) -> int:
        return sum(s.mismatches for s in self.segments)

    @property
    def ties(self) -> int:
        return sum(s.ties for s in self.segments)

    @property
    def first_divergence(self) -> Segment | None:
        """The first segment (execution order) with an unexplained mismatch."""
        return next((s for s in self.segments if s.mismatches), None)

    @property
    def passed(self) -> bool:
        return self.taps_exact and not self.mismatches

    def format(self, whole: bool = True) -> str:
        """The per-segment table; with ``whole``, the whole-output comparison too (if any)."""
        int8 = any(s.step for s in self.segments)
        rows = [("layer", "op", "elements", "ties", "mismatches", "max |diff|", "max |keras|") + ("int8 step", "1 step off", "from midpoint") * int8]
        for s in self.segments:
            name = s.layer if len(s.layers) == 1 else f"{s.layer} (+{len(s.layers) - 1})"
            row = (name, s.op, f"{s.elements:,}", str(s.ties), str(s.mismatches), f"{s.max_abs_diff:.3g}", f"{s.scale:.3g}")
            rows.append(row + ((f"{s.step:.3g}", str(s.steps), f"{s.midpoint:.2f}") if s.step else ("-", "-", "-")) * int8)
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        table = ["  " + "  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))) for r in rows]
        first = self.first_divergence
        status = "passed" if self.passed else "FAILED"
        lines = [
            f"Per-layer parity (teacher-forced, {len(self.segments)} segments, {self.n_samples} samples): {status}",
            f"  {self.mismatches} mismatched elements, {self.ties} ties (binarizer inputs within "
            f"{self.tie_rtol:g}·max of the threshold); round-off bound {self.rtol:g}·max|keras|",
            "  first divergence: " + (f"{first.layer} ({first.op}, {first.mismatches} elements, max |diff| {first.max_abs_diff:.3g})" if first else "none"),
        ]
        if not self.taps_exact:
            lines.append("  the tapped flatbuffer's outputs differ from the untapped one's: the comparison is unreliable")
        if self.unmapped:
            lines.append(f"  not compared (no Keras layer found): {len(self.unmapped)} tensor(s), e.g. {self.unmapped[0]!r}")
        lines += table
        if whole and self.whole is not None:
            lines += ["Whole-output comparison:", self.whole.format()]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.format()


#: Ops whose output is a binarizer's inside the layer named in it (its input quantizer), not
#: that layer's output.
_INSIDE_A_LAYER = ("LceQuantize", "LceDequantize")
#: Elementwise ops with a constant operand: a tensor consumed only by such ops is taken for a
#: partial result (a BatchNorm split into MUL + ADD names the MUL after the BatchNorm and folds
#: its ADD into the next layer's bias), so it is not compared; the segment grows instead.
_AFFINE = ("ADD", "SUB", "MUL", "DIV", "PRELU")


def _partial(index, consumers, tensors) -> bool:
    ops = consumers.get(index, ())
    return bool(ops) and all(
        op.op_type in _AFFINE and any(i >= 0 and i != index and tensors[i].constant for i in op.inputs) for op in ops
    )


def _continued(index, consumers, tensors, model_name) -> bool:
    """Every op that reads the tensor writes one named after the same layer (an Add of three
    inputs as two ADDs): the layer's output comes later."""
    name = layer_name(tensors[index].name, model_name)
    ops = consumers.get(index, ())
    return bool(ops) and all(layer_name(tensors[op.outputs[0]].name, model_name) == name for op in ops)


def diagnosable(model) -> bool:
    """Whether :func:`diagnose` can walk ``model``: a functional model with one input."""
    return isinstance(model, tf.keras.Model) and getattr(model, "_is_graph_network", False) and len(model.inputs) == 1


def _subgraph_outputs(buf: bytes) -> list[int]:
    return [int(i) for i in schema.Model.GetRootAs(buf, 0).Subgraphs(0).OutputsAsNumpy()]


def _int8_params(buf: bytes) -> dict[int, tuple[float, int]]:
    """{tensor index: (scale, zero point)} of the per-tensor quantized int8 tensors (subgraph 0)."""
    subgraph = schema.Model.GetRootAs(buf, 0).Subgraphs(0)
    params = {}
    for index in range(subgraph.TensorsLength()):
        tensor = subgraph.Tensors(index)
        quantization = tensor.Quantization()
        if tensor.Type() == schema.TensorType.INT8 and quantization is not None and quantization.ScaleLength() == 1:
            params[index] = (float(quantization.Scale(0)), int(quantization.ZeroPoint(0)) if quantization.ZeroPointLength() else 0)
    return params


def _node_consumers(model) -> dict:
    consumers = {}
    for depth in model._nodes_by_depth.values():
        for node in depth:
            for input_id in () if node.is_input else node.flat_input_ids:
                consumers.setdefault(input_id, []).append(node)
    return consumers


def _boundaries(model, graph, outputs, int8) -> tuple[dict, list[str]]:
    """{keras tensor id: (tflite tensor index, op type)}, and the float and int8 tensors left
    unmapped; ``int8``: the int8 tensors' quantization (:func:`_int8_params`)."""
    model_nodes = {id(n) for depth in model._nodes_by_depth.values() for n in depth}
    nodes = {}
    for layer in model.layers:
        own = [n for n in layer._inbound_nodes if id(n) in model_nodes]
        if len(own) == 1 and len(own[0].flat_output_ids) == 1:
            nodes[layer.name] = own[0]
    tensors = graph.tensors[0]
    producer = {t: op.op_type for op in graph.operators if op.subgraph == 0 for t in op.outputs}
    consumers = {}
    for op in graph.operators:
        for i in op.inputs if op.subgraph == 0 else ():
            consumers.setdefault(i, []).append(op)
    node_consumers = _node_consumers(model)
    found = {str(id(k)): (index, producer.get(index, "input")) for k, index in zip(model.outputs, outputs)}
    quantized_in = quantized_inputs(nodes, producer, tensors, int8, model.name)
    dequantized_int8 = {op.outputs[0] for op in graph.operators
                        if op.subgraph == 0 and op.op_type == "DEQUANTIZE" and op.inputs[0] in int8}
    unmapped = []
    for index, op_type in producer.items():
        if (tensors[index].dtype != "float32" and index not in int8) or index in outputs or op_type in _INSIDE_A_LAYER:
            continue
        if index in quantized_in.values():
            continue  # an input quantizer's output: compared inside its layer
        node = nodes.get(layer_name(tensors[index].name, model.name))
        if node is not None and op_type not in MAC_OPS and float_input_quantizer(node.layer) \
                and feeds_mac(index, consumers, tensors):
            continue  # a step of the layer's own float input quantizer: the segment grows
        # an int8 tensor the clone quantizes is a layer's whole output, whoever reads it
        ranged = index in int8 and node is not None and range_after(node, node_consumers)
        # the float image of an int8 tensor is a rounded layer output too, whatever affine op
        # reads it, unless the layer continues after it (BD-Net's exact-int8 ternary depth-wise
        # conv: an integer sum its own MUL still scales)
        dequantized = index in dequantized_int8
        reached = feeds_input_quantizer(index, consumers, tensors, quantized_in) if index in int8 else None
        if reached is not None and (not ranged or node.layer.name == reached):
            continue  # a step of an input quantizer (a QUANTIZE, a clip, a shift)
        if not ranged and index in int8 and consumers.get(index) and all(op.op_type == "DEQUANTIZE" for op in consumers[index]):
            continue  # compared as its float image
        if not ranged and (
            (not dequantized and _partial(index, consumers, tensors)) or _continued(index, consumers, tensors, model.name)
        ):
            continue
        if node is not None and _binarizes_input(node.layer) and all(
            op.op_type == "LceQuantize" for op in consumers.get(index, ())
        ):
            continue  # the input of the layer's own binarizer (e.g. RSign's x - threshold)
        if node is None or tuple(node.outputs.shape[1:]) != tensors[index].shape[1:]:
            unmapped.append(tensors[index].name)
            continue
        output_id = ranged or node.flat_output_ids[0]
        if output_id not in found:
            found[output_id] = (index, op_type)
    return found, unmapped, quantized_in


def _fused_successors(model, found) -> dict:
    """{keras tensor id: the output id of its only consumer} where that consumer has one input
    and one output of the same shape and no tensor of its own: a tensor named after a layer can
    hold that layer and its successor fused (a conv with a BatchNorm folded into its weights)."""
    consumers = _node_consumers(model)
    chained = {}
    for output_id in found:
        nodes = consumers.get(output_id, [])
        if len(nodes) == 1 and len(nodes[0].flat_input_ids) == 1 and len(nodes[0].flat_output_ids) == 1:
            after = nodes[0].flat_output_ids[0]
            if after not in found and nodes[0].outputs.shape == nodes[0].keras_inputs[0].shape:
                chained[output_id] = after
    return chained


def _dequantized(value, params):
    """An int8 tap as the real values it stands for (``params``: its scale and zero point)."""
    if params is None or value.dtype != np.int8:
        return value
    scale, zero_point = params
    return ((value.astype(np.float64) - zero_point) * scale).astype(np.float32)


class _Value:
    """A tensor_dict entry that Node.map_arguments may pop any number of times."""

    def __init__(self, value):
        self.value = value

    def pop(self):
        return self.value


def _binarizes_input(layer) -> bool:
    quantizer = getattr(layer, "input_quantizer", None)
    return quantizer is not None and getattr(quantizer, "precision", None) == 1


def _tie_flipped(x, tie_rtol):
    """``x`` with every element within ``tie_rtol``·max|x| (per sample) of 0 given the other sign."""
    x = tf.convert_to_tensor(x)
    scale = tf.reduce_max(tf.abs(tf.reshape(x, (tf.shape(x)[0], -1))), axis=1)
    scale = tf.reshape(scale, [-1] + [1] * (len(x.shape) - 1))
    tie = tf.abs(x) <= tie_rtol * scale
    other = tf.where(x >= 0, -tf.ones_like(x), tf.ones_like(x)) * tf.maximum(tf.abs(x), 1e-30)
    return tf.where(tie, other, x)


def _segment_layers(node, producers, forced, forced_inputs, order) -> tuple[str, ...]:
    """The layers of the segment that ends at ``node``, in the walk's ``order``: ``node``'s and,
    back through its inputs, every one whose output was not compared (``forced``: the tensor ids
    compared and forced; ``forced_inputs``: the layers whose quantized input was). Other
    branches walked meanwhile are not in it."""
    found, stack = {}, [node]
    while stack:
        current = stack.pop()
        if id(current) in found:
            continue
        found[id(current)] = current
        if current.layer.name in forced_inputs:
            continue
        stack.extend(producers[i] for i in current.flat_input_ids if i not in forced and i in producers)
    return tuple(n.layer.name for n in sorted(found.values(), key=lambda n: order[id(n)]))


def _adds_offset(layer) -> bool:
    """Whether ``layer`` adds a nonzero constant the converter folds into a conv's int32 bias:
    its own bias, or a BatchNormalization's shift (beta, moving mean)."""
    return any(weight.name.rsplit("/", 1)[-1].split(":")[0] in ("bias", "beta", "moving_mean")
               and np.any(weight.numpy()) for weight in layer.weights)


def _midpoint(requantization, names, layers):
    """The midpoint allowance of a segment of the Keras layers ``names``: the int8 conv's
    requantization slack per output channel, with the bias's half step when the file's bias is
    nonzero or any of the layers adds a float offset (which may have rounded to zeros);
    :data:`INT8_MIDPOINT` for any other tensor."""
    if requantization is None:
        return INT8_MIDPOINT
    return requantization.slack(any(_adds_offset(layers[name]) for name in names if name in layers))


def _compare(keras, normal_flipped, tflite, rtol, step=0.0, raw=None, summed=None, midpoint=INT8_MIDPOINT):
    """(ties, mismatches, max |diff|, scale, step, elements one int8 step off, their largest
    distance from the midpoint in steps) of one segment.

    Round-off is bounded by ``rtol`` times max |keras| (or max |tflite|) of the sample, or, for
    a segment ending in a sum (``_roundoff_terms.summed_terms``: a mean, a float ``Dense``), max
    |``summed``|, the size of its terms: summation error follows them, and a sum of large
    terms that nearly cancel is small.

    An int8 tensor (``step`` > 0) may differ by one step where TFLite's integer arithmetic
    rounds the other way: where ``raw`` (the value the segment's last layer rounds, if it is an
    int8 clone's range or a fake-quant quantizer: ``_quantized_boundaries.before_rounding``)
    lies within ``midpoint`` steps of the midpoint between the two grid values (default
    :data:`INT8_MIDPOINT`); a one-step difference elsewhere is a mismatch. On an int8 conv's
    output ``midpoint`` is its requantization slack per output channel
    (:meth:`~lq_ext.converters._requantization.Requantization.slack`), and any element within
    ½ + slack steps of ``raw`` is explained, also more than one step away (a bias on a grid
    coarser than the output's)."""
    k = np.asarray(keras, np.float64).reshape(len(keras), -1)
    f = np.asarray(tflite, np.float64).reshape(k.shape)
    moved = np.asarray(normal_flipped, np.float64).reshape(k.shape)
    scale = np.abs(k).max(axis=1, keepdims=True)
    magnitude = np.maximum(scale, np.abs(f).max(axis=1, keepdims=True))
    if summed is not None:
        magnitude = np.maximum(magnitude, np.abs(np.asarray(summed, np.float64).reshape(len(k), -1)).max(axis=1, keepdims=True))
    roundoff = rtol * magnitude
    bound = roundoff + INT8_STEPS * step
    diff = np.abs(k - f)
    differs = ~(diff <= bound)
    tie = differs & (np.abs(moved - k) > bound)
    mismatches = differs & ~tie
    steps = (diff > 0.5 * step) & ~differs if step else np.zeros_like(differs)
    farthest = 0.0
    if step and raw is not None:
        raw = np.asarray(raw, np.float64).reshape(k.shape)
        slack = _per_element(midpoint, k.shape)
        distance = np.abs(raw - (k + f) / 2)
        if np.ndim(midpoint):
            # an int8 conv's output: TFLite's value lies within ½ + slack steps of the exact one
            # (for a one-step element: the exact one within slack of the midpoint); with a
            # multiplier above 1 the int32 bias's grid spans several output steps
            mismatches = (mismatches | steps) & ~(np.abs(raw - f) <= (0.5 + slack) * step + roundoff)
        else:
            mismatches |= steps & ~(distance <= slack * step + roundoff)
        farthest = float(distance[steps].max(initial=0.0) / step)
    return (int(tie.sum()), int(mismatches.sum()), float(np.nan_to_num(diff, nan=np.inf).max(initial=0.0)),
            float(scale.max(initial=0.0)), step, int(steps.sum()), farthest)


def _per_element(midpoint, shape):
    """``midpoint`` (a number, or one per channel of the last axis) over ``shape`` (n, elements);
    the largest one where the channels do not divide the elements."""
    midpoint = np.asarray(midpoint, np.float64)
    if midpoint.ndim == 0:
        return float(midpoint)
    if shape[1] % midpoint.size:
        return float(midpoint.max())
    return np.tile(midpoint, shape[1] // midpoint.size)[None, :]


def diagnose(model, flatbuffer_or_path, inputs=None, *, kernel: str = "optimized", rtol: float = DEFAULT_SEGMENT_RTOL,
             tie_rtol: float = DEFAULT_TIE_RTOL, whole: parity.ParityReport | None = None,
             batch_size: int | str = "auto") -> Diagnosis:
    """Compare ``model`` with the flatbuffer segment by segment, teacher-forced.

    # Arguments
        model: the functional ``tf.keras.Model`` that was converted (single input).
        flatbuffer_or_path: the ``.tflite`` bytes or path.
        inputs: array (n, *input_shape); default: the built-in sample images as ``convert`` uses.
        kernel: LCE Interpreter kernel (:data:`lq_ext.converters.parity.KERNELS`).
        rtol: round-off bound of one segment (relative to max |keras| of the tensor).
        tie_rtol: how close to its threshold (relative to max |input|) a binarizer input is a tie.
        whole: a whole-output :class:`~lq_ext.converters.ParityReport` to keep in the report.
        batch_size: images compared at once, a positive int or ``"auto"`` (default): as many
            as fit :data:`DIAGNOSIS_MEMORY` (all of them for small inputs). The counts are the
            same for any batch size; only the memory and the time change.

    # Returns
        A :class:`Diagnosis`; ``print`` it for the per-layer table.
    """
    if not diagnosable(model):
        raise ValueError(
            f"diagnose needs a functional tf.keras.Model with one input, got {type(model).__name__}"
            + (f" with {len(model.inputs)} inputs" if getattr(model, "inputs", None) else "") + "."
        )
    if kernel not in parity.KERNELS:
        raise ValueError(f"kernel={kernel!r} is not one of {sorted(parity.KERNELS)}.")
    if batch_size != "auto" and not (isinstance(batch_size, (int, np.integer)) and not isinstance(batch_size, bool)
                                     and batch_size > 0):
        raise ValueError(f"batch_size must be a positive int or 'auto', got batch_size={batch_size!r}.")
    buf, graph = read_model(flatbuffer_or_path)
    graph = untruncated(graph, model)
    if inputs is None:
        inputs, _ = parity_inputs(model, None)
    inputs = np.asarray(inputs, np.float32)
    plan = _tap_plan(model, buf, graph)
    batch = images_per_batch(model) if batch_size == "auto" else int(batch_size)
    parts = [_diagnose_images(model, buf, graph, plan, inputs[i:i + batch], kernel, rtol, tie_rtol)
             for i in range(0, len(inputs), batch)]
    segments = _merged([part[0] for part in parts])
    return Diagnosis(segments, len(inputs), all(part[1] for part in parts), plan.unmapped, rtol, tie_rtol, whole)


def images_per_batch(model, memory: int = DIAGNOSIS_MEMORY) -> int:
    """How many images :func:`diagnose` compares at once within ``memory`` bytes (at least 1):
    4 float32 copies of every layer output of ``model`` per image."""
    elements = 0
    for nodes in model._nodes_by_depth.values():
        for node in nodes:
            for tensor in tf.nest.flatten(node.outputs):
                elements += int(np.prod([d or 1 for d in tensor.shape[1:]]))
    return max(1, memory // (16 * max(elements, 1)))


def _merged(parts: list[tuple[Segment, ...]]) -> tuple[Segment, ...]:
    """The segments of several batches of images as one: counts added, maxima taken, keyed by
    the compared tensor (a batch may compare a tensor at a fused successor's layer), in the
    order of their first appearance; a segment with mismatches names its layers."""
    merged: dict[str, Segment] = {}
    for segments in parts:
        for s in segments:
            m = merged.get(s.tensor)
            if m is None:
                merged[s.tensor] = s
                continue
            merged[s.tensor] = dataclasses.replace(
                m if m.mismatches or not s.mismatches else s,
                elements=m.elements + s.elements, ties=m.ties + s.ties, mismatches=m.mismatches + s.mismatches,
                max_abs_diff=max(m.max_abs_diff, s.max_abs_diff), scale=max(m.scale, s.scale),
                steps=m.steps + s.steps, midpoint=max(m.midpoint, s.midpoint))
    return tuple(merged.values())


@dataclass(frozen=True)
class _TapPlan:
    """What :func:`diagnose` compares, read from the model and the flatbuffer once for every
    batch of images: the Keras tensor ↔ flatbuffer tensor map and the tapped flatbuffer."""

    int8: dict  # tensor index → (scale, zero point) of the int8 tensors
    requantized: dict  # int8 conv outputs: their slack, else INT8_MIDPOINT
    layers: dict  # layer name → layer
    found: dict  # Keras output id → (tensor index, op type)
    unmapped: tuple[str, ...]
    quantized_in: dict  # layer name → tensor index of its quantized input
    producer: dict  # tensor index → op type
    steps: dict  # tensor index → int8 step
    order: list  # tensor indices of the tapped flatbuffer's outputs
    tapped: bytes  # the flatbuffer with every compared tensor an output
    successor: dict  # Keras output id → its fused successor's


def _tap_plan(model, buf, graph) -> _TapPlan:
    outputs = _subgraph_outputs(buf)
    int8 = _int8_params(buf)
    found, unmapped, quantized_in = _boundaries(model, graph, outputs, int8)
    steps = {index: scale for index, (scale, _) in int8.items()}
    steps.update({op.outputs[0]: int8[op.inputs[0]][0] for op in graph.operators
                  if op.subgraph == 0 and op.op_type == "DEQUANTIZE" and op.inputs[0] in int8})
    taps = sorted({index for index, _ in found.values()} | set(quantized_in.values()))
    return _TapPlan(
        int8=int8, requantized=requantizations(buf), layers={layer.name: layer for layer in model.layers},
        found=found, unmapped=tuple(unmapped), quantized_in=quantized_in,
        producer={t: op.op_type for op in graph.operators if op.subgraph == 0 for t in op.outputs},
        steps=steps, order=outputs + [t for t in taps if t not in outputs], tapped=with_outputs(buf, taps),
        successor=_fused_successors(model, found),
    )


def _diagnose_images(model, buf, graph, plan: _TapPlan, inputs, kernel, rtol, tie_rtol):
    """``(segments, taps exact)`` of :func:`diagnose` on one batch of images."""
    int8, requantized, layers, found = plan.int8, plan.requantized, plan.layers, plan.found
    quantized_in, producer, steps, successor = plan.quantized_in, plan.producer, plan.steps, plan.successor
    plain = parity._as_list(parity.run_interpreter(buf, inputs, kernel=kernel))
    tapped = parity._as_list(parity.run_interpreter(plan.tapped, inputs, kernel=kernel))
    taps_exact = all(np.array_equal(a, b, equal_nan=True) for a, b in zip(plain, tapped))
    values = {index: _dequantized(value, int8.get(index)) for index, value in zip(plan.order, tapped)}

    normal, flipped = {}, {}
    for keras_input in model.inputs:
        normal[str(id(keras_input))] = flipped[str(id(keras_input))] = _Value(tf.constant(inputs))
    forced = {str(id(k)) for k in model.inputs}
    segments, deferred, reduced = [], {}, {}
    producers, order, forced_inputs = {}, {}, set()  # for _segment_layers
    for depth in sorted(model._nodes_by_depth, reverse=True):
        for node in model._nodes_by_depth[depth]:
            if node.is_input:
                continue
            layer = node.layer
            order[id(node)] = len(order)
            producers.update(dict.fromkeys(node.flat_output_ids, node))
            args, kwargs = node.map_arguments(normal)
            flipped_args, flipped_kwargs = node.map_arguments(flipped)
            if _binarizes_input(layer) and node.flat_input_ids and node.flat_input_ids[0] not in forced:
                flipped_args = (_tie_flipped(flipped_args[0], tie_rtol),) + tuple(flipped_args[1:])
            raw = before_rounding(layer, args[0]) if args else None  # the value before rounding, if it rounds
            terms_in = reduced.get(node.flat_input_ids[0]) if node.flat_input_ids else None
            quantizer, quantized = input_quantizer(layer), quantized_in.get(layer.name)
            if quantizer is not None and quantized is not None:
                # the layer's quantized input is a boundary of its own: compare, then force it
                fb = values[quantized].reshape(tuple(args[0].shape))
                segments.append(Segment(
                    _segment_layers(node, producers, forced, forced_inputs, order)[:-1] + (f"{layer.name}.input_quantizer",),
                    producer.get(quantized, "input"),
                    graph.tensors[0][quantized].name, int(fb.size),
                    *_compare(quantizer(args[0]).numpy(), quantizer(flipped_args[0]).numpy(), fb, rtol,
                              steps.get(quantized, 0.0), before_rounding(quantizer, args[0]), terms_in)))
                forced_inputs.add(layer.name)
                args = (tf.constant(fb),) + tuple(args[1:])
                flipped_args = (tf.constant(fb),) + tuple(flipped_args[1:])
                terms_in = None
            with without_input_quantizer(layer, quantized is not None):
                summed = summed_terms(layer, args[0], terms_in, rtol=rtol) if args else None  # what a sum's round-off follows
                if isinstance(layer, ROUNDING) and node.flat_input_ids:
                    summed = reduced.get(node.flat_input_ids[0])  # an int8 mean's range keeps the mean's bound
                out = tf.nest.flatten(layer(*args, **kwargs))
                out_flipped = tf.nest.flatten(layer(*flipped_args, **flipped_kwargs))
            for output_id, a, b in zip(node.flat_output_ids, out, out_flipped):
                target = found.get(output_id) or deferred.get(output_id, (None,))[0]
                if target is not None:
                    index, op_type = target
                    fb = values[index].reshape(a.shape)
                    names = _segment_layers(node, producers, forced, forced_inputs, order)
                    segment = Segment(names, op_type, graph.tensors[0][index].name, int(fb.size), *_compare(
                        a.numpy(), b.numpy(), fb, rtol, steps.get(index, 0.0), raw, summed,
                        _midpoint(requantized.get(index), names, layers)))
                    if segment.mismatches and output_id in successor and not isinstance(layer, ROUNDING):
                        # the tensor may be this layer's successor's output (fused, named after this one)
                        deferred[successor[output_id]] = (target, segment)
                    else:
                        if segment.mismatches and output_id in deferred:
                            segment = deferred[output_id][1]  # neither matches: report the first
                        segments.append(segment)
                        a = b = tf.constant(fb)
                        forced.add(output_id)
                normal[output_id], flipped[output_id] = _Value(a), _Value(b)
                if summed is not None:
                    reduced[output_id] = summed
    return tuple(segments), taps_exact
