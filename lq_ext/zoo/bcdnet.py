"""BCDNet: binary shift-MLP blocks and contextual dynamic embeddings.

Xing, Li, Li, Ding, Jiang, Wang, Shao, Liu, Liu, "Towards Accurate Binary Neural
Networks via Modeling Contextual Dependencies", ECCV 2022, arXiv:2209.01404. Code:
github.com/Sense-GVT/BCDNet (``prototype/model/a_3.py``). BCDNet-A follows the released
code; BCDNet-B's dynamic embeddings are a reconstruction (``embedding_reduction``,
``embedding_activation``, ``share_embedding``). For LCE the shift block shifts the
binarizer's float input and binarizes per branch (equal to shifting the binary
tensor), so every binary conv converts to ``LceBconv2d``.

Provenance, reconstruction notes and the poster's figures: docs/models/bcdnet.md.
"""

from __future__ import annotations

import warnings

import tensorflow as tf

from lq_ext import torch_checkpoint
from lq_ext._validate import check_choice
from lq_ext.layers import SpatialFlip
from lq_ext.layers.embedding import LearnableBias, embedding_units
from lq_ext.layers.shift import CircularShift
from lq_ext.zoo import _common, catalog, official_weights
from lq_ext.zoo._blocks import BN_EPSILON, binary_conv, final_size, reactnet_body, residual_unit, scale_widths
from lq_ext.zoo._common import ZooArgs
from lq_ext.zoo._registry import register_model

__all__ = [
    "BCDNET_A_WIDTHS",
    "BCDNetA",
    "BCDNetB",
    "MIN_SHIFT_MAP",
    "fold_distillation_head",
    "mlp_block",
    "point_block",
    "shift_block",
]

#: BCDNet-A's conv part (``stage_out_channel`` of ``a_3.py``): ReActNet-A without the
#: last two 512→512 blocks and the 1024→1024 block.
BCDNET_A_WIDTHS = (32, 64, 128, 128, 256, 256, 512, 512, 512, 512, 1024)

#: MLP blocks (3 shift blocks + 1 point block each) at the end: the released 11/9 model.
MLP_BLOCKS = 3
SHIFT_BLOCKS_PER_MLP_BLOCK = 3

#: Smallest side of a shift block's feature map (default shifts): the long-range shift
#: H // 2 must exceed the short-range shift 1, else both branches see the same shift.
MIN_SHIFT_MAP = 4



def __getattr__(name):
    """Deprecated ``PAPER_COSTS``: the poster's figures, now on the registry's cards."""
    if name == "PAPER_COSTS":
        warnings.warn(
            "lq_ext.zoo.bcdnet.PAPER_COSTS is deprecated: use lq_ext.zoo.catalog.card(name).",
            DeprecationWarning,
            stacklevel=2,
        )
        return {
            n: {k: v for k, v in catalog.card(n).figures().items() if k in ("bops", "flops", "ops", "top1")}
            for n in ("bcdnet_a", "bcdnet_b", "reactnet_a")
        }
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _check_shift_map(x, name, short_range):
    """The long-range shift ``(H // 2, W // 2)`` must exceed the short-range one, per axis."""
    height, width, channels = x.shape[1:]
    if channels % 4:
        raise ValueError(
            f"{name}: the channels must be divisible by 4 (one quarter per shift "
            f"direction), got channels={channels}."
        )
    if isinstance(short_range, int) and not isinstance(short_range, bool):
        short = (short_range, short_range)
    elif isinstance(short_range, (tuple, list)) and len(short_range) == 2:
        short = tuple(short_range)
    else:
        return  # CircularShift names the bad value
    if not (height // 2 > short[0] and width // 2 > short[1]):
        raise ValueError(
            f"{name}: the {height}x{width} feature map is too small for the shifts: the "
            f"long-range shift (H // 2, W // 2) = ({height // 2}, {width // 2}) must exceed "
            f"the short-range shift {short}, so height must be at least {2 * short[0] + 2} "
            f"and width at least {2 * short[1] + 2} (got input shape {tuple(x.shape)})."
        )


def shift_block(x, *, name, short_range=1, long_range="half", bn_epsilon=BN_EPSILON):
    """BCDNet's binary shift-MLP block (released ``ShiftBlock``), C → C.

    .. code-block:: text

        t = x + b                                   {name}_bias (one threshold)
        y = Conv0(sign(t)) + Conv1(sign(S₁(t))) + Conv2(sign(S_L(t)))
        out = RPReLU(BN(y) + x)

    with S₁ = ``CircularShift(short_range)`` (``{name}_shift_short``), S_L =
    ``CircularShift(long_range)`` (``{name}_shift_long``), binary 1×1 convs
    ``{name}_conv`` / ``{name}_conv_short`` / ``{name}_conv_long`` (ApproxSign input,
    ±mean|W| kernels), their sum ``{name}_conv_sum``, then :func:`residual_unit`'s
    ``{name}_bn``, ``{name}_add``, ``{name}_act``. Shifting ``t`` before the per-conv
    binarizer equals shifting ``sign(t)`` (module docstring).

    # Arguments
        short_range, long_range: shifts, see :class:`~lq_ext.layers.CircularShift`
            (defaults: 1 and ``"half"`` = (H // 2, W // 2), the code's 1 and 3 at 7×7).

    # Raises
        ValueError: channels not divisible by 4; with ``long_range="half"``, a map whose
            half side does not exceed ``short_range`` (below 4×4 for the default 1); or
            shifts the map cannot take.
    """
    if long_range == "half":
        _check_shift_map(x, name, short_range)
    channels = x.shape[-1]
    thresholded = LearnableBias(name=f"{name}_bias")(x)
    shifts = {
        "": None,
        "_short": CircularShift(short_range, name=f"{name}_shift_short"),
        "_long": CircularShift(long_range, name=f"{name}_shift_long"),
    }

    def branches(conv_name):
        def apply(t):
            outputs = []
            for suffix, shift in shifts.items():
                branch_input = t if shift is None else shift(t)
                conv = binary_conv(channels, 1, name=f"{conv_name}{suffix}")
                outputs.append(conv(branch_input))
            return tf.keras.layers.Add(name=f"{conv_name}_sum")(outputs)

        return apply

    return residual_unit(thresholded, branches, x, residual_mode="post_bn", name=name, bn_epsilon=bn_epsilon)


def point_block(x, *, name, bn_epsilon=BN_EPSILON):
    """BCDNet's ``PointBlock``: ``RPReLU(BN(Conv1x1(sign(x + b))) + x)``, C → C.

    Layers ``{name}_bias``, ``{name}_conv``, ``{name}_bn``, ``{name}_add``, ``{name}_act``.
    """
    thresholded = LearnableBias(name=f"{name}_bias")(x)

    def conv(conv_name):
        return binary_conv(x.shape[-1], 1, name=conv_name)

    return residual_unit(thresholded, conv, x, residual_mode="post_bn", name=name, bn_epsilon=bn_epsilon)


def mlp_block(
    x, *, name, shift_blocks=SHIFT_BLOCKS_PER_MLP_BLOCK, short_range=1, long_range="half", bn_epsilon=BN_EPSILON
):
    """BCDNet's ``Block``: ``shift_blocks`` shift blocks, then a point block, C → C.

    Layers ``{name}_shift{i}_*`` (:func:`shift_block`) and ``{name}_point_*``
    (:func:`point_block`).
    """
    for i in range(1, shift_blocks + 1):
        x = shift_block(
            x, name=f"{name}_shift{i}", short_range=short_range, long_range=long_range, bn_epsilon=bn_epsilon
        )
    return point_block(x, name=f"{name}_point", bn_epsilon=bn_epsilon)


def _mlp_stage(bn_epsilon=BN_EPSILON, unflip=False):
    """The three MLP blocks; ``unflip`` first undoes the official input flip (the shifts
    roll in the image's own orientation)."""

    def stage(x):
        if unflip:
            x = SpatialFlip(name="official_unflip")(x)
        for i in range(1, MLP_BLOCKS + 1):
            x = mlp_block(x, name=f"mlp{i}", bn_epsilon=bn_epsilon)
        return x

    return stage


def _check_input_shape(model_name):
    def check(input_shape):
        size = final_size(input_shape, BCDNET_A_WIDTHS)
        if min(size) < MIN_SHIFT_MAP:
            raise ValueError(
                f"{model_name}: input_shape={tuple(input_shape)} gives a {size[0]}x{size[1]} "
                f"feature map at the shift (MLP) stage, too small for the shifts: the "
                f"long-range shift H // 2 must exceed the short-range shift 1, so the map "
                f"must be at least {MIN_SHIFT_MAP}x{MIN_SHIFT_MAP}. Use 32-64 px inputs "
                f"(small-input layout, stride 8) or at least 97 px (ImageNet layout, stride 32)."
            )

    return check


def _distillation_top(num_classes, classifier_activation):
    """DeiT-style training head: pooled features → ``logits`` and ``logits_dist``."""

    def top(x):
        features = _common.global_pool(x)
        outputs = []
        for suffix in ("", "_dist"):
            out = tf.keras.layers.Dense(num_classes, name=f"logits{suffix}")(features)
            if classifier_activation == "softmax":
                out = tf.keras.layers.Activation(
                    "softmax", dtype="float32", name=f"predictions{suffix}"
                )(out)
            outputs.append(out)
        return outputs

    return top


def fold_distillation_head(model, *, name=None) -> tf.keras.Model:
    """Fold a ``distillation_head=True`` model's ``fc`` + ``fc_dist`` into one classifier.

    The released code's inference output is ``(fc(f) + fc_dist(f)) / 2``; both are
    linear, so it equals one Dense with kernel ``(W + W_dist) / 2`` and bias
    ``(b + b_dist) / 2``. Returns a single-output model (``logits`` → optional
    ``predictions`` softmax, the zoo's inference head) that **shares** every other layer
    and variable with ``model``: convert, save or profile it for inference/export.
    """
    try:
        fc, dist = model.get_layer("logits"), model.get_layer("logits_dist")
    except ValueError:
        raise ValueError(
            f"fold_distillation_head expects a model built with distillation_head=True "
            f"(layers 'logits' and 'logits_dist'); {model.name!r} has no such pair."
        ) from None
    folded = tf.keras.layers.Dense(fc.units, name="logits")
    outputs = folded(fc.input)
    folded.set_weights([(a + b) / 2 for a, b in zip(fc.get_weights(), dist.get_weights())])
    if any(layer.name == "predictions" for layer in model.layers):
        outputs = tf.keras.layers.Activation("softmax", dtype="float32", name="predictions")(outputs)
    return tf.keras.Model(model.inputs, outputs, name=name or model.name)


def _bcdnet(args: ZooArgs, widths, *, distillation_head, pad_values, official=False, **embedding):
    _common.check_flag("distillation_head", distillation_head, args.model_name)
    if distillation_head and not args.include_top:
        raise ValueError(
            f"{args.model_name}: distillation_head=True adds the training head pair (fc, "
            f"fc_dist) and needs include_top=True, got include_top={args.include_top!r}."
        )
    top = _distillation_top(args.num_classes, args.classifier_activation) if distillation_head else None
    options = {}
    if official:
        official_weights.check_official_shape(args.input_shape, entry=args.model_name)
        bn_epsilon = official_weights.OFFICIAL_BN_EPSILON
        options = dict(bn_epsilon=bn_epsilon, input_stage=official_weights.official_input)
        stage = _mlp_stage(bn_epsilon, unflip=True)
    else:
        stage = _mlp_stage()
    body = reactnet_body(widths, pad_values=pad_values, stage=stage, **options, **embedding)
    return _common.build_model(body, args, check_shape=_check_input_shape(args.model_name), top=top)


_LAYOUT_NOTE = """
    Inputs are images mapped to [−1, 1] (:func:`lq_ext.zoo.preprocess_input`). Inputs of
    at most 64 px use the small-input layout (stride-1 stem and 512→1024 block: 32×32
    reaches the shift stage at 4×4, 64×64 at 8×8), inputs of at least 97 px the ImageNet
    layout (224×224 → 7×7); 65–96 px would leave the shift stage below 4×4 and are
    refused.
"""

_BCDNET_A_ARGS = """\
        distillation_head: build the DeiT-style training head pair instead of one
            classifier: outputs ``[logits, logits_dist]`` (or their softmaxes), for the
            released recipe (CE on ``fc``, KD from a ResNet-50 teacher on ``fc_dist``).
            :func:`fold_distillation_head` folds it into the inference classifier.
        pad_values: padding of the binary 3×3 convs, 1.0 (LCE "same-one", default) or
            0.0 (the code's zero padding).
        width_multiplier: every stage width × m (default 1.0, the released network),
            conv and MLP stages alike: the stem width 32·m rounded to a multiple of 4,
            the others its multiples (:func:`lq_ext.zoo._blocks.scale_widths`; 0.25 →
            8 … 256, 0.5 → 16 … 512), so binary BOPs scale by about m². Ours, for
            reduced-budget experiments.
"""

_NUMERICS_ARG = """\
        numerics: ``"lce"`` or ``"official"`` (the official PyTorch network's numerics,
            as for :func:`lq_ext.zoo.ReActNetA`, with the image flipped back before the
            shift stage; zero padding by default). Default: ``"official"`` when
            ``weights`` is the official PyTorch checkpoint (``a_3``, step 2; read without
            PyTorch; ``fc`` and ``fc_dist`` folded into ``logits`` as the official
            inference output unless ``distillation_head``), else ``"lce"``.
            Guide: docs/guides/pretrained_weights.md. Official checkpoints load only
            at ``width_multiplier=1.0``.
"""

_BCDNET_B_ARGS = _BCDNET_A_ARGS + """\
        embedding_reduction: hidden size of W₁ = C // embedding_reduction (default 4:
            +1.91 M float MACs at 224×224, matching the poster's FLOPs increase 0.12 →
            0.14 ×10⁸). A reconstruction.
        embedding_activation: after W₁ (default ``"relu"``; None for linear).
        share_embedding: one embedding per block (from the block input) for both
            convs, instead of one per conv from its own input (default False).
        reduction: deprecated spelling of ``embedding_reduction``.
"""


@register_model("bcdnet_a")
@_common.document(name="bcdnet_a", notes=_LAYOUT_NOTE, model_args=_BCDNET_A_ARGS + _NUMERICS_ARG)
def BCDNetA(
    *,
    input_shape=None,
    input_tensor=None,
    weights=None,
    include_top=True,
    num_classes=1000,
    pooling=None,
    classifier_activation="softmax",
    distillation_head=False,
    pad_values=None,
    numerics=None,
    width_multiplier=1.0,
    name=None,
) -> tf.keras.Model:
    """BCDNet-A, the released model (published figures: ``lq_ext.zoo.catalog.card("bcdnet_a")``).

    Reference: arXiv:2209.01404, code ``a_3.py``. 10 binary conv blocks (ReActNet-A's),
    then 3 MLP blocks of 3 shift blocks + 1 point block (see the module docstring).
    """
    check_choice("numerics", numerics, (None, *official_weights.NUMERICS))
    model_name = name or "bcdnet_a"
    widths = scale_widths(BCDNET_A_WIDTHS, width_multiplier, model_name=model_name)
    state = None
    if weights is not None and torch_checkpoint.is_torch_checkpoint(weights):
        official_weights.check_full_width(width_multiplier, entry="BCDNetA")
        expected = official_weights.bcdnet_a_shapes(BCDNET_A_WIDTHS, num_classes)
        state = official_weights.read_checkpoint(weights, expected, include_top=include_top, entry="BCDNetA")
    official = (numerics or ("official" if state is not None else "lce")) == "official"
    if pad_values is None:
        pad_values = 0.0 if official else 1.0
    args = ZooArgs(
        model_name, input_shape, input_tensor, None if state is not None else weights,
        include_top, num_classes, pooling, classifier_activation,
    )
    model = _bcdnet(args, widths, distillation_head=distillation_head, pad_values=pad_values, official=official)
    if state is not None:
        tf.keras.backend.batch_set_value(
            official_weights.bcdnet_a_assignments(state, model, widths=BCDNET_A_WIDTHS, flip=official)
        )
    return model


@register_model("bcdnet_b")
@_common.document(name="bcdnet_b", notes=_LAYOUT_NOTE, model_args=_BCDNET_B_ARGS)
def BCDNetB(
    *,
    input_shape=None,
    input_tensor=None,
    weights=None,
    include_top=True,
    num_classes=1000,
    pooling=None,
    classifier_activation="softmax",
    distillation_head=False,
    pad_values=1.0,
    embedding_reduction=4,
    embedding_activation="relu",
    share_embedding=False,
    width_multiplier=1.0,
    reduction=_common.UNSET,
    name=None,
) -> tf.keras.Model:
    """BCDNet-B: BCDNet-A + dynamic embeddings (figures: ``lq_ext.zoo.catalog.card("bcdnet_b")``).

    **Reconstruction** (the released code has no embeddings): every binary conv of the 10
    conv blocks binarizes ``A − α(e)`` and adds ``W₃·e`` before its BatchNorm, with
    ``e = act(W₁·GAP(A))`` (:mod:`lq_ext.layers.embedding`). The shift blocks keep
    static thresholds.
    """
    model_name = name or "bcdnet_b"
    embedding_reduction = _common.renamed_keyword(
        "reduction", reduction, "embedding_reduction", embedding_reduction, 4, model_name=model_name
    )
    args = ZooArgs(
        model_name, input_shape, input_tensor, weights, include_top, num_classes, pooling, classifier_activation
    )
    embedding_units(min(BCDNET_A_WIDTHS), embedding_reduction)  # None would silently give A
    widths = scale_widths(BCDNET_A_WIDTHS, width_multiplier, model_name=model_name)
    if min(widths) // embedding_reduction < 1:
        raise ValueError(
            f"{model_name}: width_multiplier={width_multiplier!r} narrows the first stage to "
            f"{min(widths)} channels (widths {widths}), leaving no hidden units for "
            f"embedding_reduction={embedding_reduction!r} (C // embedding_reduction = 0); "
            f"allowed: embedding_reduction <= {min(widths)}, or a larger width_multiplier."
        )
    return _bcdnet(
        args,
        widths,
        distillation_head=distillation_head,
        pad_values=pad_values,
        embedding_reduction=embedding_reduction,
        embedding_activation=embedding_activation,
        share_embedding=share_embedding,
    )
