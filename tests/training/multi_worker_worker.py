"""One worker of a multi-worker training run (or a single-worker reference), in a child
process; what tests/training/test_multi_worker.py starts.

``python multi_worker_worker.py STRATEGY OUTPUT_DIR``: :func:`lq_ext.training.train` of a
small binary network (synchronised BatchNorm) on the real Fashion-MNIST training pipeline (first
256 images, shuffled and augmented, seed 7, global batch 64), 3 epochs. ``STRATEGY`` is
``default`` (one worker) or ``multi_worker`` (``TF_CONFIG`` from the environment). With
``LQ_EXT_TEST_KILL_AT=E,B`` the process SIGKILLs itself after batch B of epoch E.

Needs ``TF_USE_LEGACY_KERAS=1``; op determinism is enabled.
"""

import os
import sys

import larq as lq
import tensorflow as tf
from kill_points import KillAt

from lq_ext.data import load_dataset
from lq_ext.training import Recipe, resolve_strategy, train

GLOBAL_BATCH = 64


def tiny_bnn():
    """Float stem conv, binary conv, dense head. Its BatchNorm is the synchronised one
    (batch statistics of the global batch, as one worker has them; Keras' plain
    BatchNormalization would normalise each worker's half batch on its own)."""
    inputs = tf.keras.Input((32, 32, 1))
    x = tf.keras.layers.Conv2D(8, 3, strides=2, padding="same", use_bias=False, name="stem")(inputs)
    x = tf.keras.layers.experimental.SyncBatchNormalization(name="stem_bn")(x)
    x = lq.layers.QuantConv2D(
        16, 3, strides=2, padding="same", input_quantizer="ste_sign",
        kernel_quantizer="ste_sign", kernel_constraint="weight_clip", name="bconv",
    )(x)
    x = tf.keras.layers.GlobalAveragePooling2D(name="pool")(x)
    return tf.keras.Model(inputs, tf.keras.layers.Dense(10, name="logits")(x), name="tiny_bnn")


def main(strategy_name, output_dir):
    strategy = resolve_strategy(strategy_name)  # first: collectives are set up at start-up
    callbacks = []
    if os.environ.get("LQ_EXT_TEST_KILL_AT"):
        callbacks.append(KillAt(*(int(v) for v in os.environ["LQ_EXT_TEST_KILL_AT"].split(","))))
    train_data = load_dataset("fashion_mnist", "train", batch_size=GLOBAL_BATCH, seed=7, limit=256)
    train(
        tiny_bnn, train_data, output_dir=output_dir, strategy=strategy, seed=7, verbose=0,
        convert=False, recipe=Recipe(epochs=3, learning_rate=5e-3), callbacks=callbacks,
    )


if __name__ == "__main__":
    tf.config.experimental.enable_op_determinism()
    main(sys.argv[1], sys.argv[2])
