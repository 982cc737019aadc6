"""BinaryDense: the harness, keyword parity with QuantDense / Dense, hand-made values.

Conversion to a bit-packed ``LceBconv2d``: tests/converters/test_binary_dense.py.
"""

import larq as lq
import numpy as np
import pytest
import tensorflow as tf

from lq_ext.layers import dense
from lq_ext.layers.dense import BinaryDense
from lq_ext.testing import keyword_mismatches, layer_classes, layer_test

LAYER_CASES = [
    (BinaryDense, {"units": 3}, (5,)),
    (BinaryDense, {"units": 4, "use_bias": False, "activation": "relu"}, (3, 6)),
    (BinaryDense, {"units": 2, "input_quantizer": "approx_sign", "kernel_quantizer": "magnitude_aware_sign"}, (4,)),
]

#: (layer, twin, arguments both need, extras, changed defaults)
TWINS = [
    (BinaryDense, lq.layers.QuantDense, {"units": 4}, (), ("input_quantizer", "kernel_quantizer", "kernel_constraint")),
    (BinaryDense, tf.keras.layers.Dense, {"units": 4}, ("input_quantizer", "kernel_quantizer"), ("kernel_constraint",)),
]


@pytest.mark.parametrize("layer_cls, kwargs, input_shape", LAYER_CASES)
def test_layer_harness(layer_cls, kwargs, input_shape):
    layer_test(layer_cls, kwargs, input_shape=input_shape)


def test_table_covers_every_layer_of_the_module():
    assert {case[0] for case in LAYER_CASES} == layer_classes(dense)


@pytest.mark.parametrize("layer_cls, twin_cls, required, extras, changed", TWINS)
def test_takes_its_twins_keyword_arguments(layer_cls, twin_cls, required, extras, changed):
    assert keyword_mismatches(layer_cls, twin_cls, required=required, extras=extras, changed_defaults=changed) == []


def test_hand_made_values_on_a_rank_3_input():
    # kernel (2 features → 2 units) with ±1 signs, bias (0.5, −1); inputs binarized to ±1
    kernel = np.array([[0.3, -0.2], [-0.7, 0.1]], np.float32)
    x = np.array([[[2.0, -1.0], [-0.5, 0.0]]], np.float32)  # (1, 2 positions, 2 features)
    # signs: [[1, −1], [−1, 1]] (sign(0) = +1); sign(kernel) = [[1, −1], [−1, 1]]
    # position 0: [1·1 + (−1)(−1), 1·(−1) + (−1)·1] = [2, −2]; position 1: [−2, 2]
    expected = [[[2.5, -3.0], [-1.5, 1.0]]]
    layer_test(BinaryDense, {"units": 2}, input_shape=(2, 2), input_data=x,
               weights=[kernel, [0.5, -1.0]], expected_output=expected)
