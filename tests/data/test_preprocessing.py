"""lq_ext.data.preprocessing: ``x / 127.5 - 1``, written once and used by the pipelines,
:func:`preprocess` and the zoo."""

import numpy as np
import pytest
import tensorflow as tf

import lq_ext
from lq_ext.data import load_samples, preprocess, samples, to_unit_range


def _reference(pixels):
    """The convention computed in NumPy float32, independently of TensorFlow."""
    return np.asarray(pixels).astype(np.float32) / np.float32(127.5) - np.float32(1.0)


def test_preprocess_maps_to_minus_one_one():
    out = preprocess(np.array([0, 127.5, 255], dtype=np.float64))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [-1.0, 0.0, 1.0])
    images, _ = load_samples("cifar10")
    x = preprocess(images)
    assert x.dtype == np.float32 and x.shape == images.shape
    assert -1.0 <= x.min() and x.max() <= 1.0
    np.testing.assert_allclose(x, images / 127.5 - 1.0, atol=1e-6)


def test_preprocess_rejects_non_numeric():
    with pytest.raises(ValueError, match="numeric pixels"):
        preprocess(np.array(["a"]))


@pytest.mark.parametrize("dtype", [np.uint8, np.int32, np.float32, np.float64])
def test_every_pixel_value_bit_exact_and_writable(dtype):
    pixels = np.arange(256).astype(dtype).reshape(16, 16)
    out = preprocess(pixels)
    assert isinstance(out, np.ndarray) and out.dtype == np.float32 and out.shape == (16, 16)
    np.testing.assert_array_equal(out.view(np.int32), _reference(pixels).view(np.int32))
    assert out[0, 0] == -1.0 and out[-1, -1] == 1.0
    out[0, 0] = 5.0  # a private, writable array, as NumPy arithmetic returns
    assert preprocess(pixels)[0, 0] == -1.0


def test_to_unit_range_in_a_graph_equals_preprocess():
    pixels = np.random.default_rng(0).integers(0, 256, (4, 8, 8, 3)).astype(np.uint8)
    mapped = tf.data.Dataset.from_tensors(pixels).map(to_unit_range)
    (graph_out,) = [x.numpy() for x in mapped]
    assert graph_out.dtype == np.float32
    np.testing.assert_array_equal(graph_out, preprocess(pixels))
    np.testing.assert_array_equal(to_unit_range(pixels).numpy(), _reference(pixels))


def test_the_public_names_agree():
    pixels = np.array([[0, 1, 127, 128, 254, 255]], np.uint8)
    assert samples.preprocess is preprocess  # lq_ext.data.samples.preprocess still works
    np.testing.assert_array_equal(lq_ext.zoo.preprocess_input(pixels).numpy(), preprocess(pixels))
