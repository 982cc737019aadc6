r"""Per-layer cost counting: :func:`profile` walks a built Keras model into a :class:`ModelCost`.

What is counted, per layer and call (shapes from the built model, batch axis excluded):

**MACs** (multiply-accumulates), recognised by Keras base class so that Larq's
``Quant*`` twins and any subclass are included:

- ``Conv1D/2D/3D`` (grouped too): kernel size × output positions; weight bits from
  ``kernel_quantizer``, activation bits from ``input_quantizer``;
- ``Conv1D/2D/3DTranspose``: kernel size × *input* positions; same quantizers;
- ``DepthwiseConv1D/2D``: depth-wise kernel size × output positions;
  ``depthwise_quantizer`` and ``input_quantizer``;
- ``SeparableConv1D/2D``: the depth-wise part as above, plus the point-wise part,
  point-wise kernel size × output positions, ``pointwise_quantizer`` × 32-bit
  activations (see below);
- ``Dense``: kernel size × output positions (1 for 2-D outputs); ``kernel_quantizer``
  and ``input_quantizer``.

"Kernel size" is the number of entries of the kernel variable, e.g.
k_h·k_w·(C_in/groups)·C_out; "positions" is the product of the spatial dims (for
``Dense``, of all dims but the last).  A separable conv's point-wise part reads the
depth-wise output, which no quantizer binarizes, so its activations count as 32-bit.

**Relation to** ``lq.models.summary`` (larq/models.py): Larq gives each kernel MAC the
precision max(input precision, weight precision) and counts float Conv/Dense/Depthwise
layers too, so on networks of binary and float layers our "1-bit" and "float" MACs equal
its 1-bit and 32-bit MACs (tested on larq-zoo models).  Differences, all deliberate:
Larq shows ternary MACs as "2-bit" (ours "1.58-bit"); it counts a separable conv's
point-wise part at the input precision; it counts any non-bias variable of a MAC layer
as a kernel (so an RSign threshold adds float MACs); it folds BatchNorm to 2 values per
channel; and it skips Conv3D and miscounts strided transposed convs.

**Parameters**: every variable of the layer (trainable or not, so the total equals
``model.count_params()``; BatchNormalization counts γ, β, mean and variance).  A
kernel takes its quantizer's bit width, every other variable (bias, BN, RSign
thresholds) its own Larq precision, else 32 bits.

**Element-wise ops** (reported apart; not part of OPs or ACE): one op per output
element for ``BatchNormalization``, the activation layers ``Activation`` (unless
``linear``), ``ReLU``, ``PReLU``, ``LeakyReLU``, ``ELU``, ``ThresholdedReLU``,
``Softmax``, lq_ext's ``RPReLU``, ``LearnableBias``, ``DPReLU``, ``HardSigmoid`` and
``ReshapeAdd`` (its add; the channel averaging and pooling of the residual are not
counted), a non-linear activation fused into a Conv/Dense layer, and the TF-op layers
``x + y`` / ``tf.add`` / ``tf.subtract`` / ``tf.multiply`` / ``tf.nn.relu`` /
``tf.nn.relu6``; (n − 1) ops per output element for the n-input
merge layers ``Add``, ``Subtract``, ``Multiply``, ``Average``, ``Maximum``,
``Minimum``.  Pooling, reshapes, padding, concatenation and bias adds are not counted.

**Nesting**: a nested model (functional, sequential or subclassed) is walked and its
layers are listed as ``"outer/inner"``; so are the sub-layers of an unknown layer
(quantizer sub-layers excepted: their variables count with their parent).  A layer
called n times (shared layers, a nested model called twice) counts n times.  Any other
layer with weights is listed with its parameters, 0 MACs and a ``note``: never dropped.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import larq as lq
import tensorflow as tf

from lq_ext.layers import DPReLU, HardSigmoid, LearnableBias, ReshapeAdd, RPReLU
from lq_ext.metrics.cost import LayerCost, ModelCost
from lq_ext.precision import (
    FLOAT,
    mac_ace,
    mac_class,
    param_class,
    quantizer_bits,
    storage_bits,
    variable_bits,
)

__all__ = ["profile"]

_layers = tf.keras.layers

_SEPARABLE = (_layers.SeparableConv1D, _layers.SeparableConv2D)
_DEPTHWISE = (_layers.DepthwiseConv1D, _layers.DepthwiseConv2D)
_TRANSPOSED = (_layers.Conv1DTranspose, _layers.Conv2DTranspose, _layers.Conv3DTranspose)
_CONV = (_layers.Conv1D, _layers.Conv2D, _layers.Conv3D)

_MERGE = (
    _layers.Add,
    _layers.Subtract,
    _layers.Multiply,
    _layers.Average,
    _layers.Maximum,
    _layers.Minimum,
)
_ELEMENTWISE = (
    _layers.BatchNormalization,
    _layers.Activation,
    _layers.ReLU,
    _layers.PReLU,
    _layers.LeakyReLU,
    _layers.ELU,
    _layers.ThresholdedReLU,
    _layers.Softmax,
    RPReLU,
    LearnableBias,
    DPReLU,
    HardSigmoid,
    ReshapeAdd,
)
#: ``TFOpLambda.symbol`` of the TF ops counted as one element-wise op per output element.
ELEMENTWISE_TF_OPS = frozenset(
    {
        "__operators__.add",
        "math.add",
        "math.subtract",
        "math.multiply",
        "nn.relu",
        "nn.relu6",
    }
)

_NOT_COUNTED = "unknown layer type: parameters listed, MACs not counted"


class _KernelOp:
    """One kernel contraction of a layer: which variable, which bit widths, where it runs."""

    def __init__(self, kernel, weight_quantizer, activation_bits, per_input=False):
        self.kernel = kernel
        self.weight_bits = quantizer_bits(weight_quantizer)
        self.activation_bits = activation_bits
        self.per_input = per_input  # transposed convs: one kernel pass per input position

    @property
    def size(self) -> int:
        return int(math.prod(self.kernel.shape.as_list()))


class _Call(NamedTuple):
    input_shape: object
    output_shape: object


def _quantizer(layer, name):
    return getattr(layer, name, None)


def _kernel_ops(layer) -> list[_KernelOp] | None:
    """The kernel contractions of a MAC layer, or None if ``layer`` has none we know."""
    activation_bits = quantizer_bits(_quantizer(layer, "input_quantizer"))
    if isinstance(layer, _SEPARABLE):
        return [
            _KernelOp(
                layer.depthwise_kernel, _quantizer(layer, "depthwise_quantizer"), activation_bits
            ),
            _KernelOp(layer.pointwise_kernel, _quantizer(layer, "pointwise_quantizer"), FLOAT),
        ]
    if isinstance(layer, _DEPTHWISE):
        return [
            _KernelOp(
                layer.depthwise_kernel, _quantizer(layer, "depthwise_quantizer"), activation_bits
            )
        ]
    if isinstance(layer, _TRANSPOSED):
        return [
            _KernelOp(
                layer.kernel, _quantizer(layer, "kernel_quantizer"), activation_bits, per_input=True
            )
        ]
    if isinstance(layer, (*_CONV, _layers.Dense)):
        return [_KernelOp(layer.kernel, _quantizer(layer, "kernel_quantizer"), activation_bits)]
    return None


def _is_linear(activation) -> bool:
    return activation is None or activation is tf.keras.activations.linear


def _elementwise_per_element(layer, call: _Call) -> int:
    """Element-wise ops per output element of one call of a kernel-less layer (0: none)."""
    if isinstance(layer, _MERGE):
        shape = call.input_shape
        inputs = len(shape) if isinstance(shape, list) else 2
        return max(inputs - 1, 1)
    if isinstance(layer, _layers.Activation):
        return 0 if _is_linear(layer.activation) else 1
    if isinstance(layer, _ELEMENTWISE):
        return 1
    if getattr(layer, "symbol", None) in ELEMENTWISE_TF_OPS:  # TFOpLambda
        return 1
    return 0


def _as_shape(shape):
    """A TensorShape / nest of shapes as a tuple / list of tuples."""
    if shape is None:
        return None
    if isinstance(shape, tf.TensorShape):
        return tuple(shape.as_list()) if shape.rank is not None else None
    if isinstance(shape, (list, tuple)) and shape and not all(
        dim is None or isinstance(dim, int) for dim in shape
    ):
        return [_as_shape(s) for s in shape]
    return tuple(shape)


def _layer_calls(layer, network_nodes) -> list[_Call]:
    """One (input shape, output shape) per call of ``layer`` in its parent network.

    Functional parents give one node per call.  Otherwise (sub-layers of subclassed
    models or layers) the shape ``layer`` was built with stands for its single call.
    """
    if network_nodes is not None:
        calls = [
            _Call(_as_shape(node.input_shapes), _as_shape(node.output_shapes))
            for index, node in enumerate(getattr(layer, "_inbound_nodes", []))
            if f"{layer.name}_ib-{index}" in network_nodes
        ]
        if calls:
            return calls
    build_shape = getattr(layer, "_build_input_shape", None)
    if build_shape is None:
        return []
    try:
        output_shape = layer.compute_output_shape(build_shape)
    except (NotImplementedError, ValueError, TypeError, AttributeError):
        output_shape = None
    return [_Call(_as_shape(build_shape), _as_shape(output_shape))]


def _single(shape):
    return shape[0] if isinstance(shape, list) else shape


def _describe(layer, name) -> str:
    return f"layer {name!r} ({type(layer).__name__})"


def _known_dims(dims, layer, name, shape, what):
    if any(dim is None for dim in dims):
        raise ValueError(
            f"Cannot count {what} of {_describe(layer, name)}: its shape {shape} has unknown "
            f"dimensions. Build the model with a fully known input shape, e.g. "
            f"tf.keras.Input(shape=(224, 224, 3)), before profiling it."
        )
    return int(math.prod(dims))


def _positions(layer, name, shape) -> int:
    """Number of spatial positions (1 for a 2-D Dense output) of a shape with batch axis."""
    shape = _single(shape)
    if shape is None:
        raise ValueError(f"Cannot count MACs of {_describe(layer, name)}: its shape is unknown.")
    dims = list(shape[1:])
    channels_first = getattr(layer, "data_format", "channels_last") == "channels_first"
    spatial = dims[1:] if channels_first else dims[:-1]
    return _known_dims(spatial, layer, name, shape, "MACs")


def _elements(layer, name, shape) -> int:
    shape = _single(shape)
    if shape is None:
        raise ValueError(
            f"Cannot count element-wise ops of {_describe(layer, name)}: its output shape is "
            f"unknown."
        )
    return _known_dims(list(shape[1:]), layer, name, shape, "element-wise ops")


def _count_params(cost: LayerCost, variables, kernel_bits: dict, seen: set) -> None:
    for variable in variables:
        if id(variable) in seen:  # shared layers and tied weights count once
            continue
        seen.add(id(variable))
        bits = kernel_bits.get(id(variable))
        if bits is None:
            bits = variable_bits(variable)
        count = int(math.prod(variable.shape.as_list()))
        cost.params[param_class(bits)] += count
        cost.memory_bits += count * storage_bits(bits)


def _layer_cost(layer, name, calls: list[_Call], repeat: int, seen: set) -> LayerCost:
    cost = LayerCost(
        name=name,
        type=type(layer).__name__,
        output_shape=calls[0].output_shape if calls else None,
        calls=len(calls) * repeat,
    )
    if not layer.built:  # e.g. a sub-layer a subclassed model never calls: no weights, no ops
        cost.note = "never built: not counted"
        return cost
    kernel_ops = _kernel_ops(layer)
    kernel_bits = {id(op.kernel): op.weight_bits for op in kernel_ops or ()}
    _count_params(cost, layer.weights, kernel_bits, seen)

    if kernel_ops is not None:
        if not calls:
            raise ValueError(
                f"Cannot count MACs of {_describe(layer, name)}: its input shape is unknown "
                f"(it was built without being called)."
            )
        for call in calls:
            for op in kernel_ops:
                shape = call.input_shape if op.per_input else call.output_shape
                macs = op.size * _positions(layer, name, shape) * repeat
                cost.macs[mac_class(op.weight_bits, op.activation_bits)] += macs
                cost.ace += macs * mac_ace(op.weight_bits, op.activation_bits)
            if not _is_linear(getattr(layer, "activation", None)):
                cost.elementwise += _elements(layer, name, call.output_shape) * repeat
        return cost

    for call in calls:
        per_element = _elementwise_per_element(layer, call)
        if per_element:
            cost.elementwise += per_element * _elements(layer, name, call.output_shape) * repeat
    if layer.weights and not _is_known(layer):
        cost.note = _NOT_COUNTED
    return cost


def _is_known(layer) -> bool:
    return (
        _has_kernel_ops(layer)
        or isinstance(layer, (*_ELEMENTWISE, *_MERGE))
        or isinstance(layer, lq.quantizers.Quantizer)  # a quantizer used as a layer: no ops
        or getattr(layer, "symbol", None) is not None
    )


def _has_kernel_ops(layer) -> bool:
    return isinstance(layer, (*_SEPARABLE, *_DEPTHWISE, *_CONV, _layers.Dense))


def _children(layer) -> list:
    """Direct sub-layers to walk: a model's layers, an unknown layer's sub-layers."""
    if isinstance(layer, tf.keras.Model):
        return [child for child in layer.layers if not isinstance(child, _layers.InputLayer)]
    if _is_known(layer):
        return []
    # Quantizers of a custom layer are part of it: their variables count on its own row.
    return [
        child
        for child in layer._flatten_layers(include_self=False, recursive=False)
        if not isinstance(child, lq.quantizers.Quantizer)
    ]


def _walk(container, prefix: str, repeat: int, seen: set):
    """Yield a LayerCost per (nested) layer of ``container``, in layer order."""
    network_nodes = getattr(container, "_network_nodes", None)
    for layer in _children(container):
        name = prefix + layer.name
        calls = _layer_calls(layer, network_nodes)
        children = _children(layer)
        if not children:
            yield _layer_cost(layer, name, calls, repeat, seen)
            continue
        # A container: its own variables (not those of walked sub-layers) on its row,
        # then its sub-layers, each run once per call of the container.
        inner = {id(v) for child in children for v in child.weights}
        own = [v for v in layer.weights if id(v) not in inner]
        if own:
            row = LayerCost(name=name, type=type(layer).__name__, calls=len(calls) * repeat)
            row.output_shape = calls[0].output_shape if calls else None
            _count_params(row, own, {}, seen)
            if row.params_total:
                row.note = _NOT_COUNTED
                yield row
        yield from _walk(layer, name + "/", max(len(calls), 1) * repeat, seen)


def profile(model: tf.keras.Model) -> ModelCost:
    """Count parameters, MACs, BOPs, FLOPs, OPs, ACE, memory and element-wise ops of ``model``.

    Counting only; :func:`lq_ext.metrics.summary` prints the result.  The conventions
    (OPs = BOPs/64 + FLOPs, a 1.58-bit MAC = 2 BOPs, ACE with float = 16 × 16, int8
    MACs counted as FLOPs) are documented in :mod:`lq_ext.metrics.cost`, what is
    counted per layer in :mod:`lq_ext.metrics.profile`.

    # Arguments
        model: a built ``tf.keras.Model`` whose input shape is fully known except for
            the batch axis.

    # Returns
        A :class:`~lq_ext.metrics.ModelCost`: ``.layers`` (one
        :class:`~lq_ext.metrics.LayerCost` per layer, nested layers flattened) and the
        totals.

    # Raises
        TypeError: if ``model`` is not a ``tf.keras.Model``.
        ValueError: if the model is not built, or a counted layer has unknown
            (non-batch) dimensions; the message names the layer.
    """
    if not isinstance(model, tf.keras.Model):
        raise TypeError(
            f"profile() expects a tf.keras.Model (legacy Keras 2: import lq_ext before "
            f"tensorflow), got {type(model).__module__}.{type(model).__name__}."
        )
    if not model.built:
        raise ValueError(
            f"Model {model.name!r} has not been built: give it an input shape (e.g. "
            f"tf.keras.Input(shape=...)) or call model.build(input_shape) before profiling."
        )
    seen: set = set()
    return ModelCost.from_layers(model.name, list(_walk(model, "", 1, seen)))
