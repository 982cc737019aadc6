"""One way for the tests to give memory back between models (see tests/conftest.py)."""

import ctypes
import ctypes.util
import gc

import lq_ext  # noqa: F401  (selects legacy Keras before TensorFlow loads)

# isort: split
import tensorflow as tf

_LIBC = ctypes.CDLL(ctypes.util.find_library("c"))


def release_memory():
    """Free what Keras keeps globally (traced functions, graphs of models built in a loop),
    collect, and hand the freed heap back to the system (glibc keeps it otherwise)."""
    tf.keras.backend.clear_session()
    gc.collect()
    _LIBC.malloc_trim(0)
