"""Int8Options: every knob reaches int8_model, and bad values are refused by name.

The conversion itself is replaced by the session's small flatbuffer (verify=False), so
these tests run int8_model (the calibration) but no converter."""

import numpy as np
import pytest
import tensorflow as tf
from converter_models import build_int8_bnn, uniform_images

import lq_ext.converters.conversion as conversion_module
from lq_ext.converters import Int8Options, convert
from lq_ext.converters.engines import Flatbuffer
from lq_ext.converters.int8 import DEFAULT_PERCENTILE, int8_model
from lq_ext.converters.verify import DEFAULT_MAX_OUTLIER_FRACTION_INT8, DEFAULT_MIN_TOP1_AGREEMENT_INT8

SHAPE = (16, 16, 3)


@pytest.fixture(scope="module")
def model():
    return build_int8_bnn()


@pytest.fixture(scope="module")
def images():
    return uniform_images(SHAPE, n=12, seed=4)


@pytest.fixture
def int8_calls(monkeypatch, small_flatbuffer):
    """The keyword arguments of every int8_model call convert makes (the real one runs)."""
    calls = []

    def spy(model, images, **kwargs):
        calls.append(dict(kwargs, n_images=len(images)))
        return int8_model(model, images, **kwargs)

    monkeypatch.setattr(conversion_module, "int8_model", spy)
    monkeypatch.setattr(conversion_module, "to_flatbuffer", lambda *a, **k: Flatbuffer(small_flatbuffer, "graphdef"))
    return calls


def test_defaults_are_visible():
    options = Int8Options()
    assert options.calibration is None and options.fine_tune is None and options.atol is None
    assert options.percentile == DEFAULT_PERCENTILE == 99.9 and options.batch_size == 8
    assert options.min_top1_agreement is None and options.max_outlier_fraction is None  # the target's
    strict = options.tolerances(1 / 256)
    assert (strict.min_top1_agreement, strict.max_outlier_fraction) == (DEFAULT_MIN_TOP1_AGREEMENT_INT8, DEFAULT_MAX_OUTLIER_FRACTION_INT8) == (0.9, 0.0)
    given = Int8Options(min_top1_agreement=0.7, max_outlier_fraction=0.1).tolerances(1 / 256)
    assert (given.min_top1_agreement, given.max_outlier_fraction) == (0.7, 0.1)
    assert "percentile=99.9" in repr(options) and "batch_size=8" in repr(options)


def test_percentile_and_batch_size_reach_int8_model(model, images, int8_calls, tmp_path):
    options = Int8Options(calibration=images, percentile=100, batch_size=5)
    result = convert(model, tmp_path / "p100.tflite", int8=options, verify=False)
    assert int8_calls == [dict(percentile=100, batch_size=5, n_images=12)]
    # min / max ranges, computed independently, and not the default percentile's
    assert result.int8_plan.ranges == int8_model(model, images, percentile=100)[1].ranges
    assert result.int8_plan.ranges != int8_model(model, images)[1].ranges
    assert result.int8_plan.calibration_images == 12


def test_int8_true_calibrates_with_the_defaults_on_the_sample_images(model, int8_calls, tmp_path):
    samples = uniform_images(SHAPE, n=7, seed=5)
    result = convert(model, tmp_path / "t.tflite", int8=True, samples=samples, verify=False)
    assert int8_calls == [dict(percentile=DEFAULT_PERCENTILE, batch_size=8, n_images=7)]
    assert result.int8_plan.ranges == int8_model(model, samples)[1].ranges


def test_fine_tune_gets_the_clone_and_the_float_model(model, images, int8_calls, tmp_path):
    seen = []

    class Tuning:
        def __call__(self, clone, float_model):
            seen.append((clone, float_model))

        def __repr__(self):
            return "Tuning()"

    result = convert(model, tmp_path / "f.tflite", int8=Int8Options(calibration=images, fine_tune=Tuning()), verify=False)
    assert len(seen) == 1 and seen[0][1] is model and seen[0][0] is not model
    assert isinstance(seen[0][0], tf.keras.Model) and len(int8_calls) == 1
    assert result.int8_plan.fine_tuned == "Tuning()" and "fine-tuned by Tuning()" in str(result)


def test_deprecated_keywords_behave_as_the_options(model, images, int8_calls, tmp_path):
    with pytest.warns(DeprecationWarning, match=r"int8=Int8Options\(calibration=\.\.\., fine_tune=\.\.\.\)") as record:
        old = convert(model, tmp_path / "old.tflite", int8=True, calibration=images, verify=False)
    ours = [w for w in record if "Int8Options" in str(w.message)]
    assert len(ours) == 1 and ours[0].filename == __file__  # points at the caller's line
    new = convert(model, tmp_path / "new.tflite", int8=Int8Options(calibration=images), verify=False)
    assert old.int8_plan == new.int8_plan
    assert int8_calls[0] == int8_calls[1] == dict(percentile=DEFAULT_PERCENTILE, batch_size=8, n_images=12)


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(percentile=50), ValueError, r"percentile must be a number > 50 and ≤ 100, got percentile=50"),
        (dict(percentile=100.5), ValueError, r"percentile must be a number > 50 and ≤ 100, got percentile=100\.5"),
        (dict(batch_size=0), ValueError, r"batch_size must be an integer ≥ 1, got batch_size=0"),
        (dict(batch_size=2.5), ValueError, r"batch_size must be an integer ≥ 1, got batch_size=2\.5"),
        (dict(batch_size=True), ValueError, r"batch_size must be an integer ≥ 1, got batch_size=True"),
        (dict(fine_tune="distill"), ValueError, r"fine_tune must be a callable fine_tune\(clone, model\) or None, got fine_tune='distill'"),
        (dict(min_top1_agreement=2), ValueError, r"min_top1_agreement must be a number ≥ 0 and ≤ 1, got min_top1_agreement=2"),
        (dict(max_outlier_fraction=-0.5), ValueError, r"max_outlier_fraction must be a number ≥ 0 and ≤ 1, got max_outlier_fraction=-0\.5"),
        (dict(atol=-1.0), ValueError, r"atol must be a number ≥ 0, got atol=-1\.0"),
        (dict(calibration="images"), ValueError, r"calibration must be a non-empty array of images \(n, \*input_shape\), got str 'images'"),
        (dict(calibration=np.zeros((0, 16, 16, 3))), ValueError, r"calibration must be a non-empty array .*got ndarray \(0, 16, 16, 3\)"),
    ],
)
def test_bad_values_are_refused_by_name(kwargs, error, message):
    with pytest.raises(error, match=message):
        Int8Options(**kwargs)


def test_options_are_frozen_and_keep_calibration_as_float32(images):
    options = Int8Options(calibration=images.astype(np.float64))
    assert options.calibration.dtype == np.float32 and np.array_equal(options.calibration, images)
    with pytest.raises(AttributeError):
        options.percentile = 90


def test_convert_refuses_mixed_or_wrong_int8_settings(model, images, tmp_path, no_conversion):
    path = tmp_path / "m.tflite"
    with pytest.raises(ValueError, match=r"With int8=Int8Options\(\.\.\.\), pass calibration and fine_tune inside it"):
        convert(model, path, int8=Int8Options(), calibration=images)
    with pytest.raises(ValueError, match=r"int8=True needs engine='lce'.*Int8Options.*got engine='tflite'"):
        convert(model, path, int8=Int8Options(), engine="tflite")
    with pytest.raises(TypeError, match=r"int8 must be True or False, or an Int8Options\(\.\.\.\), got int8=1"):
        convert(model, path, int8=1)
    with pytest.raises(ValueError, match=r"atol is given twice: atol=0\.1 to convert\(\) and atol=0\.2 in Int8Options"):
        convert(model, path, int8=Int8Options(atol=0.2), atol=0.1)
    assert not path.exists()
