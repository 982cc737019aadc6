"""Shared fixtures: the small BNN of converter_models, converted once per session,
BDNetMobileNet at 32 px with its BatchNorms folded (the fold tests' common start), and
the switch that makes a conversion fail the test (for checks that must come first)."""

import pytest
from converter_models import build_small_bnn

import lq_ext.converters.conversion as conversion_module
from lq_ext.converters import convert
from lq_ext.converters.engines import to_flatbuffer
from lq_ext.converters.fold_elementwise import fold_batchnorm_thresholds
from lq_ext.testing import randomize_weights
from lq_ext.zoo import BDNetMobileNet


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


@pytest.fixture(scope="session")
def bdnet_bn_folded():
    """``(model, folded, names, flatbuffer)``: BDNetMobileNet at 32 px (10 logits, random
    weights, seed 0), its clone with the BatchNorms folded into thresholds, their names,
    and the clone's flatbuffer."""
    model = BDNetMobileNet(input_shape=(32, 32, 3), num_classes=10, classifier_activation=None)
    randomize_weights(model, seed=0)
    folded, names = fold_batchnorm_thresholds(model)
    return model, folded, names, to_flatbuffer(folded).data


@pytest.fixture
def no_conversion(monkeypatch):
    """Any attempt to convert fails the test: validation must come first."""
    monkeypatch.setattr(conversion_module, "to_flatbuffer", lambda *a, **k: pytest.fail("validation must come first"))
