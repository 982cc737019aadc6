"""BD-Net: binarized depth-wise convolutions with 1.58-bit kernels and pre-BN residuals.

Kim, Lee, Kim, Lee, Lee, "BD-Net: Has Depth-Wise Convolution Ever Been Applied in
Binary Neural Networks?", AAAI 2026, arXiv:2511.17633.

**Provenance.** Only the abstract was available, not the paper body nor code. What
the abstract states: a 1.58-bit convolution, a pre-BN residual that improves the
Hessian condition number, a binary MobileNetV1 at ~33 M OPs. Everything below that
goes further is a reconstruction (``../shared/specs/bdnet.md`` §3–§6) and sits
behind an argument so it can be corrected once the paper is out:

* 1.58-bit = ternary {−1, 0, +1} depth-wise *weights* ("dual-binary": the mean of two
  binary kernels), per-channel threshold Δ = 0.5·mean|w| (``threshold``);
  point-wise 1×1 convs stay 1-bit; activations are 1-bit (RSign).
* ``residual_mode="pre_bn"`` (default, reading R1): ``z + Conv(sign(BN(z)))``, the
  identity path carries the un-normalised stream; ``"post_bn"`` is ReActNet's
  ``x + BN(Conv(sign(x)))``; ``"sum_then_bn"`` is ``BN(x + Conv(sign(x)))``.
* Broadcast residual when channels double: the identity is tiled along channels
  (``broadcast_mode="tile"``); ``"concat_dup"`` is ReActNet-A's two C→C convs with
  concatenation; ``"zeropad"`` pads with zero channels. Strided units average-pool
  the identity 2×2.
* Layout: MobileNetV1 / ReActNet-A widths, real-valued stem conv and classifier.

The naive baseline the paper's claim is measured against — the same network with
1-bit depth-wise kernels and ReActNet's post-BN residual — is ``baseline=True``
(registered as ``bdnet_mobilenet_naive``).
"""

from __future__ import annotations

import larq as lq
import tensorflow as tf

from lq_ext.layers import BinaryDepthwiseConv2D, ChannelBroadcast, RPReLU
from lq_ext.layers.depthwise import KERNEL_BITS
from lq_ext.quantizers import RSign, ScaledSign
from lq_ext.zoo import _common
from lq_ext.zoo._registry import register_model

__all__ = ["BDNetMobileNet", "BDNetMobileNetNaive", "RESIDUAL_MODES", "BROADCAST_MODES"]

RESIDUAL_MODES = ("pre_bn", "post_bn", "sum_then_bn")
BROADCAST_MODES = ("tile", "concat_dup", "zeropad")

#: MobileNetV1 / ReActNet-A widths: stem output, then one entry per block output.
MOBILENET_WIDTHS = (32, 64, 128, 128, 256, 256, 512, 512, 512, 512, 512, 512, 1024, 1024)

#: OPs the abstract gives for BD-Net's MobileNetV1 ("about 33M"); shown next to our count,
#: never used to compute anything.
PAPER_OPS = 33e6

#: Weight clip of every binary/ternary kernel (latent weights live in [−1.5, 1.5]).
CLIP_VALUE = 1.5


def _check_choice(name, value, allowed):
    if value not in allowed:
        raise ValueError(f"{name} must be one of {list(allowed)}, got {name}={value!r}.")


def block_strides(widths):
    """Stride of each block: 2 where the width grows, except 32→64 (ReActNet-A)."""
    return [
        2 if c_out > c_in and c_in != widths[0] else 1
        for c_in, c_out in zip(widths[:-1], widths[1:])
    ]


def residual_unit(x, make_conv, shortcut, *, residual_mode, name):
    """One conv unit with its own residual, then RPReLU.

    ``make_conv(name)`` returns the binary conv layer (input binarizer included), or any
    callable on a tensor built from such layers.
    """
    bn = tf.keras.layers.BatchNormalization(momentum=0.9, name=f"{name}_bn")
    add = tf.keras.layers.Add(name=f"{name}_add")
    if residual_mode == "pre_bn":
        out = add([shortcut, make_conv(f"{name}_conv")(bn(x))])
    elif residual_mode == "post_bn":
        out = add([shortcut, bn(make_conv(f"{name}_conv")(x))])
    else:  # sum_then_bn
        out = bn(add([shortcut, make_conv(f"{name}_conv")(x)]))
    return RPReLU(name=f"{name}_act")(out)


def residual_block(
    x,
    filters,
    strides,
    *,
    spatial_conv,
    pointwise_conv,
    name,
    residual_mode="post_bn",
    broadcast_mode="concat_dup",
    roles=("dw", "pw"),
):
    """Two residual units: a 3×3 (spatial) conv unit, then a 1×1 point-wise unit.

    The skeleton BD-Net and ReActNet-A share. A strided spatial unit average-pools its
    identity 2×2; a point-wise unit that doubles the channels widens its identity by
    ``broadcast_mode`` (``"concat_dup"``: two C→C convs, each with the identity, then
    concatenated, ReActNet-A's). Each unit is a :func:`residual_unit`.

    # Arguments
        spatial_conv: ``spatial_conv(conv_name)`` returns the spatial conv (a layer or
            any callable on a tensor, input binarizer included; ``strides`` baked in).
        pointwise_conv: ``pointwise_conv(conv_name, out_filters)`` likewise for the 1×1.
        roles: the unit names' suffixes, ``{name}_{role}`` (``{name}_{role}{i}`` for the
            halves of a ``"concat_dup"`` doubling).
    """
    _check_choice("residual_mode", residual_mode, RESIDUAL_MODES)
    _check_choice("broadcast_mode", broadcast_mode, BROADCAST_MODES)
    channels = x.shape[-1]
    if filters != channels and filters != 2 * channels:
        raise ValueError(
            f"{name}: a residual block keeps or doubles the channels; got {channels} → {filters}."
        )
    spatial_role, pointwise_role = roles

    def unit(x, make_conv, shortcut, unit_name):
        return residual_unit(x, make_conv, shortcut, residual_mode=residual_mode, name=unit_name)

    shortcut = x
    if strides > 1:
        shortcut = tf.keras.layers.AveragePooling2D(
            strides, padding="same", name=f"{name}_{spatial_role}_shortcut"
        )(x)
    x = unit(x, spatial_conv, shortcut, f"{name}_{spatial_role}")

    def pointwise(out_filters):
        return lambda conv_name: pointwise_conv(conv_name, out_filters)

    channels = x.shape[-1]
    if filters == channels:
        return unit(x, pointwise(filters), x, f"{name}_{pointwise_role}")
    if broadcast_mode == "concat_dup":
        halves = [
            unit(x, pointwise(channels), x, f"{name}_{pointwise_role}{i}") for i in (1, 2)
        ]
        return tf.keras.layers.Concatenate(name=f"{name}_{pointwise_role}_concat")(halves)
    shortcut = ChannelBroadcast(
        filters, mode=broadcast_mode, name=f"{name}_{pointwise_role}_shortcut"
    )(x)
    return unit(x, pointwise(filters), shortcut, f"{name}_{pointwise_role}")


def bdnet_block(
    x,
    filters,
    strides,
    *,
    name,
    depthwise_bits=1.58,
    threshold="absmean",
    residual_mode="pre_bn",
    broadcast_mode="tile",
    depthwise_int8=True,
):
    """One BD-Net block: binarized 3×3 depth-wise unit, then binary 1×1 point-wise unit.

    Each unit has its own residual (``residual_mode``); a strided depth-wise unit
    average-pools its identity, a point-wise unit that doubles the channels
    broadcasts its identity (``broadcast_mode``). See :func:`residual_block`.
    """
    # Without a BatchNorm after the conv (pre_bn) the kernel magnitude matters, so every
    # kernel carries the parameter-free per-channel mean|w| scale (in all modes, for one
    # recipe: where a BatchNorm follows it absorbs the scale exactly).

    def depthwise(conv_name):
        return BinaryDepthwiseConv2D(
            3,
            strides=strides,
            padding="same",
            kernel_bits=depthwise_bits,
            threshold=threshold,
            clip_value=CLIP_VALUE,
            scale_kernel=True,
            input_quantizer=RSign(),
            exact_int8=depthwise_int8,
            name=conv_name,
        )

    def pointwise(conv_name, out_filters):
        return lq.layers.QuantConv2D(
            out_filters,
            1,
            use_bias=False,
            input_quantizer=RSign(),
            kernel_quantizer=ScaledSign(clip_value=CLIP_VALUE),
            kernel_constraint=lq.constraints.WeightClip(CLIP_VALUE),
            name=conv_name,
        )

    return residual_block(
        x,
        filters,
        strides,
        spatial_conv=depthwise,
        pointwise_conv=pointwise,
        name=name,
        residual_mode=residual_mode,
        broadcast_mode=broadcast_mode,
    )


def scaled_widths(width_multiplier):
    """MobileNetV1 widths × ``width_multiplier`` (MobileNet's α).

    The stem width is rounded (at least 1) and the others are its multiples, so every
    doubling of the layout stays a doubling.
    """
    base = MOBILENET_WIDTHS[0]
    stem_width = max(1, int(round(base * width_multiplier)))
    return tuple(c // base * stem_width for c in MOBILENET_WIDTHS)


def stem(x, strides, filters=MOBILENET_WIDTHS[0]):
    """Real-valued 3×3 conv to ``filters`` (32) channels + BN (ReActNet-A's first layer)."""
    x = tf.keras.layers.Conv2D(
        filters, 3, strides=strides, padding="same", use_bias=False, name="stem_conv"
    )(x)
    return tf.keras.layers.BatchNormalization(momentum=0.9, name="stem_bn")(x)


@register_model(
    "bdnet_mobilenet",
    description="BD-Net binary MobileNetV1: 1.58-bit depth-wise, pre-BN residuals",
    paper="arXiv:2511.17633",
)
def BDNetMobileNet(
    *,
    input_shape=None,
    input_tensor=None,
    weights=None,
    include_top=True,
    num_classes=1000,
    pooling=None,
    classifier_activation="softmax",
    depthwise_bits=1.58,
    threshold="absmean",
    residual_mode="pre_bn",
    broadcast_mode="tile",
    baseline=False,
    depthwise_int8=True,
    width_multiplier=1.0,
    name=None,
) -> tf.keras.Model:
    """BD-Net's binary MobileNetV1 (reconstruction; see the module docstring).

    Reference: arXiv:2511.17633. Inputs are images mapped to [−1, 1]
    (:func:`lq_ext.zoo.preprocess_input`). Inputs of at most 64 px use the small-input
    layout (stride-1 stem: 32×32 ends at 2×2, 64×64 at 4×4); larger ones the
    ImageNet layout (224×224 ends at 7×7).

    # Arguments
        input_shape: ``(H, W, C)``, default ``(224, 224, 3)``; H, W ≥ 32.
        input_tensor: optional Keras tensor to use as the input.
        weights: None (random init) or the path of a local weights file saved from
            the same configuration. No pretrained weights are hosted.
        include_top: add the float classifier (global pool → Dense → softmax).
        num_classes: classes of the classifier (include_top only).
        pooling: without the top, None (feature map), ``"avg"`` or ``"max"``.
        classifier_activation: ``"softmax"`` or None / ``"linear"`` for logits.
        depthwise_bits: 1.58 (ternary, default) or 1 (binary) depth-wise kernels.
        depthwise_int8: compute the depth-wise convs on integers (default), so that
            TFLite runs them as exact int8 ``DEPTHWISE_CONV_2D`` instead of float (LCE
            has no binary depth-wise op); the Keras outputs are the same either way
            (:class:`~lq_ext.layers.BinaryDepthwiseConv2D`, ``exact_int8``).
        threshold: ternary threshold rule, see :class:`lq_ext.quantizers.Ternary`.
        residual_mode: ``"pre_bn"`` (default), ``"post_bn"`` (ReActNet) or
            ``"sum_then_bn"``.
        broadcast_mode: channel-doubling residual: ``"tile"`` (default),
            ``"concat_dup"`` (ReActNet-A) or ``"zeropad"``.
        width_multiplier: every width × this factor (MobileNet's α; 1.0 is the
            paper's network). Smaller values are ours, for reduced-budget experiments:
            the channel doublings and the layout stay the same.
        baseline: the naive baseline of the paper's claim: ``depthwise_bits=1`` and
            ``residual_mode="post_bn"`` (conflicting explicit values are an error).
        name: model name (default ``bdnet_mobilenet`` / ``bdnet_mobilenet_naive``).

    # Returns
        A ``tf.keras.Model``.
    """
    model_name = name or ("bdnet_mobilenet_naive" if baseline else "bdnet_mobilenet")
    if baseline:
        if (depthwise_bits, residual_mode) != (1.58, "pre_bn"):
            raise ValueError(
                "baseline=True sets depthwise_bits=1 and residual_mode='post_bn'; do not "
                f"also pass depthwise_bits={depthwise_bits!r}, residual_mode={residual_mode!r}."
            )
        depthwise_bits, residual_mode = 1, "post_bn"
    _check_choice("depthwise_bits", depthwise_bits, KERNEL_BITS)
    _check_choice("residual_mode", residual_mode, RESIDUAL_MODES)
    _check_choice("broadcast_mode", broadcast_mode, BROADCAST_MODES)
    if not isinstance(depthwise_int8, bool):
        raise ValueError(
            f"depthwise_int8 must be True or False, got depthwise_int8={depthwise_int8!r}."
        )

    if (
        isinstance(width_multiplier, bool)
        or not isinstance(width_multiplier, (int, float))
        or not 0 < width_multiplier <= 4
    ):
        raise ValueError(
            f"width_multiplier must be a number in (0, 4], got width_multiplier={width_multiplier!r}."
        )
    widths = scaled_widths(width_multiplier)

    def body(inputs, small_input):
        x = stem(inputs, strides=1 if small_input else 2, filters=widths[0])
        for i, (filters, strides) in enumerate(zip(widths[1:], block_strides(widths))):
            x = bdnet_block(
                x,
                filters,
                strides,
                name=f"block{i + 1}",
                depthwise_bits=depthwise_bits,
                threshold=threshold,
                residual_mode=residual_mode,
                broadcast_mode=broadcast_mode,
                depthwise_int8=depthwise_int8,
            )
        return x

    return _common.build_model(
        body,
        model_name=model_name,
        input_shape=input_shape,
        input_tensor=input_tensor,
        weights=weights,
        include_top=include_top,
        num_classes=num_classes,
        pooling=pooling,
        classifier_activation=classifier_activation,
    )


@register_model(
    "bdnet_mobilenet_naive",
    description="BD-Net's naive baseline: 1-bit depth-wise, post-BN (ReActNet) residuals",
    paper="arXiv:2511.17633",
)
def BDNetMobileNetNaive(**kwargs) -> tf.keras.Model:
    """``BDNetMobileNet(baseline=True, **kwargs)``: the naive binary MobileNetV1."""
    return BDNetMobileNet(baseline=True, **kwargs)
