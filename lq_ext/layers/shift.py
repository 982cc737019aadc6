r"""Circular spatial shift of four channel quarters: BCDNet's "Sampling" step.

Xing et al., "Towards Accurate Binary Neural Networks via Modeling Contextual
Dependencies" (BCDNet), ECCV 2022, arXiv:2209.01404; the released code's ``Shift``
(short range, 1 px) and ``GlobalShift`` (long range, H // 2) with ``torch.roll``
semantics, four equal channel quarters (Sense-GVT/BCDNet#1).  Written as strided
slices and concatenations, so TFLite gets builtins and never a Flex op.

Provenance and reconstruction notes: docs/models/bcdnet.md
"""

from __future__ import annotations

import tensorflow as tf

from lq_ext._serialization import register
from lq_ext._validate import is_int

__all__ = ["CircularShift", "circular_shift"]

#: ``shift="half"``: (H // 2, W // 2) of the input, BCDNet's long-range shift.
HALF = "half"


def _check_shift(shift):
    """``shift`` is a positive int, a pair of positive ints or ``"half"``; returns it normalised."""
    if shift == HALF:
        return HALF
    if is_int(shift) and shift >= 1:
        return (int(shift), int(shift))
    if (
        isinstance(shift, (tuple, list))
        and len(shift) == 2
        and all(is_int(s) and s >= 1 for s in shift)
    ):
        return (int(shift[0]), int(shift[1]))
    raise ValueError(
        f"shift must be a positive int, a pair (dy, dx) of positive ints or 'half' "
        f"(H // 2, W // 2), got shift={shift!r}."
    )


def _roll(x, shift, axis):
    """``tf.roll(x, shift, axis)`` (shift > 0 or < 0, |shift| < size) as two slices + concat."""
    size = x.shape[axis]
    shift %= size
    if shift == 0:
        return x
    head = [slice(None)] * x.shape.rank
    tail = [slice(None)] * x.shape.rank
    head[axis] = slice(size - shift, None)  # the last `shift` rows wrap to the front
    tail[axis] = slice(None, size - shift)
    return tf.concat([x[tuple(head)], x[tuple(tail)]], axis=axis)


def circular_shift(x, dy: int, dx: int):
    """Shift the four channel quarters of an NHWC tensor by (+dy, −dy) on H, (+dx, −dx) on W.

    Same result as ``tf.concat([tf.roll(q0, dy, 1), tf.roll(q1, -dy, 1), tf.roll(q2, dx,
    2), tf.roll(q3, -dx, 2)], -1)`` with ``q0..q3 = tf.split(x, 4, -1)``, built from
    slices and concatenations only. Needs static H, W, C with C divisible by 4.
    """
    quarter = x.shape[-1] // 4
    parts = [x[..., i * quarter : (i + 1) * quarter] for i in range(4)]
    moved = [
        _roll(parts[0], dy, 1),
        _roll(parts[1], -dy, 1),
        _roll(parts[2], dx, 2),
        _roll(parts[3], -dx, 2),
    ]
    return tf.concat(moved, axis=-1)


@register
class CircularShift(tf.keras.layers.Layer):
    """Circular spatial shift of four channel quarters (BCDNet's short/long-range sampling).

    The channels split into four equal consecutive quarters, each moved with
    wrap-around (indices modulo H and W):

    ====================  =====================  ===================
    quarter (channels)    direction              ``out[..]`` =
    ====================  =====================  ===================
    ``[0, C/4)``          down by ``dy`` (+H)    ``in[i − dy, j]``
    ``[C/4, C/2)``        up by ``dy`` (−H)      ``in[i + dy, j]``
    ``[C/2, 3C/4)``       right by ``dx`` (+W)   ``in[i, j − dx]``
    ``[3C/4, C)``         left by ``dx`` (−W)    ``in[i, j + dx]``
    ====================  =====================  ===================

    Parameter-free; output shape = input shape.

    # Arguments
        shift: ``1`` (default, BCDNet's short range), any positive int (same on H and
            W), a pair ``(dy, dx)``, or ``"half"`` for ``(H // 2, W // 2)`` of the
            input (BCDNet's long range: 3 on a 7×7 map).

    # Input shape
        ``(batch, H, W, C)`` with known H, W, C; C divisible by 4 (one quarter per
        direction); ``1 ≤ dy < H`` and ``1 ≤ dx < W`` (a shift of a whole side, or of 0
        for ``"half"`` on a 1-px side, would move nothing).

    # References
        - BCDNet, arXiv:2209.01404 (poster equations; code ``Shift`` / ``GlobalShift``)
    """

    def __init__(self, shift=1, **kwargs):
        super().__init__(**kwargs)
        self._shift = _check_shift(shift)
        self.shift = shift if shift == HALF else (
            int(shift) if is_int(shift) else tuple(int(s) for s in shift)
        )
        self.offsets = None  # (dy, dx) once built

    def build(self, input_shape):
        shape = tf.TensorShape(input_shape)
        if shape.rank != 4 or any(d is None for d in shape[1:]):
            raise ValueError(
                f"CircularShift {self.name!r} needs a (batch, height, width, channels) input "
                f"with known height, width and channels, got input shape {tuple(shape)}."
            )
        height, width, channels = shape[1], shape[2], shape[3]
        if channels % 4:
            raise ValueError(
                f"CircularShift {self.name!r}: the channels must be divisible by 4 (one "
                f"quarter per shift direction), got channels={channels} (input shape "
                f"{tuple(shape)}); use a multiple of 4 such as {4 * max(1, round(channels / 4))}."
            )
        dy, dx = (height // 2, width // 2) if self._shift == HALF else self._shift
        if not (1 <= dy < height and 1 <= dx < width):
            raise ValueError(
                f"CircularShift {self.name!r}: the {height}x{width} feature map is too small "
                f"for shift={self.shift!r} (= (dy, dx) = ({dy}, {dx})): allowed are "
                f"1 <= dy <= {height - 1} and 1 <= dx <= {width - 1}"
                + (" (the map needs at least 2 px per side)" if min(height, width) < 2 else "")
                + "."
            )
        self.offsets = (dy, dx)
        super().build(input_shape)

    def call(self, inputs):
        return circular_shift(inputs, *self.offsets)

    def compute_output_shape(self, input_shape):
        return tf.TensorShape(input_shape)

    def get_config(self):
        shift = self.shift if not isinstance(self.shift, tuple) else list(self.shift)
        return {**super().get_config(), "shift": shift}
