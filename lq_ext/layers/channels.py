"""Parameter-free channel reshaping: widen by broadcasting, narrow by slicing.

- :class:`ChannelBroadcast`: BD-Net's "broadcast residual" (a reconstruction), for
  residuals that widen the channel count;
- :class:`ChannelSlice`: ES-BNN's FLOP-neutral head, which keeps the first C of the C·τ
  channels (Shi et al., "Expanding-and-Shrinking Binary Neural Networks",
  arXiv:2503.23709).

Provenance and reconstruction notes: docs/models/bdnet.md, docs/models/esbnn.md
"""

import tensorflow as tf

from lq_ext._serialization import register
from lq_ext._validate import check_choice, is_int

__all__ = ["BROADCAST_MODES", "ChannelBroadcast", "ChannelSlice"]

BROADCAST_MODES = ("tile", "zeropad")


def _check_positive_int(name, value):
    if not is_int(value) or value <= 0:
        raise ValueError(f"{name} must be a positive int, got {name}={value!r}.")
    return int(value)


@register
class ChannelBroadcast(tf.keras.layers.Layer):
    """Widen C channels to ``filters`` (a multiple of C) without parameters.

    ``mode="tile"`` repeats the whole tensor along channels, ``[x, x, …]`` (BD-Net's
    "broadcast residual", a reconstruction); ``mode="zeropad"`` appends zero channels.
    """

    def __init__(self, filters: int, mode: str = "tile", **kwargs):
        super().__init__(**kwargs)
        self.mode = check_choice("mode", mode, BROADCAST_MODES)
        self.filters = _check_positive_int("filters", filters)

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


@register
class ChannelSlice(tf.keras.layers.Layer):
    """The first ``channels`` channels, ``x[..., :channels]``.

    ES-BNN's FLOP-neutral "ops" head keeps only the first C of the C·τ channels before
    the classifier (``x[:, :1024]`` in ``bnext_rep_ops.py``) [R].
    """

    def __init__(self, channels: int, **kwargs):
        super().__init__(**kwargs)
        self.channels = _check_positive_int("channels", channels)

    def build(self, input_shape):
        available = tf.TensorShape(input_shape)[-1]
        if available is None or available < self.channels:
            raise ValueError(
                f"{self.name}: cannot keep the first {self.channels} of {available} channels."
            )
        super().build(input_shape)

    def call(self, inputs):
        return inputs[..., : self.channels]

    def compute_output_shape(self, input_shape):
        return tf.TensorShape(input_shape)[:-1].concatenate([self.channels])

    def get_config(self):
        return {**super().get_config(), "channels": self.channels}
