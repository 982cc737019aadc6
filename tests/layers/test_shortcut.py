"""ReshapeAdd (PokeBNN's parameter-free shortcut): the harness and hand-made values."""

import numpy as np
import pytest
import tensorflow as tf

from lq_ext.layers import shortcut
from lq_ext.layers.shortcut import ReshapeAdd
from lq_ext.testing import layer_classes, layer_test

LAYER_CASES = [
    (ReshapeAdd, {}, [(2, 2, 8), (2, 2, 2)]),  # shrink: average runs of 4 channels
    (ReshapeAdd, {"expand": "zeropad"}, [(4, 4, 2), (2, 2, 5)]),  # widen and pool
    (ReshapeAdd, {"expand": "tile"}, [(6, 6, 3), (3, 3, 6)]),
]


@pytest.mark.parametrize("layer_cls, kwargs, input_shape", LAYER_CASES)
def test_layer_harness(layer_cls, kwargs, input_shape):
    layer_test(layer_cls, kwargs, input_shape=input_shape)


def test_table_covers_every_layer_of_the_module():
    assert {case[0] for case in LAYER_CASES} == layer_classes(shortcut)


def _ramp(shape):
    return np.arange(np.prod(shape), dtype=np.float32).reshape(shape)


def test_reshape_add_shrink_averages_consecutive_channels():
    r = _ramp((1, 1, 1, 8))
    y = np.zeros((1, 1, 1, 2), np.float32)
    out = ReshapeAdd()([r, y]).numpy()
    np.testing.assert_allclose(out[0, 0, 0], [np.mean([0, 1, 2, 3]), np.mean([4, 5, 6, 7])])
    # 7 → 3: k = 2, the last channel is dropped
    out = ReshapeAdd()([_ramp((1, 1, 1, 7)), np.ones((1, 1, 1, 3), np.float32)]).numpy()
    np.testing.assert_allclose(out[0, 0, 0], [1.5, 3.5, 5.5])


def test_reshape_add_expand_zeropad_and_tile():
    r = np.array([[[[1.0, 2.0]]]], np.float32)
    y = np.full((1, 1, 1, 5), 10.0, np.float32)
    np.testing.assert_allclose(ReshapeAdd("zeropad")([r, y]).numpy()[0, 0, 0], [11, 12, 10, 10, 10])
    # whole-tensor tiling, cut to 5 channels when 5 is not a multiple of 2
    np.testing.assert_allclose(ReshapeAdd("tile")([r, y]).numpy()[0, 0, 0], [11, 12, 11, 12, 11])


def test_reshape_add_pool_counts_padded_pixels():
    r = np.ones((1, 4, 4, 1), np.float32)
    y = np.zeros((1, 2, 2, 1), np.float32)
    out = ReshapeAdd()([r, y]).numpy()[0, :, :, 0]
    # SAME 3×3/2 on 4 px pads (0, 1): the last window row/column holds 3 padded zeros
    np.testing.assert_allclose(out, [[1.0, 6 / 9], [6 / 9, 4 / 9]], rtol=1e-6)
    keras_pool = tf.keras.layers.AveragePooling2D(3, 2, padding="same")(r).numpy()[0, :, :, 0]
    assert np.allclose(keras_pool, 1.0)  # Keras would exclude the pads: not the official op


def test_reshape_add_tile_then_pool_like_a_strided_block_shortcut():
    rng = np.random.default_rng(0)
    r = rng.normal(size=(2, 6, 6, 3)).astype(np.float32)
    y = rng.normal(size=(2, 3, 3, 6)).astype(np.float32)
    tiled = np.concatenate([r, r], axis=-1)
    padded = np.pad(tiled, [(0, 0), (0, 1), (0, 1), (0, 0)])
    pooled = np.zeros((2, 3, 3, 6), np.float32)
    for i in range(3):
        for j in range(3):
            pooled[:, i, j] = padded[:, 2 * i : 2 * i + 3, 2 * j : 2 * j + 3].sum(axis=(1, 2)) / 9
    np.testing.assert_allclose(ReshapeAdd("tile")([r, y]).numpy(), y + pooled, rtol=1e-5, atol=1e-6)


def test_reshape_add_errors():
    with pytest.raises(ValueError, match="expand must be one of \\['zeropad', 'tile'\\], got expand='copy'"):
        ReshapeAdd("copy")
    r = tf.keras.Input((8, 8, 4))
    with pytest.raises(ValueError, match="residual is 8x8 and the branch 2x2"):
        ReshapeAdd()([r, tf.keras.Input((2, 2, 4))])
