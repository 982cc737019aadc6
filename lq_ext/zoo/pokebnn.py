r"""PokeBNN: PokeConv, PokeInit, DPReLU and the 4-bit SE, as a zoo entry.

Zhang, Zhang, Lew, "PokeBNN: A Binary Pursuit of Lightweight Accuracy", CVPR 2022,
arXiv:2112.00133. Source of truth: the official code (google/aqt,
``jax_legacy/jax/imagenet/pokebnn.py`` and its config/tests). PokeInit → 16 ResNet-50
bottlenecks of three PokeConvs (binary conv → BN → local and block shortcuts → DPReLU
→ × 4-bit SE gate → BN) → 8-bit classifier. ``lq_ext.profile`` reproduces the official
ACE exactly; the 0.75× and 1.4× width multipliers are inferred from the abstract's ACE.
Deployment choices for TFLite (``int8_outputs``, per-tensor bounds, a 1×1-conv
classifier, ``pad_values``) are listed in :func:`PokeBNN`'s arguments, and so are the
ablations (``activation="prelu"``, ``reshape_add=False``, ``squeeze_excite=False``).

Provenance, ACE accounting and deployment notes: docs/models/pokebnn.md.
"""

from __future__ import annotations

import contextlib
import logging
import numbers
import warnings

import larq as lq
import tensorflow as tf

from lq_ext._validate import check_bool, check_choice
from lq_ext.fake_quant import IntActivationQuantizer, IntWeightQuantizer
from lq_ext.layers import DPReLU, GroupedQuantConv2D, HardSigmoid, ReshapeAdd
from lq_ext.quantizers import BoundedSign, MaxAbsSign
from lq_ext.zoo import _common
from lq_ext.zoo._common import ZooArgs
from lq_ext.zoo._registry import register_model

__all__ = [
    "ACTIVATIONS",
    "PAD_VALUES",
    "PokeBNN",
    "PokeBNN075",
    "PokeBNN10",
    "PokeBNN1_0",
    "PokeBNN14",
    "bottleneck",
    "poke_conv",
    "poke_init",
    "squeeze_excite",
    "stage_widths",
]

#: Bottlenecks per stage (ResNet-50) and the base widths f of the stages.
STAGE_BLOCKS = (3, 4, 6, 3)
STAGE_BASE_WIDTHS = (64, 128, 256, 512)
#: PokeInit's output channels: fixed, independent of the width multiplier.
INIT_FEATURES = 64
#: Allowed ``pad_values`` of the binary convs (0.0: official same-zero, 1.0: LCE's same-one).
PAD_VALUES = (0.0, 1.0)
#: ``activation`` choices: the paper's DPReLU, or the per-channel PReLU of its ablation.
ACTIVATIONS = ("dprelu", "prelu")


def stage_widths(width_multiplier: float) -> list[int]:
    """Bottleneck widths f per stage: ``int(base · m)`` like the official code."""
    return [int(base * width_multiplier) for base in STAGE_BASE_WIDTHS]


@contextlib.contextmanager
def _no_starvation_warning():
    # Larq warns about binary kernels without a kernel_constraint ("starved weights"):
    # MaxAbsSign's gradient is the identity, never clipped, so it does not apply.
    logger = logging.getLogger("larq")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _batch_norm(name, gamma="ones"):
    # flax.linen.BatchNorm(momentum=0.9, epsilon=1e-5) as in the official code.
    return tf.keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-5, gamma_initializer=gamma, name=name)


def _activation(activation, name):
    """DPReLU ``name`` (the paper), or its ablation: a per-channel PReLU (``name`` with
    "prelu" for "dprelu"), negative slope initialised to 0.25 like DPReLU's."""
    if activation == "prelu":
        return tf.keras.layers.PReLU(
            alpha_initializer=tf.keras.initializers.Constant(0.25), shared_axes=[1, 2],
            name=name.replace("dprelu", "prelu"),
        )
    return DPReLU(name=name)


def _int8_output(x, int8_outputs, name):
    """The 8-bit output quantizer that lets TFLite run the layer before it in int8."""
    return IntActivationQuantizer(8, name=name)(x) if int8_outputs else x


def _int_conv(x, filters, kernel_size, *, bits, name, strides=1, padding="same", groups=1,
              use_bias=False, signed_input=True, quantized=None):
    """An 8-/4-bit conv; ``quantized`` True/False gives its kernel quantizer a switch
    (:mod:`lq_ext.weight_phases`: float kernels until epoch 50), None none (the classifier:
    the official ``DenseAqt`` has no such gate). A grouped one (PokeInit's second conv) is a
    :class:`~lq_ext.layers.GroupedQuantConv2D`, whose groups train as ordinary convs."""
    conv = GroupedQuantConv2D if groups > 1 else lq.layers.QuantConv2D
    return conv(
        filters,
        kernel_size,
        strides=strides,
        padding=padding,
        groups=groups,
        use_bias=use_bias,
        input_quantizer=IntActivationQuantizer(bits, signed=signed_input),
        kernel_quantizer=IntWeightQuantizer(bits, quantized=quantized),
        kernel_initializer="lecun_normal",
        name=name,
    )(x)


def squeeze_excite(r, filters, *, int8_outputs=True, quantized_weights=True, name):
    """PokeBNN's 4-bit SE gate of shape (N, 1, 1, ``filters``) computed from ``r``.

    mean over H, W → 4-bit 1×1 conv to C_in // 8 (int4 input) → ReLU → 4-bit 1×1 conv
    to ``filters`` (uint4 input, floor rounding) → clip(x + 3, 0, 6) / 6.  C_in // 8 is
    at least 1 (tiny test widths). ``quantized_weights``: the initial state of the
    kernels' switch (False: float kernels until :class:`lq_ext.training.WeightBinarization`
    sets it).
    """
    s = tf.keras.layers.GlobalAveragePooling2D(keepdims=True, name=f"{name}_pool")(r)
    s = _int_conv(s, max(r.shape[-1] // 8, 1), 1, bits=4, use_bias=True, quantized=quantized_weights,
                  name=f"{name}_reduce")
    s = tf.keras.layers.ReLU(name=f"{name}_relu")(s)
    s = _int8_output(s, int8_outputs, f"{name}_reduce_out")
    s = _int_conv(s, filters, 1, bits=4, use_bias=True, signed_input=False,
                  quantized=quantized_weights, name=f"{name}_expand")
    s = _int8_output(s, int8_outputs, f"{name}_expand_out")
    return HardSigmoid(name=f"{name}_gate")(s)


_se_gate = squeeze_excite  # poke_conv's keyword of the same name hides the function


def poke_conv(x, r1, filters, kernel_size, strides=1, *, is_third=False, bound=3.0,
              pad_values=0.0, binarized_weights=True, int8_outputs=True, activation="dprelu",
              reshape_add=True, squeeze_excite=True, name,
              pad_value=_common.UNSET, binarized=_common.UNSET):
    """One PokeConv; ``r1`` is the bottleneck input for the third conv, else None.

    ``activation``, ``reshape_add`` (the local shortcut around the conv) and
    ``squeeze_excite`` (the SE gate) are the ablations of :func:`PokeBNN`.

    ``pad_value`` and ``binarized`` are deprecated spellings of ``pad_values`` and
    ``binarized_weights``.
    """
    pad_values = _common.renamed_keyword("pad_value", pad_value, "pad_values", pad_values, 0.0)
    binarized_weights = _common.renamed_keyword(
        "binarized", binarized, "binarized_weights", binarized_weights, True
    )
    with _no_starvation_warning():
        y = lq.layers.QuantConv2D(
            filters,
            kernel_size,
            strides=strides,
            padding="same",
            pad_values=pad_values,
            use_bias=False,
            input_quantizer=BoundedSign(bound),
            kernel_quantizer=MaxAbsSign(binarized=binarized_weights),
            kernel_initializer="lecun_normal",
            name=f"{name}_conv",
        )(x)
    # "ResNet does this. It is important." (official code): zero γ on the third conv.
    y = _batch_norm(f"{name}_bn", gamma="zeros" if is_third else "ones")(y)
    if reshape_add:
        y = ReshapeAdd("zeropad", name=f"{name}_local_add")([x, y])
    if r1 is not None:
        y = ReshapeAdd("tile", name=f"{name}_block_add")([r1, y])
    y = _activation(activation, f"{name}_dprelu")(y)
    if squeeze_excite:
        gate = _se_gate(x, filters, int8_outputs=int8_outputs, quantized_weights=binarized_weights, name=f"{name}_se")
        y = tf.keras.layers.Multiply(name=f"{name}_gated")([y, gate])
    return _batch_norm(f"{name}_bn_split")(y)


def bottleneck(x, filters, strides=1, *, name, **poke_kwargs):
    """1×1 (f) → 3×3 (f, ``strides``) → 1×1 (4f) PokeConvs with the block shortcut."""
    r1 = x
    x = poke_conv(x, None, filters, 1, name=f"{name}_1", **poke_kwargs)
    x = poke_conv(x, None, filters, 3, strides, name=f"{name}_2", **poke_kwargs)
    return poke_conv(x, r1, 4 * filters, 1, is_third=True, name=f"{name}_3", **poke_kwargs)


def poke_init(x, *, init_group=32, small_input=False, int8_outputs=True, quantized_weights=True,
              activation="dprelu", name="poke_init"):
    """PokeInit: 8-bit 4×4/4 VALID conv to ``init_group``, BN, DPReLU, then an 8-bit
    3×3 conv to 64 with ``init_group`` groups (one input channel per group), BN, DPReLU.

    ``small_input``: a 3×3 stride-1 first conv instead of 4×4/4 (a reconstruction for
    ≤ 64 px inputs; PokeBNN has no CIFAR layout). ``quantized_weights``: the initial
    state of the kernels' switch (as in :func:`squeeze_excite`).
    """
    if small_input:
        y = _int_conv(x, init_group, 3, bits=8, quantized=quantized_weights, name=f"{name}_conv1")
    else:
        y = _int_conv(x, init_group, 4, strides=4, padding="valid", bits=8, quantized=quantized_weights,
                      name=f"{name}_conv1")
    y = _int8_output(y, int8_outputs, f"{name}_conv1_out")
    y = _batch_norm(f"{name}_bn1")(y)
    y = _activation(activation, f"{name}_dprelu1")(y)
    y = _int_conv(y, INIT_FEATURES, 3, groups=init_group, bits=8, quantized=quantized_weights,
                  name=f"{name}_conv2")
    y = _int8_output(y, int8_outputs, f"{name}_conv2_out")
    y = _batch_norm(f"{name}_bn2")(y)
    return _activation(activation, f"{name}_dprelu2")(y)


def _check_args(width_multiplier, init_group, bound, pad_values, binarized_weights, int8_outputs):
    if (
        isinstance(width_multiplier, bool)
        or not isinstance(width_multiplier, numbers.Real)
        or not width_multiplier > 0
        or int(64 * width_multiplier) < 1
    ):
        raise ValueError(
            f"width_multiplier must be a positive number with int(64 · m) ≥ 1 (PokeBNN: "
            f"0.75, 1.0, 1.4), got width_multiplier={width_multiplier!r}."
        )
    if (
        isinstance(init_group, bool)
        or not isinstance(init_group, int)
        or init_group < 1
        or INIT_FEATURES % init_group
    ):
        divisors = [d for d in range(1, INIT_FEATURES + 1) if INIT_FEATURES % d == 0]
        raise ValueError(
            f"init_group must be a divisor of PokeInit's {INIT_FEATURES} output channels "
            f"({divisors}; official: 32), got init_group={init_group!r}."
        )
    if isinstance(bound, bool) or not isinstance(bound, numbers.Real) or not bound > 0:
        raise ValueError(
            f"bound (the activation clip bound B) must be a positive number (official: 3.0), "
            f"got bound={bound!r}."
        )
    if pad_values not in PAD_VALUES or isinstance(pad_values, bool):
        raise ValueError(
            f"pad_values must be 0.0 (official, same-zero) or 1.0 (LCE's same-one), got "
            f"pad_values={pad_values!r}."
        )
    _common.check_flag("binarized_weights", binarized_weights)
    _common.check_flag("int8_outputs", int8_outputs)


def _check_stage_blocks(stage_blocks):
    blocks = tuple(stage_blocks) if isinstance(stage_blocks, (list, tuple)) else None
    if blocks is None or len(blocks) != len(STAGE_BLOCKS) or not all(
        isinstance(b, int) and not isinstance(b, bool) and b >= 1 for b in blocks
    ):
        raise ValueError(
            f"stage_blocks must be {len(STAGE_BLOCKS)} positive ints (official: "
            f"{STAGE_BLOCKS}), got stage_blocks={stage_blocks!r}."
        )
    return blocks


def _classifier(num_classes, classifier_activation, int8_outputs):
    def top(x):
        x = tf.keras.layers.GlobalAveragePooling2D(keepdims=True, name="global_pool")(x)
        x = _int_conv(x, num_classes, 1, bits=8, use_bias=True, name="logits")
        x = _int8_output(x, int8_outputs, "logits_out")
        x = tf.keras.layers.Flatten(name="logits_flatten")(x)
        if classifier_activation == "softmax":
            x = tf.keras.layers.Activation("softmax", dtype="float32", name="predictions")(x)
        return x

    return top


_POKEBNN_ARGS = """\
        width_multiplier: m, bottleneck widths ``int(64·m)`` … ``int(512·m)``; PokeInit
            keeps 64 channels.  0.75 and 1.4 match the abstract's 2.6 / 7.8 ACE models
            (inferred).
        stage_blocks: bottlenecks per stage, four positive ints (official: ResNet-50's
            (3, 4, 6, 3)); fewer make small models for tests and quick experiments.
        init_group: PokeInit's first-conv width and the group count of its second
            conv (official 32); must divide 64.
        bound: activation clip bound B of the binary convs (official 3.0).
        pad_values: binary-conv padding, 0.0 (official) or 1.0 (LCE's faster same-one,
            which changes the numerics).
        binarized_weights: initial state of the kernel switches of every conv (the
            binary ones, :class:`lq_ext.quantizers.MaxAbsSign`, and PokeInit's and the
            SE gates' 8-/4-bit ones, :class:`lq_ext.fake_quant.IntWeightQuantizer`; not
            the classifier's); the official schedule trains with real kernels until
            epoch 50 (:class:`lq_ext.training.WeightBinarization`).
        int8_outputs: fake-quantize the outputs of the 8-/4-bit layers so that TFLite
            runs them as int8 ops (default); False keeps them in float like the
            official model, and TFLite then runs these layers in float.
        activation: ``"dprelu"`` (the paper) or ``"prelu"`` (ablation: Keras' per-channel
            PReLU, negative slope initialised to 0.25, positive slope fixed at 1, no
            shifts), in PokeInit and every PokeConv.
        reshape_add: keep the local shortcut the paper adds around every binary conv
            (``ReshapeAdd("zeropad")``, default); False is the ablation without it (the
            ResNet block shortcut of each bottleneck's third conv stays).
        squeeze_excite: keep the 4-bit SE gate of every PokeConv (default); False is the
            ablation without it.
        small_input: PokeInit's first conv: None (default) picks the 3×3 stride-1 one
            for inputs ≤ 64 px and the official 4×4/4 one above; True / False force one
            (False on 32 px: an 8×8 PokeInit output, 16× cheaper, for quick experiments).
        pad_value: deprecated spelling of ``pad_values``.
"""

_POKEBNN_RETURNS = """  Its 8-/4-bit activation quantizers start uncalibrated
        (float, like the official run before step 7500): train it or call
        :func:`lq_ext.fake_quant.calibrate` before converting."""


@_common.document(
    name="pokebnn_<m>x",
    model_args=_POKEBNN_ARGS,
    classifier="the official 8-bit one: pool → 8-bit 1×1 conv → softmax",
    returns=_POKEBNN_RETURNS,
)
def PokeBNN(
    *,
    input_shape=None,
    input_tensor=None,
    weights=None,
    include_top=True,
    num_classes=1000,
    pooling=None,
    classifier_activation="softmax",
    width_multiplier: float = 1.0,
    stage_blocks=STAGE_BLOCKS,
    init_group: int = 32,
    bound: float = 3.0,
    pad_values: float = 0.0,
    binarized_weights: bool = True,
    int8_outputs: bool = True,
    activation: str = "dprelu",
    reshape_add: bool = True,
    squeeze_excite: bool = True,
    small_input=None,
    pad_value=_common.UNSET,
    name=None,
) -> tf.keras.Model:
    """PokeBNN with a width multiplier (official config: 1.0).

    Reference: arXiv:2112.00133, code google/aqt. Inputs ≤ 64 px get a 3×3 stride-1
    PokeInit (reconstruction, no official small-input layout); 224 → 7×7.
    """
    pad_values = _common.renamed_keyword("pad_value", pad_value, "pad_values", pad_values, 0.0)
    _check_args(width_multiplier, init_group, bound, pad_values, binarized_weights, int8_outputs)
    stage_blocks = _check_stage_blocks(stage_blocks)
    check_choice("activation", activation, ACTIVATIONS)
    check_bool("reshape_add", reshape_add)
    check_bool("squeeze_excite", squeeze_excite)
    if small_input is not None:
        check_bool("small_input", small_input)
    ablations = "".join(
        suffix for suffix, on in (("_prelu", activation == "prelu"), ("_no_reshape_add", not reshape_add),
                                  ("_no_se", not squeeze_excite)) if on
    )
    args = ZooArgs(
        name or f"pokebnn_{width_multiplier:g}x{ablations}".replace(".", "_"),
        input_shape, input_tensor, weights, include_top, num_classes, pooling, classifier_activation,
    )
    poke_options = dict(
        bound=float(bound),
        pad_values=float(pad_values),
        binarized_weights=binarized_weights,
        int8_outputs=int8_outputs,
        activation=activation,
        reshape_add=bool(reshape_add),
        squeeze_excite=bool(squeeze_excite),
    )

    def body(inputs, small):
        x = poke_init(
            inputs, init_group=init_group, int8_outputs=int8_outputs,
            small_input=small if small_input is None else bool(small_input),
            activation=activation, quantized_weights=binarized_weights,
        )
        for stage, (blocks, filters) in enumerate(zip(stage_blocks, stage_widths(width_multiplier))):
            for block in range(blocks):
                strides = 2 if stage > 0 and block == 0 else 1
                x = bottleneck(x, filters, strides, name=f"stage{stage + 1}_block{block + 1}", **poke_options)
        return x

    return _common.build_model(
        body, args, top=_classifier(args.num_classes, args.classifier_activation, int8_outputs)
    )


@register_model("pokebnn_075")
def PokeBNN075(**kwargs) -> tf.keras.Model:
    """``PokeBNN(width_multiplier=0.75, **kwargs)``."""
    return PokeBNN(width_multiplier=0.75, **kwargs)


@register_model("pokebnn_10")
def PokeBNN1_0(**kwargs) -> tf.keras.Model:
    """``PokeBNN(width_multiplier=1.0, **kwargs)``: the official configuration."""
    return PokeBNN(width_multiplier=1.0, **kwargs)


def PokeBNN10(**kwargs) -> tf.keras.Model:
    """Deprecated name of :func:`PokeBNN1_0` (it reads "ten")."""
    warnings.warn("PokeBNN10 is deprecated: use PokeBNN1_0 (width 1.0).", DeprecationWarning, stacklevel=2)
    return PokeBNN1_0(**kwargs)


@register_model("pokebnn_14")
def PokeBNN14(**kwargs) -> tf.keras.Model:
    """``PokeBNN(width_multiplier=1.4, **kwargs)``."""
    return PokeBNN(width_multiplier=1.4, **kwargs)
