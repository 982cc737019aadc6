"""The exact int8 binary depth-wise conv: same numbers as the float layer, int8 in TFLite."""

import numpy as np
import pytest
import tensorflow as tf
from larq_compute_engine.tflite.python.interpreter import Interpreter

from lq_ext.converters import inspect
from lq_ext.converters.engines import to_flatbuffer
from lq_ext.layers import BinaryDepthwiseConv2D
from lq_ext.quantizers import RSign


def _model(kernel_bits, exact_int8, strides=1):
    inputs = tf.keras.Input((8, 8, 16))
    x = BinaryDepthwiseConv2D(
        3, padding="same", strides=strides, kernel_bits=kernel_bits, scale_kernel=True,
        input_quantizer=RSign(), exact_int8=exact_int8, name="dw",
    )(inputs)
    return tf.keras.Model(inputs, tf.keras.layers.BatchNormalization(name="bn")(x))


def _same_weights(models, seed):
    rng = np.random.default_rng(seed)
    weights = [rng.normal(size=v.shape).astype(np.float32) for v in models[0].weights]
    weights[-1] = np.abs(weights[-1]) + 0.5  # BN moving variance
    for model in models:
        model.set_weights(weights)


@pytest.mark.parametrize("kernel_bits, strides", [(1.58, 1), (1.58, 2), (1, 2)])
def test_exact_int8_depthwise_is_int8_in_tflite_and_exact(kernel_bits, strides):
    reference, exact = _model(kernel_bits, False, strides), _model(kernel_bits, True, strides)
    _same_weights([reference, exact], seed=strides)
    x = np.random.default_rng(0).normal(size=(10, 8, 8, 16)).astype(np.float32)
    np.testing.assert_allclose(exact(x).numpy(), reference(x).numpy(), rtol=0, atol=2e-6)

    flatbuffer = to_flatbuffer(exact).data
    ops = inspect(flatbuffer)
    dw = [info for info in ops.ops if info.op_type == "DEPTHWISE_CONV_2D"]
    assert len(dw) == 1 and dw[0].op_class == "int8" and dw[0].unpacked_binary
    assert ops.unpacked_to_float_macs == 0 and ops.macs_by_class["float"] == 0
    # integer sums in [−9, 9] are exact; only the float BatchNorm after them rounds
    tflite = Interpreter(flatbuffer).predict(x)
    np.testing.assert_allclose(tflite, exact(x).numpy(), rtol=0, atol=2e-6)


def test_exact_int8_errors():
    with pytest.raises(ValueError, match="exact_int8 must be True or False, got exact_int8=1"):
        BinaryDepthwiseConv2D(3, exact_int8=1)
    with pytest.raises(ValueError, match="exact_int8=True pads with zeros .* got pad_values=1.0"):
        BinaryDepthwiseConv2D(3, padding="same", pad_values=1.0, exact_int8=True)
    with pytest.raises(ValueError, match="exact_int8=True needs \\|sum\\| ≤ 127: kernel_size=\\(13, 13\\)"):
        BinaryDepthwiseConv2D(13, exact_int8=True)
