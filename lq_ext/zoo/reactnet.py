"""ReActNet-A: the binary MobileNetV1 that BD-Net and BCDNet are measured against.

Liu, Shen, Savvides, Cheng, "ReActNet: Towards Precise Binary Neural Networks with
Generalized Activation Functions", ECCV 2020, arXiv:2003.03488.

**Provenance.** The block is ReActNet-A's ``BasicBlock`` as re-released unchanged in
BCDNet's code (``Sense-GVT/BCDNet`` ``prototype/model/a_3.py``; spec
``../shared/specs/bcdnet.md`` §2.4) [code]:

.. code-block:: text

    o1 = RPReLU(BN(BinConv3x3(ApproxSign(x + b11), C→C, stride)) + AvgPool2x2(x))
    o2 = ApproxSign(o1 + b21)
    C → C :  RPReLU(BN(BinConv1x1(o2)) + o1)
    C → 2C:  RPReLU(concat[BN_a(BinConv1x1_a(o2)) + o1, BN_b(BinConv1x1_b(o2)) + o1])

- binarizer: :class:`~lq_ext.layers.LearnableBias` (``x + b``, one threshold per
  binarization, shared by the two 1×1 convs of a doubling block) → Larq's
  ``ApproxSign`` (Bi-Real's piecewise-polynomial gradient; ``sign(0) = +1`` where torch
  gives 0);
- weights: :class:`~lq_ext.quantizers.ScaledSign` (α_c = mean|W_c| per output channel,
  no gradient through α, straight-through gradient for |w| ≤ 1), the code's
  ``HardBinaryConv``;
- full 3×3 binary convs (not depth-wise), MobileNetV1 widths, real-valued 3×3 stem (to
  32 channels, stride 2, + BN, no activation) and one float classifier; every binary
  3×3 and 1×1 conv is an ``LceBconv2d`` after conversion.

Deviations, all LCE-motivated or Keras-inherent, documented here once:

- 3×3 convs pad the *binary* input with +1 (``pad_values=1.0``, LCE's recommended
  "same-one" padding); the code pads with 0. ``pad_values=0.0`` gives the code's zero
  padding (LCE converts it for ``target="arm"`` only, with a run-time correction).
- A ``WeightClip(1.0)`` constraint on the latent weights (the code only masks the
  gradient of |w| > 1, which can starve such weights; Larq warns about that setup).
- Keras' "same" padding of a stride-2 conv on an even map pads 0 rows on top and 1 at
  the bottom, PyTorch 1 and 1; matters only when porting PyTorch weights.
- The two-unit skeleton (average-pooled shortcut, ``concat_dup`` doubling) is BD-Net's
  :func:`lq_ext.zoo.bdnet.residual_block` in ``post_bn`` mode: the RPReLU after the
  concatenation is written as one RPReLU per half (the same per-channel function).

**Small inputs.** Inputs of at most 64 px use a stride-1 stem *and* a stride-1
512→1024 block, so 32×32 ends at 4×4 (64×64 at 8×8): the same layout as BCDNet's, whose
shift stage needs at least 4×4 (:mod:`lq_ext.zoo.bcdnet`). (BD-Net's small layout only
changes the stem and ends at 2×2.) Larger inputs use the ImageNet layout, 224 → 7×7.

The block also carries BCDNet-B's contextual dynamic embeddings
(``embedding_reduction``), see :mod:`lq_ext.layers.embedding`.
"""

from __future__ import annotations

import math

import larq as lq
import tensorflow as tf

from lq_ext.layers.embedding import (
    EMBEDDING_ACTIVATIONS,
    LearnableBias,
    contextual_embedding,
    dynamic_bias,
    dynamic_threshold,
    embedding_units,
)
from lq_ext.quantizers import ScaledSign
from lq_ext.zoo import _common
from lq_ext.zoo._registry import register_model
from lq_ext.zoo.bdnet import MOBILENET_WIDTHS, _check_choice, block_strides, residual_block, stem

__all__ = ["PAD_VALUES", "REACTNET_A_WIDTHS", "ReActNetA", "binary_conv", "reactnet_block"]

#: ReActNet-A: MobileNetV1 widths, stem output then one entry per block output.
REACTNET_A_WIDTHS = MOBILENET_WIDTHS

#: Allowed ``pad_values`` of the binary 3×3 convs (1.0: LCE "same-one", 0.0: the code's).
PAD_VALUES = (1.0, 0.0)

#: Weight clip / straight-through clip of every binary kernel (the code's clamp(W, −1, 1)).
CLIP_VALUE = 1.0


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
):
    """ReActNet-A's basic block (module docstring); BCDNet's binary conv block.

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
    small_input = max(input_shape[:2]) <= _common.SMALL_INPUT_MAX
    stem_stride, strides = layout_strides(widths, small_input)
    total = stem_stride * math.prod(strides)
    return tuple(math.ceil(side / total) for side in input_shape[:2])


def build_reactnet(
    *,
    model_name,
    widths,
    input_shape,
    input_tensor,
    weights,
    include_top,
    num_classes,
    pooling,
    classifier_activation,
    pad_values=1.0,
    embedding_reduction=None,
    embedding_activation="relu",
    share_embedding=False,
    stage=None,
    check_shape=None,
    top=None,
):
    """Validate, then build stem → ReActNet blocks → ``stage`` → head. Shared by ReActNetA and BCDNet.

    ``stage(x)`` appends layers after the conv blocks (BCDNet's shift blocks);
    ``check_shape(input_shape)`` raises for inputs the stage cannot take;
    ``top(x)`` replaces the standard head when ``include_top`` (BCDNet's
    distillation head).
    """
    _check_choice("pad_values", pad_values, PAD_VALUES)
    if embedding_reduction is not None:
        embedding_units(min(widths), embedding_reduction)  # errors name the value
        _check_choice("embedding_activation", embedding_activation, EMBEDDING_ACTIVATIONS)
        if not isinstance(share_embedding, bool):
            raise ValueError(
                f"share_embedding must be True or False, got share_embedding={share_embedding!r}."
            )
    def body(inputs, small_input):
        stem_stride, strides = layout_strides(widths, small_input)
        x = stem(inputs, strides=stem_stride)
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
            )
        return x if stage is None else stage(x)

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
        check_shape=check_shape,
        top=top,
    )


@register_model(
    "reactnet_a",
    description="ReActNet-A: binary MobileNetV1 with RSign/RPReLU (BD-Net's and BCDNet's baseline)",
    paper="arXiv:2003.03488",
)
def ReActNetA(
    *,
    input_shape=None,
    input_tensor=None,
    weights=None,
    include_top=True,
    num_classes=1000,
    pooling=None,
    classifier_activation="softmax",
    pad_values=1.0,
    name=None,
) -> tf.keras.Model:
    """ReActNet-A (ImageNet 69.4 % top-1 in the paper; 4.82·10⁹ BOPs, 0.87·10⁸ OPs).

    Reference: arXiv:2003.03488; block as released in BCDNet's code (module
    docstring). Inputs are images mapped to [−1, 1]
    (:func:`lq_ext.zoo.preprocess_input`). Inputs of at most 64 px use the small-input
    layout (32×32 ends at 4×4), larger ones the ImageNet layout (224×224 ends at 7×7).

    # Arguments
        input_shape: ``(H, W, C)``, default ``(224, 224, 3)``; H, W ≥ 32.
        input_tensor: optional Keras tensor to use as the input.
        weights: None (random init) or the path of a local weights file saved from
            the same configuration. No pretrained weights are hosted.
        include_top: add the float classifier (global pool → Dense → softmax).
        num_classes: classes of the classifier (include_top only).
        pooling: without the top, None (feature map), ``"avg"`` or ``"max"``.
        classifier_activation: ``"softmax"`` or None / ``"linear"`` for logits.
        pad_values: padding of the binary 3×3 convs: 1.0 (default, LCE's "same-one")
            or 0.0 (the released code's zero padding).
        name: model name (default ``reactnet_a``).

    # Returns
        A ``tf.keras.Model``.
    """
    return build_reactnet(
        model_name=name or "reactnet_a",
        widths=REACTNET_A_WIDTHS,
        input_shape=input_shape,
        input_tensor=input_tensor,
        weights=weights,
        include_top=include_top,
        num_classes=num_classes,
        pooling=pooling,
        classifier_activation=classifier_activation,
        pad_values=pad_values,
    )
