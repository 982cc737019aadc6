import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402

import lq_ext  # noqa: E402,F401  (selects legacy Keras before anything imports TensorFlow)


@pytest.fixture(scope="session")
def fashion():
    """The full Fashion-MNIST as uint8 arrays. Required, never skipped: ``.ci/run`` makes
    sure the IDX files are on the machine (see ``lq_ext.data.fashion_mnist``)."""
    from lq_ext.data import load_fashion_mnist

    return load_fashion_mnist()
