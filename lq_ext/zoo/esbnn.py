"""ES-BNN: expanding-and-shrinking (τ) and binary group convolution (g) on ResNet / ReActNet.

Shi, Sun, Qi, Hao, Yang, "Expanding-and-Shrinking Binary Neural Networks",
arXiv:2503.23709. The operator is :class:`lq_ext.layers.ESQuantConv2D`. The official code
implements ES only on BNext (:mod:`lq_ext.zoo.es_bnext`); the three networks here are
reconstructions built the way that code builds ES-BNext: the network runs τ·g× wide, a
tiled stem, every binary conv ``ESQuantConv2D(C_out, tau, groups)``, the head on the
first C channels. BOPs and FLOPs equal the τ = g = 1 network's. With ``groups > 1``
LCE needs C_in·τ per group to be a multiple of 32 (checked when ``for_lce=True``).

- :func:`ESResNet20` — CIFAR ResNet-20, the paper's CIFAR-10 ablation network.
- :func:`ESResNet18` — ReActNet's ResNet-18 (the ≈65.9 → ≈68.0 ImageNet pair).
- :func:`ESReActNet` — ReActNet-A with ES/G.

Provenance ([R]ead in the code / [I]nferred) and reconstruction notes: docs/models/esbnn.md.
"""

from __future__ import annotations

import larq as lq
import tensorflow as tf

from lq_ext._validate import check_choice
from lq_ext.layers import ChannelBroadcast, ChannelSlice, ESQuantConv2D, LearnableBias
from lq_ext.layers.es import check_es_factors
from lq_ext.lce_rules import grouped_bconv_error
from lq_ext.quantizers import ScaledSign
from lq_ext.zoo import _common
from lq_ext.zoo._blocks import (
    CLIP_VALUE,
    PAD_VALUES,
    REACTNET_A_WIDTHS,
    layout_strides,
    residual_block,
    residual_unit,
)
from lq_ext.zoo._common import ZooArgs
from lq_ext.zoo._registry import register_model

__all__ = [
    "ESReActNet",
    "ESResNet18",
    "ESResNet20",
    "RESNET18_WIDTHS",
    "RESNET20_WIDTHS",
    "check_es_widths",
    "es_binary_conv",
    "es_reactnet_block",
    "es_resnet_block",
    "es_stem",
]

#: CIFAR ResNet-20: stem width, then one entry per basic block (3 stages × 3 blocks).
RESNET20_WIDTHS = (16,) + (16,) * 3 + (32,) * 3 + (64,) * 3

#: ResNet-18: stem width, then one entry per basic block (4 stages × 2 blocks).
RESNET18_WIDTHS = (64,) + (64,) * 2 + (128,) * 2 + (256,) * 2 + (512,) * 2


def _stage_strides(widths):
    """Stride 2 where the width grows (ResNet stages)."""
    return [2 if c_out > c_in else 1 for c_in, c_out in zip(widths[:-1], widths[1:])]


def check_es_widths(widths, tau, groups, *, for_lce, model_name):
    """Validate τ, g against a network's widths; errors name the model, width and a valid choice.

    τ must divide every block width (C_out/τ kernels), g the kernel counts C_out/τ; with
    ``for_lce`` and g > 1 every binary conv's input channels per group, C_in·τ, must be
    a multiple of 32 (the converter's rule, :func:`lq_ext.lce_rules.grouped_bconv_error`).
    """
    check_es_factors(tau, groups, where=model_name)
    _common.check_flag("for_lce", for_lce, model_name)

    def problem(t, g, lce=for_lce):
        for c_out in widths[1:]:
            if c_out % t:
                return f"tau={t} does not divide the width {c_out}"
            if (c_out // t) % g:
                return f"groups={g} does not divide the {c_out}/{t} = {c_out // t} kernels of a {c_out}-wide conv"
        if lce:  # every width is the input of some binary conv
            for c_in, c_out in zip(widths, widths[1:] + widths[-1:]):
                message = grouped_bconv_error(f"{c_in}→{c_out} conv", "ESQuantConv2D", g, c_in * t, c_out // t)
                if message:
                    return message
        return None

    error = problem(tau, groups)
    if error is None:
        return
    candidates = [(t, g) for t in range(1, 33) for g in range(1, 33) if problem(t, g) is None]
    # closest; on ties keep the requested groups, then the cheaper (smaller τ·g) one
    nearest = min(
        candidates,
        key=lambda tg: (abs(tg[0] - tau) + abs(tg[1] - groups), tg[1] != groups, tg[0] * tg[1]),
    )
    raise ValueError(
        f"{model_name}: tau={tau}, groups={groups} do not fit the widths {list(widths)}: "
        f"{error}. Nearest valid choice: tau={nearest[0]}, groups={nearest[1]}"
        + (" (or for_lce=False to build it for training only)." if for_lce and groups > 1 else ".")
    )


def es_binary_conv(filters, kernel_size, *, strides=1, tau, groups, for_lce=True, pad_values=1.0, name):
    """ReActNet's binary conv (:func:`lq_ext.zoo.reactnet.binary_conv`) with ES/G.

    ``filters`` is the un-expanded C_out. The input must already carry its threshold.
    """
    return ESQuantConv2D(
        filters,
        kernel_size,
        strides=strides,
        tau=tau,
        groups=groups,
        for_lce=for_lce,
        padding="same" if kernel_size != 1 else "valid",
        pad_values=pad_values if kernel_size != 1 else 0.0,
        use_bias=False,
        input_quantizer="approx_sign",
        kernel_quantizer=ScaledSign(clip_value=CLIP_VALUE),
        kernel_constraint=lq.constraints.WeightClip(CLIP_VALUE),
        name=name,
    )


def es_stem(x, filters, *, kernel_size=3, strides, replicas, name="stem"):
    """Real conv to ``filters`` → whole-tensor tile ×``replicas`` (τ·g) → BN [R: ``repeat(1, τ, 1, 1)``]."""
    x = tf.keras.layers.Conv2D(
        filters, kernel_size, strides=strides, padding="same", use_bias=False, name=f"{name}_conv"
    )(x)
    if replicas > 1:
        x = ChannelBroadcast(filters * replicas, mode="tile", name=f"{name}_tile")(x)
    return tf.keras.layers.BatchNormalization(momentum=0.9, name=f"{name}_bn")(x)


def _thresholded_conv(conv):
    """``make_conv`` for :func:`residual_unit`: LearnableBias (per replica) → ``conv``."""

    def make_conv(conv_name):
        unit = conv_name[: -len("_conv")]
        layer = conv(conv_name)
        return lambda inputs: layer(LearnableBias(name=f"{unit}_bias")(inputs))

    return make_conv


def es_resnet_block(x, filters, strides, *, tau, groups, for_lce=True, pad_values=1.0, name):
    """ReActNet/Bi-Real ResNet basic block with ES/G: two 3×3 units, each with its residual.

    ``{name}_conv{1,2}_*`` units: ``RPReLU(BN(ESConv3×3(sign(x + b))) + shortcut)``. When
    the block strides or widens, the first unit's shortcut is Bi-Real's AvgPool 2×2 →
    real 1×1 conv → BN, the conv shrunk like the binary ones (``{name}_shortcut_*``) [I].
    ``filters`` is the un-expanded width.
    """
    width = filters * tau * groups

    def conv3x3(conv_strides):
        return _thresholded_conv(
            lambda conv_name: es_binary_conv(
                filters, 3, strides=conv_strides, tau=tau, groups=groups, for_lce=for_lce,
                pad_values=pad_values, name=conv_name,
            )
        )

    shortcut = x
    if strides > 1 or x.shape[-1] != width:
        if strides > 1:
            shortcut = tf.keras.layers.AveragePooling2D(
                strides, padding="same", name=f"{name}_shortcut_pool"
            )(shortcut)
        shortcut = ESQuantConv2D(
            filters, 1, tau=tau, groups=groups, use_bias=False, name=f"{name}_shortcut_conv"
        )(shortcut)
        shortcut = tf.keras.layers.BatchNormalization(momentum=0.9, name=f"{name}_shortcut_bn")(shortcut)
    x = residual_unit(x, conv3x3(strides), shortcut, residual_mode="post_bn", name=f"{name}_conv1")
    return residual_unit(x, conv3x3(1), x, residual_mode="post_bn", name=f"{name}_conv2")


def es_reactnet_block(x, filters, strides, *, tau, groups, for_lce=True, pad_values=1.0, name):
    """ReActNet-A's block (:func:`lq_ext.zoo.reactnet.reactnet_block`) with ES/G convs.

    Same skeleton (:func:`lq_ext.zoo.bdnet.residual_block`, ``post_bn``, ``concat_dup``)
    and names (``{name}_3x3_*``, ``{name}_pw*_*``); the two 1×1 convs of a doubling
    block share one threshold, as in ReActNet-A. ``filters`` is the un-expanded width.
    """
    replicas = tau * groups
    thresholds = {}  # role → (input, thresholded input)

    def threshold(inputs, role):
        if role not in thresholds:
            thresholds[role] = (inputs, LearnableBias(name=f"{name}_{role}_bias")(inputs))
        seen, thresholded = thresholds[role]
        if seen is not inputs:
            raise AssertionError(f"{name}_{role}: convs of one unit got different inputs.")
        return thresholded

    def conv(role, out_filters, kernel_size, conv_strides):
        def make_conv(conv_name):
            layer = es_binary_conv(
                out_filters, kernel_size, strides=conv_strides, tau=tau, groups=groups,
                for_lce=for_lce, pad_values=pad_values, name=conv_name,
            )
            return lambda inputs: layer(threshold(inputs, role))

        return make_conv

    channels = x.shape[-1] // replicas
    return residual_block(
        x,
        filters * replicas,
        strides,
        spatial_conv=conv("3x3", channels, 3, strides),
        pointwise_conv=lambda conv_name, out_width: conv("pw", out_width // replicas, 1, 1)(conv_name),
        name=name,
        residual_mode="post_bn",
        broadcast_mode="concat_dup",
        roles=("3x3", "pw"),
    )


def _build(args: ZooArgs, *, widths, block, layout, tau, groups, for_lce, pad_values):
    """Validate, then stem → tile → ES blocks → first-C slice → head.

    ``layout(small_input)`` returns ``(stem kernel, stem stride, stem max-pool, block strides)``.
    """
    check_choice("pad_values", pad_values, PAD_VALUES)
    check_es_widths(widths, tau, groups, for_lce=for_lce, model_name=args.model_name)

    def body(inputs, small_input):
        stem_kernel, stem_stride, stem_pool, strides = layout(small_input)
        x = es_stem(
            inputs, widths[0], kernel_size=stem_kernel, strides=stem_stride, replicas=tau * groups
        )
        if stem_pool:
            x = tf.keras.layers.MaxPooling2D(3, strides=2, padding="same", name="stem_pool")(x)
        for i, (filters, block_stride) in enumerate(zip(widths[1:], strides)):
            x = block(
                x, filters, block_stride, tau=tau, groups=groups, for_lce=for_lce,
                pad_values=pad_values, name=f"block{i + 1}",
            )
        if tau * groups > 1:
            x = ChannelSlice(widths[-1], name="head_slice")(x)
        return x

    return _common.build_model(body, args)


_ES_ARGS = """\
        tau: expansion τ (default 2); must divide every block width.
        groups: binary group conv g (default 1); must divide every C_out/τ.
        for_lce: require what LCE can run (C_in·τ a multiple of 32 per group when
            g > 1); False builds any valid τ, g for training only.
        pad_values: padding of the binary 3×3 convs: 1.0 (LCE's "same-one") or 0.0.
"""

_ES_CLASSIFIER = "float: global pool → Dense → softmax, on the first C channels"
_ES_FEATURES = "feature map of the first C channels"


def _resnet_layout(widths, imagenet_stem_kernel):
    strides = _stage_strides(widths)
    return lambda small: (3, 1, False, strides) if small else (imagenet_stem_kernel, 2, True, strides)


def _reactnet_layout(small):
    stem_stride, strides = layout_strides(REACTNET_A_WIDTHS, small)
    return 3, stem_stride, False, strides


@register_model("es_resnet20")
@_common.document(name="es_resnet20", model_args=_ES_ARGS, classifier=_ES_CLASSIFIER, features=_ES_FEATURES)
def ESResNet20(
    *,
    input_shape=None,
    input_tensor=None,
    weights=None,
    include_top=True,
    num_classes=1000,
    pooling=None,
    classifier_activation="softmax",
    tau=2,
    groups=1,
    for_lce=True,
    pad_values=1.0,
    width_multiplier=1,
    name=None,
) -> tf.keras.Model:
    """CIFAR ResNet-20 with ES/G, the paper's CIFAR-10 ablation network (reconstruction).

    Reference: arXiv:2503.23709, Figs. 3 and 5 (layout not given; the standard CIFAR
    ResNet-20: 3×3 stem to 16, 3 stages × 3 basic blocks at 16/32/64, stride 2 at the
    stage changes, 32×32 → 8×8). Blocks: :func:`es_resnet_block`. Inputs of at most
    64 px (the network's own size) use a stride-1 stem; larger ones a stride-2 stem and
    a 3×3 max-pool (ImageNet ResNet stem, [I]), 224 → 14×14. Paper ablation settings:
    ES only ``tau=2, groups=1``; G only ``tau=1, groups=2`` (16 channels per group: LCE
    cannot run it, needs ``for_lce=False``); ES + G ``tau=2, groups=2``.
    ``width_multiplier`` (0.25, 0.5, 1, 2, 3 or 4) scales every width of
    :data:`RESNET20_WIDTHS` (0.5: 8/16/32, for small studies).
    """
    check_choice("width_multiplier", width_multiplier, (0.25, 0.5, 1, 2, 3, 4))
    widths = tuple(int(c * width_multiplier) for c in RESNET20_WIDTHS)
    args = ZooArgs(
        name or "es_resnet20", input_shape, input_tensor, weights, include_top, num_classes, pooling,
        classifier_activation,
    )
    return _build(
        args, widths=widths, block=es_resnet_block, layout=_resnet_layout(widths, 3),
        tau=tau, groups=groups, for_lce=for_lce, pad_values=pad_values,
    )


@register_model("es_resnet18")
@_common.document(name="es_resnet18", model_args=_ES_ARGS, classifier=_ES_CLASSIFIER, features=_ES_FEATURES)
def ESResNet18(
    *,
    input_shape=None,
    input_tensor=None,
    weights=None,
    include_top=True,
    num_classes=1000,
    pooling=None,
    classifier_activation="softmax",
    tau=2,
    groups=1,
    for_lce=True,
    pad_values=1.0,
    name=None,
) -> tf.keras.Model:
    """ReActNet's ResNet-18 with ES/G (reconstruction; figures: ``lq_ext.zoo.catalog.card("es_resnet18")``).

    Reference: arXiv:2503.23709 (README chart); ReActNet arXiv:2003.03488 (Bi-Real-18
    layout with RSign / RPReLU). 224×224: 7×7 stride-2 stem to 64, 3×3 max-pool, 4
    stages × 2 blocks at 64/128/256/512, → 7×7. Inputs of at most 64 px: 3×3 stride-1
    stem, no max-pool (32×32 → 4×4) [I]. Blocks: :func:`es_resnet_block`.
    """
    args = ZooArgs(
        name or "es_resnet18", input_shape, input_tensor, weights, include_top, num_classes, pooling,
        classifier_activation,
    )
    return _build(
        args, widths=RESNET18_WIDTHS, block=es_resnet_block, layout=_resnet_layout(RESNET18_WIDTHS, 7),
        tau=tau, groups=groups, for_lce=for_lce, pad_values=pad_values,
    )


@register_model("es_reactnet")
@_common.document(name="es_reactnet", model_args=_ES_ARGS, classifier=_ES_CLASSIFIER, features=_ES_FEATURES)
def ESReActNet(
    *,
    input_shape=None,
    input_tensor=None,
    weights=None,
    include_top=True,
    num_classes=1000,
    pooling=None,
    classifier_activation="softmax",
    tau=2,
    groups=1,
    for_lce=True,
    pad_values=1.0,
    name=None,
) -> tf.keras.Model:
    """ReActNet-A with ES/G (reconstruction): :func:`lq_ext.zoo.ReActNetA`'s layout and block.

    Reference: arXiv:2503.23709; ReActNet arXiv:2003.03488. Same layouts as
    :func:`~lq_ext.zoo.ReActNetA` (224 → 7×7; at most 64 px: stride-1 stem and last
    downsampling block, 32 → 4×4). Blocks: :func:`es_reactnet_block`.
    """
    args = ZooArgs(
        name or "es_reactnet", input_shape, input_tensor, weights, include_top, num_classes, pooling,
        classifier_activation,
    )
    return _build(
        args, widths=REACTNET_A_WIDTHS, block=es_reactnet_block, layout=_reactnet_layout,
        tau=tau, groups=groups, for_lce=for_lce, pad_values=pad_values,
    )
