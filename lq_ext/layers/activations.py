"""RPReLU: ReActNet's shifted PReLU."""

import tensorflow as tf

from lq_ext._serialization import register


@register
class RPReLU(tf.keras.layers.Layer):
    r"""Per-channel shift → PReLU → shift (ReActNet's RPReLU).

    \\[ f(x_c) = \mathrm{PReLU}_{\alpha_c}(x_c - \gamma_c) + \zeta_c \\]

    # Arguments
        alpha_initializer: initial negative slope α (ReActNet: 0.25).

    # References
        - ReActNet, arXiv:2003.03488, Section 3.2, Eq. 4
    """

    def __init__(self, alpha_initializer=0.25, **kwargs):
        super().__init__(**kwargs)
        if isinstance(alpha_initializer, bool) or not isinstance(alpha_initializer, (int, float)):
            raise ValueError(
                f"alpha_initializer must be a number, got alpha_initializer={alpha_initializer!r}."
            )
        self.alpha_initializer = float(alpha_initializer)

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is None:
            raise ValueError("RPReLU needs a known channel dimension (last axis).")
        shape = (channels,)
        self.shift_in = self.add_weight(name="shift_in", shape=shape, initializer="zeros")
        # α is shaped (1, …, 1, C) like Keras' PReLU with shared spatial axes: the TFLite
        # converters only fuse relu(x) − α·relu(−x) into one PRELU op with that shape.
        self.alpha = self.add_weight(
            name="alpha",
            shape=(1,) * (len(input_shape) - 2) + shape,
            initializer=tf.keras.initializers.Constant(self.alpha_initializer),
        )
        self.shift_out = self.add_weight(name="shift_out", shape=shape, initializer="zeros")
        super().build(input_shape)

    def call(self, inputs):
        x = inputs - self.shift_in
        return tf.nn.relu(x) + (-self.alpha) * tf.nn.relu(-x) + self.shift_out

    def get_config(self):
        return {**super().get_config(), "alpha_initializer": self.alpha_initializer}
