"""The distillation loss and two-step model surgery, each against values computed by hand.

(Schedules, recipes and optimizers are in test_schedules.py, test_recipe.py and
test_optimizers.py.)"""

import math

import larq as lq
import numpy as np
import pytest
import tensorflow as tf

import lq_ext
from lq_ext.training import (
    DistillationModel,
    distribution_loss,
    real_valued_twin,
    transfer_weights,
    with_real_weights,
)


def tiny_bdnet(**kwargs):
    return lq_ext.zoo.BDNetMobileNet(
        input_shape=(32, 32, 1), num_classes=10, width_multiplier=0.25, classifier_activation=None, **kwargs
    )


# --- distillation ----------------------------------------------------------------------


def test_distribution_loss_on_hand_made_logits():
    teacher = np.array([[0.0, math.log(3.0)], [5.0, 5.0]])  # softmax (1/4, 3/4) and (1/2, 1/2)
    student = np.array([[0.0, 0.0], [0.0, math.log(3.0)]])  # (1/2, 1/2) and (1/4, 3/4)
    expected = [
        -(0.25 * math.log(0.5) + 0.75 * math.log(0.5)),
        -(0.5 * math.log(0.25) + 0.5 * math.log(0.75)),
    ]
    assert distribution_loss(teacher, student).numpy() == pytest.approx(expected, rel=1e-6)
    # T = 2 softens both and multiplies by T²: teacher (1, √3)/(1 + √3), student uniform.
    p = math.sqrt(3.0) / (1 + math.sqrt(3.0))
    t2 = distribution_loss(teacher[:1], student[:1], temperature=2.0).numpy()
    assert t2 == pytest.approx([4 * -((1 - p) * math.log(0.5) + p * math.log(0.5))], rel=1e-6)


def _dense_model(seed, classes=3):
    tf.keras.utils.set_random_seed(seed)
    inputs = tf.keras.Input((4,))
    return tf.keras.Model(inputs, tf.keras.layers.Dense(classes)(inputs))


def test_distillation_model_loss_and_gradient_target():
    student, teacher = _dense_model(0), _dense_model(1)
    x = np.random.default_rng(0).normal(size=(8, 4)).astype("float32")
    y = np.array([0, 1, 2, 0, 1, 2, 0, 1])
    model = DistillationModel(student, teacher, temperature=1.0, label_weight=0.5)
    model.compile(optimizer=tf.keras.optimizers.SGD(0.0), metrics=["accuracy"])
    logs = model.evaluate(x, y, batch_size=8, verbose=0, return_dict=True)
    s, t = student(x).numpy(), teacher(x).numpy()
    log_p_s = s - np.log(np.exp(s).sum(-1, keepdims=True))
    p_t = np.exp(t) / np.exp(t).sum(-1, keepdims=True)
    expected = np.mean(-(p_t * log_p_s).sum(-1) - 0.5 * log_p_s[np.arange(8), y])
    assert logs["loss"] == pytest.approx(expected, rel=1e-5)
    # Training moves the student only; the teacher is frozen.
    model.compile(optimizer=tf.keras.optimizers.SGD(0.1))
    before_t = [w.copy() for w in teacher.get_weights()]
    before_s = [w.copy() for w in student.get_weights()]
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    assert all(np.array_equal(a, b) for a, b in zip(before_t, teacher.get_weights()))
    assert not np.allclose(before_s[0], student.get_weights()[0])


def test_distillation_model_errors():
    with pytest.raises(ValueError, match="same classes"):
        DistillationModel(_dense_model(0, 3), _dense_model(1, 4))
    with pytest.raises(ValueError, match="temperature"):
        DistillationModel(_dense_model(0), _dense_model(1), temperature=0)


# --- two-step model surgery ------------------------------------------------------------


def test_with_real_weights_keeps_activation_binarizers_only():
    model = tiny_bdnet()
    step1 = with_real_weights(model)
    for layer in step1.layers:
        if isinstance(layer, lq.layers.QuantConv2D) and layer.name.endswith("_conv") and "stem" not in layer.name:
            assert layer.kernel_quantizer is None and layer.input_quantizer is not None
        if isinstance(layer, lq.layers.QuantDepthwiseConv2D):
            assert layer.depthwise_quantizer is None and layer.input_quantizer is not None
    binary, real, twin = (lq_ext.profile(m) for m in (model, step1, real_valued_twin(model)))
    assert real.bops == 0 and twin.bops == 0  # real weights: no binary MAC left
    # Same layout: the float twin does every MAC of the binary model, in float.
    assert twin.flops == binary.macs_total == twin.macs_total
    assert binary.bops > 0


def test_transfer_weights_gives_step2_the_step1_weights():
    model = tiny_bdnet()
    step1 = with_real_weights(model)
    rng = np.random.default_rng(0)
    step1.set_weights([rng.uniform(-1, 1, w.shape).astype("float32") for w in step1.get_weights()])
    transfer_weights(step1, model)
    for a, b in zip(step1.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)
    # The binary model now computes with the sign of those weights: a 1.58-bit depth-wise
    # kernel is {-1, 0, 1} per channel, so its layer output differs from the real one.
    x = rng.uniform(-1, 1, (2, 32, 32, 1)).astype("float32")
    assert not np.allclose(model(x), step1(x))


def test_transfer_weights_refuses_another_architecture():
    other = lq_ext.zoo.BDNetMobileNet(
        input_shape=(32, 32, 1), num_classes=10, width_multiplier=0.5, classifier_activation=None
    )
    with pytest.raises(ValueError, match="shapes"):
        transfer_weights(other, tiny_bdnet())
