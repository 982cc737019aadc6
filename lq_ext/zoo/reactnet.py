"""ReActNet-A: the binary MobileNetV1 that BD-Net and BCDNet are measured against.

Liu, Shen, Savvides, Cheng, "ReActNet: Towards Precise Binary Neural Networks with
Generalized Activation Functions", ECCV 2020, arXiv:2003.03488. The block is ReActNet-A's
``BasicBlock`` as re-released unchanged in BCDNet's code (``Sense-GVT/BCDNet``
``prototype/model/a_3.py``); it lives in :mod:`lq_ext.zoo._blocks` (BCDNet and
ES-ReActNet build on it) and is re-exported here. LCE deviations: +1 padding of the
binary 3×3 convs (``pad_values=1.0``), ``WeightClip(1.0)``. Inputs of at most 64 px use
a stride-1 stem and last downsampling block (32×32 ends at 4×4).

Provenance and deviations: docs/models/reactnet.md.
"""

from __future__ import annotations

import tensorflow as tf

from lq_ext import torch_checkpoint
from lq_ext._validate import check_choice
from lq_ext.zoo import _common, official_weights
from lq_ext.zoo._blocks import (  # noqa: F401  (re-exported: their old home)
    CLIP_VALUE,
    PAD_VALUES,
    REACTNET_A_WIDTHS,
    binary_conv,
    final_size,
    layout_strides,
    reactnet_block,
    reactnet_body,
    scale_widths,
)
from lq_ext.zoo._common import ZooArgs
from lq_ext.zoo._registry import register_model

__all__ = ["NUMERICS", "PAD_VALUES", "REACTNET_A_WIDTHS", "ReActNetA", "binary_conv", "reactnet_block"]

NUMERICS = official_weights.NUMERICS


def build_reactnet(args: ZooArgs, widths, *, check_shape=None, top=None, **body_options) -> tf.keras.Model:
    """Validate, then build stem → ReActNet blocks → ``stage`` → head for ``args``.

    ``body_options`` go to :func:`lq_ext.zoo._blocks.reactnet_body` (``pad_values``,
    ``embedding_*``, ``stage``); ``check_shape(input_shape)`` raises for inputs the
    stage cannot take; ``top(x)`` replaces the standard head when ``include_top``.
    """
    return _common.build_model(reactnet_body(widths, **body_options), args, check_shape=check_shape, top=top)


_REACTNET_ARGS = """\
        pad_values: padding of the binary 3×3 convs: 1.0 (LCE's "same-one"; the
            default with ``numerics="lce"``) or 0.0 (the released code's zero padding;
            the default with ``numerics="official"``).
        numerics: ``"lce"`` (the zoo's defaults) or ``"official"``: the official
            PyTorch network's numerics (BN epsilon 1e-5, zero padding, the input
            normalised with ImageNet mean / std from the zoo's [−1, 1] range, and the
            image flipped spatially so that Keras' "same" stride-2 padding computes
            PyTorch's symmetric one; H and W multiples of 32, above 64 px). Default:
            ``"official"`` when ``weights`` is an official PyTorch checkpoint
            (``liuzechun/ReActNet`` ``mobilenet/2_step2``, zip or legacy format,
            read without PyTorch), else ``"lce"``. Guide: docs/guides/pretrained_weights.md.
        width_multiplier: every stage width × m (default 1.0, the paper's network):
            the stem width 32·m rounded to a multiple of 4, the others its multiples
            (:func:`lq_ext.zoo._blocks.scale_widths`; 0.25 → 8 … 256, 0.5 → 16 … 512),
            so binary-conv BOPs scale by about m². Ours, for reduced-budget
            experiments; official checkpoints load only at 1.0.
"""


@register_model("reactnet_a")
@_common.document(name="reactnet_a", model_args=_REACTNET_ARGS)
def ReActNetA(
    *,
    input_shape=None,
    input_tensor=None,
    weights=None,
    include_top=True,
    num_classes=1000,
    pooling=None,
    classifier_activation="softmax",
    pad_values=None,
    numerics=None,
    width_multiplier=1.0,
    name=None,
) -> tf.keras.Model:
    """ReActNet-A (published figures: ``lq_ext.zoo.catalog.card("reactnet_a")``).

    Reference: arXiv:2003.03488; block as released in BCDNet's code (module
    docstring). Inputs are images mapped to [−1, 1]
    (:func:`lq_ext.zoo.preprocess_input`). Inputs of at most 64 px use the small-input
    layout (32×32 ends at 4×4), larger ones the ImageNet layout (224×224 ends at 7×7).
    """
    check_choice("numerics", numerics, (None, *NUMERICS))
    model_name = name or "reactnet_a"
    widths = scale_widths(REACTNET_A_WIDTHS, width_multiplier, model_name=model_name)
    state = None
    if weights is not None and torch_checkpoint.is_torch_checkpoint(weights):
        official_weights.check_full_width(width_multiplier, entry="ReActNetA")
        expected = official_weights.reactnet_a_shapes(REACTNET_A_WIDTHS, num_classes)
        state = official_weights.read_checkpoint(weights, expected, include_top=include_top, entry="ReActNetA")
    if numerics is None:
        numerics = "official" if state is not None else "lce"
    official = numerics == "official"
    if pad_values is None:
        pad_values = 0.0 if official else 1.0
    args = ZooArgs(
        model_name, input_shape, input_tensor, None if state is not None else weights,
        include_top, num_classes, pooling, classifier_activation,
    )
    options = {}
    if official:
        official_weights.check_official_shape(args.input_shape, entry="ReActNetA")
        options = dict(bn_epsilon=official_weights.OFFICIAL_BN_EPSILON, input_stage=official_weights.official_input)
    model = build_reactnet(args, widths, pad_values=pad_values, **options)
    if state is not None:
        assignments = official_weights.reactnet_a_assignments(
            state, model, widths=REACTNET_A_WIDTHS, flip=official
        )
        tf.keras.backend.batch_set_value(assignments)
    return model
