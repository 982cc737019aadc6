"""Session fixtures: the small BNN of converter_models, converted once."""

import pytest
from converter_models import build_small_bnn


@pytest.fixture(scope="session")
def small_bnn():
    return build_small_bnn()


@pytest.fixture(scope="session")
def converted_small(small_bnn, tmp_path_factory):
    """convert() of the small BNN with the defaults (LCE, arm, verify=True)."""
    from lq_ext.converters import convert

    path = tmp_path_factory.mktemp("small") / "small.tflite"
    return convert(small_bnn, path)


@pytest.fixture(scope="session")
def small_flatbuffer(converted_small):
    with open(converted_small.path, "rb") as handle:
        return handle.read()
