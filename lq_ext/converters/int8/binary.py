"""Binary convs as builtin int8 ops: the lowering of the portable target
(``convert(model, path, engine="builtin")``), applied to a calibrated int8 clone.

Each binary conv of the clone (``sign(x) ⊛ ±α``, LCE's ``LceBconv2d``) becomes

1. the sign: one 1×1 ``DEPTHWISE_CONV_2D`` computing ``K·(x + s/2)`` (s the int8 step
   of x, so no value is 0 any more; K = SATURATION / s) with the fused ``RELU_N1_TO_1``
   clip, written at scale 1: int8 ±1, +1 at x = 0 as Larq's sign (two chained
   fake-quant ranges would do it too, but the converter merges them into one);
2. an int8 ``CONV_2D`` with per-channel weights ±127 (scale ``α_c·γ_c/σ_c / 127``, the
   BatchNorm after the conv folded in), whose int32 sums are 127 × the ±1 × ±1 sums of
   the bit-packed conv, exactly. Weights of ±1 would put the folded BatchNorm bias on a
   grid of one ±1 product (α_c·γ_c/σ_c): measured up to 2.3 output steps off; at ±127
   the bias is 127× finer. The one-padding is a zero ``PAD`` before the sign (sign(0) = +1).

A binary dense layer on a rank-2 input becomes a 1×1 conv between two reshapes (TF 2.16
cannot keep per-channel scales on a ``FULLY_CONNECTED`` from fake-quant ops). A layer
that cannot be written so is refused, with its name and the reason, before conversion.

Guide: docs/guides/portable.md
"""

from __future__ import annotations

import larq as lq
import numpy as np
import tensorflow as tf

from lq_ext.converters.int8.kinds import foldable_batchnorm, is_binary_mac_layer, is_linear
from lq_ext.converters.int8.layers import Int8Range, PerTensorInt8Weights, clip_unit
from lq_ext.converters.int8.lowerings import batchnorm_affine
from lq_ext.fake_quant import IntWeightQuantizer
from lq_ext.graph import apply, consumers, producers, rebuild
from lq_ext.layers import BinaryDepthwiseConv2D
from lq_ext.lce_rules import is_binary_quantizer

__all__ = [
    "SATURATION",
    "PortableRule",
    "binary_kernel",
    "portable_model",
    "sign_magnitude",
    "unsupported_layers",
]

#: The gain K = SATURATION / s of the sign's 1×1 conv (s: the input's int8 step):
#: K·(x + s/2) is at least SATURATION / 2 away from 0, so the clip to [−1, 1] leaves ±1.
SATURATION = 4

_PROBE = np.array([-3.0, -1.0, -1e-3, 0.0, 1e-3, 1.0, 3.0], np.float32)


def sign_magnitude(quantizer) -> float | None:
    """c if ``quantizer`` computes c·sign(x) (sign(0) = +1, c > 0), else None."""
    try:
        values = np.asarray(quantizer(tf.constant(_PROBE)), np.float64)
    except Exception:  # noqa: BLE001 - a quantizer that needs a shape (RSign) is no plain sign
        return None
    c = float(values[-1])
    expected = np.where(_PROBE >= 0, c, -c)
    return c if c > 0 and np.allclose(values, expected, rtol=1e-6, atol=0) else None


def binary_kernel(layer) -> tuple[np.ndarray, np.ndarray] | None:
    """``(signs, alpha)``: the quantized kernel as ±1 signs and one α ≥ 0 per output
    channel (last axis), or None if it is not ±α per channel."""
    latent = getattr(layer.kernel, "latent_variable", layer.kernel)
    quantized = np.asarray(layer.kernel_quantizer(latent), np.float64)
    alpha = np.abs(quantized).reshape(-1, quantized.shape[-1]).max(axis=0)
    if not np.all(alpha > 0) or not np.allclose(np.abs(quantized), alpha, rtol=1e-6, atol=0):
        return None
    return np.sign(quantized), alpha


def _is_binary(layer) -> bool:
    return is_binary_mac_layer(layer) and isinstance(layer, (lq.layers.QuantConv2D, lq.layers.QuantDense))


def _is_exact_depthwise(layer) -> bool:
    return isinstance(layer, BinaryDepthwiseConv2D) and layer.exact_int8


def _refusal(layer) -> str | None:
    """Why ``layer`` (a binary layer of the int8 clone) cannot be lowered, or None."""
    if sign_magnitude(layer.input_quantizer) is None:
        return f"its input quantizer {type(layer.input_quantizer).__name__} is not a plain sign c·sign(x)"
    if isinstance(layer, BinaryDepthwiseConv2D):
        if not layer.exact_int8:
            return "a binary depth-wise conv with exact_int8=False (its float kernel has no exact int8 form); build it with exact_int8=True"
        if layer.use_bias or layer.scale_kernel or not is_linear(layer):
            return "an exact depth-wise conv with a bias, scale or activation inside the layer"
        return None
    if binary_kernel(layer) is None:
        return "its kernel quantizer does not give ±α per output channel"
    if isinstance(layer, lq.layers.QuantDense):
        return (
            None if len(layer.input_shape) == 2 else f"a dense layer on a rank-{len(layer.input_shape)} input"
        )
    if int(getattr(layer, "groups", 1) or 1) > 1:
        return "a grouped conv: the portable target does not lower grouped convs yet (TFLite Micro support unverified)"
    c = sign_magnitude(layer.input_quantizer)
    pad = float(getattr(layer, "pad_values", 0.0))
    if layer.padding == "same" and pad not in (0.0, c, -c):
        return f"pad_values={pad} is not 0 or ±{c} (the binarized values)"
    return None


def unsupported_layers(model) -> list[str]:
    """``"<layer> (<class>): <reason>"`` for every layer of the int8 clone ``model`` that
    the portable target cannot write with builtin int8 ops."""
    problems = []
    for layer in model.layers:
        if _is_binary(layer) or isinstance(layer, BinaryDepthwiseConv2D):
            reason = _refusal(layer)
        elif is_binary_quantizer(getattr(layer, "input_quantizer", None)):
            reason = "a binarized input that is neither a conv nor a dense layer (no builtin op binarizes)"
        else:
            continue
        if reason is not None:
            problems.append(f"{layer.name!r} ({type(layer).__name__}): {reason}")
    return problems


class PortableRule:
    """Rebuilds the int8 clone ``model`` with its binary convs / dense layers as builtin
    int8 ops (see the module); every other layer is kept as it is."""

    def __init__(self, model):
        self.producers = producers(model)
        self.consumers = consumers(model)
        self.folds = {}  # BN name -> the binary layer it folds into
        self.lowered: list[str] = []
        for layer in model.layers:
            after = self.consumers[layer.name]
            if (
                _is_binary(layer)
                and is_linear(layer)
                and len(after) == 1
                and isinstance(after[0], tf.keras.layers.BatchNormalization)
                and foldable_batchnorm(after[0])
            ):
                self.folds[after[0].name] = layer

    def __call__(self, call):
        layer = call.layer
        if isinstance(layer, tf.keras.layers.InputLayer):
            return call.args[0]
        if layer.name in self.folds:
            return call.args[0]  # folded into the conv before it
        if _is_binary(layer):
            self.lowered.append(layer.name)
            return self._lower(call)
        if _is_exact_depthwise(layer):
            self.lowered.append(layer.name)
            return self._lower_depthwise(call)
        return call.keep()

    def _input_range(self, layer) -> tuple[float, float]:
        source = self.producers[layer.name][0]
        if not isinstance(source, Int8Range):
            raise ValueError(
                f"portable target: the input of binary layer {layer.name!r} has no int8 range "
                f"(it comes from {source.name!r}, a {type(source).__name__})."
            )
        return source.low, source.high

    def _sign(self, layer, x):
        """sign(x) as int8 ±1 of scale 1: one 1×1 depth-wise conv ``K·(x + b)``, clipped
        to [−1, 1] (see the module)."""
        low, high = self._input_range(layer)
        step = (high - low) / 255.0
        gain = SATURATION / step
        channels = int(layer.input_shape[-1])
        conv = lq.layers.QuantDepthwiseConv2D(
            1, depthwise_quantizer=PerTensorInt8Weights(), activation=clip_unit, name=f"{layer.name}_sign"
        )
        weights = [
            np.full((1, 1, channels, 1), gain, np.float32),
            np.full(channels, gain * step / 2, np.float32),
        ]
        return Int8Range(-128.0, 127.0, name=f"{layer.name}_sign_int8")(apply(conv, x, weights)), 1.0

    def _lower_depthwise(self, call):
        """An exact depth-wise conv on the int8 sign: kernel {−1, 0, 1}/u, one scale for
        the tensor (int8 ±127 / 0), sums of step 1 (what the layer computes)."""
        layer = call.layer
        x, u = self._sign(layer, call.args[0])
        latent = getattr(layer.depthwise_kernel, "latent_variable", layer.depthwise_kernel)
        kernel = np.asarray(layer.depthwise_quantizer(latent), np.float64)
        c = sign_magnitude(layer.input_quantizer)
        conv = lq.layers.QuantDepthwiseConv2D(
            layer.kernel_size,
            strides=layer.strides,
            padding=layer.padding,
            depth_multiplier=layer.depth_multiplier,
            dilation_rate=layer.dilation_rate,
            depthwise_quantizer=PerTensorInt8Weights(),
            use_bias=False,
            name=f"{layer.name}_builtin",
        )
        y = apply(conv, x, [(kernel * c / u).astype(np.float32)])
        return Int8Range(-128.0, 127.0, name=f"{layer.name}_sums")(y)

    def _lower(self, call):
        layer = call.layer
        x = call.args[0]
        dense = isinstance(layer, lq.layers.QuantDense)
        c = sign_magnitude(layer.input_quantizer)
        padding = "valid" if dense else layer.padding
        if not dense and layer.padding == "same" and float(layer.pad_values) != 0.0:
            # sign(0) = +1: zeros padded before the sign are the one-padding after it
            pads = layer._get_spatial_padding_same(layer.input_shape[1:3])  # noqa: SLF001 - Larq's own rule
            pad = tf.keras.layers.ZeroPadding2D(tuple(map(tuple, pads)), name=f"{layer.name}_pad")
            x = Int8Range(*self._input_range(layer), name=f"{layer.name}_pad_int8")(pad(x))
            padding = "valid"
        channels = int(layer.input_shape[-1])
        if dense:  # the sign and the conv need images: (1, 1, channels), same range
            x = tf.keras.layers.Reshape((1, 1, channels), name=f"{layer.name}_to_image")(x)
            x = Int8Range(*self._input_range(layer), name=f"{layer.name}_to_image_int8")(x)
        x, u = self._sign(layer, x)

        signs, alpha = binary_kernel(layer)
        units = signs.shape[-1]
        scale, shift = np.ones(units), np.zeros(units)
        if any(conv is layer for conv in self.folds.values()):
            scale, shift = batchnorm_affine(self.consumers[layer.name][0])
        bias = layer.bias.numpy().astype(np.float64) if layer.use_bias else np.zeros(units)
        kernel = (signs * alpha * scale * (c / u)).astype(np.float32)
        conv = lq.layers.QuantConv2D(
            units,
            1 if dense else layer.kernel_size,
            strides=1 if dense else layer.strides,
            padding=padding,
            dilation_rate=1 if dense else layer.dilation_rate,
            activation=layer.activation,
            kernel_quantizer=IntWeightQuantizer(8),  # ±max|w_c|: int8 ±127, one scale per channel
            use_bias=True,
            name=f"{layer.name}_builtin",
        )
        if dense:
            kernel = kernel.reshape(1, 1, channels, units)
        y = apply(conv, x, [kernel, (bias * scale + shift).astype(np.float32)])
        if dense:  # the conv's output range is the one after the layer (and its BN)
            y = Int8Range(*self._output_range(layer), name=f"{layer.name}_builtin_int8")(y)
            y = tf.keras.layers.Reshape((units,), name=f"{layer.name}_to_vector")(y)
        return y

    def _output_range(self, layer) -> tuple[float, float]:
        after = self.consumers[layer.name]
        if len(after) == 1 and after[0].name in self.folds:
            after = self.consumers[after[0].name]
        if len(after) != 1 or not isinstance(after[0], Int8Range):
            raise ValueError(
                f"portable target: the output of binary dense layer {layer.name!r} has no int8 range of its own."
            )
        return after[0].low, after[0].high


def portable_model(clone):
    """``(model, lowered)``: the int8 clone with its binary layers as builtin int8 ops, and
    the names of those layers.

    # Raises
        ValueError: a layer the portable target cannot write (all of them named).
    """
    problems = unsupported_layers(clone)
    if problems:
        raise ValueError(
            "The portable target (engine='builtin': TFLite builtin int8 ops only) cannot write "
            + "; ".join(problems)
            + ". Convert this model with engine='lce'."
        )
    rule = PortableRule(clone)
    model = rebuild(clone, rule, name=f"{clone.name}_portable")
    return model, tuple(rule.lowered)
