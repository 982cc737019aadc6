"""Quantization-aware fine-tuning of the int8 clone by distillation from the float model."""

import numpy as np
import pytest
import tensorflow as tf
from converter_models import build_int8_bnn, uniform_images

from lq_ext.converters import convert
from lq_ext.converters.int8 import int8_model
from lq_ext.converters.int8_tuning import Int8Distillation, logits_model
from lq_ext.training.distillation import distribution_loss

SHAPE = (16, 16, 3)


def _logits_model(model):
    """The same network with its softmax head replaced by logits (shared weights)."""
    head = model.get_layer("head")
    logits = tf.keras.layers.Dense(10, name="head_logits")(head.input)
    twin = tf.keras.Model(model.inputs, logits)
    twin.get_layer("head_logits").set_weights(head.get_weights())
    return twin


def _kl_to_float(clone, model, images):
    """Mean KL(float model ‖ int8 clone) of the output distributions on ``images``."""
    student = logits_model(clone)(images, training=False)
    teacher = _logits_model(model)(images, training=False)
    return float(tf.reduce_mean(distribution_loss(teacher, student) - distribution_loss(teacher, teacher)))


def _soft_bnn():
    """The int8 test BNN with logits of std ~2 (random weights saturate its softmax)."""
    model = build_int8_bnn()
    head = model.get_layer("head")
    head.set_weights([head.get_weights()[0] * 0.1, head.get_weights()[1]])
    return model


@pytest.fixture(scope="module")
def small():
    return build_int8_bnn()


def test_fine_tuning_brings_the_clone_closer_to_the_float_model_and_leaves_that_alone():
    """Ranges at the 75th percentile clip a quarter of every tensor: the clone's output
    distribution drifts far from the float model's, and distillation pulls it back
    (measured: KL 0.70 → 0.20)."""
    model = _soft_bnn()
    images = uniform_images(SHAPE, n=64, seed=5)
    clone, _ = int8_model(model, images[:16], percentile=75)
    weights = [w.copy() for w in model.get_weights()]
    flags = [layer.trainable for layer in model.layers]
    bn = clone.get_layer("bconv_bn")  # kept for LCE to fuse: frozen while tuning
    statistics = [bn.moving_mean.numpy().copy(), bn.moving_variance.numpy().copy()]

    before = _kl_to_float(clone, model, images)
    tuning = Int8Distillation(images, epochs=3, batch_size=16, learning_rate=1e-3)
    history = tuning(clone, model)
    after = _kl_to_float(clone, model, images)

    assert len(history) == 3 and tuning.steps == 12
    assert before > 0.3 and after < 0.5 * before, (before, after)
    assert all(np.array_equal(a, b) for a, b in zip(weights, model.get_weights()))
    assert [layer.trainable for layer in model.layers] == flags and model.trainable
    np.testing.assert_array_equal(bn.moving_mean.numpy(), statistics[0])
    np.testing.assert_array_equal(bn.moving_variance.numpy(), statistics[1])
    assert bn.trainable  # restored after tuning


def test_softmax_output_is_distilled_through_its_logits():
    """A softmax model and its logits twin give the same losses: the student is trained
    on the clone's pre-softmax tensor and the teacher's log-probabilities are its logits
    up to a constant, which the softmax ignores."""
    model = _soft_bnn()
    twin = _logits_model(model)
    images = uniform_images(SHAPE, n=32, seed=6)
    losses = []
    for reference in (model, twin):
        clone, _ = int8_model(reference, images[:16], percentile=100)
        tf.keras.utils.set_random_seed(0)
        losses.append(Int8Distillation(images, epochs=2, batch_size=16)(clone, reference))
    np.testing.assert_allclose(losses[0], losses[1], rtol=1e-3)


def test_a_batched_dataset_of_images_and_labels_is_accepted(small):
    images = uniform_images(SHAPE, n=24, seed=7)
    data = tf.data.Dataset.from_tensor_slices((images, np.zeros(24, np.int64))).batch(8)
    clone, _ = int8_model(small, images[:8])
    tuning = Int8Distillation(data)
    assert len(tuning(clone, small)) == 1 and tuning.steps == 3


def test_convert_fine_tunes_before_converting_and_says_so(small, tmp_path):
    images = uniform_images(SHAPE, n=20, seed=1)
    tuning = Int8Distillation(uniform_images(SHAPE, n=32, seed=8), batch_size=16)
    result = convert(small, tmp_path / "tuned.tflite", int8=True, samples=images, fine_tune=tuning)
    assert result.int8_plan.fine_tuned == repr(tuning) and tuning.steps == 2
    assert result.ops.macs_by_class["float"] == 0
    assert result.parity.passed  # the flatbuffer matches the tuned clone
    assert "fine-tuned by Int8Distillation(32 images, epochs=1" in str(result)


def test_bad_fine_tuning_arguments_are_refused(small, tmp_path):
    images = uniform_images(SHAPE, n=8)
    path = tmp_path / "m.tflite"
    for kwargs, match in [
        (dict(epochs=0), r"epochs must be an integer ≥ 1, got epochs=0"),
        (dict(batch_size=2.5), r"batch_size must be an integer ≥ 1, got batch_size=2\.5"),
        (dict(learning_rate=-1e-3), r"learning_rate must be a number > 0, got learning_rate=-0.001"),
        (dict(temperature=0), r"temperature must be a number > 0, got temperature=0"),
    ]:
        with pytest.raises(ValueError, match=match):
            Int8Distillation(images, **kwargs)
    with pytest.raises(ValueError, match=r"non-empty finite array"):
        Int8Distillation(np.zeros((0, *SHAPE)))
    with pytest.raises(ValueError, match=r"needs int8=True"):
        convert(small, path, fine_tune=Int8Distillation(images))
    with pytest.raises(ValueError, match=r"fine_tune must be a callable"):
        convert(small, path, int8=True, fine_tune="distill")
    clone, _ = int8_model(small, images)
    with pytest.raises(ValueError, match=r"shape \(8, 8, 3\) per image .*the model input is \(16, 16, 3\)"):
        Int8Distillation(uniform_images((8, 8, 3)))(clone, small)
    unbatched = tf.data.Dataset.from_tensor_slices(images)
    with pytest.raises(ValueError, match=r"shape \(16, 3\) per image \(a dataset must be batched\)"):
        Int8Distillation(unbatched)(clone, small)
    assert not path.exists()
