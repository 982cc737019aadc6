"""The input convention of ``lq_ext`` models: pixels in [0, 255] → float32 in [-1, 1].

``x / 127.5 - 1`` is written once, in :func:`to_unit_range`; the pipelines of
:func:`lq_ext.data.load_dataset`, :func:`preprocess` (NumPy in, NumPy out) and
:func:`lq_ext.zoo.preprocess_input` all use it.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

__all__ = ["PIXEL_SCALE", "preprocess", "to_unit_range"]

#: Pixels are divided by this, then shifted by -1: 0 → -1, 127.5 → 0, 255 → 1.
PIXEL_SCALE = 127.5


def to_unit_range(images) -> tf.Tensor:
    """``x / 127.5 - 1`` in float32: pixels in [0, 255] (any numeric dtype) → [-1, 1].

    Works eagerly and inside ``tf.data`` / ``tf.function`` graphs; returns a tensor.
    """
    return tf.cast(images, tf.float32) / PIXEL_SCALE - 1.0


def preprocess(images) -> np.ndarray:
    """Map pixels in [0, 255] (uint8 or float) to float32 in [-1, 1]: ``x / 127.5 - 1``.

    This is the input convention of ``lq_ext``'s zoo models and of the converters'
    parity check (:func:`to_unit_range` on a NumPy array). It is *not* Larq Zoo's
    ``preprocess_input`` (which also resizes, crops and normalises with ImageNet
    mean/std): use that one for Larq Zoo weights.
    """
    array = np.asarray(images)
    if array.dtype.kind not in "uif":
        raise ValueError(
            f"images must be numeric pixels in [0, 255], got an array of dtype {array.dtype}."
        )
    return to_unit_range(array).numpy()
