"""The papers' recipes against their official scripts: the optimizer, schedule, decay groups
and loss the trainer builds, checked against hand-computed values (official values and
file:line in docs/guides/training.md, "The recipes against the official scripts")."""

import dataclasses
import json
import math

import numpy as np
import pytest
import tensorflow as tf

from lq_ext.distillation import DistillationModel, LabelCrossEntropy, label_cross_entropy
from lq_ext.training import RECIPES, GroupedAdamW, Recipe, make_optimizer, train
from lq_ext.training.trainer import _batch_size, _check_resumable, _optimizer


def small_net(seed=0):
    """Conv (4-D kernel + bias), BN, PReLU, Dense (2-D kernel + bias): every decay group."""
    tf.keras.utils.set_random_seed(seed)
    inputs = tf.keras.Input((4, 4, 1))
    x = tf.keras.layers.Conv2D(3, 3, name="conv")(inputs)
    x = tf.keras.layers.BatchNormalization(name="bn")(x)
    x = tf.keras.layers.PReLU(name="prelu")(x)
    x = tf.keras.layers.Flatten()(x)
    model = tf.keras.Model(inputs, tf.keras.layers.Dense(4, name="fc")(x))
    for variable in model.trainable_variables:  # no zeros: a decay must show on every variable
        variable.assign(tf.random.uniform(variable.shape, 0.5, 1.5, seed=seed))
    return model


def zero_gradient_step(optimizer, model):
    """One optimizer step with zero gradients (the Adam part moves nothing); the weights before."""
    before = {v.name: v.numpy().copy() for v in model.trainable_variables}
    optimizer.apply_gradients([(tf.zeros_like(v), v) for v in model.trainable_variables])
    return before


def lr(optimizer, step):
    return float(optimizer.learning_rate(step)) if callable(optimizer.learning_rate) else None


# --- PokeBNN: google/aqt train.py:405, 414-417 ---------------------------------------------


def test_pokebnn_adam_beta2_and_batch_scaled_learning_rate():
    recipe = RECIPES["pokebnn"]
    assert (recipe.learning_rate, recipe.reference_batch, recipe.beta_2) == (2e-5, 256, 0.99)
    model = small_net()
    optimizer = _optimizer(model, recipe.replace(epochs=4).for_step(1), steps=10, batch_size=8192)
    schedule = optimizer._learning_rate
    assert isinstance(optimizer, tf.keras.optimizers.Adam) and optimizer.beta_2 == 0.99
    assert optimizer.global_clipnorm is None
    # 2e-5 × 8192 / 256 = 6.4e-4, then linear to 0 over 4 epochs × 10 steps
    assert float(schedule(0)) == pytest.approx(6.4e-4, rel=1e-6)
    assert float(schedule(20)) == pytest.approx(3.2e-4, rel=1e-6)
    assert float(schedule(40)) == pytest.approx(0.0, abs=1e-12)
    small = _optimizer(small_net(), recipe.replace(epochs=4).for_step(1), steps=10, batch_size=128)
    assert float(small._learning_rate(0)) == pytest.approx(1e-5, rel=1e-6)  # 2e-5 × 128 / 256
    # coupled L2 0.5 · 5e-5 · Σ w² on the kernels (ndim > 1) only
    kernels = [model.get_layer("conv").kernel.numpy(), model.get_layer("fc").kernel.numpy()]
    expected = 0.5 * 5e-5 * sum((k.astype("float64") ** 2).sum() for k in kernels)
    assert float(tf.add_n(model.losses)) == pytest.approx(expected, rel=1e-5)


def test_batch_size_is_read_from_the_data():
    images, labels = np.zeros((40, 4, 4, 1), "float32"), np.zeros(40, "int64")
    data = tf.data.Dataset.from_tensor_slices((images, labels))
    assert _batch_size(data.batch(16, drop_remainder=True)) == 16  # static shape
    assert _batch_size(data.batch(16)) == 16  # dynamic: the first batch
    assert Recipe(learning_rate=1e-3, reference_batch=256).peak_learning_rate(512) == pytest.approx(2e-3)
    assert Recipe(learning_rate=1e-3).peak_learning_rate(512) == 1e-3  # no reference: unscaled
    with pytest.raises(ValueError, match="batch_size must be an int > 0 .*reference_batch=256"):
        Recipe(reference_batch=256).peak_learning_rate(None)


# --- BNext: ESBNN train_assistant_group_amp_rep_ops.py:413-434, 443, 815 -------------------


def test_bnext_schedule_clipping_and_two_decay_groups():
    recipe = RECIPES["bnext"].replace(epochs=10)  # 5 warm-up epochs kept
    steps = 4
    optimizer = _optimizer(small_net(), recipe.for_step(1), steps=steps, batch_size=None)
    schedule = optimizer._learning_rate
    assert isinstance(optimizer, GroupedAdamW) and optimizer.global_clipnorm == 5.0
    assert optimizer.beta_2 == 0.999 and optimizer.clipnorm is None  # global norm, as torch
    warm = 5 * steps
    assert float(schedule(0)) == pytest.approx(1e-5 + (1e-3 - 1e-5) / warm, rel=1e-6)
    assert float(schedule(warm - 1)) == pytest.approx(1e-3, rel=1e-6)  # warm-up peak
    low = 1e-7  # timm's lr_min

    def cosine(t):
        return low + (1e-3 - low) * 0.5 * (1 + math.cos(math.pi * t))

    assert float(schedule(warm + 10)) == pytest.approx(cosine(0.5), rel=1e-6)
    assert float(schedule(warm + 5)) == pytest.approx(cosine(0.25), rel=1e-6)
    assert float(schedule(10 * steps)) == pytest.approx(low, rel=1e-5)

    # Decay per group, with larger rates so float32 shows them: conv kernels at
    # weight_decay, every other variable (BN, PReLU, biases, the FC kernel) at other_weight_decay.
    model = small_net()
    strong = recipe.replace(weight_decay=0.5, other_weight_decay=2.0)
    optimizer = _optimizer(model, strong.for_step(1), steps=steps, batch_size=None)
    lr0 = 1e-5 + (1e-3 - 1e-5) / warm
    before = zero_gradient_step(optimizer, model)
    conv_kernel = model.get_layer("conv").kernel
    for variable in model.trainable_variables:
        rate = 0.5 if variable is conv_kernel else 2.0
        expected = before[variable.name] * (1 - lr0 * rate)
        np.testing.assert_allclose(variable.numpy(), expected, rtol=2e-7, err_msg=variable.name)
        assert not np.array_equal(variable.numpy(), before[variable.name])
    assert len(model.trainable_variables) == 7  # conv k/b, bn γ/β, prelu α, fc k/b: all seen


def test_bnext_clips_the_global_gradient_norm_to_5():
    optimizer = _optimizer(small_net(), RECIPES["bnext"].replace(epochs=10).for_step(1), steps=1, batch_size=None)
    grads = [tf.constant([3.0, 4.0]), tf.constant([[12.0]])]  # global norm 13
    clipped = optimizer._clip_gradients(grads)
    np.testing.assert_allclose(clipped[0].numpy(), [3.0 * 5 / 13, 4.0 * 5 / 13], rtol=1e-6)
    np.testing.assert_allclose(clipped[1].numpy(), [[12.0 * 5 / 13]], rtol=1e-6)
    small = [tf.constant([0.3, 0.4])]  # norm 0.5 < 5: unchanged
    np.testing.assert_allclose(optimizer._clip_gradients(small)[0].numpy(), [0.3, 0.4], rtol=1e-6)


def test_grouped_adamw_config_round_trip():
    optimizer = GroupedAdamW(1e-3, weight_decay=1e-8, other_weight_decay=1e-3, beta_2=0.99, global_clipnorm=5.0)
    config = optimizer.get_config()
    clone = GroupedAdamW.from_config(config)
    assert (clone.other_weight_decay, clone.weight_decay, clone.beta_2, clone.global_clipnorm) == (
        1e-3, 1e-8, 0.99, 5.0
    )
    key = tf.keras.utils.get_registered_name(GroupedAdamW)
    assert key == "lq_ext>GroupedAdamW"


# --- BCDNet: Sense-GVT/BCDNet a_3f/config.yaml:14-26, a_3/config.yaml:14-28 ----------------


def test_bcdnet_step1_decays_all_parameters_and_warms_up_from_1e3():
    recipe = RECIPES["bcdnet"]
    assert recipe.two_step and (recipe.epochs, recipe.for_step(2).epochs) == (60, 120)
    steps = 1  # 3 warm-up steps, 60 in all
    model = small_net()
    optimizer = _optimizer(model, recipe.for_step(1), steps=steps, batch_size=None)
    schedule = optimizer._learning_rate
    assert type(optimizer) is tf.keras.optimizers.AdamW and optimizer.weight_decay == 0.01
    assert float(schedule(0)) == pytest.approx(1e-3 + 3e-3 / 3, rel=1e-6)
    assert float(schedule(2)) == pytest.approx(4e-3, rel=1e-6)  # warm-up peak
    assert float(schedule(3)) == pytest.approx(4e-3, rel=1e-6)
    assert float(schedule(3 + 57 / 2)) == pytest.approx(2e-3, rel=1e-5)  # cosine half-way
    assert float(schedule(60)) == pytest.approx(0.0, abs=1e-12)
    lr0 = 2e-3
    before = zero_gradient_step(optimizer, model)
    for variable in model.trainable_variables:  # torch AdamW's 0.01 on every parameter
        np.testing.assert_allclose(variable.numpy(), before[variable.name] * (1 - lr0 * 0.01), rtol=2e-7)
        assert not np.array_equal(variable.numpy(), before[variable.name])


def test_bcdnet_step2_has_its_own_learning_rate_and_no_decay():
    model = small_net()
    optimizer = _optimizer(model, RECIPES["bcdnet"].for_step(2), steps=2, batch_size=None)
    schedule = optimizer._learning_rate
    assert float(schedule(0)) == pytest.approx(5e-4, rel=1e-6)  # no warm-up
    assert float(schedule(120)) == pytest.approx(2.5e-4, rel=1e-5)  # cosine half-way of 240
    assert float(schedule(240)) == pytest.approx(0.0, abs=1e-12)
    before = zero_gradient_step(optimizer, model)
    for variable in model.trainable_variables:
        np.testing.assert_array_equal(variable.numpy(), before[variable.name])


def test_label_smoothing_against_the_hand_formula():
    logits = np.array([[1.0, 2.0, 3.0], [0.5, -1.0, 0.0]], "float32")
    labels = np.array([0, 2])
    eps, k = 0.1, 3
    log_p = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    targets = np.full((2, k), eps / k)
    targets[np.arange(2), labels] += 1 - eps
    expected = -(targets * log_p).sum(-1)
    np.testing.assert_allclose(label_cross_entropy(labels, logits, eps).numpy(), expected, rtol=1e-6)
    np.testing.assert_allclose(label_cross_entropy(labels, logits).numpy(), -log_p[[0, 1], labels], rtol=1e-6)
    loss = LabelCrossEntropy(eps)
    assert float(loss(labels[:, None], logits)) == pytest.approx(expected.mean(), rel=1e-6)
    assert LabelCrossEntropy.from_config(loss.get_config()).label_smoothing == pytest.approx(eps)
    # in distillation: KD + label_weight · CE_LS (BCDNet: weight 1, ε 0.1)
    inputs = tf.keras.Input((3,))
    student = tf.keras.Model(inputs, tf.keras.layers.Lambda(lambda x: x)(inputs))
    teacher = tf.keras.Model(inputs, tf.keras.layers.Lambda(lambda x: 0.0 * x)(inputs))
    kd = DistillationModel(student, teacher, 1.0, 1.0, label_smoothing=eps)
    per_example = kd._per_example_loss(labels, np.zeros_like(logits), logits).numpy()
    np.testing.assert_allclose(per_example, -log_p.mean(-1) + expected, rtol=1e-6)
    assert kd.get_config()["label_smoothing"] == pytest.approx(eps)


def test_bcdnet_trains_two_steps_with_their_own_epochs(tmp_path):
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, 32)
    images = (rng.normal(0, 0.3, (32, 4, 4, 1)) + labels[:, None, None, None]).astype("float32")
    data = tf.data.Dataset.from_tensor_slices((images, labels)).batch(16)
    recipe = RECIPES["bcdnet"].replace(
        epochs=2, warmup_epochs=1, step2=dict(epochs=1, learning_rate=5e-4, warmup_epochs=0, warmup_lr=0.0,
                                              weight_decay=0.0),
    )
    result = train(lambda: small_net(1), data, output_dir=tmp_path, recipe=recipe, verbose=0, convert=False, seed=0)
    assert [len(result.history[s]) for s in ("step1", "step2")] == [2, 1]
    assert all(np.isfinite(row["loss"]) for rows in result.history.values() for row in rows)
    recorded = json.loads((tmp_path / "recipe.json").read_text())
    assert recorded["step2"]["epochs"] == 1 and recorded["label_smoothing"] == 0.1
    assert recorded["decay_on"] == "all"


def test_recipe_json_refuses_another_step2(tmp_path):
    recipe = RECIPES["bcdnet"]
    _check_resumable(tmp_path, recipe, 10)
    _check_resumable(tmp_path, recipe, 10)  # same recipe: resumes
    with pytest.raises(ValueError, match="differs in step2"):
        _check_resumable(tmp_path, recipe.replace(step2={**recipe.step2, "learning_rate": 1e-4}), 10)
    assert json.loads(json.dumps(dataclasses.asdict(recipe))) == dataclasses.asdict(recipe)


# --- validation -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "changes, message",
    [
        (dict(beta_2=1.0), "beta_2 must be a number in \\(0, 1\\), got beta_2=1.0"),
        (dict(clipnorm=0), "clipnorm must be None or a number > 0, got clipnorm=0"),
        (dict(label_smoothing=1.0), "label_smoothing must be a number in \\[0, 1\\), got label_smoothing=1.0"),
        (dict(reference_batch=0), "reference_batch must be None or an int > 0, got reference_batch=0"),
        (dict(reference_batch=2.5), "reference_batch must be None or an int > 0"),
        (dict(decay_on="bias"), "decay_on must be one of \\['kernels', 'conv_kernels', 'all'\\], got decay_on='bias'"),
        (dict(decay_on="all", other_weight_decay=1e-3), "other_weight_decay must be 0 with decay_on='all'"),
        (dict(warmup_lr=1.0), "warmup_lr must be a number in \\[0, learning_rate=0.001\\], got warmup_lr=1.0"),
        (dict(final_lr=-1e-7), "final_lr must be a number in \\[0, learning_rate=0.001\\], got final_lr=-1e-07"),
        (dict(step2=dict(epochs=2)), "step2 needs two_step=True"),
        (dict(two_step=True, step2=dict(kd_temperature=2)), "step2 keys must be among .*kd_temperature"),
        (dict(two_step=True, step2=dict(epochs=0)), "step2: epochs must be an int > 0, got epochs=0"),
        (dict(two_step=True, step2=[("epochs", 2)]), "step2 must be None or a dict"),
        (dict(two_step=True, step2_weight_decay=1e-5, step2=dict(weight_decay=0.0)), "set twice"),
    ],
)
def test_new_recipe_fields_are_validated(changes, message):
    with pytest.raises(ValueError, match=message):
        Recipe(**changes)


def test_step2_values_are_stored_as_python_numbers_and_old_fields_keep_working():
    recipe = Recipe(two_step=True, step2={"epochs": np.int64(3), "learning_rate": np.float32(0.5)})
    assert recipe.step2 == {"epochs": 3, "learning_rate": 0.5} and type(recipe.step2["epochs"]) is int
    assert recipe.for_step(2).epochs == 3 and recipe.for_step(1).epochs == 10
    old = RECIPES["reactnet"]
    assert (old.for_step(1).weight_decay, old.for_step(2).weight_decay) == (1e-5, 0.0)
    with pytest.raises(ValueError, match="step must be 1 \\(two_step=False\\), got step=2"):
        Recipe().for_step(2)


# --- BCDNet's dual head: cls_solver_dist.py, loss = (CE_LS(fc) + KD(fc_dist)) / 2 -----------


def dual_head_net(seed=0):
    """A small student with BCDNet's training head pair (layers ``logits`` / ``logits_dist``)."""
    tf.keras.utils.set_random_seed(seed)
    inputs = tf.keras.Input((4, 4, 1))
    x = tf.keras.layers.Flatten()(tf.keras.layers.Conv2D(3, 3, name="conv")(inputs))
    heads = [tf.keras.layers.Dense(4, name=name)(x) for name in ("logits", "logits_dist")]
    return tf.keras.Model(inputs, heads, name="dual")


def single_head_teacher(seed=5):
    tf.keras.utils.set_random_seed(seed)
    inputs = tf.keras.Input((4, 4, 1))
    return tf.keras.Model(inputs, tf.keras.layers.Dense(4, name="t")(tf.keras.layers.Flatten()(inputs)))


def test_dual_head_loss_is_half_label_ce_on_fc_plus_half_kd_on_fc_dist():
    logits = np.array([[1.0, 2.0, 3.0, 0.0]], "float32")
    logits_dist = np.array([[0.0, -1.0, 2.0, 1.0]], "float32")
    teacher = np.array([[2.0, 0.0, 1.0, -1.0]], "float32")
    labels = np.array([2])

    def log_softmax(z):
        return z - np.log(np.exp(z).sum(-1, keepdims=True))

    q = np.full(4, 0.1 / 4)
    q[2] += 0.9
    ce = -(q * log_softmax(logits)).sum()
    kd = -(np.exp(log_softmax(teacher)) * log_softmax(logits_dist)).sum()
    model = DistillationModel(dual_head_net(), single_head_teacher(), 1.0, 1.0, label_smoothing=0.1)
    assert model.dual_head
    value = model._per_example_loss(labels, teacher, [logits, logits_dist]).numpy()
    np.testing.assert_allclose(value, [0.5 * (ce + kd)], rtol=1e-6)
    images = np.random.default_rng(0).normal(size=(2, 4, 4, 1)).astype("float32")
    fc, dist = model.student(images)
    np.testing.assert_allclose(model(images).numpy(), 0.5 * (fc.numpy() + dist.numpy()), rtol=1e-6)
    with pytest.raises(ValueError, match="must have 1 output or 2 .*got 1 and 2"):
        DistillationModel(single_head_teacher(), dual_head_net())


def test_dual_head_student_trains_with_a_teacher_and_is_saved_folded(tmp_path):
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 4, 32)
    images = (rng.normal(0, 0.3, (32, 4, 4, 1)) + labels[:, None, None, None]).astype("float32")
    data = tf.data.Dataset.from_tensor_slices((images, labels)).batch(16)
    recipe = RECIPES["bcdnet"].replace(
        epochs=1, warmup_epochs=0, step2=dict(epochs=1, learning_rate=5e-4, warmup_lr=0.0, weight_decay=0.0),
    )
    result = train(dual_head_net, data, data, output_dir=tmp_path, recipe=recipe, teacher=single_head_teacher(),
                   verbose=0, convert=False, seed=0)
    model = result.model
    assert len(model.outputs) == 1 and model.get_layer("logits").units == 4
    assert 0.0 <= result.val_accuracy <= 1.0
    # the saved classifier is the mean of the two trained heads (step 2's weights)
    trained = dual_head_net()
    trained.load_weights(str(tmp_path / "step2" / "weights.h5"))
    fc, dist = trained(images[:4])
    saved = tf.keras.models.load_model(tmp_path / "model.h5", compile=False)
    np.testing.assert_allclose(saved.predict(images[:4], verbose=0), 0.5 * (fc + dist), rtol=1e-5, atol=1e-6)


def test_with_epochs_scales_step2_and_the_warmup_in_proportion():
    bcdnet = RECIPES["bcdnet"].with_epochs(6)  # 60 + 120 → 6 + 12, warm-up 3 → 0.3 → 0
    assert (bcdnet.epochs, bcdnet.warmup_epochs, bcdnet.for_step(2).epochs) == (6, 0, 12)
    assert bcdnet.for_step(2).learning_rate == 5e-4 and bcdnet.learning_rate == 4e-3
    bnext = RECIPES["bnext"].with_epochs(256)  # warm-up 5 · 256/512 = 2.5 → 2 (round half to even)
    assert (bnext.epochs, bnext.warmup_epochs, bnext.clipnorm) == (256, 2, 5.0)
    assert RECIPES["bnext"].with_epochs(1).warmup_epochs == 0  # always < epochs
    reactnet = RECIPES["reactnet"].with_epochs(4)  # no step2 dict: step 2 shares epochs
    assert reactnet.for_step(2).epochs == 4
    with pytest.raises(ValueError, match="epochs must be an int > 0, got epochs=0"):
        RECIPES["bcdnet"].with_epochs(0)


def test_only_the_rest_decays_when_the_group_rate_is_zero():
    model = small_net()
    optimizer = make_optimizer("adamw", 0.1, weight_decay=0.0, other_weight_decay=0.5, model=model)
    assert isinstance(optimizer, GroupedAdamW)
    before = zero_gradient_step(optimizer, model)
    kernels = {id(model.get_layer("conv").kernel), id(model.get_layer("fc").kernel)}
    for variable in model.trainable_variables:
        factor = 1.0 if id(variable) in kernels else 1 - 0.1 * 0.5
        np.testing.assert_allclose(variable.numpy(), before[variable.name] * factor, rtol=2e-7, err_msg=variable.name)
    # coupled ("adam"): one L2 term per group, each at its own rate
    model = small_net()
    make_optimizer("adam", 0.1, weight_decay=0.2, other_weight_decay=0.5, decay_on="conv_kernels", model=model)
    conv = model.get_layer("conv").kernel.numpy().astype("float64")
    rest = [v.numpy().astype("float64") for v in model.trainable_variables if v is not model.get_layer("conv").kernel]
    expected = 0.5 * 0.2 * (conv**2).sum() + 0.5 * 0.5 * sum((r**2).sum() for r in rest)
    assert float(tf.add_n(model.losses)) == pytest.approx(expected, rel=1e-5)
