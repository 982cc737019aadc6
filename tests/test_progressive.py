"""lq_ext.progressive: BNext's progressive weight binarization, the quantizer on hand-made
tensors (values and gradients at two temperatures, the hard-sign switch at T < 1e-7), the
schedule, the temperature as a variable (no retracing), config / .h5 / SavedModel round
trips and the hard-sign context the converter uses."""

import larq as lq
import numpy as np
import pytest
import tensorflow as tf

from lq_ext.progressive import (
    HARD_SIGN_BELOW,
    ProgressiveSign,
    hard_sign,
    progressive_quantizers,
    progressive_sign,
    temperature_at,
)

W = np.array([-2.0, -0.3, 0.0, 0.05, 0.4, 1.2], np.float32)
UPSTREAM = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0], np.float32)


def _value_and_gradient(temperature):
    w = tf.Variable(W)
    with tf.GradientTape() as tape:
        q = progressive_sign(w, tf.constant(temperature, tf.float32))
        loss = tf.reduce_sum(q * UPSTREAM)
    return q.numpy(), tape.gradient(loss, w).numpy()


@pytest.mark.parametrize(
    "temperature, expected",
    [
        # clamp(w / T, −1, 1) by hand
        (0.5, [-1.0, -0.6, 0.0, 0.1, 0.8, 1.0]),
        (0.1, [-1.0, -1.0, 0.0, 0.5, 1.0, 1.0]),
        # T = 1e-7 is not below 1e-7: still the clamp (0 stays 0)
        (1e-7, [-1.0, -1.0, 0.0, 1.0, 1.0, 1.0]),
        # below: sign(w), +1 at 0 (Larq's sign, what LCE packs)
        (9.9e-8, [-1.0, -1.0, 1.0, 1.0, 1.0, 1.0]),
        (0.0, [-1.0, -1.0, 1.0, 1.0, 1.0, 1.0]),
    ],
)
def test_forward_values_and_identity_gradient(temperature, expected):
    value, gradient = _value_and_gradient(temperature)
    np.testing.assert_allclose(value, expected, rtol=1e-6)
    # The official straight-through q.detach() − w.detach() + w: the identity, also where
    # the clamp saturates (w = −2, 1.2) and in the hard-sign regime.
    np.testing.assert_array_equal(gradient, UPSTREAM)


def test_schedule_is_point_nine_to_the_epoch_and_hard_from_epoch_153():
    assert temperature_at(0) == 1.0
    assert temperature_at(1) == pytest.approx(0.9, rel=1e-12)
    assert temperature_at(2) == pytest.approx(0.81, rel=1e-12)
    assert temperature_at(3, initial=2.0, decay=0.5) == 0.25
    assert temperature_at(152) > HARD_SIGN_BELOW > temperature_at(153)  # 1.109e-7, 9.98e-8
    # the official buffer is float32, multiplied by 0.9 once per epoch: same crossing
    t = np.float32(1.0)
    for _ in range(152):
        t = np.float32(t * np.float32(0.9))
    assert t >= np.float32(HARD_SIGN_BELOW) > np.float32(t * np.float32(0.9))
    with pytest.raises(ValueError, match="epoch must be an integer ≥ 0, got epoch=-1"):
        temperature_at(-1)
    with pytest.raises(ValueError, match="decay must be a number > 0 and < 1, got decay=1"):
        temperature_at(1, decay=1)
    with pytest.raises(ValueError, match="temperature must be a number ≥ 0, got temperature=-0.5"):
        ProgressiveSign(temperature=-0.5)


def test_temperature_is_a_variable_a_traced_function_reads():
    quantizer = ProgressiveSign(temperature=0.5)
    quantizer(W)  # built (variables created) before tracing
    apply = tf.function(quantizer)
    np.testing.assert_allclose(apply(W).numpy(), [-1.0, -0.6, 0.0, 0.1, 0.8, 1.0], rtol=1e-6)
    quantizer.temperature.assign(0.1)
    np.testing.assert_allclose(apply(W).numpy(), [-1.0, -1.0, 0.0, 0.5, 1.0, 1.0], rtol=1e-6)
    assert apply.experimental_get_tracing_count() == 1
    assert quantizer.temperature.trainable is False
    assert ProgressiveSign().get_config()["temperature"] == 0.0  # default: the hard state


def _model():
    tf.keras.utils.set_random_seed(0)
    inputs = tf.keras.Input((4, 4, 3))
    x = lq.layers.QuantConv2D(
        4, 3, input_quantizer="ste_sign", kernel_quantizer=ProgressiveSign(temperature=1.0),
        kernel_constraint=lq.constraints.WeightClip(1.5), use_bias=False, name="bconv",
    )(inputs)
    x = tf.keras.layers.Flatten()(x)
    return tf.keras.Model(inputs, tf.keras.layers.Dense(3, name="logits")(x))


@pytest.mark.parametrize("fmt", ["h5", "savedmodel"])
def test_save_and_load_keep_the_temperature_and_the_outputs(tmp_path, fmt):
    model = _model()
    model.get_layer("bconv").kernel.assign(np.random.default_rng(0).uniform(-0.3, 0.3, (3, 3, 3, 4)))
    model.get_layer("bconv").kernel_quantizer.temperature.assign(0.2)  # mid-schedule
    images = np.random.default_rng(1).normal(size=(2, 4, 4, 3)).astype(np.float32)
    expected = model(images).numpy()
    path = str(tmp_path / ("model.h5" if fmt == "h5" else "saved"))
    model.save(path)
    loaded = tf.keras.models.load_model(path)
    np.testing.assert_array_equal(loaded(images).numpy(), expected)
    [quantizer] = progressive_quantizers(loaded)
    assert quantizer.temperature.numpy() == np.float32(0.2)
    config = model.get_layer("bconv").get_config()["kernel_quantizer"]
    assert config["class_name"] == "ProgressiveSign" and config["config"]["temperature"] == 1.0


def test_hard_sign_context_sets_zero_and_restores():
    model = _model()
    layer = model.get_layer("bconv")
    layer.kernel.assign(np.full((3, 3, 3, 4), 0.25, np.float32))
    quantizer = layer.kernel_quantizer
    quantizer.temperature.assign(0.5)
    np.testing.assert_array_equal(quantizer(layer.kernel).numpy(), 0.5)  # 0.25 / 0.5
    with hard_sign(model) as soft:
        assert soft == ("bconv",)
        np.testing.assert_array_equal(quantizer(layer.kernel).numpy(), 1.0)
    assert quantizer.temperature.numpy() == 0.5
    with pytest.raises(RuntimeError, match="inside"), hard_sign(model):
        raise RuntimeError("inside")
    assert quantizer.temperature.numpy() == 0.5  # restored after an error too
    quantizer.temperature.assign(0.0)
    with hard_sign(model) as soft:
        assert soft == ()  # already hard: nothing to report
    unbuilt = tf.keras.Sequential([lq.layers.QuantDense(3, kernel_quantizer=ProgressiveSign())])
    with pytest.raises(ValueError, match="is not built yet"):
        progressive_quantizers(unbuilt)
