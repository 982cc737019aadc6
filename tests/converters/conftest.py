"""Shared fixtures: the small BNN of converter_models, converted once per session, and
the switch that makes a conversion fail the test (for checks that must come first)."""

import pytest
from converter_models import build_small_bnn

import lq_ext.converters.conversion as conversion_module
from lq_ext.converters import convert


@pytest.fixture(scope="session")
def small_bnn():
    return build_small_bnn()


@pytest.fixture(scope="session")
def converted_small(small_bnn, tmp_path_factory):
    """convert() of the small BNN with the defaults (LCE, arm, verify=True)."""
    path = tmp_path_factory.mktemp("small") / "small.tflite"
    return convert(small_bnn, path)


@pytest.fixture(scope="session")
def small_flatbuffer(converted_small):
    with open(converted_small.path, "rb") as handle:
        return handle.read()


@pytest.fixture
def no_conversion(monkeypatch):
    """Any attempt to convert fails the test: validation must come first."""
    monkeypatch.setattr(conversion_module, "to_flatbuffer", lambda *a, **k: pytest.fail("validation must come first"))
