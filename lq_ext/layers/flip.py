"""Reverse the spatial axes of an image batch: ``x[:, ::-1, ::-1, :]``.

Why a network wants it: PyTorch pads a stride-2 3×3 conv by one pixel on both sides,
Keras / TFLite "same" pads (0, 1). A network run on the flipped image with flipped 3×3
kernels computes PyTorch's windows with Keras' padding, exactly, for even map sizes —
how official PyTorch weights load into deployable "same" convs
(docs/guides/pretrained_weights.md).
"""

import tensorflow as tf

from lq_ext._serialization import register

__all__ = ["SpatialFlip"]


@register
class SpatialFlip(tf.keras.layers.Layer):
    """Flip height and width of an NHWC batch (one ``REVERSE_V2`` op in TFLite).

    Global pooling and per-channel ops do not see the flip; 3×3 "same" convs whose
    kernels are flipped too give the flipped output of the unflipped network with the
    padding mirrored, which is PyTorch's symmetric padding at stride 2.
    """

    def call(self, inputs):
        return tf.reverse(inputs, axis=[1, 2])

    def compute_output_shape(self, input_shape):
        return tf.TensorShape(input_shape)
