"""CircularShift (BCDNet's sampling): the harness, values, errors, conversion; LearnableBias next to it."""

import numpy as np
import pytest
import tensorflow as tf

from lq_ext.converters import convert
from lq_ext.layers import LearnableBias
from lq_ext.layers import shift as shift_module
from lq_ext.layers.shift import CircularShift, circular_shift
from lq_ext.testing import layer_classes, layer_test

LAYER_CASES = [
    (CircularShift, {"shift": 1, "name": "s"}, (5, 5, 8)),
    (CircularShift, {"shift": (2, 1)}, (5, 5, 8)),
    (CircularShift, {"shift": "half"}, (5, 5, 8)),
    (CircularShift, {"shift": "half"}, (7, 7, 4)),
]


@pytest.mark.parametrize("layer_cls, kwargs, input_shape", LAYER_CASES)
def test_layer_harness(layer_cls, kwargs, input_shape):
    x = np.random.default_rng(2).normal(size=(2, *input_shape)).astype(np.float32)
    out = layer_test(layer_cls, kwargs, input_shape=input_shape, input_data=x)
    dy, dx = (input_shape[0] // 2, input_shape[1] // 2) if kwargs["shift"] == "half" else np.broadcast_to(kwargs["shift"], 2)
    np.testing.assert_array_equal(out, _roll4(x, int(dy), int(dx)))


def test_table_covers_every_layer_of_the_module():
    assert {case[0] for case in LAYER_CASES} == layer_classes(shift_module)


def _model(layer, input_shape):
    inputs = tf.keras.Input(input_shape)
    return tf.keras.Model(inputs, layer(inputs))


def _roll4(a, dy, dx):
    """numpy reference: quarters rolled +dy, −dy on H and +dx, −dx on W (torch.roll semantics)."""
    q = np.split(a, 4, axis=-1)
    return np.concatenate(
        [np.roll(q[0], dy, 1), np.roll(q[1], -dy, 1), np.roll(q[2], dx, 2), np.roll(q[3], -dx, 2)],
        axis=-1,
    )


def test_direction_and_wrap_around_on_a_hand_made_tensor():
    # 3x3 map, 4 channels (one per quarter); value = 10·row + column in every channel.
    grid = np.array([[0, 1, 2], [10, 11, 12], [20, 21, 22]], dtype=np.float32)
    x = np.repeat(grid[None, :, :, None], 4, axis=-1)
    out = _model(CircularShift(1), (3, 3, 4)).predict(x, verbose=0)[0]
    # quarter 0 moves down one row: out[i] = in[i − 1], the last row wraps to the top
    np.testing.assert_array_equal(out[..., 0], [[20, 21, 22], [0, 1, 2], [10, 11, 12]])
    # quarter 1 moves up one row: out[i] = in[i + 1], the first row wraps to the bottom
    np.testing.assert_array_equal(out[..., 1], [[10, 11, 12], [20, 21, 22], [0, 1, 2]])
    # quarter 2 moves right one column: out[:, j] = in[:, j − 1]
    np.testing.assert_array_equal(out[..., 2], [[2, 0, 1], [12, 10, 11], [22, 20, 21]])
    # quarter 3 moves left one column: out[:, j] = in[:, j + 1]
    np.testing.assert_array_equal(out[..., 3], [[1, 2, 0], [11, 12, 10], [21, 22, 20]])


@pytest.mark.parametrize(
    "shift, shape, offsets",
    [(1, (5, 6, 8), (1, 1)), ((2, 3), (5, 6, 8), (2, 3)), ("half", (7, 7, 12), (3, 3)), ("half", (6, 5, 4), (3, 2))],
)
def test_matches_torch_roll_semantics_on_random_input(shift, shape, offsets):
    layer = CircularShift(shift)
    x = np.random.default_rng(0).normal(size=(2, *shape)).astype(np.float32)
    out = _model(layer, shape).predict(x, verbose=0)
    assert layer.offsets == offsets
    np.testing.assert_array_equal(out, _roll4(x, *offsets))
    # a permutation of the elements: the same multiset of values per channel
    np.testing.assert_array_equal(np.sort(out.reshape(2, -1, shape[-1]), 1), np.sort(x.reshape(2, -1, shape[-1]), 1))


def test_circular_shift_function_equals_tf_roll():
    x = tf.random.normal((1, 4, 5, 8), seed=1)
    q = tf.split(x, 4, axis=-1)
    expected = tf.concat([tf.roll(q[0], 2, 1), tf.roll(q[1], -2, 1), tf.roll(q[2], 1, 2), tf.roll(q[3], -1, 2)], -1)
    np.testing.assert_array_equal(circular_shift(x, 2, 1), expected)


@pytest.mark.parametrize(
    "shift, shape, match",
    [
        (1, (4, 4, 6), r"channels must be divisible by 4 .* got channels=6"),
        (3, (3, 3, 8), r"3x3 feature map is too small for shift=3 .* allowed are 1 <= dy <= 2 and 1 <= dx <= 2"),
        ((1, 4), (5, 4, 8), r"too small for shift=\(1, 4\) .* 1 <= dx <= 3"),
        ("half", (1, 6, 8), r"1x6 feature map is too small for shift='half' \(= \(dy, dx\) = \(0, 3\)\).*at least 2 px"),
    ],
)
def test_errors_name_the_value_and_the_allowed_range(shift, shape, match):
    with pytest.raises(ValueError, match=match):
        _model(CircularShift(shift), shape)


@pytest.mark.parametrize("shift", [0, -1, 1.5, True, "full", (1,), (1, 0), None])
def test_bad_shift_values(shift):
    with pytest.raises(ValueError, match=r"shift must be a positive int, a pair \(dy, dx\) of positive ints or 'half'"):
        CircularShift(shift)


def test_unknown_spatial_dims_are_refused():
    with pytest.raises(ValueError, match="known height, width and channels"):
        _model(CircularShift(1), (None, None, 8))


def test_learnable_bias_values_and_h5_round_trip(tmp_path):
    inputs = tf.keras.Input((2, 2, 4))
    model = tf.keras.Model(inputs, CircularShift(1)(LearnableBias(name="bias")(inputs)))
    bias = model.get_layer("bias")
    assert bias.get_weights()[0].tolist() == [0, 0, 0, 0]  # ReActNet's zero init
    bias.set_weights([np.array([1.0, -2.0, 0.5, 0.0], np.float32)])
    x = np.random.default_rng(3).normal(size=(2, 2, 2, 4)).astype(np.float32)
    np.testing.assert_allclose(model.predict(x, verbose=0), _roll4(x + [1.0, -2.0, 0.5, 0.0], 1, 1), rtol=1e-6)
    path = str(tmp_path / "m.h5")
    model.save(path)
    loaded = tf.keras.models.load_model(path)
    assert isinstance(loaded.get_layer("bias"), LearnableBias)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_converts_to_builtin_slices_and_concatenations_only(tmp_path):
    """No Flex (Select-TF) op, which LCE's runtime cannot run; values equal in TFLite."""
    inputs = tf.keras.Input((7, 7, 16))
    outputs = tf.keras.layers.Concatenate()([CircularShift(1)(inputs), CircularShift("half")(inputs)])
    model = tf.keras.Model(inputs, outputs)
    samples = np.random.default_rng(4).normal(size=(3, 7, 7, 16)).astype(np.float32)
    result = convert(model, tmp_path / "shift.tflite", samples=samples, rtol=1e-7, max_outlier_fraction=0.0)
    assert set(result.ops.op_counts) == {"STRIDED_SLICE", "CONCATENATION"}
    assert result.parity.max_abs_error == 0.0
