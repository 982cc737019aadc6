r"""ES-BNext-Tiny: BNext-Tiny with ES-BNN's expanding-and-shrinking (τ), the "ops" variant.

Shi, Sun, Qi, Hao, Yang, "Expanding-and-Shrinking Binary Neural Networks",
arXiv:2503.23709 (ES-BNext-T at τ = 2); BNext: Guo et al., "Join the High Accuracy Club
on ImageNet with A Binary Neural Network Ticket", arXiv:2211.12933. The one ES network
the official code implements (``imfinethanks/ESBNN`` ``src/bnext_rep_ops.py``, τ =
``rep_beta``), read from it and rewritten in Keras; ``tau=1`` is plain BNext-Tiny. Every
binary conv is an :class:`~lq_ext.layers.ESQuantConv2D` (``LceBconv2d`` + ``TILE`` after
conversion); BOPs and FLOPs are the same for every τ.

Layout, sub-block dataflow, quantizers and the readings where the code is ambiguous:
docs/models/esbnn.md.
"""

from __future__ import annotations

import warnings

import larq as lq
import tensorflow as tf

from lq_ext import torch_checkpoint
from lq_ext._validate import check_choice
from lq_ext.layers import ChannelBroadcast, ChannelSlice, ClampedMix, ESQuantConv2D, LearnableBias
from lq_ext.layers.es import check_es_factors
from lq_ext.progressive import ProgressiveSign
from lq_ext.zoo import _common, official_bnext, official_weights
from lq_ext.zoo._blocks import PAD_VALUES
from lq_ext.zoo._common import ZooArgs
from lq_ext.zoo._registry import register_model

__all__ = [
    "BNEXT_TINY_WIDTHS",
    "ESBNextTiny",
    "KERNEL_QUANTIZERS",
    "SE_REDUCTION",
    "bnext_basic_block",
    "bnext_layout",
    "bnext_sub_block",
    "check_bnext_tau",
]

#: ``stage_out_channel_tiny`` of the official code: stem width, then one entry per block.
BNEXT_TINY_WIDTHS = (32,) + (64,) + (128,) * 2 + (256,) * 2 + (512,) * 6 + (1024,) * 2

#: SE squeeze ratio (``SqueezeAndExpand(ratio=8)``).
SE_REDUCTION = 8

#: Activation binarizer clip (``HardSign(range=[-1.5, 1.5])``) and latent-weight clamp.
ACTIVATION_CLIP = 1.5
WEIGHT_CLIP = 1.5

#: ``ESBNextTiny(kernel_quantizer=...)``: ``"sign"`` (hard ``sign(w)`` from step 0) or
#: ``"progressive"`` (BNext's ``clamp(w/T, −1, 1)`` annealed to ``sign``, official).
KERNEL_QUANTIZERS = ("sign", "progressive")

#: BatchNorm as PyTorch's defaults (ε = 1e-5, momentum 0.1 = Keras' 0.9), as the official code.
TORCH_BATCH_NORM = dict(momentum=0.9, epsilon=1e-5)


def _prelu(name):
    return tf.keras.layers.PReLU(
        alpha_initializer=tf.keras.initializers.Constant(0.25), shared_axes=[1, 2], name=name
    )


def bnext_layout(widths=BNEXT_TINY_WIDTHS):
    """Per block i = 1..n: ``(C_in, C_out, stride, kind)`` as the official code builds it.

    ``kind`` is ``"attention"`` (ELM-Attention, ``mode="scale"``) for even i and
    ``"ffn3x3"`` (``mode="bias"``) for odd i and for i = 1. Stride 2 where the width
    changes, except into the second width (32 → 64).
    """
    layout = []
    for i in range(1, len(widths)):
        c_in, c_out = widths[i - 1], widths[i]
        stride = 2 if c_in != c_out and c_out != widths[1] else 1
        kind = "attention" if i > 1 and i % 2 == 0 else "ffn3x3"
        layout.append((c_in, c_out, stride, kind))
    return layout


def check_bnext_tau(tau, widths=BNEXT_TINY_WIDTHS, *, model_name="es_bnext_tiny"):
    """τ must be a positive int dividing every block width C and every SE width C/8.

    (The official code silently truncates ``int((C // 8) / τ)`` and then fails at the
    SE's second conv; the error here names the allowed values instead.)
    """
    check_es_factors(tau, 1, where=model_name)
    se_widths = [c // SE_REDUCTION for c in widths]

    def fits(t):
        return all(c % t == 0 for c in (*widths, *se_widths))

    if fits(tau):
        return
    allowed = [t for t in range(1, max(widths) + 1) if fits(t)]
    bad = next((c for c in widths if c % tau), None)
    if bad is not None:
        reason = f"the block width {bad}"
    else:
        bad = next(c for c in widths if (c // SE_REDUCTION) % tau)
        reason = f"the SE width {bad}/{SE_REDUCTION} = {bad // SE_REDUCTION} of a {bad}-wide block"
    raise ValueError(
        f"{model_name}: tau={tau} does not divide {reason}; tau must divide every block "
        f"width C (the binary convs keep C/tau kernels) and every SE width C/{SE_REDUCTION} "
        f"(the squeeze conv keeps C/{SE_REDUCTION}/tau). Allowed: tau in {allowed}."
    )


def _kernel_quantizer(kind):
    if kind == "progressive":
        return ProgressiveSign()  # hard sign until ProgressiveBinarization sets T
    return lq.quantizers.SteSign(clip_value=None)


def _binary_conv(filters, kernel_size, *, strides, tau, for_lce, pad_values, kernel_quantizer="sign", name):
    """BNext's ``HardBinaryConv`` with ES: sign(x) ⊛ q(W), C/τ kernels, tiled τ²×."""
    return ESQuantConv2D(
        filters,
        kernel_size,
        strides=strides,
        tau=tau,
        for_lce=for_lce,
        padding="same" if kernel_size != 1 else "valid",
        pad_values=pad_values if kernel_size != 1 else 0.0,
        use_bias=False,
        input_quantizer=lq.quantizers.SteSign(clip_value=ACTIVATION_CLIP),
        kernel_quantizer=_kernel_quantizer(kernel_quantizer),
        kernel_constraint=lq.constraints.WeightClip(WEIGHT_CLIP),
        kernel_initializer=tf.keras.initializers.RandomNormal(stddev=0.001),
        name=name,
    )


def _squeeze_excite(x, channels, *, tau, name):
    """FLOP-neutral SE gate (ops variant): Cτ → (C/8)/τ, tile τ², ReLU; → C/τ, tile τ², sigmoid."""
    g = tf.keras.layers.GlobalAveragePooling2D(keepdims=True, name=f"{name}_pool")(x)
    g = ESQuantConv2D(
        channels // SE_REDUCTION, 1, tau=tau, use_bias=True, activation="relu", name=f"{name}_conv1"
    )(g)
    return ESQuantConv2D(
        channels, 1, tau=tau, use_bias=True, activation="sigmoid", name=f"{name}_conv2"
    )(g)


def bnext_sub_block(
    x, channels, *, kind, strides=1, tau, for_lce=True, pad_values=1.0, kernel_quantizer="sign", name
):
    """One BNext sub-block, ``kind`` in ``"attention"``, ``"ffn3x3"``, ``"ffn1x1"``, C → C.

    ``x`` is ``channels·τ`` wide; the output too (module docstring for the dataflow).
    ``kernel_quantizer``: one of :data:`KERNEL_QUANTIZERS`.
    """
    if kind not in ("attention", "ffn3x3", "ffn1x1"):
        raise ValueError(f"kind must be 'attention', 'ffn3x3' or 'ffn1x1', got kind={kind!r}.")
    if x.shape[-1] != channels * tau:
        raise ValueError(
            f"{name}: expected a {channels}·{tau} = {channels * tau}-channel input, got {x.shape[-1]}."
        )
    kernel_size = 1 if kind == "ffn1x1" else 3
    if kind == "ffn1x1" and strides != 1:
        raise ValueError(f"{name}: the 1×1 FFN is always stride 1, got strides={strides}.")

    def pool(tensor, suffix):
        if strides == 1:
            return tensor
        return tf.keras.layers.AveragePooling2D(2, strides=2, name=f"{name}_{suffix}")(tensor)

    t = LearnableBias(name=f"{name}_bias")(x)
    t = _binary_conv(
        channels, kernel_size, strides=strides, tau=tau, for_lce=for_lce, pad_values=pad_values,
        kernel_quantizer=kernel_quantizer, name=f"{name}_conv",
    )(t)
    t = tf.keras.layers.BatchNormalization(**TORCH_BATCH_NORM, name=f"{name}_bn1")(t)
    t = _prelu(f"{name}_act2")(t)

    shortcut = pool(x, "pool")
    if kind == "attention":
        residual = pool(_prelu(f"{name}_act1")(x), "residual_pool")
    else:
        residual = shortcut

    mix = ClampedMix(0.5, name=f"{name}_mix")([shortcut, t])
    gate = _squeeze_excite(mix, channels, tau=tau, name=f"{name}_se")
    y = tf.keras.layers.Multiply(name=f"{name}_gate")([gate, t])
    if kind == "attention":
        y = tf.keras.layers.Multiply(name=f"{name}_residual_mul")([y, residual])
    y = tf.keras.layers.BatchNormalization(**TORCH_BATCH_NORM, name=f"{name}_bn2")(y)
    return tf.keras.layers.Add(name=f"{name}_add")([y, residual])


def bnext_basic_block(
    x, c_in, c_out, *, strides, kind, tau, for_lce=True, pad_values=1.0, kernel_quantizer="sign", name
):
    """BNext's ``BasicBlock``: 3×3 sub-block (``{name}_attn`` or ``{name}_ffn3``, C_in → C_in,
    ``strides``) → one 1×1 FFN (``{name}_ffn1``) if C_in = C_out, else two (``{name}_ffn1a``,
    ``{name}_ffn1b``) concatenated to 2·C_in = C_out."""
    if c_out not in (c_in, 2 * c_in):
        raise ValueError(f"{name}: C_out must be C_in or 2·C_in, got {c_in} → {c_out}.")
    common = dict(tau=tau, for_lce=for_lce, pad_values=pad_values, kernel_quantizer=kernel_quantizer)
    prefix = "attn" if kind == "attention" else "ffn3"
    x = bnext_sub_block(x, c_in, kind=kind, strides=strides, name=f"{name}_{prefix}", **common)
    if c_out == c_in:
        return bnext_sub_block(x, c_in, kind="ffn1x1", name=f"{name}_ffn1", **common)
    halves = [bnext_sub_block(x, c_in, kind="ffn1x1", name=f"{name}_ffn1{s}", **common) for s in "ab"]
    return tf.keras.layers.Concatenate(name=f"{name}_concat")(halves)


_BNEXT_ARGS = """\
        tau: expansion τ (``rep_beta``), default 2; 1 is BNext-Tiny without ES. Must
            divide every width and every SE width C/8: one of 1, 2, 4.
        pad_values: padding of the binary 3×3 convs: 1.0 (LCE's "same-one"; the
            default with ``numerics="lce"``) or 0.0 (the code's zero padding; the
            default with ``numerics="official"``).
        numerics: ``"lce"`` or ``"official"`` (the official PyTorch network's numerics,
            as for :func:`lq_ext.zoo.ReActNetA`: ImageNet mean / std input, the image
            flipped so that stride-2 convs pad as PyTorch, zero padding). Default:
            ``"official"`` when ``weights`` is an official PyTorch checkpoint (BNext-T
            of ``hpi-xnor/BNext`` with ``tau=1``, ES-BNext-T of ``imfinethanks/ESBNN``
            with ``tau=2``; read without PyTorch), else ``"lce"``. Guide:
            docs/guides/pretrained_weights.md.
        kernel_quantizer: the binary convs' weight binarizer: ``"sign"`` (default: hard
            ``sign(w)`` from the first step, identity gradient) or ``"progressive"``
            (:class:`lq_ext.progressive.ProgressiveSign`: BNext's official
            ``clamp(w/T, −1, 1)``, annealed to ``sign`` by the recipe's
            ``weight_temperature_decay``; in the hard state, its default, it computes
            what ``"sign"`` computes). Guide: docs/guides/training.md.
        for_lce: deprecated and without effect (BNext has no grouped convs); passing
            it warns.
"""


@register_model("es_bnext_tiny")
@_common.document(
    name="es_bnext_tiny",
    model_args=_BNEXT_ARGS,
    classifier="float: global pool → Dense → softmax, on the PReLU of the first 1024 channels",
    features="PReLU'd feature map of the first 1024 channels",
)
def ESBNextTiny(
    *,
    input_shape=None,
    input_tensor=None,
    weights=None,
    include_top=True,
    num_classes=1000,
    pooling=None,
    classifier_activation="softmax",
    tau=2,
    pad_values=None,
    numerics=None,
    kernel_quantizer="sign",
    for_lce=_common.UNSET,
    name=None,
) -> tf.keras.Model:
    """ES-BNext-Tiny (τ = 2, figures: ``lq_ext.zoo.catalog.card("es_bnext_tiny")``) or BNext-Tiny (``tau=1``).

    Official "ops" variant. Reference: arXiv:2503.23709, code ``imfinethanks/ESBNN``
    ``src/bnext_rep_ops.py``; BNext arXiv:2211.12933. 224×224 → 7×7; inputs of at most
    64 px use a stride-1 stem, 32×32 → 2×2.
    """
    model_name = name or "es_bnext_tiny"
    check_bnext_tau(tau, model_name=model_name)
    if for_lce is not _common.UNSET:
        _common.check_flag("for_lce", for_lce, model_name)
        warnings.warn(
            "ESBNextTiny(for_lce=) has no effect (BNext has no grouped convs) and is deprecated.",
            DeprecationWarning,
            stacklevel=2,
        )
    check_choice("numerics", numerics, (None, *official_weights.NUMERICS))
    check_choice("kernel_quantizer", kernel_quantizer, KERNEL_QUANTIZERS)
    widths = BNEXT_TINY_WIDTHS
    state = code = None
    if weights is not None and torch_checkpoint.is_torch_checkpoint(weights):
        state, code = official_bnext.read_bnext_checkpoint(
            weights, bnext_layout(widths), widths, tau, num_classes=num_classes, include_top=include_top,
            entry="ESBNextTiny",
        )
    official = (numerics or ("official" if state is not None else "lce")) == "official"
    if pad_values is None:
        pad_values = 0.0 if official else 1.0
    check_choice("pad_values", pad_values, PAD_VALUES)
    args = ZooArgs(
        model_name, input_shape, input_tensor, None if state is not None else weights, include_top,
        num_classes, pooling, classifier_activation,
    )
    if official:
        official_weights.check_official_shape(args.input_shape, entry="ESBNextTiny")

    def body(inputs, small_input):
        if official:
            inputs = official_weights.official_input(inputs)
        x = tf.keras.layers.Conv2D(
            widths[0], 3, strides=1 if small_input else 2, padding="same", use_bias=False,
            name="stem_conv",
        )(inputs)
        if tau > 1:
            x = ChannelBroadcast(widths[0] * tau, mode="tile", name="stem_tile")(x)
        x = tf.keras.layers.BatchNormalization(**TORCH_BATCH_NORM, name="stem_bn")(x)
        for i, (c_in, c_out, strides, kind) in enumerate(bnext_layout(widths), start=1):
            x = bnext_basic_block(
                x, c_in, c_out, strides=strides, kind=kind, tau=tau, pad_values=pad_values,
                kernel_quantizer=kernel_quantizer, name=f"block{i}",
            )
        if tau > 1:
            x = ChannelSlice(widths[-1], name="head_slice")(x)
        return _prelu("head_prelu")(x)

    model = _common.build_model(body, args)
    if state is not None:
        tf.keras.backend.batch_set_value(
            official_bnext.bnext_assignments(
                state, model, layout=bnext_layout(widths), widths=widths, tau=tau, code=code, flip=official
            )
        )
    return model
