"""Lowerings of full-int8 mode: layers TFLite would keep in float (several ops, or
intermediate tensors without a range), written as single-op layers with int8 ranges,
in a registry keyed by layer class; and the BatchNorm folding arithmetic.

Guide: docs/guides/int8.md
"""

from __future__ import annotations

import larq as lq
import numpy as np
import tensorflow as tf

from lq_ext.converters.int8.kinds import (
    activation_name,
    is_binary_mac_layer,
    lowerable_batchnorm,
    rsign,
)
from lq_ext.converters.int8.layers import PerTensorInt8Grid, PerTensorInt8Weights
from lq_ext.fake_quant import IntWeightQuantizer
from lq_ext.graph import apply
from lq_ext.layers import ChannelBroadcast, ClampedMix, DPReLU, ESQuantConv2D, LearnableBias, RPReLU
from lq_ext.layers.depthwise import DEPTHWISE_CHANNEL_AXES
from lq_ext.quantizers import mean_abs

__all__ = [
    "LOWERINGS",
    "BatchNormLowering",
    "ChainLowering",
    "ClampedMixLowering",
    "DPReLULowering",
    "ESConvLowering",
    "Lowering",
    "RPReLULowering",
    "batchnorm_affine",
    "batchnorm_as_depthwise",
    "bias_layer",
    "channel_affine",
    "depthwise_scale",
    "folded_weights",
    "is_zero_bias",
]


# --------------------------------------------------------------------------- arithmetic
def batchnorm_affine(bn):
    """``(a, b)`` with inference-mode ``bn(x) = a·x + b`` per channel: a = γ/σ,
    b = β − μ·a (float64)."""
    params = dict(zip([w.name.split("/")[-1].split(":")[0] for w in bn.weights], bn.get_weights()))
    channels = params["moving_mean"].shape[0]
    gamma = params.get("gamma", np.ones(channels))
    beta = params.get("beta", np.zeros(channels))
    a = gamma.astype(np.float64) / np.sqrt(params["moving_variance"].astype(np.float64) + bn.epsilon)
    return a, beta - params["moving_mean"] * a


def folded_weights(layer, bn):
    """``[kernel, bias]`` of ``layer`` followed by the inference-mode ``bn``."""
    weights = layer.get_weights()
    a, b = batchnorm_affine(bn)
    kernel = weights[0].astype(np.float64)
    bias = weights[1].astype(np.float64) if layer.use_bias else np.zeros(a.shape[0])
    if isinstance(layer, tf.keras.layers.DepthwiseConv2D):
        kernel = kernel * a.reshape(kernel.shape[2], kernel.shape[3])
    else:
        kernel = kernel * a
    return [kernel.astype(np.float32), (bias * a + b).astype(np.float32)]


def channel_affine(name, scale, bias):
    """``x·scale + bias`` per channel as a 1×1 depth-wise conv with int8 weights (one
    scale for the kernel): one int8 op.  Returns ``(layer, weights)``."""
    conv = lq.layers.QuantDepthwiseConv2D(1, depthwise_quantizer=PerTensorInt8Weights(), name=name)
    scale, bias = np.asarray(scale, np.float32), np.asarray(bias, np.float32)
    return conv, [scale.reshape(1, 1, -1, 1), bias]


def batchnorm_as_depthwise(layer, threshold):
    """An inference-mode BN, minus ``threshold``, as a 1×1 depth-wise conv: one int8 op.

    BN(x) − t = a·x + (b − t) with a = γ/σ, b = β − μ·a; ``threshold`` t is the RSign
    threshold of the BN's only consumer (0 otherwise).  The int8 kernel has one scale
    for all channels, so a channel with a small |a| loses relative precision.
    """
    a, b = batchnorm_affine(layer)
    return channel_affine(f"{layer.name}_affine", a, b - threshold)


def depthwise_scale(layer):
    """The scale α (and bias) of an exact-int8 depth-wise conv
    (:func:`~lq_ext.converters.int8.kinds.scaled_exact_depthwise`) as a 1×1 depth-wise
    conv with int8 weights: TFLite quantizes a per-channel multiplier anyway, and the
    clone must compute with the same rounded α as the flatbuffer."""
    latent = getattr(layer.depthwise_kernel, "latent_variable", layer.depthwise_kernel)
    channels = int(np.prod(latent.shape[-2:]))
    alpha = mean_abs(latent, DEPTHWISE_CHANNEL_AXES).numpy().reshape(-1) if layer.scale_kernel else np.ones(channels)
    bias = layer.bias.numpy() if layer.use_bias else np.zeros(channels)
    return channel_affine(f"{layer.name}_scale", alpha, bias)


def _prelu(layer, alpha):
    """A Keras PReLU sharing α over all but the channel axis (TFLite: one PRELU op), with α
    on the int8 grid the converter stores it on (:class:`PerTensorInt8Grid`: the clone
    computes with TFLite's slope; with the float α its values before rounding sat up to
    0.54 steps from TFLite's, docs/guides/parity.md)."""
    rank = len(layer.input_shape)
    grid = PerTensorInt8Grid()
    prelu = tf.keras.layers.PReLU(shared_axes=list(range(1, rank - 1)), alpha_constraint=grid, name=f"{layer.name}_prelu")
    alpha = np.reshape(alpha, (1,) * (rank - 2) + (-1,)).astype(np.float32)
    return prelu, [grid(tf.constant(alpha)).numpy()]


def bias_layer(layer, bias, suffix):
    """``x + bias`` per channel as a ``LearnableBias`` named ``<layer>_<suffix>``."""
    return LearnableBias(name=f"{layer.name}_{suffix}"), [np.asarray(bias, np.float32)]


def is_zero_bias(layer, weights) -> bool:
    """A bias of zeros: the converter folds ``x + 0`` away, and its range with it."""
    return isinstance(layer, LearnableBias) and not np.any(weights[0])


# --------------------------------------------------------------------------- lowerings
class Lowering:
    """How layers of one class are written as int8 single-op layers.

    ``lower(call, rewriter)`` returns the new outputs of the :class:`lq_ext.graph.Call`,
    or None to leave the layer to the general path.  ``rewriter`` is the int8 rule
    (:class:`~lq_ext.converters.int8.rule.Int8Rule`): ``rewriter.range(key, y)`` puts
    ``y``'s Int8Range, ``rewriter.chain(layer, x, steps)`` applies a chain of
    ``(layer, weights)`` steps with a range after each.
    """

    def applies(self, layer) -> bool:
        """Whether ``layer`` can be lowered, judged from the layer alone."""
        return True

    def lower(self, call, rewriter):
        raise NotImplementedError


class ChainLowering(Lowering):
    """A layer as a chain of single-op layers, each followed by its range
    (``"<layer>/<i>"``)."""

    def layers(self, layer) -> list:
        """The chain: ``[(new layer, its weights)]``."""
        raise NotImplementedError

    def lower(self, call, rewriter):
        return rewriter.chain(call.layer, call.args[0], self.layers(call.layer))


class RPReLULowering(ChainLowering):
    """RPReLU(x) = PReLU_α(x − γ) + ζ: bias, PRELU, bias."""

    def layers(self, layer):
        shift_in, alpha, shift_out = (w.numpy() for w in (layer.shift_in, layer.alpha, layer.shift_out))
        return [
            bias_layer(layer, -shift_in, "shift_in"),
            _prelu(layer, alpha),
            bias_layer(layer, shift_out, "shift_out"),
        ]


class DPReLULowering(ChainLowering):
    """DPReLU(x) = p·PReLU_{n/p}(x − b_x) − b_y for positive slopes p: bias, PRELU, and a
    1×1 depth-wise conv for the per-channel scale and bias (one int8 op)."""

    def applies(self, layer) -> bool:
        return len(layer.input_shape) == 4 and bool(np.all(layer.pos_slope.numpy() > 0))

    def layers(self, layer):
        p, n = layer.pos_slope.numpy(), layer.neg_slope.numpy()
        return [
            bias_layer(layer, -layer.bias_x.numpy(), "shift_in"),
            _prelu(layer, n / p),
            channel_affine(f"{layer.name}_scale", p, -layer.bias_y.numpy()),
        ]


class ESConvLowering(ChainLowering):
    """An ES conv (:class:`lq_ext.layers.ESQuantConv2D`) as the conv, its activation and
    the τ²·g tiling as a ``ChannelBroadcast`` (which keeps its input's range), so that the
    conv's output gets a range of its own.  A float one (ES-BNext's squeeze-and-excite,
    ES-BNN's shrunk shortcuts) gets 8-bit weights per output channel; a binary one that
    tiles (τ > 1) stays binary and writes int8 (else ``LceBconv2d`` writes float into a
    float ``TILE``).  RSign inputs are left to the general path."""

    def applies(self, layer) -> bool:
        if layer.input_quantizer is None and layer.kernel_quantizer is None:
            return layer.groups == 1
        return is_binary_mac_layer(layer) and layer.replicas > 1 and rsign(layer) is None

    def layers(self, layer):
        config = {k: v for k, v in layer.get_config().items() if k not in ("tau", "for_lce")}
        config.update(
            filters=layer.filters,  # the kernels; the config's "filters" counts the tiles
            activation=None,
            name=f"{layer.name}_conv",
        )
        if layer.kernel_quantizer is None:
            config["kernel_quantizer"] = IntWeightQuantizer(8)
        steps = [(lq.layers.QuantConv2D.from_config(config), layer.get_weights())]
        if activation_name(layer) not in ("", "linear"):
            activation = tf.keras.layers.Activation(layer.activation, name=f"{layer.name}_activation")
            steps.append((activation, []))
        if layer.replicas > 1:
            steps.append((ChannelBroadcast(layer.output_channels, name=f"{layer.name}_tile"), []))
        return steps


class ClampedMixLowering(Lowering):
    """ClampedMix(a, b) = s'·a + (1 − s')·b, s' = clamp(s, 0, 1): a per-channel scale of
    each input (int8 1×1 depth-wise convs, ranges ``"<layer>/0"``, ``"<layer>/1"``) and
    an int8 add."""

    def applies(self, layer) -> bool:
        return len(layer.input_shape[0]) == 4

    def lower(self, call, rewriter):
        layer, (a, b) = call.layer, call.args[0]
        mix = np.clip(layer.scale.numpy(), 0.0, 1.0)
        terms = []
        for index, (value, scale) in enumerate(((a, mix), (b, 1.0 - mix))):
            conv, weights = channel_affine(f"{layer.name}_scale{index}", scale, np.zeros_like(scale))
            terms.append(rewriter.range(f"{layer.name}/{index}", apply(conv, value, weights)))
        return rewriter.range(layer.name, tf.keras.layers.Add(name=f"{layer.name}_add")(terms))


class BatchNormLowering(Lowering):
    """An inference-mode BatchNorm LCE does not fuse into the ``LceBconv2d`` before it, as
    one int8 1×1 depth-wise conv (:func:`batchnorm_as_depthwise`) that also takes the
    RSign threshold of its only consumer."""

    def applies(self, layer) -> bool:
        return lowerable_batchnorm(layer)

    def lower(self, call, rewriter):
        if rewriter.fused_by_lce(call.layer):
            return None
        threshold = rewriter.absorb_threshold(call.layer)
        new, weights = batchnorm_as_depthwise(call.layer, threshold)
        return rewriter.range(call.layer.name, apply(new, call.args[0], weights))


#: The lowering of each layer class (exact types: a subclass may compute otherwise).
LOWERINGS: dict[type, Lowering] = {
    RPReLU: RPReLULowering(),
    DPReLU: DPReLULowering(),
    ESQuantConv2D: ESConvLowering(),
    ClampedMix: ClampedMixLowering(),
    tf.keras.layers.BatchNormalization: BatchNormLowering(),
}
