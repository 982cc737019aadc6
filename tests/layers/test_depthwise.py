"""BinaryDepthwiseConv2D: the harness, keyword parity, values against a float depth-wise conv."""

import larq as lq
import numpy as np
import pytest
import tensorflow as tf

from lq_ext.layers import ChannelBroadcast, RPReLU, depthwise
from lq_ext.layers.depthwise import BinaryDepthwiseConv2D
from lq_ext.quantizers import RSign
from lq_ext.testing import (
    keyword_mismatches,
    layer_classes,
    layer_test,
    randomize_weights,
)

LAYER_CASES = [
    (BinaryDepthwiseConv2D, {"kernel_size": 3, "padding": "same", "input_quantizer": RSign()}, (6, 6, 4)),
    (BinaryDepthwiseConv2D, {"strides": 2, "kernel_bits": 1, "scale_kernel": True, "threshold": "twn"}, (6, 6, 4)),
    (BinaryDepthwiseConv2D, {"padding": "same", "scale_kernel": True, "exact_int8": True}, (5, 5, 3)),
]

#: (layer, twin, arguments both need, extras, changed defaults, replaced arguments)
TWINS = [
    (
        BinaryDepthwiseConv2D,
        lq.layers.QuantDepthwiseConv2D,
        {"kernel_size": 3},
        ("kernel_bits", "threshold", "clip_value", "scale_kernel", "exact_int8"),
        ("kernel_size", "use_bias", "input_quantizer", "depthwise_constraint"),
        ("depthwise_quantizer",),  # derived from kernel_bits
    ),
]


@pytest.mark.parametrize("layer_cls, kwargs, input_shape", LAYER_CASES)
def test_layer_harness(layer_cls, kwargs, input_shape):
    layer_test(layer_cls, kwargs, input_shape=input_shape)


def test_table_covers_every_layer_of_the_module():
    assert {case[0] for case in LAYER_CASES} == layer_classes(depthwise)


@pytest.mark.parametrize("layer_cls, twin_cls, required, extras, changed, replaced", TWINS)
def test_takes_its_twins_keyword_arguments(layer_cls, twin_cls, required, extras, changed, replaced):
    problems = keyword_mismatches(
        layer_cls, twin_cls, required=required, extras=extras, changed_defaults=changed, replaced=replaced
    )
    assert problems == []


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


def test_exact_int8_gives_the_same_numbers():
    kwargs = {"padding": "same", "scale_kernel": True}
    x = np.random.default_rng(2).normal(size=(2, 5, 5, 3)).astype(np.float32)
    plain = _model(BinaryDepthwiseConv2D(**kwargs), (5, 5, 3))
    randomize_weights(plain)
    exact = _model(BinaryDepthwiseConv2D(exact_int8=True, **kwargs), (5, 5, 3))
    exact.set_weights(plain.get_weights())
    np.testing.assert_allclose(exact(x).numpy(), plain(x).numpy(), rtol=1e-5, atol=1e-5)


def test_binary_depthwise_quantizer_follows_kernel_bits():
    assert BinaryDepthwiseConv2D(3).depthwise_quantizer.get_config()["channel_axes"] == [-2, -1]
    assert isinstance(BinaryDepthwiseConv2D(3, kernel_bits=1).depthwise_quantizer, lq.quantizers.SteSign)
    with pytest.raises(ValueError, match=r"kernel_bits must be one of \[1, 1.58\], got kernel_bits=2"):
        BinaryDepthwiseConv2D(3, kernel_bits=2)
    with pytest.raises(ValueError, match="threshold must be one of"):
        BinaryDepthwiseConv2D(3, threshold="median")
    with pytest.raises(ValueError, match="clip_value"):
        BinaryDepthwiseConv2D(3, clip_value=-1.0)
    with pytest.raises(TypeError, match="exact_int8 must be True or False, got exact_int8='yes'"):
        BinaryDepthwiseConv2D(3, exact_int8="yes")
    with pytest.raises(ValueError, match=r"exact_int8=True needs \|sum\| ≤ 127: kernel_size=\(12, 12\)"):
        BinaryDepthwiseConv2D(12, exact_int8=True)
    with pytest.raises(ValueError, match="exact_int8=True computes on ±1 activations and needs an input binarizer; got input_quantizer=None"):
        BinaryDepthwiseConv2D(3, exact_int8=True, input_quantizer=None)


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
