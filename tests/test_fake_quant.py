"""k-bit fake quantization: values on hand-made inputs, gradients, calibration, int8 TFLite."""

import larq as lq
import numpy as np
import pytest
import tensorflow as tf
from larq_compute_engine.tflite.python.interpreter import Interpreter

from lq_ext import fake_quant
from lq_ext.converters import convert, inspect
from lq_ext.converters._flatbuffer import constant, parse, quantization
from lq_ext.converters.engines import to_flatbuffer
from lq_ext.fake_quant import (
    IntActivationQuantizer,
    IntWeightQuantizer,
    calibrate,
    uncalibrated,
)
from lq_ext.testing import layer_classes, layer_test

#: (quantizer class, keyword arguments, input shape without the batch axis)
QUANTIZER_CASES = [
    (IntWeightQuantizer, {}, (3, 4)),
    (IntWeightQuantizer, {"bits": 4}, (3, 3, 2)),
    (IntActivationQuantizer, {}, (5,)),  # uncalibrated: the identity
    (IntActivationQuantizer, {"initial_bound": 2.0}, (4, 4, 3)),
    (IntActivationQuantizer, {"bits": 4, "signed": False, "initial_bound": 4.0, "freeze_step": None}, (6,)),
]


@pytest.mark.parametrize("quantizer_cls, kwargs, input_shape", QUANTIZER_CASES)
def test_quantizer_harness(quantizer_cls, kwargs, input_shape):
    layer_test(quantizer_cls, kwargs, input_shape=input_shape)


def test_table_covers_every_quantizer_of_the_module():
    assert {case[0] for case in QUANTIZER_CASES} == layer_classes(fake_quant)


def _with_bound(quantizer, bound, shape=(None, 4)):
    quantizer.build(shape)
    quantizer.bound.assign(bound)
    return quantizer


def test_weight_quantizer_per_output_channel_8_and_4_bits():
    w = np.array([[0.5, -1.0], [0.2, 0.3]], np.float32)  # (in, out): channel maxima 0.5, 1.0
    q8 = IntWeightQuantizer(8)(w).numpy()
    step = np.array([0.5, 1.0]) / 127
    np.testing.assert_allclose(q8, np.round(w / step) * step, rtol=1e-6)
    q4 = IntWeightQuantizer(4)(w).numpy()
    # 7 levels each side: channel 1 step 1/7, 0.3 → 2.1 → 2/7; channel 0 step 0.5/7, 0.2 → 2.8 → 3
    np.testing.assert_allclose(q4, [[0.5, -1.0], [3 * 0.5 / 7, 2 / 7]], rtol=1e-6)


def test_weight_quantizer_gradient_is_identity():
    w = tf.Variable([[0.5, -1.0], [0.25, 0.3]])
    with tf.GradientTape() as tape:
        y = tf.reduce_sum(IntWeightQuantizer(4)(w) * [[1.0, 2.0], [3.0, 4.0]])
    np.testing.assert_allclose(tape.gradient(y, w).numpy(), [[1, 2], [3, 4]])


def test_signed_activation_levels_and_clipping():
    q = _with_bound(IntActivationQuantizer(8), 1.27)  # step 0.01
    np.testing.assert_allclose(q(np.array([0.014, -0.016, 2.0, -2.0], np.float32)).numpy(),
                               [0.01, -0.02, 1.27, -1.27], rtol=1e-5)
    q4 = _with_bound(IntActivationQuantizer(4), 7.0)  # int4: step 1, levels ±7
    np.testing.assert_allclose(q4(np.array([2.4, 2.6, 9.0, -9.0], np.float32)).numpy(), [2, 3, 7, -7])


def test_unsigned_activation_floor_and_nearest():
    floor = _with_bound(IntActivationQuantizer(4, signed=False), 16.0)  # uint4: step 1, 0..15
    np.testing.assert_allclose(floor(np.array([2.9, 3.0, 20.0, -1.0], np.float32)).numpy(), [2, 3, 15, 0])
    nearest = _with_bound(IntActivationQuantizer(4, signed=False, rounding="nearest"), 16.0)
    np.testing.assert_allclose(nearest(np.array([2.9, 2.2], np.float32)).numpy(), [3, 2])
    # the floor rule is nearest rounding after a shift of half a step (what the diagnosis rounds)
    assert float(floor.floor_shift()) == 0.5 and nearest.floor_shift() == 0.0
    assert _with_bound(IntActivationQuantizer(8), 1.27).floor_shift() == 0.0


def test_uncalibrated_is_identity_and_gradient_is_clipped_ste():
    q = IntActivationQuantizer(4)
    x = tf.constant([0.123, -5.5])
    np.testing.assert_allclose(q(x).numpy(), x.numpy())  # bound 0: statistics only
    q.bound.assign(7.0)
    x = tf.Variable([2.4, 9.0, -6.9])
    with tf.GradientTape() as tape:
        y = tf.reduce_sum(q(x))
    np.testing.assert_allclose(tape.gradient(y, x).numpy(), [1, 0, 1])


def test_training_tracks_ema_of_max_and_freezes_the_bound():
    q = IntActivationQuantizer(8, momentum=0.5, freeze_step=3)
    for batch_max, expect_bound in [(2.0, 0.0), (4.0, 0.0), (6.0, 4.5), (100.0, 4.5)]:
        x = tf.constant([batch_max, -1.0])
        out = q(x, training=True)
        assert float(q.bound.numpy()) == expect_bound
        if expect_bound == 0:
            np.testing.assert_allclose(out.numpy(), x.numpy())  # float until frozen
    # EMA: 2 → 0.5·2 + 0.5·4 = 3 → 0.5·3 + 0.5·6 = 4.5 (frozen at step 3)
    assert float(q.running_max.numpy()) == pytest.approx(0.5 * 4.5 + 0.5 * 100)


def _int8_model(int8_output=True):
    inputs = tf.keras.Input((8, 8, 3))
    x = lq.layers.QuantConv2D(
        8, 3, padding="same", input_quantizer=IntActivationQuantizer(8),
        kernel_quantizer=IntWeightQuantizer(8), use_bias=False, name="conv",
    )(inputs)
    x = tf.keras.layers.BatchNormalization(name="bn")(x)
    if int8_output:
        x = IntActivationQuantizer(8, name="conv_out")(x)
    return tf.keras.Model(inputs, x)


def test_calibrate_sets_mean_of_batch_maxima():
    model = _int8_model()
    assert uncalibrated(model) == ["conv", "conv_out"]
    x = np.random.default_rng(0).uniform(-1, 1, size=(6, 8, 8, 3)).astype(np.float32)
    x[0, 0, 0, 0], x[3, 0, 0, 0] = 3.0, -5.0
    bounds = calibrate(model, x, batch_size=3)
    assert bounds["conv"] == pytest.approx((3.0 + 5.0) / 2)
    assert uncalibrated(model) == []
    with pytest.raises(ValueError, match="batch_size must be a positive int, got batch_size=0"):
        calibrate(model, x, batch_size=0)
    with pytest.raises(ValueError, match="has no IntActivationQuantizer"):
        calibrate(tf.keras.Sequential([tf.keras.Input((2,)), tf.keras.layers.Dense(1)]), x[:, 0, 0, :2])


def test_convert_refuses_an_uncalibrated_model(tmp_path):
    with pytest.raises(ValueError, match="2 8-/4-bit activation quantizer\\(s\\) have no bound yet \\(first: layer 'conv'\\)"):
        convert(_int8_model(), tmp_path / "m.tflite")
    assert not (tmp_path / "m.tflite").exists()


@pytest.mark.parametrize("bad", [dict(bits=1), dict(bits=9), dict(bits=True), dict(bits=8.0),
                                 dict(rounding="up"), dict(momentum=1.0), dict(freeze_step=0),
                                 dict(initial_bound=-1.0)])
def test_activation_quantizer_errors(bad):
    name = next(iter(bad))
    with pytest.raises(ValueError, match=f"{name} must"):
        IntActivationQuantizer(**bad)


def test_signed_must_be_a_bool():
    with pytest.raises(TypeError, match="signed must be True or False, got signed='yes'"):
        IntActivationQuantizer(signed="yes")


def test_int8_conv_converts_to_an_int8_op_within_one_step():
    model = _int8_model()
    rng = np.random.default_rng(1)
    model.get_layer("bn").set_weights([rng.uniform(0.5, 2, 8), rng.normal(size=8),
                                       rng.normal(size=8) * 0.1, rng.uniform(0.5, 2, 8)])
    x = rng.uniform(-1, 1, size=(20, 8, 8, 3)).astype(np.float32)
    calibrate(model, x)
    flatbuffer = to_flatbuffer(model).data
    report = inspect(flatbuffer)
    assert report.count("CONV_2D") == 1 and report.macs_by_class["float"] == 0
    assert report.macs_by_class["int8"] == 8 * 8 * 9 * 3 * 8  # BN folded into the int8 conv
    step = float(model.get_layer("conv_out").bound.numpy()) / 127
    diff = np.abs(Interpreter(flatbuffer).predict(x) - model(x).numpy()) / step
    # TFLite requantizes with integer arithmetic (BN folded into weights and an int32
    # bias): a value may round to the neighbouring int8 level, never further.
    assert diff.max() <= 1.0 + 1e-3 and np.mean(diff > 0.5) < 0.05


def _file_kernel_levels(flatbuffer, layer_name):
    """The int8 levels TFLite stores for ``layer_name``'s conv kernel (OHWI)."""
    for tensor in parse(flatbuffer).tensors[0]:
        if f"/{layer_name}/" in tensor.name and tensor.dtype == "int8" and len(tensor.shape) == 4 and tensor.constant:
            return constant(flatbuffer, tensor.index)
    raise AssertionError(f"no int8 kernel of {layer_name!r} in the flatbuffer")


@pytest.mark.parametrize("bits", [4, 8])
def test_a_weight_at_a_rounding_tie_takes_the_same_level_in_the_file(bits):
    # bound / levels and bound · (1/levels) are different floats for this bound, and
    # w = bound / 2 lies on the tie between two levels by one and off it by the other
    # (found by search over float32 bounds; the converter folds the division into the
    # product: with kernel_step Keras computes the step the same way).
    levels = 2 ** (bits - 1) - 1
    bound = next(np.float32(b) for b in np.linspace(0.5, 0.7, 20001, dtype=np.float32)
                 if b / np.float32(levels) != b * np.float32(1 / levels)
                 and np.round(b / 2 / (b / np.float32(levels))) != np.round(b / 2 / (b * np.float32(1 / levels))))
    kernel = np.full((1, 1, 2, 3), 0.25 * bound, np.float32)
    kernel[0, 0, 0, :] = bound
    kernel[0, 0, 1, 0] = bound / 2  # the tie
    inputs = tf.keras.Input((4, 4, 2))
    conv = lq.layers.QuantConv2D(3, 1, input_quantizer=IntActivationQuantizer(8),
                                 kernel_quantizer=IntWeightQuantizer(bits), use_bias=False, name="conv")
    model = tf.keras.Model(inputs, IntActivationQuantizer(8, name="out")(conv(inputs)))
    conv.kernel.assign(kernel)
    calibrate(model, np.random.default_rng(0).uniform(-1, 1, (4, 4, 4, 2)).astype(np.float32))
    keras_levels = conv.kernel_quantizer(conv.kernel).numpy() / fake_quant.kernel_step(bound, levels)
    file_levels = np.transpose(_file_kernel_levels(to_flatbuffer(model).data, "conv"), (1, 2, 3, 0))
    assert np.array_equal(np.round(keras_levels), file_levels)


def test_the_floor_rules_top_level_is_the_same_in_the_file():
    """uint4 with floor rounding clips at the top level. Clipped at 14.5 steps after the floor
    shift (a midpoint), the converter rounded that constant to 14 for this bound (PokeBNN's SE
    expand input; every input above the range then lost a level in TFLite); at 14.75 steps
    it is 15, the level Keras gives."""
    inputs = tf.keras.Input((1, 1, 8))
    x = IntActivationQuantizer(8, name="pre")(inputs)
    conv = lq.layers.QuantConv2D(4, 1, input_quantizer=IntActivationQuantizer(4, signed=False),
                                 kernel_quantizer=IntWeightQuantizer(4), name="conv")
    model = tf.keras.Model(inputs, IntActivationQuantizer(8, name="out")(conv(x)))
    images = np.random.default_rng(0).uniform(0, 1, (8, 1, 1, 8)).astype(np.float32)
    calibrate(model, images)
    conv.input_quantizer.bound.assign(0.38496196)
    flatbuffer = to_flatbuffer(model).data
    (minimum,) = [op for op in parse(flatbuffer).operators if op.op_type == "MINIMUM"]
    _, zero_point = quantization(flatbuffer, minimum.inputs[1])
    assert constant(flatbuffer, minimum.inputs[1]).ravel()[0] - zero_point[0] == 15
    top = conv.input_quantizer(tf.constant(np.full((1, 1, 1, 8), 0.38496196, np.float32))).numpy()
    assert np.allclose(top / (0.38496196 / 16), 15)  # Keras: the same top level
