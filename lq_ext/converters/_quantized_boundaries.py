"""The quantized boundaries of the per-layer diagnosis: which int8 tensors of a flatbuffer hold
a rounding layer's output (an int8 clone's :class:`Int8Range`, a fake-quant
:class:`~lq_ext.fake_quant.IntActivationQuantizer` layer) or a layer's quantized input (an
``input_quantizer``), and the value each rounds. The long story: docs/guides/parity.md,
"Per-layer diagnosis in int8 mode" and "Per-layer diagnosis of the 8-/4-bit parts"."""

from __future__ import annotations

import contextlib

import tensorflow as tf

from lq_ext.converters.int8.layers import Int8Range
from lq_ext.fake_quant import IntActivationQuantizer


def layer_name(tensor_name: str, model_name: str) -> str:
    """The Keras layer named first in a TFLite tensor name (the last of a fused chain)."""
    parts = tensor_name.split(";")[0].split("/")
    if len(parts) > 1 and parts[0] == model_name:
        parts = parts[1:]
    return parts[0]


#: Layers that round their input to an int8 grid: the int8 clone's ranges and the fake-quant
#: activation quantizers of a float model (PokeBNN's ``*_out`` layers).
ROUNDING = (Int8Range, IntActivationQuantizer)


def range_after(node, consumers):
    """The output id of the rounding layer (:data:`ROUNDING`) that alone reads ``node``'s output
    (the int8 clone or a fake-quant quantizer quantizes a layer's output there; TFLite names the
    int8 tensor after the layer), else None."""
    after = consumers.get(node.flat_output_ids[0], [])
    if len(after) == 1 and isinstance(after[0].layer, ROUNDING) and after[0].outputs.shape == node.outputs.shape:
        return after[0].flat_output_ids[0]
    return None


def input_quantizer(layer):
    quantizer = getattr(layer, "input_quantizer", None)
    return quantizer if isinstance(quantizer, IntActivationQuantizer) else None


def float_input_quantizer(layer) -> bool:
    """Whether ``layer`` quantizes its input to more than one bit in float ops (larq's
    ``DoReFa``: no int8 tensor holds the result, and the converter rescales it)."""
    quantizer = getattr(layer, "input_quantizer", None)
    return quantizer is not None and input_quantizer(layer) is None and (getattr(quantizer, "precision", None) or 1) > 1


def quantized_inputs(nodes, producer, tensors, int8, model_name) -> dict:
    """{layer name: tflite tensor index} of the int8 tensors that hold a layer's quantized input
    (its :class:`~lq_ext.fake_quant.IntActivationQuantizer` ``input_quantizer``): the last int8
    tensor named after the layer with the shape of its input (the converter lowers the quantizer
    to QUANTIZE, MINIMUM / MAXIMUM for a k-bit clip, SUB for a floor shift; the op reads the last)."""
    found = {}
    for index in producer:  # execution order: the last one wins
        name = layer_name(tensors[index].name, model_name)
        node = nodes.get(name)
        if index in int8 and node is not None and input_quantizer(node.layer) is not None and len(node.keras_inputs) == 1:
            if tuple(node.keras_inputs[0].shape[1:]) == tensors[index].shape[1:]:
                found[name] = index
    return found


def _chain(index, consumers, tensors, steps):
    """``(tensor, its only reader or None)`` from ``index`` on, each next tensor the output of
    the reader before it while that reader has one output and no other non-constant input (a
    quantizer's QUANTIZE, MINIMUM, SUB, ROUND, RESHAPE ...); at most ``steps`` steps on."""
    for step in range(steps + 1):
        ops = consumers.get(index, [])
        reader = ops[0] if len(ops) == 1 else None
        yield index, reader
        if reader is None or step == steps or len(reader.outputs) != 1 \
                or any(i >= 0 and i != index and not tensors[i].constant for i in reader.inputs):
            return
        index = reader.outputs[0]


def feeds_input_quantizer(index, consumers, tensors, quantized_inputs):
    """The layer whose quantized input (``quantized_inputs``) ``index`` becomes through ops each
    of which alone reads the tensor before it, with no other non-constant input (a quantizer's
    QUANTIZE, MINIMUM, SUB ...), else None."""
    targets = {target: name for name, target in quantized_inputs.items()}
    return next((targets[i] for i, _ in _chain(index, consumers, tensors, 8) if i in targets), None)


#: Ops that multiply-accumulate their first input (the data) with a kernel.
MAC_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "BATCH_MATMUL", "LceBconv2d")


def feeds_mac(index, consumers, tensors) -> bool:
    """Whether ``index`` becomes the data input of a :data:`MAC_OPS` op through ops each of
    which alone reads the tensor before it, with no other non-constant input (a float input
    quantizer's clip, scale, round or reshape: DoReFa's ``round(k·clip(x))``, whose 1/k the
    converter moves into the conv's kernel)."""
    for tensor, reader in _chain(index, consumers, tensors, 7):
        if reader is not None and reader.op_type in MAC_OPS:
            return reader.inputs[0] == tensor
    return False


def before_rounding(layer, x):
    """What a rounding layer (:data:`ROUNDING`) rounds to the nearest grid value, or None for
    another layer: an :class:`Int8Range`'s input; a fake-quant quantizer's input less its floor
    shift, clipped to its k-bit range as it clips it (``IntActivationQuantizer.unsigned_top``),
    where a value below −127.5 steps of an 8-bit signed range is a tie between levels TFLite
    may take either of (the fake-quant op stops at −127 steps, TFLite's int8 tensor at −128)."""
    if isinstance(layer, Int8Range):
        return x
    if not isinstance(layer, IntActivationQuantizer):
        return None
    x = tf.cast(x, tf.float32)
    bound = tf.maximum(layer.bound, 1e-12)
    if layer.signed:
        levels = 2 ** (layer.bits - 1) - 1
        step = bound / levels
        low = -(levels + 0.5) * step if layer.bits == 8 else -levels * step
        return tf.clip_by_value(x, low, levels * step)
    raw = x - layer.floor_shift()
    if layer.bits < 8:
        raw = tf.minimum(raw, layer.unsigned_top())
    return raw


@contextlib.contextmanager
def without_input_quantizer(layer, active=True):
    """``layer`` called on an input already quantized (the flatbuffer's): its input quantizer off."""
    if not active:
        yield
        return
    quantizer = layer.input_quantizer
    object.__setattr__(layer, "input_quantizer", None)  # not tracked: the layer stays as it was
    try:
        yield
    finally:
        object.__setattr__(layer, "input_quantizer", quantizer)
