r"""ES-BNext-Tiny: BNext-Tiny with ES-BNN's expanding-and-shrinking (τ), the "ops" variant.

Shi, Sun, Qi, Hao, Yang, "Expanding-and-Shrinking Binary Neural Networks",
arXiv:2503.23709 (75.2 % ImageNet top-1 at τ = 2); BNext: Guo et al., "Join the High
Accuracy Club on ImageNet with A Binary Neural Network Ticket", arXiv:2211.12933
(BNext-T, 72.4 %). Spec ``../shared/specs/esbnn.md`` §4–§6.

**Provenance.** This is the one ES network the official code implements
(``imfinethanks/ESBNN`` ``src/bnext_rep_ops.py``, τ = ``rep_beta``) [R]; the layout,
blocks and quantizers below are read from it and rewritten in Keras. ``tau=1`` gives
plain BNext-Tiny (the same code path with ``rep_beta=1``: no tiles, no slice).

.. code-block:: text

    stem     real Conv3×3(3→32, stride 2) → tile ×τ → BN                 (32τ wide)
    block i  BasicBlock(C_in → C_out), i = 1..13, widths
             [32] + [64] + [128]*2 + [256]*2 + [512]*6 + [1024]*2:
               x = Attention(x) if i is even else FFN_3x3(x)          (C_in τ, stride s)
               y = FFN_1x1(x)                             if C_in = C_out
               y = concat[FFN_1x1_a(x), FFN_1x1_b(x)]     otherwise (doubling)
             stride 2 where the width changes, except 32 → 64
    head     first 1024 channels → PReLU → global avg pool → Dense        ("ops" head)

Sub-block, width Cτ (``{name}_*`` layers), the binary conv is
:class:`~lq_ext.layers.ESQuantConv2D`: C/τ kernels on Cτ inputs, output tiled τ²×:

.. code-block:: text

    t   = PReLU_2(BN_1(ESConv_k(sign(x + b))))          k = 3 (stride s) or 1
    a   = AvgPool2×2(x) if s = 2 else x
    r   = AvgPool2×2(PReLU_1(x)) (Attention)  |  a (FFN)
    m   = ClampedMix(a, t) = s'·a + (1 − s')·t          s' = clamp(s, 0, 1), s₀ = 0.5
    g   = sigmoid(tile(W₂·relu(tile(W₁·GAP(m) + c₁, τ²)) + c₂, τ²))   FLOP-neutral SE
    out = BN_2(g ⊙ t ⊙ r) + r  (Attention)   |   BN_2(g ⊙ t) + r  (FFN)

The SE convs are real 1×1 convs with bias, ``Cτ → (C/8)/τ`` and ``(C/8)τ → C/τ``, each
tiled τ²× (:class:`~lq_ext.layers.ESQuantConv2D` without quantizers): C²/4 MACs, as a
plain ``C → C/8 → C`` SE. BatchNorm, PReLU slopes, thresholds ``b`` and mix scales
``s`` act on the tiled width: one parameter per replica [R]. BOPs and FLOPs (conv/FC
MACs) are therefore the same for every τ; the ×τ overhead is element-wise (BN, PReLU,
thresholds, mix, gating, adds, tiles) and activation memory.

**Quantizers** (§4): activations ``LearnableBias`` → Larq ``SteSign(clip_value=1.5)``
(the code's ``HardSign(range=[-1.5, 1.5])``: forward sign, gradient of
``clamp(x, −1.5, 1.5)``); weights Larq ``SteSign(clip_value=None)`` (identity STE, no
scaling factor — the BN after the tile absorbs it) with ``WeightClip(1.5)`` (the code's
in-place clamp) and ``N(0, 0.001²)`` initial latent weights. Every binary conv converts
to ``LceBconv2d`` followed by a float ``TILE``.

Readings where the official code is ambiguous or differs from the paper, and Keras
deviations:

- **Weight temperature (§5).** The code's ``HardBinaryConv`` computes
  ``clamp(w / T, −1, 1)``, hard ``sign(w)`` only once the temperature ``T < 1e-7``;
  BNext's training loop multiplies ``T`` by 0.9 per epoch, but the released ES script
  never reaches the ES classes, so as published the weights stay real-valued
  ``clamp(w, −1, 1)``. Implemented: the *binarized* end state of BNext's schedule
  (``sign(w)``, the spec's decision and what a BNN / LCE runs); the progressive
  ``T`` annealing during training is not implemented, and the "released" real-valued
  reading is not offered (it is not a BNN and LCE cannot bit-pack it).
- The stem defines a PReLU that its forward never applies: not built.
- ``drop_rate`` is passed to the blocks but unused by them: no dropout.
- The SE's ReLU and sigmoid are fused into its two 1×1 convs, i.e. applied *before*
  the τ² tile instead of after it: element-wise functions commute with a tile, so the
  output is identical and they run on τ²× fewer values.
- ``x[:, :1024]`` of the "ops" head: :class:`~lq_ext.layers.ChannelSlice` (τ > 1).
  ``include_top=False`` returns the head's PReLU output on those 1024 channels (the
  model's features; ``pooling`` applies to them).
- The mix scale is clamped in every forward pass (:class:`~lq_ext.layers.ClampedMix`);
  the code clamps it before training forwards (and in the 1×1 FFN also in eval).
- Binary 3×3 convs pad their ±1 input with +1 (``pad_values=1.0``, LCE's "same-one");
  the code pads with 0, reproduced by ``pad_values=0.0`` (LCE converts it for
  ``target="arm"`` only). Keras' "same" padding of a stride-2 conv on an even map pads
  0 rows/cols before and 1 after, PyTorch 1 and 1: matters only when porting weights.
- BatchNorm uses PyTorch's ε = 1e-5 and momentum 0.1 (Keras ``momentum=0.9``); PReLU
  slopes start at 0.25 (PyTorch's default), per channel.
- **Small inputs.** The code uses a stride-1 stem when ``num_classes != 1000``
  (its CIFAR setting); here the stem stride follows the input size instead, like the
  other zoo entries: stride 1 for inputs of at most 64 px (32×32 ends at 2×2, the
  code's CIFAR layout), stride 2 above (224 → 7×7).
- Binary group convolution (G) is not in the official code and not offered here.

**Costs** at 224×224 (:func:`lq_ext.profile`, any τ): 4 816 896 000 binary MACs
(BOPs), 13 344 512 float MACs (stem 10 838 016, SE 1 482 496, classifier 1 024 000),
OPs = BOPs/64 + FLOPs = 0.886 × 10⁸. The ES-BNN README lists 0.89 × 10⁸ for ES-BNext-T
and 0.88 × 10⁸ for BNext-T: the "ops" variant is FLOP-neutral by construction, so the
0.01 × 10⁸ gap is not in the MACs; see the README's ES-BNN section.
"""

from __future__ import annotations

import larq as lq
import tensorflow as tf

from lq_ext.layers import ChannelBroadcast, ChannelSlice, ClampedMix, ESQuantConv2D, LearnableBias
from lq_ext.layers.es import check_es_factors
from lq_ext.zoo import _common
from lq_ext.zoo._registry import register_model
from lq_ext.zoo.bdnet import _check_choice
from lq_ext.zoo.reactnet import PAD_VALUES

__all__ = [
    "BNEXT_TINY_WIDTHS",
    "ESBNextTiny",
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

_BN = dict(momentum=0.9, epsilon=1e-5)


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


def _binary_conv(filters, kernel_size, *, strides, tau, for_lce, pad_values, name):
    """BNext's ``HardBinaryConv`` with ES: sign(x) ⊛ sign(W), C/τ kernels, tiled τ²×."""
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
        kernel_quantizer=lq.quantizers.SteSign(clip_value=None),
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


def bnext_sub_block(x, channels, *, kind, strides=1, tau, for_lce=True, pad_values=1.0, name):
    """One BNext sub-block, ``kind`` in ``"attention"``, ``"ffn3x3"``, ``"ffn1x1"``, C → C.

    ``x`` is ``channels·τ`` wide; the output too (module docstring for the dataflow).
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
        name=f"{name}_conv",
    )(t)
    t = tf.keras.layers.BatchNormalization(**_BN, name=f"{name}_bn1")(t)
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
    y = tf.keras.layers.BatchNormalization(**_BN, name=f"{name}_bn2")(y)
    return tf.keras.layers.Add(name=f"{name}_add")([y, residual])


def bnext_basic_block(x, c_in, c_out, *, strides, kind, tau, for_lce=True, pad_values=1.0, name):
    """BNext's ``BasicBlock``: 3×3 sub-block (``{name}_attn`` or ``{name}_ffn3``, C_in → C_in,
    ``strides``) → one 1×1 FFN (``{name}_ffn1``) if C_in = C_out, else two (``{name}_ffn1a``,
    ``{name}_ffn1b``) concatenated to 2·C_in = C_out."""
    if c_out not in (c_in, 2 * c_in):
        raise ValueError(f"{name}: C_out must be C_in or 2·C_in, got {c_in} → {c_out}.")
    common = dict(tau=tau, for_lce=for_lce, pad_values=pad_values)
    prefix = "attn" if kind == "attention" else "ffn3"
    x = bnext_sub_block(x, c_in, kind=kind, strides=strides, name=f"{name}_{prefix}", **common)
    if c_out == c_in:
        return bnext_sub_block(x, c_in, kind="ffn1x1", name=f"{name}_ffn1", **common)
    halves = [bnext_sub_block(x, c_in, kind="ffn1x1", name=f"{name}_ffn1{s}", **common) for s in "ab"]
    return tf.keras.layers.Concatenate(name=f"{name}_concat")(halves)


@register_model(
    "es_bnext_tiny",
    description="ES-BNN BNext-Tiny (official 'ops' variant, tau=2; tau=1 is plain BNext-Tiny)",
    paper="arXiv:2503.23709",
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
    for_lce=True,
    pad_values=1.0,
    name=None,
) -> tf.keras.Model:
    """ES-BNext-Tiny (τ = 2, the 75.2 % model) or BNext-Tiny (``tau=1``), official "ops" variant.

    Reference: arXiv:2503.23709, code ``imfinethanks/ESBNN`` ``src/bnext_rep_ops.py``;
    BNext arXiv:2211.12933. Layout, quantizers and the readings chosen where the code is
    ambiguous: :mod:`lq_ext.zoo.bnext`. 224×224 → 7×7; inputs of at most 64 px use a
    stride-1 stem, 32×32 → 2×2.

    # Arguments
        input_shape: ``(H, W, C)``, default ``(224, 224, 3)``; H, W ≥ 32.
        input_tensor: optional Keras tensor to use as the input.
        weights: None (random init) or the path of a local weights file saved from
            the same configuration. No pretrained weights are hosted.
        include_top: add the float classifier (global pool → Dense → softmax) on the
            PReLU of the first 1024 channels.
        num_classes: classes of the classifier (include_top only).
        pooling: without the top, None (PReLU'd feature map of the first 1024
            channels), ``"avg"`` or ``"max"``.
        classifier_activation: ``"softmax"`` or None / ``"linear"`` for logits.
        tau: expansion τ (``rep_beta``), default 2; 1 is BNext-Tiny without ES. Must
            divide every width and every SE width C/8: one of 1, 2, 4.
        for_lce: passed to the ES convs (no effect without groups; kept for the ES zoo
            signature); must be a bool.
        pad_values: padding of the binary 3×3 convs: 1.0 (LCE's "same-one") or 0.0
            (the code's zero padding).
        name: model name (default ``"es_bnext_tiny"``).

    # Returns
        A ``tf.keras.Model``.
    """
    model_name = name or "es_bnext_tiny"
    check_bnext_tau(tau, model_name=model_name)
    if not isinstance(for_lce, bool):
        raise ValueError(f"{model_name}: for_lce must be True or False, got for_lce={for_lce!r}.")
    _check_choice("pad_values", pad_values, PAD_VALUES)
    widths = BNEXT_TINY_WIDTHS

    def body(inputs, small_input):
        x = tf.keras.layers.Conv2D(
            widths[0], 3, strides=1 if small_input else 2, padding="same", use_bias=False,
            name="stem_conv",
        )(inputs)
        if tau > 1:
            x = ChannelBroadcast(widths[0] * tau, mode="tile", name="stem_tile")(x)
        x = tf.keras.layers.BatchNormalization(**_BN, name="stem_bn")(x)
        for i, (c_in, c_out, strides, kind) in enumerate(bnext_layout(widths), start=1):
            x = bnext_basic_block(
                x, c_in, c_out, strides=strides, kind=kind, tau=tau, for_lce=for_lce,
                pad_values=pad_values, name=f"block{i}",
            )
        if tau > 1:
            x = ChannelSlice(widths[-1], name="head_slice")(x)
        return _prelu("head_prelu")(x)

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
