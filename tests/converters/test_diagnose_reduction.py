"""The round-off bound of a mean in the per-layer diagnosis follows what it averages: a global
average pool of values ~3.6e3 that cancel to ~5e-5 differs between Keras and TFLite by as much
as its output (summation order), far above 1e-5 · max|output| but far below 1e-5 · max|input|;
the diagnosis passes it (es_bnext_tiny's SE pools raised this false alarm at 32 px)."""

import numpy as np
import tensorflow as tf

from lq_ext.converters import convert, diagnose
from lq_ext.converters.diagnose import DEFAULT_SEGMENT_RTOL


def test_a_mean_of_nearly_cancelling_values_is_round_off(tmp_path):
    rng = np.random.default_rng(0)
    inputs = tf.keras.Input((32, 32, 3))
    x = tf.keras.layers.Conv2D(16, 1, name="wide")(inputs)
    x = tf.keras.layers.GlobalAveragePooling2D(name="pool")(x)
    model = tf.keras.Model(inputs, tf.keras.layers.Dense(4, name="head")(x))
    model.get_layer("wide").set_weights([rng.normal(size=(1, 1, 3, 16)).astype("float32") * 1000, np.zeros(16, "float32")])
    images = rng.uniform(-1, 1, size=(8, 32, 32, 3)).astype("float32")
    images -= images.mean(axis=(1, 2), keepdims=True)  # every channel's mean is ~0
    result = convert(model, tmp_path / "pool.tflite", samples=images, verify=False)
    report = diagnose(model, result.path, images)
    wide, pool = (next(s for s in report.segments if s.layer == name) for name in ("wide", "pool"))
    assert pool.op == "MEAN" and pool.max_abs_diff > DEFAULT_SEGMENT_RTOL * pool.scale, str(report)  # beyond the output's bound
    assert pool.max_abs_diff < DEFAULT_SEGMENT_RTOL * wide.scale  # within its input's
    assert report.passed and report.mismatches == 0, str(report)


def test_a_dense_layer_of_nearly_cancelling_terms_is_round_off(tmp_path):
    """The same for a float Dense (RealToBinaryNet's ``scaling_dense`` layers raised it): its
    bound follows Σ|w|·|x|, the size of the terms it sums, not its small output."""
    rng = np.random.default_rng(1)
    inputs = tf.keras.Input((512,))
    model = tf.keras.Model(inputs, tf.keras.layers.Dense(8, activation="sigmoid", name="dense")(inputs))
    half = rng.normal(size=(256, 8)).astype("float32") * 1000
    model.get_layer("dense").set_weights([np.concatenate([half, -half * (1 + 1e-6)]), np.zeros(8, "float32")])
    x = rng.uniform(-1, 1, size=(16, 256)).astype("float32")
    samples = np.concatenate([x, x], axis=1)  # the two halves cancel up to 1e-6 of their terms
    result = convert(model, tmp_path / "dense.tflite", samples=samples, verify=False)
    report = diagnose(model, result.path, samples)
    (dense,) = report.segments
    terms = np.abs(samples) @ np.abs(model.get_layer("dense").get_weights()[0])
    assert dense.max_abs_diff > DEFAULT_SEGMENT_RTOL * dense.scale, str(report)  # beyond the output's bound
    assert dense.max_abs_diff < DEFAULT_SEGMENT_RTOL * terms.max() / 4  # sigmoid: at most 1/4 of the terms' error
    assert report.passed and report.mismatches == 0, str(report)
