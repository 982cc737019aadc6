"""The Keras layer, quantizer and constraint full-int8 mode adds to a model: a fixed
activation range, per-tensor 8-bit weights, and a weight kept on TFLite's int8 grid.

Guide: docs/guides/int8.md
"""

from __future__ import annotations

import math

import larq as lq
import numpy as np
import tensorflow as tf

from lq_ext._serialization import register

__all__ = ["Int8Range", "PerTensorInt8Grid", "PerTensorInt8Weights", "clip_unit", "tflite_range"]


def tflite_range(low: float, high: float) -> tuple[float, float]:
    """The range TFLite quantizes [low, high] to: scale (high − low) / 255 and the zero point
    −128 − low / scale rounded half away from zero (TFLite's converter, in double precision
    from the float32 ends the fake-quant op holds), returned as the grid's ends
    (−128 − z, 127 − z) · scale.  TF's fake-quant op computes the zero point in float32, so
    where it is a half integer (a symmetric range, e.g. the percentiles of an integer-valued
    tensor, ±k·α) it may round the other way: its ends were then one step lower than
    TFLite's, and every saturated value differed by one step (the trained Fashion-MNIST
    BD-Net in int8 mode: 10,475 elements on 200 test images).  Given these ends, both find
    the same integer zero point."""
    low, high = float(np.float32(low)), float(np.float32(high))
    scale = (high - low) / 255.0
    zero_point = min(max(-128.0 - low / scale, -128.0), 127.0)
    zero_point = math.copysign(math.floor(abs(zero_point) + 0.5), zero_point)
    return (-128.0 - zero_point) * scale, (127.0 - zero_point) * scale


@register
class Int8Range(tf.keras.layers.Layer):
    """Fake-quantize to 8 bits over the fixed range [low, high] (TFLite: one int8 scale
    and zero point per tensor).  The identity on the grid; made by
    :func:`lq_ext.converters.int8.int8_model`."""

    def __init__(self, low: float, high: float, **kwargs):
        super().__init__(**kwargs)
        if not (low <= 0.0 <= high and high > low):
            raise ValueError(f"Int8Range needs low ≤ 0 ≤ high and low < high, got low={low!r}, high={high!r}.")
        self.low, self.high = float(low), float(high)
        self.grid = tflite_range(self.low, self.high)

    def call(self, inputs):
        return tf.quantization.fake_quant_with_min_max_args(inputs, *self.grid, num_bits=8)

    def compute_output_shape(self, input_shape):
        return tf.TensorShape(input_shape)

    def get_config(self):
        return {**super().get_config(), "low": self.low, "high": self.high}


@register
class PerTensorInt8Weights(lq.quantizers.Quantizer):
    """Symmetric 8-bit weights with one max|w| scale for the whole kernel (±127 levels)."""

    precision = 8

    def call(self, inputs):
        step = tf.maximum(tf.stop_gradient(tf.reduce_max(tf.abs(inputs))), 1e-12) / 127.0
        return tf.quantization.fake_quant_with_min_max_vars(
            inputs, -127.0 * step, 127.0 * step, num_bits=8, narrow_range=True
        )


@register
class PerTensorInt8Grid(tf.keras.constraints.Constraint):
    """Keeps a weight on the grid TFLite stores it on as an int8 constant: symmetric, one
    scale max|w| / 127 (:class:`PerTensorInt8Weights`).  For weights whose op TFLite only
    recognises without a fake-quant op on them (a ``PReLU``'s slope, which becomes the
    ``PRELU`` op's int8 alpha): the clone then computes with the slope TFLite uses, also
    after fine-tuning.  Apply it once to the initial weights; Keras applies it after each
    training step."""

    def __call__(self, w):
        return PerTensorInt8Weights()(w)


@register
def clip_unit(x):
    """``x`` clipped to [−1, 1]: TFLite fuses it into the op before as ``RELU_N1_TO_1``."""
    return tf.clip_by_value(x, -1.0, 1.0)
