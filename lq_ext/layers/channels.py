"""Parameter-free channel broadcast for residuals that widen the channel count."""

import tensorflow as tf

from lq_ext._serialization import register

BROADCAST_MODES = ("tile", "zeropad")


@register
class ChannelBroadcast(tf.keras.layers.Layer):
    """Widen C channels to ``filters`` (a multiple of C) without parameters.

    ``mode="tile"`` repeats the whole tensor along channels, ``[x, x, …]`` (BD-Net's
    "broadcast residual", a reconstruction); ``mode="zeropad"`` appends zero channels.
    """

    def __init__(self, filters: int, mode: str = "tile", **kwargs):
        super().__init__(**kwargs)
        if mode not in BROADCAST_MODES:
            raise ValueError(f"mode must be one of {list(BROADCAST_MODES)}, got mode={mode!r}.")
        if isinstance(filters, bool) or not isinstance(filters, int) or filters <= 0:
            raise ValueError(f"filters must be a positive int, got filters={filters!r}.")
        self.filters = filters
        self.mode = mode

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is None or self.filters % channels:
            raise ValueError(
                f"{self.name}: filters={self.filters} must be a multiple of the input "
                f"channels ({channels})."
            )
        super().build(input_shape)

    def call(self, inputs):
        channels = inputs.shape[-1]
        if self.mode == "tile":
            return tf.concat([inputs] * (self.filters // channels), axis=-1)
        paddings = [[0, 0]] * (inputs.shape.rank - 1) + [[0, self.filters - channels]]
        return tf.pad(inputs, paddings)

    def compute_output_shape(self, input_shape):
        return tf.TensorShape(input_shape[:-1]).concatenate([self.filters])

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "mode": self.mode}
