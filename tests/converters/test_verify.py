"""The verification step: default tolerances, which ones a conversion uses in each mode
(an explicit value is always honoured), the comparison images and the error hint.

The int8 tests replace the converter by the session's small flatbuffer and the
Interpreter by Keras itself, recording what the parity check was asked to allow."""

import inspect as source
import re

import numpy as np
import pytest
import tensorflow as tf
from converter_models import build_int8_bnn, build_small_bnn, uniform_images

import lq_ext.converters.conversion as conversion_module
import lq_ext.converters.parity as parity_module
import lq_ext.converters.verify as verify_module
from lq_ext.converters import Int8Options, convert
from lq_ext.converters.engines import Flatbuffer
from lq_ext.converters.int8 import int8_model
from lq_ext.converters.validation import check_int8
from lq_ext.converters.verify import (
    DEFAULT_MAX_OUTLIER_FRACTION,
    DEFAULT_MIN_TOP1_AGREEMENT,
    DEFAULT_RTOL,
    FLOAT_TOLERANCES,
    Tolerances,
    parity_hint,
    parity_inputs,
)

SHAPE = (16, 16, 3)


def test_float_defaults():
    # no sample may exceed rtol: a failed whole output goes to the per-layer diagnosis
    assert FLOAT_TOLERANCES == Tolerances(rtol=1e-3, max_outlier_fraction=0.0, min_top1_agreement=0.9, atol=0.0)
    assert (DEFAULT_RTOL, DEFAULT_MAX_OUTLIER_FRACTION, DEFAULT_MIN_TOP1_AGREEMENT) == (1e-3, 0.0, 0.9)


def test_each_default_is_defined_once_under_one_note():
    text = source.getsource(verify_module)
    for name in ["DEFAULT_RTOL", "DEFAULT_MAX_OUTLIER_FRACTION", "DEFAULT_MIN_TOP1_AGREEMENT", "DEFAULT_MIN_TOP1_AGREEMENT_INT8"]:
        assert len(re.findall(rf"^{name} = ", text, flags=re.MULTILINE)) == 1, name
    assert text.count("a trained naive baseline") == 1


def test_overridden_keeps_the_defaults_for_none():
    mixed = FLOAT_TOLERANCES.overridden(rtol=1e-5, max_outlier_fraction=None, min_top1_agreement=1.0, atol=None)
    assert mixed == Tolerances(rtol=1e-5, max_outlier_fraction=0.0, min_top1_agreement=1.0, atol=0.0)


def test_int8_tolerances_default_to_two_output_steps():
    assert Int8Options().tolerances(1 / 256) == Tolerances(
        rtol=1e-3, max_outlier_fraction=0.0, min_top1_agreement=0.9, atol=2 / 256
    )
    assert Int8Options(atol=0.0, max_outlier_fraction=0.3).tolerances(1 / 256).atol == 0.0


@pytest.fixture
def parity_calls(monkeypatch, small_flatbuffer):
    """Conversion → the small flatbuffer; Interpreter → the Keras model it is compared
    with (so every check passes); records the tolerances of each parity check."""
    calls = []

    def run_parity(model, flatbuffer, inputs, **kwargs):
        calls.append(kwargs)
        outputs = model.predict(inputs, verbose=0)
        return parity_module.compare_outputs(outputs, outputs, **kwargs)

    monkeypatch.setattr(conversion_module, "to_flatbuffer", lambda *a, **k: Flatbuffer(small_flatbuffer, "graphdef"))
    monkeypatch.setattr(parity_module, "run_parity", run_parity)
    monkeypatch.setattr(parity_module, "run_interpreter", lambda flatbuffer, inputs, kernel: np.zeros((len(inputs), 10)))
    return calls


@pytest.fixture(scope="module")
def int8_bnn():
    return build_int8_bnn()


IMAGES = uniform_images(SHAPE, n=10, seed=2)


@pytest.fixture(scope="module")
def int8_clone(int8_bnn):
    """int8_model of int8_bnn on IMAGES, computed once for the tests below (the
    tolerances do not depend on it beyond its output step)."""
    return int8_model(int8_bnn, IMAGES)


@pytest.fixture
def same_int8_clone(monkeypatch, int8_clone):
    monkeypatch.setattr(conversion_module, "int8_model", lambda model, images, **kwargs: int8_clone)


def _tolerances(call):
    return {name: call[name] for name in ("rtol", "max_outlier_fraction", "min_top1_agreement", "atol")}


def test_int8_mode_uses_its_defaults(int8_bnn, parity_calls, same_int8_clone, tmp_path):
    result = convert(int8_bnn, tmp_path / "d.tflite", int8=True, samples=IMAGES)
    step = result.int8_plan.output_step
    assert step > 0
    assert _tolerances(parity_calls[0]) == dict(rtol=1e-3, max_outlier_fraction=0.0, min_top1_agreement=0.9, atol=2 * step)
    assert result.parity.atol == 2 * step and result.parity.max_outlier_fraction == 0.0
    assert result.verified
    assert result.int8_agreement is not None and result.int8_agreement.n_samples == 10


def test_int8_mode_honours_explicit_tolerances(int8_bnn, parity_calls, same_int8_clone, tmp_path):
    """Before the split, int8=True replaced them by 1.0 and max(atol, two steps)."""
    result = convert(int8_bnn, tmp_path / "e.tflite", int8=True, samples=IMAGES, max_outlier_fraction=0.2, atol=1e-4)
    assert 2 * result.int8_plan.output_step > 1e-4
    assert _tolerances(parity_calls[0]) == dict(rtol=1e-3, max_outlier_fraction=0.2, min_top1_agreement=0.9, atol=1e-4)
    convert(int8_bnn, tmp_path / "o.tflite", int8=Int8Options(atol=0.0, min_top1_agreement=0.8), samples=IMAGES)
    assert _tolerances(parity_calls[1]) == dict(rtol=1e-3, max_outlier_fraction=0.0, min_top1_agreement=0.8, atol=0.0)


def test_a_tolerance_given_twice_must_agree():
    options = Int8Options(atol=0.01)
    assert check_int8(options, engine="lce", atol=0.01, max_outlier_fraction=0.3) is options
    with pytest.raises(ValueError, match=r"atol is given twice: atol=0\.02 to convert\(\) and atol=0\.01 in Int8Options"):
        check_int8(options, engine="lce", atol=0.02)


def test_float_mode_uses_given_or_default_tolerances(small_bnn, parity_calls, tmp_path):
    convert(small_bnn, tmp_path / "f.tflite")
    convert(small_bnn, tmp_path / "g.tflite", atol=0.5, min_top1_agreement=1.0)
    assert _tolerances(parity_calls[0]) == dict(rtol=1e-3, max_outlier_fraction=0.0, min_top1_agreement=0.9, atol=0.0)
    assert _tolerances(parity_calls[1]) == dict(rtol=1e-3, max_outlier_fraction=0.0, min_top1_agreement=1.0, atol=0.5)


def test_parity_inputs_default_and_given(small_bnn):
    images, description = parity_inputs(small_bnn, None)
    assert images.shape == (20, 32, 32, 3) and description == "real cifar10 images at 32x32x3, [-1, 1]"
    assert images.min() >= -1.0 and images.max() <= 1.0
    given, description = parity_inputs(small_bnn, np.ones((3, 32, 32, 3), np.float64))
    assert given.dtype == np.float32 and given.shape == (3, 32, 32, 3) and description == "user samples"


def test_parity_inputs_refuse_what_they_cannot_feed():
    a, b = tf.keras.Input((4,)), tf.keras.Input((4,))
    two = tf.keras.Model([a, b], tf.keras.layers.Add()([a, b]))
    with pytest.raises(ValueError, match=r"verify=True needs a single-input model, this one has 2 inputs"):
        parity_inputs(two, None)
    flat = tf.keras.Sequential([tf.keras.Input((4,)), tf.keras.layers.Dense(2)])
    with pytest.raises(ValueError, match=r"built-in sample images fit \(height, width, 1 or 3\) inputs, the model takes \(4,\)"):
        parity_inputs(flat, None)
    with pytest.raises(ValueError, match=r"samples must be a non-empty array of shape \(n, 4\).*got shape \(0, 4\)"):
        parity_inputs(flat, np.zeros((0, 4)))


def test_parity_hint_names_untrained_batchnorm():
    assert parity_hint(build_small_bnn(seed=0)) == ""  # random BN statistics
    hint = parity_hint(build_small_bnn(seed=0, random_batchnorm=False))
    assert hint.startswith("\nHint: 3 BatchNormalization layer(s) still have their initial moving statistics")
