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

from lq_ext.zoo import _common
from lq_ext.zoo._blocks import (  # noqa: F401  (re-exported: their old home)
    CLIP_VALUE,
    PAD_VALUES,
    REACTNET_A_WIDTHS,
    binary_conv,
    final_size,
    layout_strides,
    reactnet_block,
    reactnet_body,
)
from lq_ext.zoo._common import ZooArgs
from lq_ext.zoo._registry import register_model

__all__ = ["PAD_VALUES", "REACTNET_A_WIDTHS", "ReActNetA", "binary_conv", "reactnet_block"]


def build_reactnet(args: ZooArgs, widths, *, check_shape=None, top=None, **body_options) -> tf.keras.Model:
    """Validate, then build stem → ReActNet blocks → ``stage`` → head for ``args``.

    ``body_options`` go to :func:`lq_ext.zoo._blocks.reactnet_body` (``pad_values``,
    ``embedding_*``, ``stage``); ``check_shape(input_shape)`` raises for inputs the
    stage cannot take; ``top(x)`` replaces the standard head when ``include_top``.
    """
    return _common.build_model(reactnet_body(widths, **body_options), args, check_shape=check_shape, top=top)


_REACTNET_ARGS = """\
        pad_values: padding of the binary 3×3 convs: 1.0 (default, LCE's "same-one")
            or 0.0 (the released code's zero padding).
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
    pad_values=1.0,
    name=None,
) -> tf.keras.Model:
    """ReActNet-A (published figures: ``lq_ext.zoo.catalog.card("reactnet_a")``).

    Reference: arXiv:2003.03488; block as released in BCDNet's code (module
    docstring). Inputs are images mapped to [−1, 1]
    (:func:`lq_ext.zoo.preprocess_input`). Inputs of at most 64 px use the small-input
    layout (32×32 ends at 4×4), larger ones the ImageNet layout (224×224 ends at 7×7).
    """
    args = ZooArgs(
        name or "reactnet_a", input_shape, input_tensor, weights, include_top, num_classes, pooling,
        classifier_activation,
    )
    return build_reactnet(args, REACTNET_A_WIDTHS, pad_values=pad_values)
