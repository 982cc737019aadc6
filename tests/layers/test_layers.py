"""Values on hand-made inputs and Keras round trips of lq_ext's layers."""

import larq as lq
import numpy as np
import pytest
import tensorflow as tf

from lq_ext.layers import BinaryDepthwiseConv2D, ChannelBroadcast, RPReLU
from lq_ext.quantizers import RSign
from lq_ext.testing import randomize_weights


def _model(layer, input_shape):
    inputs = tf.keras.Input(input_shape)
    return tf.keras.Model(inputs, layer(inputs))


@pytest.mark.parametrize("kernel_bits", [1.58, 1])
def test_binary_depthwise_equals_float_depthwise_on_signs(kernel_bits):
    """Larq's test_binarization idea: same as a float DepthwiseConv2D fed sign(x)."""
    layer = BinaryDepthwiseConv2D(3, padding="same", kernel_bits=kernel_bits)
    model = _model(layer, (5, 5, 4))
    randomize_weights(model)
    kernel = layer.depthwise_kernel.numpy()
    if kernel_bits == 1:
        expected_kernel = np.where(kernel >= 0, 1.0, -1.0)
    else:
        delta = 0.5 * np.abs(kernel).mean(axis=(0, 1), keepdims=True)
        expected_kernel = np.where(np.abs(kernel) > delta, np.sign(kernel), 0.0)
    reference = tf.keras.layers.DepthwiseConv2D(3, padding="same", use_bias=False)
    ref_model = _model(reference, (5, 5, 4))
    reference.set_weights([expected_kernel.astype(np.float32)])
    x = np.random.default_rng(1).normal(size=(2, 5, 5, 4)).astype(np.float32)
    signs = np.where(x >= 0, 1.0, -1.0).astype(np.float32)
    np.testing.assert_array_equal(model.predict(x, verbose=0), ref_model.predict(signs, verbose=0))
    # outputs are integer tap sums: binary kernels give odd values inside, ternary any
    assert np.all(np.abs(model.predict(x, verbose=0)) <= 9)


def test_binary_depthwise_quantizer_follows_kernel_bits():
    assert BinaryDepthwiseConv2D(3).depthwise_quantizer.get_config()["channel_axes"] == [-2, -1]
    assert isinstance(BinaryDepthwiseConv2D(3, kernel_bits=1).depthwise_quantizer, lq.quantizers.SteSign)
    with pytest.raises(ValueError, match=r"kernel_bits must be one of \[1, 1.58\], got kernel_bits=2"):
        BinaryDepthwiseConv2D(3, kernel_bits=2)
    with pytest.raises(ValueError, match="threshold must be one of"):
        BinaryDepthwiseConv2D(3, threshold="median")
    with pytest.raises(ValueError, match="clip_value"):
        BinaryDepthwiseConv2D(3, clip_value=-1.0)


def test_rpprelu_hand_made_values():
    layer = RPReLU()
    model = _model(layer, (1, 1, 2))
    layer.set_weights(
        [np.array([0.5, -1.0]), np.array([[[0.25, 0.1]]]), np.array([1.0, 0.0])]
    )
    x = np.array([[[[0.0, -3.0]]], [[[2.5, 1.0]]]], dtype=np.float32)
    # channel 0: PReLU_0.25(x − 0.5) + 1 ; channel 1: PReLU_0.1(x + 1)
    expected = [[[[0.25 * -0.5 + 1.0, 0.1 * -2.0]]], [[[2.0 + 1.0, 2.0]]]]
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-6)


def test_channel_broadcast_values_and_errors():
    x = np.arange(6, dtype=np.float32).reshape(1, 1, 2, 3)
    tiled = _model(ChannelBroadcast(6), (1, 2, 3)).predict(x, verbose=0)
    np.testing.assert_array_equal(tiled, np.concatenate([x, x], axis=-1))
    padded = _model(ChannelBroadcast(9, mode="zeropad"), (1, 2, 3)).predict(x, verbose=0)
    np.testing.assert_array_equal(padded[..., :3], x)
    np.testing.assert_array_equal(padded[..., 3:], 0)
    with pytest.raises(ValueError, match="mode must be one of"):
        ChannelBroadcast(6, mode="repeat")
    with pytest.raises(ValueError, match="filters=7 must be a multiple of the input channels"):
        _model(ChannelBroadcast(7), (1, 2, 3))


LAYER_CASES = [
    (lambda: BinaryDepthwiseConv2D(3, padding="same", input_quantizer=RSign()), (6, 6, 4)),
    (lambda: BinaryDepthwiseConv2D(3, strides=2, kernel_bits=1, scale_kernel=True, threshold="twn"), (6, 6, 4)),
    (lambda: RPReLU(alpha_initializer=0.1), (4, 4, 3)),
    (lambda: ChannelBroadcast(8, mode="zeropad"), (4, 4, 4)),
]


@pytest.mark.parametrize("make_layer, input_shape", LAYER_CASES)
def test_layer_config_round_trip(make_layer, input_shape):
    model = _model(make_layer(), input_shape)
    randomize_weights(model)
    layer = model.layers[-1]
    clone = type(layer).from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    restored = tf.keras.Model.from_config(model.get_config())
    restored.set_weights(model.get_weights())
    x = np.random.default_rng(2).normal(size=(2, *input_shape)).astype(np.float32)
    np.testing.assert_array_equal(restored.predict(x, verbose=0), model.predict(x, verbose=0))


@pytest.mark.parametrize("save_format", ["h5", "tf"])
def test_layers_save_and_load(tmp_path, save_format):
    inputs = tf.keras.Input((6, 6, 4))
    x = BinaryDepthwiseConv2D(3, padding="same", input_quantizer=RSign())(inputs)
    x = RPReLU()(x)
    x = ChannelBroadcast(8)(x)
    model = tf.keras.Model(inputs, x)
    randomize_weights(model)
    path = str(tmp_path / ("model.h5" if save_format == "h5" else "model"))
    model.save(path, save_format=save_format)
    loaded = tf.keras.models.load_model(path)
    x = np.random.default_rng(3).normal(size=(2, 6, 6, 4)).astype(np.float32)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert isinstance(loaded.layers[1].input_quantizer, RSign)
