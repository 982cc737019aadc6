import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402
from memory_release import release_memory  # noqa: E402

import lq_ext  # noqa: E402,F401  (selects legacy Keras before anything imports TensorFlow)


@pytest.fixture(scope="module", autouse=True)
def _release_memory_after_each_file():
    """An xdist worker runs many files: what one file's fixtures held must not stay
    resident for the rest of the run (two ~10 GB workers on a 24 GB machine were
    OOM-killed). Module fixtures are torn down before this one, so their models go too."""
    yield
    release_memory()


@pytest.fixture(scope="session")
def fashion():
    """The full Fashion-MNIST as uint8 arrays. Required, never skipped: ``.ci/run`` makes
    sure the IDX files are on the machine (see ``lq_ext.data.fashion_mnist``)."""
    from lq_ext.data import load_fashion_mnist

    return load_fashion_mnist()
