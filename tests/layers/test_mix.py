"""ClampedMix (BNext's s·a + (1 − s)·b): the harness, hand-computed values, clamp, gradient."""

import numpy as np
import pytest
import tensorflow as tf

from lq_ext.layers import mix
from lq_ext.layers.mix import ClampedMix, UnitIntervalClip
from lq_ext.testing import layer_classes, layer_test

LAYER_CASES = [
    (ClampedMix, {}, [(3, 3, 4), (3, 3, 4)]),
    (ClampedMix, {"scale_initializer": 0.25}, [(5,), (5,)]),
]


@pytest.mark.parametrize("layer_cls, kwargs, input_shape", LAYER_CASES)
def test_layer_harness(layer_cls, kwargs, input_shape):
    layer_test(layer_cls, kwargs, input_shape=input_shape)


def test_table_covers_every_layer_of_the_module():
    assert {case[0] for case in LAYER_CASES} == layer_classes(mix)


def test_hand_computed_mix_with_clamped_scales():
    a = np.array([[1.0, 2.0, 4.0]], np.float32)
    b = np.array([[3.0, -1.0, 0.0]], np.float32)
    # s = (0.25, 1.5, −1) is used as (0.25, 1, 0): y = s·a + (1 − s)·b
    expected = [[0.25 * 1 + 0.75 * 3, 1 * 2 + 0 * -1, 0 * 4 + 1 * 0]]  # [2.5, 2, 0]
    out = layer_test(
        ClampedMix, input_shape=[(3,), (3,)], input_data=[a, b], weights=[[0.25, 1.5, -1.0]],
        expected_output=expected,
    )
    np.testing.assert_allclose(out, [[2.5, 2.0, 0.0]])


def test_default_scale_is_the_mean_and_gradient_is_straight_through():
    layer = ClampedMix()
    a = tf.constant([[1.0, 2.0]])
    b = tf.constant([[3.0, -1.0]])
    np.testing.assert_allclose(layer([a, b]).numpy(), [[2.0, 0.5]])  # s = 0.5: the mean
    layer.scale.assign([2.0, -0.5])  # outside [0, 1]: forward clamps, gradient is a − b
    with tf.GradientTape() as tape:
        y = tf.reduce_sum(layer([a, b]))
    np.testing.assert_allclose(y.numpy(), 0.0)  # s used as (1, 0): [a0, b1] = [1, −1]
    np.testing.assert_allclose(tape.gradient(y, layer.scale).numpy(), [-2.0, 3.0])


def test_constraint_clips_to_the_unit_interval():
    np.testing.assert_allclose(UnitIntervalClip()(tf.constant([-0.5, 0.3, 2.0])).numpy(), [0.0, 0.3, 1.0])
    assert ClampedMix().get_config()["scale_initializer"] == 0.5
    layer = ClampedMix()
    layer.build([(None, 2), (None, 2)])
    assert isinstance(layer.scale.constraint, UnitIntervalClip)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: ClampedMix(scale_initializer=1.5), r"scale_initializer must be a number in \[0, 1\], got scale_initializer=1.5"),
        (lambda: ClampedMix(scale_initializer=True), r"scale_initializer must be a number in \[0, 1\], got scale_initializer=True"),
        (lambda: ClampedMix(name="m").build((None, 4, 4)), r"ClampedMix 'm' must be called on a list \[a, b\]"),
        (lambda: ClampedMix(name="m").build([(None, 4), (None, 3)]), r"ClampedMix 'm': shapes \(None, 4\) and \(None, 3\) differ"),
        (lambda: ClampedMix(name="m").build([(None, None), (None, None)]), "ClampedMix 'm' needs a known channel dimension"),
    ],
)
def test_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()
