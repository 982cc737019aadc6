"""A grouped ``QuantConv2D`` that trains at the speed of ordinary convs.

tf-keras runs every conv with ``groups > 1`` as an XLA-compiled function, a workaround
for CPUs (its ``base_conv.py``, b/213173659). On this project's CPUs the gradient of
that function is the slow part of a training step: it made a step of ES-ResNet-20 with
g = 2 30–50× slower than with g = 1 (docs/results/fashion_mnist_esbnn.md), and it took
2.5 of PokeBNN-0.75's 4.1 s per step at 32 px (PokeInit's 32-group conv;
docs/results/training_speed.md).

:class:`GroupedQuantConv2D` computes the same sums in training as g ordinary convs over
the channel groups of the input and the kernel, concatenated, so TensorFlow's ordinary
conv gradients apply. Inference (and therefore conversion) keeps Keras' single grouped
conv, which TFLite and LCE run as one grouped ``CONV_2D`` / ``LceBconv2d``.
"""

from __future__ import annotations

import larq as lq
import tensorflow as tf

from lq_ext._serialization import register

__all__ = ["GroupedQuantConv2D"]


@register
class GroupedQuantConv2D(lq.layers.QuantConv2D):
    """``larq.layers.QuantConv2D`` (same arguments, same weights and outputs) whose
    groups, in training, are computed as ``groups`` ordinary convs (module docstring).

    With ``groups=1`` it is exactly ``QuantConv2D``.
    """

    def call(self, inputs, training=None):
        self._split_groups = training is True and self.groups > 1
        try:
            return super().call(inputs)
        finally:
            self._split_groups = False

    def _jit_compiled_convolution_op(self, inputs, kernel):
        # Overrides the tf-keras (2.16) method its Conv.call uses for groups > 1;
        # tests/layers/test_grouped.py fails if that method stops being used.
        if not getattr(self, "_split_groups", False):
            return super()._jit_compiled_convolution_op(inputs, kernel)
        pairs = zip(tf.split(inputs, self.groups, axis=-1), tf.split(kernel, self.groups, axis=-1))
        return tf.concat([self.convolution_op(x, w) for x, w in pairs], axis=-1)
