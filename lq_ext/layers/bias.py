"""ReActNet's learnable binarization threshold as a layer: ``x + b``, one ``b`` per channel.

Reference: Liu et al., "ReActNet: Towards Precise Binary Neural Network with Generalized
Activation Functions", ECCV 2020, arXiv:2003.03488, Section 3.2.
Provenance and reconstruction notes: docs/models/reactnet.md
"""

import tensorflow as tf

from lq_ext._serialization import register

__all__ = ["LearnableBias"]


@register
class LearnableBias(tf.keras.layers.Layer):
    """Per-channel learnable shift ``x + b`` (b initialised to 0), ReActNet's ``LearnableBias``.

    Placed before an ``ApproxSign`` binarizer it is the learnable threshold of
    ReActNet's RSign (``sign(x + b)``; :class:`lq_ext.quantizers.RSign` writes
    ``sign(x − β)``, i.e. β = −b).  As a layer rather than inside a quantizer it can
    feed *several* binary convs with one threshold: BCDNet's shift block binarizes once
    for three convs, ReActNet-A's channel-doubling block once for two.

    # References
        - ReActNet, arXiv:2003.03488, Section 3.2
    """

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is None:
            raise ValueError(f"LearnableBias {self.name!r} needs a known channel dimension (last axis).")
        self.bias = self.add_weight(name="bias", shape=(channels,), initializer="zeros")
        super().build(input_shape)

    def call(self, inputs):
        return inputs + self.bias

    def compute_output_shape(self, input_shape):
        return tf.TensorShape(input_shape)
