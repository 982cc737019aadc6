r"""ClampedMix: BNext's learnable per-channel mix of two tensors, ``s·a + (1 − s)·b``.

Guo et al., "Join the High Accuracy Club on ImageNet with A Binary Neural Network
Ticket" (BNext), arXiv:2211.12933, and the ES-BNN fork ``imfinethanks/ESBNN``
(``src/bnext_rep_ops.py``): the block input ``a`` is mixed with the binary-conv branch
``b`` with ``s`` clamped to [0, 1] (initialised to 0.5).  The official in-place clamp
becomes a constraint after each update plus a straight-through clamp in the forward pass.

Provenance and reconstruction notes: docs/models/esbnn.md
"""

from __future__ import annotations

import tensorflow as tf

from lq_ext._serialization import register
from lq_ext._validate import is_number

__all__ = ["ClampedMix", "UnitIntervalClip"]


@register
class UnitIntervalClip(tf.keras.constraints.Constraint):
    """Clip a variable to [0, 1] after each optimizer update (the code's in-place clamp)."""

    def __call__(self, w):
        return tf.clip_by_value(w, 0.0, 1.0)

    def get_config(self):
        return {}


@register
class ClampedMix(tf.keras.layers.Layer):
    r"""``clamp(s, 0, 1)·a + (1 − clamp(s, 0, 1))·b`` with one learnable ``s`` per channel.

    Called on a list ``[a, b]`` of two tensors of the same shape (channels last).

    # Arguments
        scale_initializer: initial value of every ``s`` (BNext: 0.5); a number in [0, 1].

    # Raises
        ValueError: a bad ``scale_initializer``; inputs that are not two tensors of one
            shape with a known channel dimension.
    """

    def __init__(self, scale_initializer=0.5, **kwargs):
        super().__init__(**kwargs)
        if not is_number(scale_initializer) or not 0.0 <= scale_initializer <= 1.0:
            raise ValueError(
                f"ClampedMix: scale_initializer must be a number in [0, 1], got "
                f"scale_initializer={scale_initializer!r}."
            )
        self.scale_initializer = float(scale_initializer)

    def build(self, input_shape):
        if not isinstance(input_shape, (list, tuple)) or len(input_shape) != 2:
            raise ValueError(
                f"ClampedMix {self.name!r} must be called on a list [a, b] of two tensors, "
                f"got input shape {input_shape!r}."
            )
        a, b = (tf.TensorShape(s) for s in input_shape)
        if not a.is_compatible_with(b):
            raise ValueError(f"ClampedMix {self.name!r}: shapes {a} and {b} differ.")
        channels = a[-1]
        if channels is None:
            raise ValueError(f"ClampedMix {self.name!r} needs a known channel dimension (last axis).")
        self.scale = self.add_weight(
            name="scale",
            shape=(channels,),
            initializer=tf.keras.initializers.Constant(self.scale_initializer),
            constraint=UnitIntervalClip(),
        )
        super().build(input_shape)

    def call(self, inputs):
        a, b = inputs
        # forward: the clamped value; backward: straight through to s (as the code,
        # whose in-place clamp leaves the gradient w.r.t. the parameter untouched)
        s = self.scale + tf.stop_gradient(tf.clip_by_value(self.scale, 0.0, 1.0) - self.scale)
        return b + s * (a - b)

    def compute_output_shape(self, input_shape):
        return tf.TensorShape(input_shape[0])

    def get_config(self):
        return {**super().get_config(), "scale_initializer": self.scale_initializer}
