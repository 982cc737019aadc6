"""RPReLU, DPReLU and HardSigmoid: the layer harness, hand-made values, errors."""

import numpy as np
import pytest
import tensorflow as tf

from lq_ext.layers import activations
from lq_ext.layers.activations import DPReLU, HardSigmoid, RPReLU
from lq_ext.testing import layer_classes, layer_test

#: (layer class, keyword arguments, input shape without the batch axis)
LAYER_CASES = [
    (RPReLU, {}, (4, 4, 3)),
    (RPReLU, {"alpha_initializer": 0.1}, (4, 4, 3)),
    (DPReLU, {}, (5,)),
    (DPReLU, {"pos_slope_initializer": 2.0, "neg_slope_initializer": 0.5}, (3, 3, 4)),
    (HardSigmoid, {}, (6,)),
]


@pytest.mark.parametrize("layer_cls, kwargs, input_shape", LAYER_CASES)
def test_layer_harness(layer_cls, kwargs, input_shape):
    layer_test(layer_cls, kwargs, input_shape=input_shape)


def test_table_covers_every_layer_of_the_module():
    assert {case[0] for case in LAYER_CASES} == layer_classes(activations)


def test_rpprelu_hand_made_values():
    x = np.array([[[[0.0, -3.0]]], [[[2.5, 1.0]]]], dtype=np.float32)
    weights = [np.array([0.5, -1.0]), np.array([[[0.25, 0.1]]]), np.array([1.0, 0.0])]
    # channel 0: PReLU_0.25(x − 0.5) + 1 ; channel 1: PReLU_0.1(x + 1)
    expected = [[[[0.25 * -0.5 + 1.0, 0.1 * -2.0]]], [[[2.0 + 1.0, 2.0]]]]
    layer_test(RPReLU, input_shape=(1, 1, 2), input_data=x, weights=weights, expected_output=expected, rtol=1e-6)


def test_dprelu_hand_made_values():
    weights = [
        np.array([1.0, -1.0], np.float32),  # bias_x
        np.array([0.5, 2.0], np.float32),  # bias_y
        np.array([2.0, 3.0], np.float32),  # pos_slope
        np.array([0.25, 0.1], np.float32),  # neg_slope
    ]
    x = np.array([[3.0, -3.0], [0.0, 1.0]], np.float32)
    # channel 0: u = x − 1 → 2·u if u ≥ 0 else 0.25·u, minus 0.5
    # channel 1: u = x + 1 → 3·u if u ≥ 0 else 0.1·u, minus 2
    expected = [[2 * 2 - 0.5, 0.1 * -2 - 2], [0.25 * -1 - 0.5, 3 * 2 - 2]]
    layer_test(DPReLU, input_shape=(2,), input_data=x, weights=weights, expected_output=expected, rtol=1e-6)


def test_dprelu_official_initial_values_and_errors():
    layer = DPReLU()
    x = np.array([[-4.0, 2.0]], np.float32)
    np.testing.assert_allclose(layer(x).numpy(), [[-1.0, 2.0]])  # slopes 0.25 / 1, no shifts
    with pytest.raises(ValueError, match="neg_slope_initializer must be a number, got neg_slope_initializer='a'"):
        DPReLU(neg_slope_initializer="a")
    with pytest.raises(ValueError, match="alpha_initializer must be a number, got alpha_initializer=True"):
        RPReLU(alpha_initializer=True)


def test_hard_sigmoid_is_relu6_of_x_plus_3_over_6():
    x = np.array([[-4.0, -3.0, 0.0, 1.5, 3.0, 9.0]], np.float32)
    out = layer_test(HardSigmoid, input_shape=(6,), input_data=x)
    np.testing.assert_allclose(out, [[0, 0, 0.5, 0.75, 1, 1]], atol=1e-7)
    # not Keras 2's hard_sigmoid, clip(0.2·x + 0.5, 0, 1)
    assert float(tf.keras.activations.hard_sigmoid(tf.constant(1.5))) == pytest.approx(0.8)
