"""lq_ext.training.ProgressiveBinarization: T = 0.9^epoch per epoch, also after a resume;
RECIPES["bnext"] turns it on through the trainer, whose converted model is the bit-packed
hard-sign twin of the (still soft) trained model."""

import larq as lq
import numpy as np
import pytest
import tensorflow as tf
from quadrants import synthetic

from lq_ext.progressive import ProgressiveSign, hard_sign, progressive_quantizers
from lq_ext.training import RECIPES, ProgressiveBinarization, Recipe, train


def tiny_progressive(filters=32):
    """8×8×1 → stem → binary 3×3 conv with a ProgressiveSign kernel → BN → 4 logits."""
    inputs = tf.keras.Input((8, 8, 1))
    x = tf.keras.layers.Conv2D(32, 3, padding="same", use_bias=False, name="stem")(inputs)
    x = tf.keras.layers.BatchNormalization(name="stem_bn")(x)
    x = lq.layers.QuantConv2D(
        filters, 3, padding="same", pad_values=1.0, use_bias=False, input_quantizer="ste_sign",
        kernel_quantizer=ProgressiveSign(), kernel_constraint=lq.constraints.WeightClip(1.5),
        kernel_initializer=tf.keras.initializers.RandomNormal(stddev=0.1), name="bconv",
    )(x)
    x = tf.keras.layers.BatchNormalization(name="bconv_bn")(x)
    x = tf.keras.layers.GlobalAveragePooling2D(name="pool")(x)
    return tf.keras.Model(inputs, tf.keras.layers.Dense(4, name="logits")(x), name="tiny_progressive")




class Record(tf.keras.callbacks.Callback):
    """T of every ProgressiveSign at each epoch's first batch (after every on_epoch_begin)."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def on_train_batch_begin(self, batch, logs=None):
        if batch == 0:
            self.seen.append([float(q.temperature.numpy()) for q in progressive_quantizers(self.model)])


class KillAfter(tf.keras.callbacks.Callback):
    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            raise KeyboardInterrupt("killed")


def test_temperature_per_epoch_and_after_a_resumed_fit():
    tf.keras.utils.set_random_seed(0)
    model = tiny_progressive()
    model.compile(optimizer=tf.keras.optimizers.SGD(0.0), loss="mse")
    x, y = np.ones((4, 8, 8, 1), np.float32), np.zeros((4, 4), np.float32)
    record = Record()
    model.fit(x, y, epochs=3, verbose=0, callbacks=[ProgressiveBinarization(), record])
    assert record.seen == [[1.0], [np.float32(0.9)], [np.float32(0.81)]]
    record.seen.clear()  # resumed at epoch 2 (initial_epoch): T of epoch 2, not of epoch 0
    model.fit(x, y, initial_epoch=2, epochs=4, verbose=0, callbacks=[ProgressiveBinarization(), record])
    assert record.seen == [[np.float32(0.81)], [np.float32(0.729)]]
    record.seen.clear()
    model.fit(x, y, epochs=2, verbose=0, callbacks=[ProgressiveBinarization(initial=2.0, decay=0.5), record])
    assert record.seen == [[2.0], [1.0]]


def test_refusals_name_the_problem():
    with pytest.raises(ValueError, match="decay must be a number > 0 and < 1, got decay=1.5"):
        ProgressiveBinarization(decay=1.5)
    with pytest.raises(ValueError, match="initial must be a number > 0, got initial=0"):
        ProgressiveBinarization(initial=0)
    with pytest.raises(ValueError, match=r"weight_temperature_decay must be None or a number in \(0, 1\)"):
        Recipe(weight_temperature_decay=0.0)
    plain = tf.keras.Sequential([tf.keras.Input((2,)), tf.keras.layers.Dense(1)])
    plain.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match="has no ProgressiveSign kernel quantizer"):
        plain.fit(np.ones((2, 2)), np.zeros((2, 1)), verbose=0, callbacks=[ProgressiveBinarization()])


def test_bnext_recipe_anneals_through_the_trainer_resumes_and_converts_bit_packed(tmp_path):
    assert RECIPES["bnext"].weight_temperature_decay == 0.9
    recipe = RECIPES["bnext"].replace(epochs=3, warmup_epochs=0)
    kwargs = dict(recipe=recipe, seed=0, verbose=0)
    with pytest.raises(KeyboardInterrupt):  # killed after epoch 0's backup
        train(tiny_progressive, synthetic(64), output_dir=tmp_path, callbacks=[KillAfter(0)], convert=False, **kwargs)
    record = Record()
    with pytest.warns(UserWarning, match="converted with sign.w. kernels.*hard-sign twin.: bconv"):
        result = train(
            tiny_progressive, synthetic(64), synthetic(32, seed=1), output_dir=tmp_path, callbacks=[record],
            parity_samples=np.concatenate([x for x, _ in synthetic(32, seed=1)]), **kwargs,
        )
    # epochs 1 and 2 of the resumed run: T = 0.9, 0.81 (the schedule did not restart at 1)
    assert record.seen == [[np.float32(0.9)], [np.float32(0.81)]]
    [quantizer] = progressive_quantizers(result.model)
    assert quantizer.temperature.numpy() == np.float32(0.81)  # left at the last epoch's T
    loaded = tf.keras.models.load_model(str(tmp_path / "model.h5"))
    assert progressive_quantizers(loaded)[0].temperature.numpy() == np.float32(0.81)

    # The flatbuffer is the hard-sign twin: every binary MAC bit-packed, parity against
    # the model at T = 0, and the soft Keras model computes something else.
    conversion = result.conversion
    assert conversion.hardened_layers == ("bconv",)
    assert conversion.ops.count("LceBconv2d") == 1 and conversion.ops.bitpacked_share == 1.0
    assert conversion.verified
    images = np.concatenate([x for x, _ in synthetic(32, seed=1)])
    soft = result.model(images, training=False).numpy()
    with hard_sign(result.model):
        hard = result.model(images, training=False).numpy()
    assert np.abs(soft - hard).max() > 1e-2
    assert quantizer.temperature.numpy() == np.float32(0.81)  # convert() restored it
