"""ChannelBroadcast and ChannelSlice: the harness, hand-made values, errors, old import path."""

import numpy as np
import pytest
import tensorflow as tf

from lq_ext.layers import channels
from lq_ext.layers.channels import ChannelBroadcast, ChannelSlice
from lq_ext.testing import layer_classes, layer_test

LAYER_CASES = [
    (ChannelBroadcast, {"filters": 8, "mode": "zeropad"}, (4, 4, 4)),
    (ChannelBroadcast, {"filters": 6}, (2, 3)),
    (ChannelSlice, {"channels": 3}, (4, 4, 8)),
]


@pytest.mark.parametrize("layer_cls, kwargs, input_shape", LAYER_CASES)
def test_layer_harness(layer_cls, kwargs, input_shape):
    layer_test(layer_cls, kwargs, input_shape=input_shape)


def test_table_covers_every_layer_of_the_module():
    assert {case[0] for case in LAYER_CASES} == layer_classes(channels)


def test_channel_broadcast_values_and_errors():
    x = np.arange(6, dtype=np.float32).reshape(1, 1, 2, 3)
    tiled = layer_test(ChannelBroadcast, {"filters": 6}, input_shape=(1, 2, 3), input_data=x)
    np.testing.assert_array_equal(tiled, np.concatenate([x, x], axis=-1))
    padded = layer_test(ChannelBroadcast, {"filters": 9, "mode": "zeropad"}, input_shape=(1, 2, 3), input_data=x)
    np.testing.assert_array_equal(padded[..., :3], x)
    np.testing.assert_array_equal(padded[..., 3:], 0)
    with pytest.raises(ValueError, match=r"mode must be one of \['tile', 'zeropad'\], got mode='repeat'"):
        ChannelBroadcast(6, mode="repeat")
    with pytest.raises(ValueError, match="filters must be a positive int, got filters=0"):
        ChannelBroadcast(0)
    with pytest.raises(ValueError, match="filters=7 must be a multiple of the input channels"):
        ChannelBroadcast(7).build((None, 1, 2, 3))


def test_channel_slice_keeps_the_first_channels_and_errors():
    x = np.random.default_rng(0).uniform(-1, 1, size=(1, 2, 2, 8)).astype(np.float32)
    np.testing.assert_array_equal(ChannelSlice(3)(x).numpy(), x[..., :3])
    with pytest.raises(ValueError, match="first 9 of 8 channels"):
        ChannelSlice(9)(x)
    with pytest.raises(ValueError, match="channels must be a positive int, got channels=0"):
        ChannelSlice(0)


def test_old_import_path_and_registered_names():
    from lq_ext.layers.es import ChannelSlice as from_es

    assert from_es is ChannelSlice
    for cls in (ChannelBroadcast, ChannelSlice):  # what saved models refer to
        assert tf.keras.utils.get_registered_name(cls) == f"lq_ext>{cls.__name__}"
