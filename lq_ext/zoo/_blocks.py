"""Blocks the zoo's networks share: the MobileNetV1 / ReActNet-A skeleton and its binary conv.

The two-unit residual skeleton (:func:`residual_block`) is BD-Net's and ReActNet-A's;
ReActNet-A's binary conv and block (:func:`binary_conv`, :func:`reactnet_block`) are
also BCDNet's conv blocks and ES-ReActNet's; :func:`reactnet_body` is the ReActNet-A
network body that ReActNet-A and BCDNet build on. Paper modules import these from here,
never from each other. Provenance: docs/models/reactnet.md and docs/models/bdnet.md.
"""

from __future__ import annotations

import math

import larq as lq
import tensorflow as tf

from lq_ext._validate import check_choice, check_number
from lq_ext.layers import ChannelBroadcast, RPReLU
from lq_ext.layers.embedding import (
    EMBEDDING_ACTIVATIONS,
    LearnableBias,
    contextual_embedding,
    dynamic_bias,
    dynamic_threshold,
    embedding_units,
)
from lq_ext.quantizers import ScaledSign
from lq_ext.zoo._common import SMALL_INPUT_MAX, check_flag

__all__ = [
    "BN_EPSILON",
    "BROADCAST_MODES",
    "CLIP_VALUE",
    "MOBILENET_WIDTHS",
    "PAD_VALUES",
    "REACTNET_A_WIDTHS",
    "RESIDUAL_MODES",
    "binary_conv",
    "block_strides",
    "final_size",
    "layout_strides",
    "reactnet_block",
    "reactnet_body",
    "residual_block",
    "residual_unit",
    "scale_widths",
    "stem",
]

RESIDUAL_MODES = ("pre_bn", "post_bn", "sum_then_bn")
BROADCAST_MODES = ("tile", "concat_dup", "zeropad")

#: MobileNetV1 / ReActNet-A widths: stem output, then one entry per block output.
MOBILENET_WIDTHS = (32, 64, 128, 128, 256, 256, 512, 512, 512, 512, 512, 512, 1024, 1024)

#: ReActNet-A: MobileNetV1 widths, stem output then one entry per block output.
REACTNET_A_WIDTHS = MOBILENET_WIDTHS

#: Allowed ``pad_values`` of ReActNet's binary 3×3 convs (1.0: LCE "same-one", 0.0: the code's).
PAD_VALUES = (1.0, 0.0)

#: Weight clip / straight-through clip of ReActNet's binary kernels (the code's clamp(W, −1, 1)).
CLIP_VALUE = 1.0


#: Stage widths of a narrowed / widened network are multiples of this (see :func:`scale_widths`):
#: BCDNet's shift block moves channel quarters.
WIDTH_DIVISOR = 4

#: Largest ``width_multiplier`` the ReActNet-A family accepts.
MAX_WIDTH_MULTIPLIER = 4.0


def scale_widths(widths, width_multiplier, *, model_name):
    """``widths`` (stem first) scaled by ``width_multiplier`` (MobileNet's α), doublings kept.

    The stem width ``widths[0] · m`` is rounded half up to a multiple of
    :data:`WIDTH_DIVISOR` (4, at least 4); every other width keeps its ratio to the stem
    (``c // widths[0] · stem``), so each channel doubling of the layout stays an exact
    doubling (ReActNet-A's ``concat_dup``) and every width stays divisible by 4 (BCDNet's
    shift quarters). For the base widths 32, 64, …, 1024 and ``m`` a multiple of 0.125
    this is ``int(c · m)``: m = 0.125 gives 4, 8, 16, …, 128; m = 0.25 gives 8, …, 256;
    m = 0.5 gives 16, …, 512. ``m = 1.0`` returns ``widths`` unchanged.

    # Raises
        ValueError: ``width_multiplier`` not a number in (0, 4], or so small that the
            stem rounds to 0 channels (m < 0.0625 for a 32-wide stem).
    """
    multiplier = check_number(
        "width_multiplier", width_multiplier, low=0, high=MAX_WIDTH_MULTIPLIER, low_inclusive=False
    )
    base = widths[0]
    if any(c % base for c in widths):
        raise AssertionError(f"{model_name}: widths {widths} are not multiples of the stem width {base}.")
    stem_width = WIDTH_DIVISOR * math.floor(base * multiplier / WIDTH_DIVISOR + 0.5)
    if stem_width < WIDTH_DIVISOR:
        raise ValueError(
            f"{model_name}: width_multiplier={width_multiplier!r} is too small: the stem width "
            f"{base} × {width_multiplier!r} rounds to 0 channels (widths are multiples of "
            f"{WIDTH_DIVISOR}); allowed: {WIDTH_DIVISOR / 2 / base:g} <= width_multiplier <= "
            f"{MAX_WIDTH_MULTIPLIER:g}."
        )
    return tuple(c // base * stem_width for c in widths)


def block_strides(widths):
    """Stride of each block: 2 where the width grows, except 32→64 (ReActNet-A)."""
    return [
        2 if c_out > c_in and c_in != widths[0] else 1
        for c_in, c_out in zip(widths[:-1], widths[1:])
    ]


#: Keras' BatchNormalization epsilon (the zoo's default); PyTorch's is 1e-5.
BN_EPSILON = 1e-3


def stem(x, strides, filters=MOBILENET_WIDTHS[0], bn_epsilon=BN_EPSILON):
    """Real-valued 3×3 conv to ``filters`` (32) channels + BN (ReActNet-A's first layer)."""
    x = tf.keras.layers.Conv2D(
        filters, 3, strides=strides, padding="same", use_bias=False, name="stem_conv"
    )(x)
    return tf.keras.layers.BatchNormalization(momentum=0.9, epsilon=bn_epsilon, name="stem_bn")(x)


def residual_unit(x, make_conv, shortcut, *, residual_mode, name, bn_epsilon=BN_EPSILON):
    """One conv unit with its own residual, then RPReLU.

    ``make_conv(name)`` returns the binary conv layer (input binarizer included), or any
    callable on a tensor built from such layers.
    """
    bn = tf.keras.layers.BatchNormalization(momentum=0.9, epsilon=bn_epsilon, name=f"{name}_bn")
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
    bn_epsilon=BN_EPSILON,
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
        bn_epsilon: of the units' BatchNormalization (1e-3 Keras, 1e-5 PyTorch).
    """
    check_choice("residual_mode", residual_mode, RESIDUAL_MODES)
    check_choice("broadcast_mode", broadcast_mode, BROADCAST_MODES)
    channels = x.shape[-1]
    if filters != channels and filters != 2 * channels:
        raise ValueError(
            f"{name}: a residual block keeps or doubles the channels; got {channels} → {filters}."
        )
    spatial_role, pointwise_role = roles

    def unit(x, make_conv, shortcut, unit_name):
        return residual_unit(
            x, make_conv, shortcut, residual_mode=residual_mode, name=unit_name, bn_epsilon=bn_epsilon
        )

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


def binary_conv(filters, kernel_size, *, strides=1, pad_values=1.0, name):
    """ReActNet's binary conv: ``ApproxSign`` input, ±mean|W_c| kernel, no bias.

    The input must already carry its threshold (:class:`~lq_ext.layers.LearnableBias`
    or :func:`~lq_ext.layers.embedding.dynamic_threshold`). 3×3 convs pad "same" with
    ``pad_values``; 1×1 convs use "valid" (nothing to pad).
    """
    return lq.layers.QuantConv2D(
        filters,
        kernel_size,
        strides=strides,
        padding="same" if kernel_size != 1 else "valid",
        pad_values=pad_values if kernel_size != 1 else 0.0,
        use_bias=False,
        input_quantizer="approx_sign",
        kernel_quantizer=ScaledSign(clip_value=CLIP_VALUE),
        kernel_constraint=lq.constraints.WeightClip(CLIP_VALUE),
        name=name,
    )


def reactnet_block(
    x,
    filters,
    strides,
    *,
    name,
    pad_values=1.0,
    embedding_reduction=None,
    embedding_activation="relu",
    share_embedding=False,
    bn_epsilon=BN_EPSILON,
):
    """ReActNet-A's basic block; BCDNet's binary conv block (docs/models/reactnet.md).

    Layers ``{name}_3x3_*`` (``bias``, ``conv``, ``bn``, ``add``, ``act``,
    ``shortcut`` when strided) and ``{name}_pw_*`` (``{name}_pw1_*``, ``{name}_pw2_*``
    and ``{name}_pw_concat`` when the channels double).

    # Arguments
        filters: C (keep) or 2C (double) output channels.
        strides: of the 3×3 conv; 2 average-pools the identity 2×2.
        pad_values: padding value of the binary 3×3 conv, 1.0 or 0.0.
        embedding_reduction: None (default) for the static learnable thresholds of
            ReActNet-A / BCDNet-A; an int r for BCDNet-B's contextual dynamic
            embedding with hidden size C // r (reconstruction, see
            :mod:`lq_ext.layers.embedding`).
        embedding_activation: after W₁ (BCDNet-B only).
        share_embedding: one embedding ``e`` of the block input for both convs
            (``{name}_embedding``), instead of one per conv from its own input
            (``{name}_3x3_embedding``, ``{name}_pw_embedding``). BCDNet-B only.
        bn_epsilon: of the block's BatchNormalization (1e-3; the official code's 1e-5).
    """
    dynamic = embedding_reduction is not None
    shared = None
    if dynamic and share_embedding:
        shared = contextual_embedding(
            x, reduction=embedding_reduction, activation=embedding_activation, name=f"{name}_embedding"
        )
    # role → (input, thresholded input, embedding): the convs of one unit share a threshold
    binarizer_inputs = {}

    def threshold(inputs, role):
        if role in binarizer_inputs:
            seen, thresholded, embedding = binarizer_inputs[role]
            if seen is not inputs:  # the skeleton feeds both halves the same tensor
                raise AssertionError(f"{name}_{role}: convs of one unit got different inputs.")
            return thresholded, embedding
        unit = f"{name}_{role}"
        if not dynamic:
            thresholded, embedding = LearnableBias(name=f"{unit}_bias")(inputs), None
        else:
            embedding = shared
            if embedding is None:
                embedding = contextual_embedding(
                    inputs,
                    reduction=embedding_reduction,
                    activation=embedding_activation,
                    name=f"{unit}_embedding",
                )
            thresholded = dynamic_threshold(inputs, embedding, name=f"{unit}_threshold")
        binarizer_inputs[role] = (inputs, thresholded, embedding)
        return thresholded, embedding

    def conv(role, conv_name, out_filters, kernel_size, conv_strides):
        layer = binary_conv(
            out_filters, kernel_size, strides=conv_strides, pad_values=pad_values, name=conv_name
        )

        def apply(inputs):
            thresholded, embedding = threshold(inputs, role)
            outputs = layer(thresholded)
            if embedding is None:
                return outputs
            return dynamic_bias(outputs, embedding, name=f"{conv_name}_context")

        return apply

    channels = x.shape[-1]
    return residual_block(
        x,
        filters,
        strides,
        spatial_conv=lambda conv_name: conv("3x3", conv_name, channels, 3, strides),
        pointwise_conv=lambda conv_name, out_filters: conv("pw", conv_name, out_filters, 1, 1),
        name=name,
        residual_mode="post_bn",
        broadcast_mode="concat_dup",
        roles=("3x3", "pw"),
        bn_epsilon=bn_epsilon,
    )


def layout_strides(widths, small_input):
    """(stem stride, block strides). Small inputs: stride-1 stem and last downsampling block."""
    strides = block_strides(widths)
    if not small_input:
        return 2, strides
    last = max(i for i, s in enumerate(strides) if s == 2)
    return 1, [1 if i == last else s for i, s in enumerate(strides)]


def final_size(input_shape, widths):
    """(H, W) of the last conv block's output for ``input_shape`` ("same" padding)."""
    small_input = max(input_shape[:2]) <= SMALL_INPUT_MAX
    stem_stride, strides = layout_strides(widths, small_input)
    total = stem_stride * math.prod(strides)
    return tuple(math.ceil(side / total) for side in input_shape[:2])


def reactnet_body(
    widths,
    *,
    pad_values=1.0,
    embedding_reduction=None,
    embedding_activation="relu",
    share_embedding=False,
    stage=None,
    bn_epsilon=BN_EPSILON,
    input_stage=None,
):
    """Validate, then return ``body(inputs, small_input)``: stem → ReActNet blocks → ``stage``.

    The network body of ReActNet-A and BCDNet (for :func:`lq_ext.zoo._common.build_model`);
    ``stage(x)`` appends layers after the conv blocks (BCDNet's shift blocks);
    ``input_stage(inputs)`` prepends layers before the stem (official weights' input
    normalisation and flip); ``bn_epsilon`` goes to every BatchNormalization.
    """
    check_choice("pad_values", pad_values, PAD_VALUES)
    if embedding_reduction is not None:
        embedding_units(min(widths), embedding_reduction)  # errors name the value
        check_choice("embedding_activation", embedding_activation, EMBEDDING_ACTIVATIONS)
        check_flag("share_embedding", share_embedding)

    def body(inputs, small_input):
        stem_stride, strides = layout_strides(widths, small_input)
        x = inputs if input_stage is None else input_stage(inputs)
        x = stem(x, strides=stem_stride, filters=widths[0], bn_epsilon=bn_epsilon)
        for i, (filters, block_stride) in enumerate(zip(widths[1:], strides)):
            x = reactnet_block(
                x,
                filters,
                block_stride,
                name=f"block{i + 1}",
                pad_values=pad_values,
                embedding_reduction=embedding_reduction,
                embedding_activation=embedding_activation,
                share_embedding=share_embedding,
                bn_epsilon=bn_epsilon,
            )
        return x if stage is None else stage(x)

    return body
