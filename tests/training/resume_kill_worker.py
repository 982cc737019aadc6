"""A training run in a child process, with a test hook: with ``LQ_EXT_TEST_KILL_AT=E,B``
the process SIGKILLs itself after batch B (0-based) of epoch E (0-based), like a machine
that dies mid-epoch (no Python cleanup runs).

- ``python resume_kill_worker.py tiny OUTPUT_DIR``: :func:`lq_ext.training.train` of a
  small binary CNN on the real Fashion-MNIST training pipeline (first 512 images,
  shuffled and augmented, seed 7), 3 epochs; what tests/training/test_resume_real_pipeline.py
  runs.
- ``python resume_kill_worker.py <lq-ext arguments>``: the ``lq-ext`` command itself.

Needs ``TF_USE_LEGACY_KERAS=1`` in the environment (the test sets it). Op determinism
is enabled so that two runs on the same batches give bit-identical
weights on CPU.
"""

import os
import sys

import larq as lq
import tensorflow as tf
from kill_points import KillAt

import lq_ext  # noqa: F401
import lq_ext.cli.train as cli_train
from lq_ext.data import load_dataset
from lq_ext.training import Recipe, train
from lq_ext_cli import main


def _wrapped_train(train):
    def run(model_fn, train_data, *args, callbacks=(), **kwargs):
        return train(model_fn, train_data, *args, callbacks=[*callbacks, *_kill_callbacks()], **kwargs)

    return run


def tiny_bnn():
    """A small binary CNN for 32×32 grey images (trains in seconds)."""
    inputs = tf.keras.Input((32, 32, 1))
    x = tf.keras.layers.Conv2D(16, 3, strides=2, padding="same", use_bias=False, name="stem")(inputs)
    x = tf.keras.layers.BatchNormalization(name="stem_bn")(x)
    x = lq.layers.QuantConv2D(
        32, 3, strides=2, padding="same", use_bias=False, input_quantizer="ste_sign",
        kernel_quantizer="ste_sign", kernel_constraint="weight_clip", name="bconv",
    )(x)
    x = tf.keras.layers.BatchNormalization(name="bconv_bn")(x)
    x = tf.keras.layers.GlobalAveragePooling2D(name="pool")(x)
    return tf.keras.Model(inputs, tf.keras.layers.Dense(10, name="logits")(x), name="tiny_bnn")


def run_tiny(output_dir):
    train_data = load_dataset("fashion_mnist", "train", batch_size=64, seed=7, limit=512)
    val_data = load_dataset("fashion_mnist", "test", batch_size=256, limit=256)
    train(
        tiny_bnn, train_data, val_data, output_dir=output_dir, seed=7, verbose=0, convert=False,
        recipe=Recipe(epochs=3, learning_rate=5e-3), callbacks=_kill_callbacks(),
    )


def _kill_callbacks():
    if not os.environ.get("LQ_EXT_TEST_KILL_AT"):
        return []
    epoch, batch = (int(v) for v in os.environ["LQ_EXT_TEST_KILL_AT"].split(","))
    return [KillAt(epoch, batch)]


if __name__ == "__main__":
    tf.config.experimental.enable_op_determinism()
    if sys.argv[1] == "tiny":
        run_tiny(sys.argv[2])
        sys.exit(0)
    cli_train.train = _wrapped_train(cli_train.train)
    sys.exit(main(sys.argv[1:]))
