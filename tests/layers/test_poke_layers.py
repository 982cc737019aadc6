"""PokeBNN's layers: DPReLU, HardSigmoid and ReshapeAdd on hand-made inputs."""

import numpy as np
import pytest
import tensorflow as tf

from lq_ext.layers import DPReLU, HardSigmoid, ReshapeAdd


def test_dprelu_hand_made_values():
    layer = DPReLU()
    layer.build((None, 2))
    layer.set_weights([
        np.array([1.0, -1.0], np.float32),  # bias_x
        np.array([0.5, 2.0], np.float32),  # bias_y
        np.array([2.0, 3.0], np.float32),  # pos_slope
        np.array([0.25, 0.1], np.float32),  # neg_slope
    ])
    x = np.array([[3.0, -3.0], [0.0, 1.0]], np.float32)
    # channel 0: u = x − 1 → 2·u if u ≥ 0 else 0.25·u, minus 0.5
    # channel 1: u = x + 1 → 3·u if u ≥ 0 else 0.1·u, minus 2
    expected = [[2 * 2 - 0.5, 0.1 * -2 - 2], [0.25 * -1 - 0.5, 3 * 2 - 2]]
    np.testing.assert_allclose(layer(x).numpy(), expected, rtol=1e-6)


def test_dprelu_official_initial_values_and_errors():
    layer = DPReLU()
    x = np.array([[-4.0, 2.0]], np.float32)
    np.testing.assert_allclose(layer(x).numpy(), [[-1.0, 2.0]])  # slopes 0.25 / 1, no shifts
    with pytest.raises(ValueError, match="neg_slope_initializer must be a number, got neg_slope_initializer='a'"):
        DPReLU(neg_slope_initializer="a")


def test_hard_sigmoid_is_relu6_of_x_plus_3_over_6():
    x = np.array([-4.0, -3.0, 0.0, 1.5, 3.0, 9.0], np.float32)
    np.testing.assert_allclose(HardSigmoid()(x).numpy(), [0, 0, 0.5, 0.75, 1, 1], atol=1e-7)


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


@pytest.mark.parametrize("layer", [DPReLU(pos_slope_initializer=2.0), HardSigmoid(), ReshapeAdd("tile")])
def test_config_round_trip(layer):
    config = tf.keras.layers.serialize(layer)
    clone = tf.keras.layers.deserialize(config)
    assert type(clone) is type(layer) and clone.get_config() == layer.get_config()
