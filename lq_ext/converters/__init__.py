"""Keras → TFLite / LCE conversion with op reports and Keras-parity checks.

- :func:`convert`: validate, convert (LCE or standard TFLite), verify on real images,
  write atomically; returns a :class:`ConversionResult`.
- :func:`inspect`: the ops, MACs and bit-packed share of a ``.tflite`` file
  (:class:`OpReport`).
- :class:`ParityReport` / :class:`ParityError`: the Keras-vs-flatbuffer comparison.
- :mod:`lq_ext.converters.rewrite`: the pre-conversion rewrite that runs binary
  ``QuantDense`` layers as bit-packed 1×1 ``LceBconv2d`` (``convert(binary_dense=)``).
- :mod:`lq_ext.converters.int8` / :mod:`lq_ext.converters.int8_tuning`: full-int8 mode
  (``convert(int8=True)``) and its quantization-aware fine-tuning (``convert(fine_tune=)``).
"""

from lq_ext.converters.inspect import OpReport, inspect
from lq_ext.converters.lce import ConversionResult, convert
from lq_ext.converters.parity import ParityError, ParityReport

__all__ = ["ConversionResult", "OpReport", "ParityError", "ParityReport", "convert", "inspect"]
