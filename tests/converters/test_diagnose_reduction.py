"""The round-off bound of a mean in the per-layer diagnosis follows what it averages: a global
average pool of values ~3.6e3 that cancel to ~5e-5 differs between Keras and TFLite by as much
as its output (summation order), far above 1e-5 · max|output| but far below 1e-5 · max|input|;
the diagnosis passes it (es_bnext_tiny's SE pools raised this false alarm at 32 px). The same
for a float Dense, and for ES-BNN's tiled conv, and for a binary conv with its BatchNorm, whose bound follows the terms of the
conv's sum carried through the BatchNorm's affine (a trained BCDNet-A raised it)."""

import larq as lq
import numpy as np
import tensorflow as tf

from lq_ext.converters import convert, diagnose
from lq_ext.converters._roundoff_terms import summed_terms
from lq_ext.converters.diagnose import DEFAULT_SEGMENT_RTOL
from lq_ext.layers import ESQuantConv2D


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


def test_a_mean_of_many_values_is_bounded_by_its_count():
    """Keras and TFLite each sum a mean's n values in float32, each off by up to (n − 1)·u of
    their size (u = 2⁻²⁴), together beyond 1e-5 from 84 values on (ES-BNext-T's first SE pool at
    224 px averages 112 × 112 values, and the two sides were 1.1e-5 of max|x| apart), so the
    terms a mean's bound follows grow by 2·n·u / rtol; a small pool keeps its input."""
    x = tf.constant(np.random.default_rng(4).uniform(-3, 3, (2, 112, 112, 4)).astype("float32"))
    factor = 2 * 112 * 112 * 2.0**-24 / DEFAULT_SEGMENT_RTOL
    assert 149 < factor < 150
    terms = summed_terms(tf.keras.layers.GlobalAveragePooling2D(), x, rtol=DEFAULT_SEGMENT_RTOL)
    np.testing.assert_allclose(terms.numpy(), np.abs(x.numpy()) * factor, rtol=1e-6)
    small = x[:, :8, :8]  # 64 values: 2·64·u < 1e-5
    np.testing.assert_array_equal(summed_terms(tf.keras.layers.GlobalAveragePooling2D(), small, rtol=DEFAULT_SEGMENT_RTOL).numpy(), np.abs(small.numpy()))
    np.testing.assert_array_equal(summed_terms(tf.keras.layers.AveragePooling2D(2), x, rtol=DEFAULT_SEGMENT_RTOL).numpy(), np.abs(x.numpy()))


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


def test_an_es_conv_of_nearly_cancelling_terms_is_round_off(tmp_path):
    """The same for ES-BNN's conv, whose output is its conv's channels tiled τ²·g times
    (ES-BNext-T's SE gates under random weights at scale 0.5 raised it): the bound follows
    each channel's terms, tiled as the outputs are."""
    rng = np.random.default_rng(3)
    inputs = tf.keras.Input((1, 1, 512))
    conv = ESQuantConv2D(8, 1, tau=2, activation="sigmoid", name="es")  # 4 kernels, 4 replicas
    model = tf.keras.Model(inputs, conv(inputs))
    half = rng.normal(size=(1, 1, 256, 4)).astype("float32") * 1000
    bias = rng.normal(size=4).astype("float32")
    conv.set_weights([np.concatenate([half, -half * (1 + 1e-6)], axis=2), bias])
    x = rng.uniform(-1, 1, size=(16, 1, 1, 256)).astype("float32")
    samples = np.concatenate([x, x], axis=3)  # the two halves cancel up to 1e-6 of their terms
    result = convert(model, tmp_path / "es.tflite", samples=samples, verify=False)
    report = diagnose(model, result.path, samples)
    (segment,) = report.segments
    assert segment.elements == 16 * 16 and segment.op == "TILE"
    terms = np.abs(samples).max(axis=3) * np.abs(conv.kernel.numpy()).sum(axis=(0, 1, 2)) + np.abs(bias)
    assert segment.max_abs_diff > DEFAULT_SEGMENT_RTOL * segment.scale, str(report)  # beyond the output's bound
    assert segment.max_abs_diff < DEFAULT_SEGMENT_RTOL * terms.max() / 4  # sigmoid: at most 1/4 of the terms' error
    assert report.passed and report.mismatches == 0, str(report)


def _bconv_bn(mean_shift=0.0):
    """sign(x) ⊛ sign(w) over 3·3·256 = 2,304 terms, all +1 here (positive inputs and
    weights), then a BatchNorm whose mean sits 0.2-0.4 above that sum: y = (2,304 − μ)·s,
    a small difference of two terms ~3,000 (s = γ 1.1-1.6)."""
    rng = np.random.default_rng(2)
    inputs = tf.keras.Input((6, 6, 256))
    x = lq.layers.QuantConv2D(8, 3, input_quantizer="ste_sign", kernel_quantizer="ste_sign", use_bias=False, name="bconv")(inputs)
    model = tf.keras.Model(inputs, tf.keras.layers.BatchNormalization(name="bn")(x))
    model.get_layer("bconv").set_weights([np.abs(rng.normal(size=(3, 3, 256, 8))).astype("float32")])
    mean = 2304 + rng.uniform(0.2, 0.4, 8) + mean_shift
    model.get_layer("bn").set_weights([rng.uniform(1.1, 1.6, 8), np.zeros(8), mean, np.ones(8)])
    return model, rng.uniform(0.1, 1, size=(4, 6, 6, 256)).astype("float32")


def test_a_binary_conv_and_batchnorm_of_cancelling_terms_is_round_off(tmp_path):
    model, samples = _bconv_bn()
    result = convert(model, tmp_path / "bn.tflite", samples=samples, verify=False)
    report = diagnose(model, result.path, samples)
    (segment,) = report.segments
    assert segment.op == "LceBconv2d" and segment.layers == ("bconv", "bn")  # the BN fused into the bconv
    gamma, beta, mean, variance = model.get_layer("bn").get_weights()
    s = gamma / np.sqrt(variance + model.get_layer("bn").epsilon)
    terms = np.abs(s) * 2304 + np.abs(mean * s) + np.abs(beta)  # the conv's 2,304 terms of 1, through the affine
    assert segment.max_abs_diff > DEFAULT_SEGMENT_RTOL * segment.scale, str(report)  # beyond the output's bound
    assert segment.max_abs_diff < DEFAULT_SEGMENT_RTOL * terms.max() / 10  # far within the terms'
    assert report.passed and report.mismatches == 0, str(report)
    # and still sensitive: a BatchNorm mean 0.1 off (a difference of 0.1·s ≥ 0.11) is a mismatch
    shifted, _ = _bconv_bn(mean_shift=0.1)
    assert diagnose(shifted, result.path, samples).mismatches == segment.elements
