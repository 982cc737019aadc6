"""Layer-kind predicates of full-int8 mode: which layers compute in float, which LCE runs
bit-packed (and fuses a BatchNorm into), which keep their input's range.

Guide: docs/guides/int8.md
"""

from __future__ import annotations

import larq as lq
import tensorflow as tf

from lq_ext.fake_quant import IntActivationQuantizer
from lq_ext.layers import BinaryDepthwiseConv2D, ChannelBroadcast, ChannelSlice, CircularShift
from lq_ext.lce_rules import is_binary_quantizer
from lq_ext.quantizers import RSign

__all__ = [
    "FLOAT_KERNEL_LAYERS",
    "RANGE_PRESERVING_LAYERS",
    "UNIT_RANGE",
    "activation_name",
    "fixed_range",
    "foldable_batchnorm",
    "fuses_batchnorm",
    "is_binary_mac_layer",
    "is_fake_quantized",
    "is_float_kernel_layer",
    "is_linear",
    "keeps_range",
    "lowerable_batchnorm",
    "rsign",
    "scaled_exact_depthwise",
    "softmax_output",
]

#: Kernel layers int8 mode quantizes (exact types: subclasses may compute otherwise).
FLOAT_KERNEL_LAYERS = (
    tf.keras.layers.Conv2D,
    tf.keras.layers.DepthwiseConv2D,
    tf.keras.layers.Dense,
    lq.layers.QuantConv2D,
    lq.layers.QuantDepthwiseConv2D,
    lq.layers.QuantDense,
)
#: Layers whose outputs keep the range of their input (TFLite requires it of most: its
#: int8 ``AVERAGE_POOL_2D`` too, which cannot requantize, so a range of its own after an
#: average pool would cost an extra ``QUANTIZE`` and clip what TFLite does not); exact types.
#: (``GlobalAveragePooling2D`` is TFLite's ``MEAN``, which requantizes: it keeps a range
#: of its own.)
RANGE_PRESERVING_LAYERS = (
    tf.keras.layers.ZeroPadding2D,
    tf.keras.layers.Cropping2D,
    tf.keras.layers.MaxPooling2D,
    tf.keras.layers.AveragePooling2D,
    tf.keras.layers.Reshape,
    tf.keras.layers.Flatten,
    tf.keras.layers.Dropout,
    ChannelBroadcast,
    ChannelSlice,
    CircularShift,
)
#: TFLite's fixed int8 range of a softmax or logistic output: scale 1/256, zero point −128.
UNIT_RANGE = (0.0, 255.0 / 256.0)


def is_linear(layer) -> bool:
    return layer.activation in (None, tf.keras.activations.linear)


def is_float_kernel_layer(layer) -> bool:
    """A conv / depth-wise conv / dense layer computing in float (no quantizers)."""
    if type(layer) not in FLOAT_KERNEL_LAYERS:
        return False
    quantizers = ("input_quantizer", "kernel_quantizer", "depthwise_quantizer")
    return all(getattr(layer, name, None) is None for name in quantizers)


def is_binary_mac_layer(layer) -> bool:
    """A conv / dense layer with a binarized input: LCE runs it as ``LceBconv2d`` and
    fuses a BatchNorm after it (depth-wise ones excepted: LCE has no binary
    depth-wise op)."""
    if isinstance(layer, tf.keras.layers.DepthwiseConv2D):
        return False
    return is_binary_quantizer(getattr(layer, "input_quantizer", None)) and (
        getattr(layer, "kernel_quantizer", None) is not None
    )


def is_fake_quantized(layer) -> bool:
    """Whether the layer's output is fake-quantized already (TFLite runs its op in int8):
    an 8-bit activation quantizer, or an exact-int8 depth-wise conv with nothing after
    its integer sums."""
    if isinstance(layer, IntActivationQuantizer):
        return True
    if isinstance(layer, BinaryDepthwiseConv2D) and layer.exact_int8:
        return is_linear(layer) and not layer.use_bias and not layer.scale_kernel
    return False


def scaled_exact_depthwise(layer) -> bool:
    """An exact-int8 depth-wise conv whose integer sums are then scaled (mean|w| per
    channel) or shifted (bias) in float, inside the layer."""
    if not (isinstance(layer, BinaryDepthwiseConv2D) and layer.exact_int8):
        return False
    return is_linear(layer) and (layer.scale_kernel or layer.use_bias)


def fuses_batchnorm(layer) -> bool:
    """A binary conv whose output LCE's ``LceBconv2d`` can scale and shift itself: not one
    that tiles its output (an ES conv with τ > 1), whose BN follows a ``TILE``."""
    return is_binary_mac_layer(layer) and getattr(layer, "replicas", 1) == 1


def foldable_batchnorm(layer) -> bool:
    """A BatchNormalization over the last (channel) axis."""
    axis = layer.get_config()["axis"]
    axis = axis[0] if isinstance(axis, (list, tuple)) and len(axis) == 1 else axis
    return axis in (-1, len(layer.input_shape) - 1)


def lowerable_batchnorm(layer) -> bool:
    """A channel-axis BatchNormalization of a 4-D tensor (a 1×1 depth-wise conv can
    compute it)."""
    return len(layer.input_shape) == 4 and foldable_batchnorm(layer)


def rsign(layer):
    """The RSign input quantizer of a (binary) conv / dense layer, else None."""
    quantizer = getattr(layer, "input_quantizer", None)
    return quantizer if isinstance(quantizer, RSign) else None


def activation_name(layer) -> str:
    activation = getattr(layer, "activation", None)
    return getattr(activation, "__name__", "") if activation is not None else ""


def softmax_output(layer) -> bool:
    """Whether ``layer`` has ``activation="softmax"`` (an ``Activation("softmax")`` layer,
    or a layer with that activation)."""
    return activation_name(layer) == "softmax"


def fixed_range(layer):
    """The int8 range TFLite fixes for ``layer``'s output (softmax, sigmoid), else None."""
    return UNIT_RANGE if activation_name(layer) in ("softmax", "sigmoid") else None


def keeps_range(layer) -> bool:
    """Whether ``layer``'s output must have its input's range (TFLite's rule)."""
    return type(layer) in RANGE_PRESERVING_LAYERS
