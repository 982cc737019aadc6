r"""ClampedMix: BNext's learnable per-channel mix of two tensors, ``s·a + (1 − s)·b``.

BNext's "information recoupling" (Guo et al., arXiv:2211.12933, and the ES-BNN fork
``imfinethanks/ESBNN`` ``src/bnext_rep_ops.py``) mixes a block's input ``a`` with its
binary-conv branch ``b`` before the SE gate:

.. code-block:: text

    s' = clamp(s, 0, 1)              per channel, s initialised to 0.5
    y  = s'·a + (1 − s')·b

The official code clamps ``s`` *in place* (``scale.data.clamp_(0, 1)``) before every
training forward pass (the 1×1 FFN also in eval), so the forward always sees a value in
[0, 1] and the gradient is the plain ``∂y/∂s`` at that value. Here the same is done
with (1) a constraint that clips ``s`` to [0, 1] after every optimizer update, and (2) a
clamp in the forward pass with a straight-through gradient, so the layer also clamps in
eval and for loaded/hand-set values outside [0, 1] (the official Attention/FFN_3x3
blocks skip the clamp in eval; identical as long as ``s`` stays in [0, 1]).
"""

from __future__ import annotations

import numbers

import tensorflow as tf

from lq_ext._serialization import register

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
        if (
            isinstance(scale_initializer, bool)
            or not isinstance(scale_initializer, numbers.Real)
            or not 0.0 <= scale_initializer <= 1.0
        ):
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
