"""PokeBNN's parameter-free shortcut: match the residual's shape to the branch, then add.

Zhang et al., "PokeBNN: A Binary Pursuit of Lightweight Accuracy", CVPR 2022,
arXiv:2112.00133; google/aqt ``pokebnn.py`` (``reshape_add``).
Provenance and reconstruction notes: docs/models/pokebnn.md
"""

from __future__ import annotations

import math

import tensorflow as tf

from lq_ext._serialization import register
from lq_ext._validate import check_choice

__all__ = ["EXPAND_MODES", "ReshapeAdd"]

#: How :class:`ReshapeAdd` widens a residual with fewer channels than the branch.
EXPAND_MODES = ("zeropad", "tile")


def _same_pad(size: int, window: int = 3, stride: int = 2) -> tuple[int, int]:
    """TF/Flax SAME padding (before, after) of one spatial axis."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + window - size, 0)
    return total // 2, total - total // 2


@register
class ReshapeAdd(tf.keras.layers.Layer):
    r"""``y + match(r)``: PokeBNN's ``reshape_add`` for inputs ``[r, y]``.

    ``match`` makes the residual r the shape of the branch y, without parameters:

    1. Channels, C_r → C_y.  **Shrink** (C_r > C_y): k = C_r // C_y; keep the first
       C_y·k channels and average each run of k consecutive channels (official
       ``"consecutive"``).  **Expand** (C_r < C_y): ``"zeropad"`` appends zero channels
       (the local shortcut around every binary conv); ``"tile"`` repeats the whole
       tensor (the ResNet block shortcut).  When C_y is not a multiple of C_r (width
       multipliers such as 1.4×) the tiled tensor is cut to C_y channels — a
       reconstruction: the official ``jnp.tile`` would fail there.
    2. Space: if r is larger, a 3×3 stride-2 SAME average pool that, like Flax's
       ``avg_pool``, divides by 9 everywhere (padded pixels count as zeros; Keras'
       ``AveragePooling2D`` would exclude them).

    # Arguments
        expand: ``"zeropad"`` (default) or ``"tile"``.

    # References
        - PokeBNN, arXiv:2112.00133; google/aqt ``pokebnn.py`` (``reshape_add``)
    """

    def __init__(self, expand: str = "zeropad", **kwargs):
        check_choice("expand", expand, EXPAND_MODES)
        super().__init__(**kwargs)
        self.expand = expand

    def build(self, input_shape):
        if not isinstance(input_shape, (list, tuple)) or len(input_shape) != 2:
            raise ValueError(f"{self.name}: ReshapeAdd takes two inputs [residual, branch].")
        r_shape, y_shape = (tf.TensorShape(s) for s in input_shape)
        if r_shape.rank != 4 or y_shape.rank != 4 or None in r_shape[1:] or None in y_shape[1:]:
            raise ValueError(
                f"{self.name}: ReshapeAdd needs two 4-D NHWC inputs with known H, W, C, got "
                f"{r_shape} and {y_shape}."
            )
        (r_h, r_w), (y_h, y_w) = r_shape[1:3], y_shape[1:3]
        if (r_h, r_w) != (y_h, y_w) and (math.ceil(r_h / 2), math.ceil(r_w / 2)) != (y_h, y_w):
            raise ValueError(
                f"{self.name}: the residual is {r_h}x{r_w} and the branch {y_h}x{y_w}; "
                f"ReshapeAdd matches equal sizes or a stride-2 reduction only."
            )
        super().build(input_shape)

    def _match_channels(self, r, c_y):
        c_r = r.shape[-1]
        if c_r > c_y:
            k = c_r // c_y
            r = r[..., : c_y * k]
            if k == 1:
                return r
            shape = tf.shape(r)
            grouped = tf.reshape(r, [shape[0], shape[1] * shape[2], c_y, k])
            return tf.reshape(tf.reduce_mean(grouped, axis=-1), [shape[0], shape[1], shape[2], c_y])
        if c_r < c_y:
            if self.expand == "zeropad":
                return tf.pad(r, [[0, 0], [0, 0], [0, 0], [0, c_y - c_r]])
            r = tf.tile(r, [1, 1, 1, math.ceil(c_y / c_r)])
            return r[..., :c_y]
        return r

    def call(self, inputs):
        r, y = inputs
        r = self._match_channels(r, y.shape[-1])
        if r.shape[1:3] != y.shape[1:3]:
            pads = [(0, 0), _same_pad(r.shape[1]), _same_pad(r.shape[2]), (0, 0)]
            r = tf.nn.avg_pool2d(tf.pad(r, pads), ksize=3, strides=2, padding="VALID")
        return y + r

    def compute_output_shape(self, input_shape):
        return tf.TensorShape(input_shape[1])

    def get_config(self):
        return {**super().get_config(), "expand": self.expand}
