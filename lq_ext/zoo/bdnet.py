"""BD-Net: binarized depth-wise convolutions with 1.58-bit kernels and pre-BN residuals.

Kim, Lee, Kim, Lee, Lee, "BD-Net: Has Depth-Wise Convolution Ever Been Applied in
Binary Neural Networks?", AAAI 2026, arXiv:2511.17633. Only the abstract is public:
the network here is a reconstruction whose readings sit behind arguments
(``depthwise_bits``, ``residual_mode``, ``broadcast_mode``...). ``baseline=True``
(registered as ``bdnet_mobilenet_naive``) is the naive baseline of the paper's claim.

Provenance and reconstruction notes: docs/models/bdnet.md.
"""

from __future__ import annotations

import warnings

import larq as lq
import tensorflow as tf

from lq_ext._validate import check_choice
from lq_ext.layers import BinaryDepthwiseConv2D
from lq_ext.layers.depthwise import KERNEL_BITS
from lq_ext.quantizers import RSign, ScaledSign
from lq_ext.zoo import _common, catalog
from lq_ext.zoo._blocks import (  # noqa: F401  (re-exported: their old home)
    BROADCAST_MODES,
    MOBILENET_WIDTHS,
    RESIDUAL_MODES,
    block_strides,
    residual_block,
    residual_unit,
    stem,
)
from lq_ext.zoo._common import ZooArgs
from lq_ext.zoo._registry import register_model

__all__ = ["BDNetMobileNet", "BDNetMobileNetNaive", "RESIDUAL_MODES", "BROADCAST_MODES", "bdnet_block"]

#: Weight clip of every binary/ternary kernel (latent weights live in [−1.5, 1.5]).
CLIP_VALUE = 1.5


def __getattr__(name):
    """Deprecated names: ``PAPER_OPS`` (now the registry's ``catalog.card("bdnet_mobilenet").ops``)
    and ``_check_choice`` (now :func:`lq_ext._validate.check_choice`)."""
    if name == "PAPER_OPS":
        warnings.warn(
            "lq_ext.zoo.bdnet.PAPER_OPS is deprecated: use "
            "lq_ext.zoo.catalog.card('bdnet_mobilenet').ops.",
            DeprecationWarning,
            stacklevel=2,
        )
        return catalog.card("bdnet_mobilenet").ops
    if name == "_check_choice":
        return check_choice
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
    exact_int8=True,
    depthwise_int8=_common.UNSET,
):
    """One BD-Net block: binarized 3×3 depth-wise unit, then binary 1×1 point-wise unit.

    Each unit has its own residual (``residual_mode``); a strided depth-wise unit
    average-pools its identity, a point-wise unit that doubles the channels
    broadcasts its identity (``broadcast_mode``). See :func:`residual_block`.
    ``depthwise_int8`` is the deprecated spelling of ``exact_int8``.
    """
    exact_int8 = _common.renamed_keyword("depthwise_int8", depthwise_int8, "exact_int8", exact_int8, True)
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
            exact_int8=exact_int8,
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


_BDNET_ARGS = """\
        depthwise_bits: 1.58 (ternary, default) or 1 (binary) depth-wise kernels.
        threshold: ternary threshold rule, see :class:`lq_ext.quantizers.Ternary`.
        residual_mode: ``"pre_bn"`` (default), ``"post_bn"`` (ReActNet) or
            ``"sum_then_bn"``.
        broadcast_mode: channel-doubling residual: ``"tile"`` (default),
            ``"concat_dup"`` (ReActNet-A) or ``"zeropad"``.
        baseline: the naive baseline of the paper's claim: ``depthwise_bits=1`` and
            ``residual_mode="post_bn"`` (conflicting explicit values are an error).
        exact_int8: compute the depth-wise convs on integers (default), so that
            TFLite runs them as exact int8 ``DEPTHWISE_CONV_2D`` instead of float (LCE
            has no binary depth-wise op); the Keras outputs are the same either way
            (:class:`~lq_ext.layers.BinaryDepthwiseConv2D`, ``exact_int8``).
        width_multiplier: every width × this factor (MobileNet's α; 1.0 is the
            paper's network). Smaller values are ours, for reduced-budget experiments:
            the channel doublings and the layout stay the same.
        depthwise_int8: deprecated spelling of ``exact_int8``.
"""


@register_model("bdnet_mobilenet")
@_common.document(name="bdnet_mobilenet / bdnet_mobilenet_naive", model_args=_BDNET_ARGS)
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
    exact_int8=True,
    width_multiplier=1.0,
    depthwise_int8=_common.UNSET,
    name=None,
) -> tf.keras.Model:
    """BD-Net's binary MobileNetV1 (reconstruction; see the module docstring).

    Reference: arXiv:2511.17633. Inputs are images mapped to [−1, 1]
    (:func:`lq_ext.zoo.preprocess_input`). Inputs of at most 64 px use the small-input
    layout (stride-1 stem: 32×32 ends at 2×2, 64×64 at 4×4); larger ones the
    ImageNet layout (224×224 ends at 7×7).
    """
    model_name = name or ("bdnet_mobilenet_naive" if baseline else "bdnet_mobilenet")
    if depthwise_int8 is not _common.UNSET:
        _common.check_flag("depthwise_int8", depthwise_int8)
    exact_int8 = _common.renamed_keyword("depthwise_int8", depthwise_int8, "exact_int8", exact_int8, True)
    if baseline:
        if (depthwise_bits, residual_mode) != (1.58, "pre_bn"):
            raise ValueError(
                "baseline=True sets depthwise_bits=1 and residual_mode='post_bn'; do not "
                f"also pass depthwise_bits={depthwise_bits!r}, residual_mode={residual_mode!r}."
            )
        depthwise_bits, residual_mode = 1, "post_bn"
    check_choice("depthwise_bits", depthwise_bits, KERNEL_BITS)
    check_choice("residual_mode", residual_mode, RESIDUAL_MODES)
    check_choice("broadcast_mode", broadcast_mode, BROADCAST_MODES)
    _common.check_flag("exact_int8", exact_int8)
    if (
        isinstance(width_multiplier, bool)
        or not isinstance(width_multiplier, (int, float))
        or not 0 < width_multiplier <= 4
    ):
        raise ValueError(
            f"width_multiplier must be a number in (0, 4], got width_multiplier={width_multiplier!r}."
        )
    widths = scaled_widths(width_multiplier)
    args = ZooArgs(
        model_name, input_shape, input_tensor, weights, include_top, num_classes, pooling, classifier_activation
    )

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
                exact_int8=exact_int8,
            )
        return x

    return _common.build_model(body, args)


@register_model("bdnet_mobilenet_naive")
def BDNetMobileNetNaive(**kwargs) -> tf.keras.Model:
    """``BDNetMobileNet(baseline=True, **kwargs)``: the naive binary MobileNetV1."""
    return BDNetMobileNet(baseline=True, **kwargs)
