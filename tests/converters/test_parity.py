import numpy as np
import pytest

from lq_ext.converters import ParityError, ParityReport
from lq_ext.converters.parity import compare_outputs
from lq_ext.converters.verify import (
    DEFAULT_MAX_OUTLIER_FRACTION,
    DEFAULT_MIN_TOP1_AGREEMENT,
    DEFAULT_RTOL,
)

DEFAULTS = dict(
    rtol=DEFAULT_RTOL,
    max_outlier_fraction=DEFAULT_MAX_OUTLIER_FRACTION,
    min_top1_agreement=DEFAULT_MIN_TOP1_AGREEMENT,
)


def _logits(seed=0, n=20, classes=10):
    return np.random.default_rng(seed).normal(size=(n, classes)).astype(np.float32)


def test_identical_outputs_pass():
    k = _logits()
    report = compare_outputs(k, k.copy(), rtol=1e-6, min_top1_agreement=1.0)
    assert report.passed and report.failures == [] and report.outliers == ()
    assert report.max_abs_error == 0 and report.max_rel_error == 0 and report.top1_agreement == 1.0


def test_relative_error_is_against_max_abs_keras():
    k = _logits()
    t = k.copy()
    t[3, 2] += 0.01
    report = compare_outputs(k, t, rtol=1.0, min_top1_agreement=0.0)
    scale = np.abs(k).max()
    assert report.keras_max_abs == pytest.approx(scale)
    assert report.max_abs_error == pytest.approx(0.01, rel=1e-4)
    assert report.max_rel_error == pytest.approx(0.01 / scale, rel=1e-4)
    assert report.sample_rel_errors[3] == pytest.approx(0.01 / scale, rel=1e-4)
    assert report.sample_rel_errors[0] == 0.0 and report.worst_sample == 3


def test_isolated_outliers_are_tolerated_up_to_the_fraction():
    """With an outlier allowance (``max_outlier_fraction``, 0 by default since a failed
    whole-output check goes to the per-layer diagnosis), a few samples far off pass and
    one more fails."""
    k = _logits()
    t = k + 1e-7
    t[[2, 7, 11, 15, 19]] += 0.3  # 5 of 20 = 25 %
    assert DEFAULT_MAX_OUTLIER_FRACTION == 0.0 and not compare_outputs(k, t, **DEFAULTS).passed
    allowing = {**DEFAULTS, "max_outlier_fraction": 0.25}
    report = compare_outputs(k, t, **allowing)
    assert report.outliers == (2, 7, 11, 15, 19) and report.passed
    t[4] += 0.3  # 6 of 20
    report = compare_outputs(k, t, **allowing)
    assert not report.passed
    assert "6 of 20 samples exceed rtol=0.001 (at most 5 allowed" in report.failures[0]
    assert "samples above rtol: 6: #2" in str(report)


def test_top1_disagreement_fails_even_with_small_error():
    k = np.array([[1.0, 1.0 + 1e-4], [0.0, 1.0]], np.float32)
    t = np.array([[1.0 + 2e-4, 1.0 + 1e-4], [0.0, 1.0]], np.float32)
    report = compare_outputs(k, t, rtol=1e-2, min_top1_agreement=0.9)
    assert report.top1_agreement == 0.5
    assert not report.passed and "top-1 agreement 50.0%" in report.failures[0]


def test_nan_fails():
    k = _logits()
    t = k.copy()
    t[0, 0] = np.nan
    report = compare_outputs(k, t, rtol=1.0, min_top1_agreement=0.0, max_outlier_fraction=1.0)
    assert not report.passed and np.isnan(report.max_rel_error)
    assert "NaN" in report.failures[0] and report.worst_sample == 0


def test_top1_only_for_class_outputs():
    k = np.random.default_rng(0).normal(size=(4, 8, 8, 3))
    report = compare_outputs(k, k, rtol=1e-6, min_top1_agreement=1.0)
    assert report.top1_agreement is None and report.passed
    assert "n/a" in str(report)


def test_multiple_outputs_take_the_worst():
    a, b = _logits(0), _logits(1, classes=3)
    tb = b.copy()
    tb[1] += 0.5
    report = compare_outputs([a, b], [a, tb], **DEFAULTS)
    assert report.outliers == (1,) and report.keras_max_abs == pytest.approx(np.abs(b).max())


def test_shape_mismatch():
    with pytest.raises(ValueError, match="Keras shape"):
        compare_outputs(_logits(), _logits()[:, :5], rtol=1e-3, min_top1_agreement=0.9)


def test_parity_error_carries_report():
    k = _logits()
    report = compare_outputs(k, k + 1.0, **DEFAULTS)
    error = ParityError(report, "header line", flatbuffer=b"x")
    assert isinstance(error, AssertionError)
    assert error.report is report and error.flatbuffer == b"x"
    text = str(error)
    assert text.startswith("header line\n") and "FAILED" in text and "relative error max" in text


def test_small_bnn_matches_to_roundoff(converted_small):
    """The small BNN (random BN stats, real CIFAR-10 images) matches to float round-off,
    far below DEFAULT_RTOL (the measurements are in lq_ext/converters/verify.py)."""
    parity = converted_small.parity
    assert isinstance(parity, ParityReport) and parity.passed
    assert parity.n_samples == 20 and "cifar10" in parity.samples
    assert parity.max_rel_error < 1e-4 <= DEFAULT_RTOL / 10
    assert parity.outliers == () and parity.top1_agreement == 1.0


def test_atol_allows_quantized_outputs_and_ties_in_top1():
    keras = np.array([[0.50, 0.497, 0.01], [0.2, 0.7, 0.1]])
    # an int8 softmax: every value within one step (1/256) of Keras; sample 0's top two
    # classes swap because they are closer than two steps
    tflite = np.array([[0.4961, 0.4961 + 1 / 256, 0.0117], [0.1992, 0.6992, 0.1016]])
    strict = compare_outputs(keras, tflite, rtol=1e-3, min_top1_agreement=1.0)
    assert len(strict.outliers) == 2 and strict.top1_agreement == 0.5 and not strict.passed
    loose = compare_outputs(keras, tflite, rtol=1e-3, min_top1_agreement=1.0, atol=2 / 256)
    assert loose.outliers == () and loose.top1_agreement == 1.0 and loose.passed
    assert "above atol 0.0078125" in loose.format()
    # a real error stays visible: 0.1 off is far beyond two steps
    wrong = compare_outputs(keras, tflite + [[0, 0, 0.1], [0, 0, 0]], rtol=1e-3,
                            min_top1_agreement=1.0, atol=2 / 256)
    assert wrong.outliers == (0,)
