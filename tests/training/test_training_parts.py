"""Schedules, recipes, optimizers, the distillation loss and two-step model surgery,
each against values computed by hand."""

import math

import larq as lq
import numpy as np
import pytest
import tensorflow as tf

import lq_ext
from lq_ext.training import (
    RECIPES,
    DistillationModel,
    Recipe,
    WarmupDecay,
    decayed_variables,
    distribution_loss,
    make_optimizer,
    real_valued_twin,
    transfer_weights,
    with_real_weights,
)


def tiny_bdnet(**kwargs):
    return lq_ext.zoo.BDNetMobileNet(
        input_shape=(32, 32, 1), num_classes=10, width_multiplier=0.25, classifier_activation=None, **kwargs
    )


# --- schedules -------------------------------------------------------------------------


def test_warmup_cosine_values():
    schedule = WarmupDecay(1.0, total_steps=110, warmup_steps=10, decay="cosine", final_lr=0.1)
    assert float(schedule(0)) == pytest.approx(0.1)  # (0 + 1) / 10
    assert float(schedule(4)) == pytest.approx(0.5)
    assert float(schedule(10)) == pytest.approx(1.0)
    assert float(schedule(60)) == pytest.approx(0.1 + 0.9 * 0.5)  # half-way: cos(pi/2) = 0
    assert float(schedule(35)) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi / 4)))
    assert float(schedule(110)) == pytest.approx(0.1)
    assert float(schedule(500)) == pytest.approx(0.1)  # clipped after the end


def test_linear_and_constant_values():
    linear = WarmupDecay(2e-3, total_steps=100, decay="linear")
    assert float(linear(0)) == pytest.approx(2e-3)
    assert float(linear(25)) == pytest.approx(1.5e-3)
    assert float(linear(100)) == pytest.approx(0.0)
    constant = WarmupDecay(5e-4, total_steps=10, decay="constant")
    assert [float(constant(s)) for s in (0, 5, 50)] == pytest.approx([5e-4] * 3)


def test_schedule_config_round_trip():
    schedule = WarmupDecay(1e-3, 1000, 50, "linear", 1e-5)
    clone = WarmupDecay.from_config(schedule.get_config())
    assert [float(clone(s)) for s in (0, 49, 50, 500, 999)] == pytest.approx(
        [float(schedule(s)) for s in (0, 49, 50, 500, 999)]
    )
    key = tf.keras.utils.get_registered_name(WarmupDecay)
    assert key == "lq_ext>WarmupDecay"


@pytest.mark.parametrize(
    "kwargs, word",
    [
        (dict(peak_lr=0, total_steps=10), "peak_lr"),
        (dict(peak_lr=1e-3, total_steps=0), "total_steps"),
        (dict(peak_lr=1e-3, total_steps=10, warmup_steps=10), "warmup_steps"),
        (dict(peak_lr=1e-3, total_steps=10, decay="step"), "decay"),
        (dict(peak_lr=1e-3, total_steps=10, final_lr=1.0), "final_lr"),
    ],
)
def test_schedule_errors(kwargs, word):
    with pytest.raises(ValueError, match=word):
        WarmupDecay(**kwargs)


# --- recipes ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "changes, word",
    [
        (dict(epochs=0), "epochs"),
        (dict(optimizer="sgd"), "optimizer"),
        (dict(learning_rate=-1.0), "learning_rate"),
        (dict(schedule="step"), "schedule"),
        (dict(epochs=3, warmup_epochs=3), "warmup_epochs"),
        (dict(weight_decay=-1e-5), "weight_decay"),
        (dict(two_step="yes"), "two_step"),
        (dict(kd_temperature=0), "kd_temperature"),
        (dict(kd_label_weight=-1), "kd_label_weight"),
        (dict(weight_binarization_epoch=-1), "weight_binarization_epoch"),
    ],
)
def test_recipe_errors_name_the_field_and_value(changes, word):
    with pytest.raises(ValueError, match=rf"{word} must be .*got {word}="):
        Recipe(**changes)


def test_reactnet_recipe_is_the_published_one():
    recipe = RECIPES["reactnet"]
    assert (recipe.optimizer, recipe.learning_rate, recipe.schedule, recipe.two_step) == ("adam", 5e-4, "linear", True)
    assert (recipe.weight_decay, recipe.step2_weight_decay, recipe.kd_label_weight) == (1e-5, 0.0, 0.0)
    assert recipe.replace(epochs=4).epochs == 4 and recipe.epochs == 256


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


# --- optimizers ------------------------------------------------------------------------


def test_decay_group_is_the_kernels_only():
    model = tiny_bdnet()
    decayed = decayed_variables(model)
    kernels = [
        v for v in model.trainable_variables
        if v.name.split("/")[-1].split(":")[0] in ("kernel", "depthwise_kernel")
    ]
    assert {id(v) for v in decayed} == {id(v) for v in kernels}
    # stem conv + 13 depth-wise + 13 point-wise + classifier
    assert len(decayed) == 1 + 13 + 13 + 1
    assert not any("batch_normalization" in v.name or "_bn/" in v.name for v in decayed)


def test_adam_weight_decay_is_a_coupled_l2_loss():
    model = _dense_model(0)
    make_optimizer("adam", 1e-3, weight_decay=1e-2, model=model)
    kernel = model.layers[-1].kernel.numpy()
    assert float(tf.add_n(model.losses)) == pytest.approx(0.5 * 1e-2 * (kernel**2).sum(), rel=1e-6)


def test_adamw_excludes_everything_but_kernels():
    model = _dense_model(0)
    optimizer = make_optimizer("adamw", 1.0, weight_decay=0.1, model=model)
    kernel, bias = model.layers[-1].kernel, model.layers[-1].bias
    bias.assign(np.ones(3))
    before_k, before_b = kernel.numpy().copy(), bias.numpy().copy()
    optimizer.apply_gradients([(tf.zeros_like(kernel), kernel), (tf.zeros_like(bias), bias)])
    assert np.allclose(kernel.numpy(), before_k * (1 - 1.0 * 0.1))  # decayed, zero gradient
    assert np.array_equal(bias.numpy(), before_b)  # excluded


def test_optimizer_errors():
    with pytest.raises(ValueError, match="optimizer must be one of"):
        make_optimizer("sgd", 1e-3)
    with pytest.raises(ValueError, match="needs the model"):
        make_optimizer("adam", 1e-3, weight_decay=1e-5)


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
