"""A per-channel affine map ``x · scale (+ bias)``: the output scale of a folded binary conv.

:func:`lq_ext.converters.fold.fold_weight_quantizers` writes a conv with a ±α kernel
as a ±1 conv followed by this layer; LCE fuses the multiply and add into
``LceBconv2d``'s output multiplier and bias. Guide: docs/guides/conversion.md
"""

import tensorflow as tf

from lq_ext._serialization import register
from lq_ext._validate import check_bool

__all__ = ["ChannelScale"]


@register
class ChannelScale(tf.keras.layers.Layer):
    """``x · scale + bias`` with one ``scale`` (and ``bias``) per channel (last axis).

    ``scale`` starts at 1 and ``bias`` at 0, so the layer starts as the identity.

    # Arguments
        use_bias: whether the layer adds a per-channel bias after scaling.
    """

    def __init__(self, use_bias: bool = False, **kwargs):
        self.use_bias = check_bool("use_bias", use_bias)
        super().__init__(**kwargs)

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is None:
            raise ValueError(f"ChannelScale {self.name!r} needs a known channel dimension (last axis).")
        self.scale = self.add_weight(name="scale", shape=(channels,), initializer="ones")
        self.bias = self.add_weight(name="bias", shape=(channels,), initializer="zeros") if self.use_bias else None
        super().build(input_shape)

    def call(self, inputs):
        outputs = inputs * self.scale
        return outputs if self.bias is None else outputs + self.bias

    def compute_output_shape(self, input_shape):
        return tf.TensorShape(input_shape)

    def get_config(self):
        return {**super().get_config(), "use_bias": self.use_bias}
