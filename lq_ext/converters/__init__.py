"""Keras → TFLite / LCE conversion with op reports and Keras-parity checks.

- :func:`convert` (:mod:`~lq_ext.converters.conversion`): validate, convert (LCE or
  standard TFLite), verify on real images, write atomically; returns a
  :class:`ConversionResult`. ``int8=Int8Options(...)`` runs the non-binary parts in int8
  (:class:`Int8Distillation` fine-tunes that int8 clone).
- :func:`inspect` (:mod:`~lq_ext.converters.op_report`): the ops, MACs and bit-packed
  share of a ``.tflite`` file (:class:`OpReport`).
- :func:`diagnose` (:mod:`~lq_ext.converters.diagnose`): per-layer, teacher-forced parity
  of a flatbuffer against its Keras model (:class:`Diagnosis`).
- :class:`ParityReport` / :class:`ParityError` (:mod:`~lq_ext.converters.parity`,
  :mod:`~lq_ext.converters.verify`): the Keras-vs-flatbuffer comparison.

Guide: docs/guides/conversion.md.
"""

from lq_ext.converters.conversion import ConversionResult, convert, int8_reference
from lq_ext.converters.diagnose import Diagnosis, diagnose
from lq_ext.converters.int8.tuning import Int8Distillation
from lq_ext.converters.op_report import OpReport, inspect
from lq_ext.converters.options import Int8Options
from lq_ext.converters.parity import ParityError, ParityReport

__all__ = [
    "ConversionResult",
    "Diagnosis",
    "Int8Distillation",
    "Int8Options", "OpReport", "ParityError", "ParityReport",
    "convert",
    "diagnose",
    "inspect",
    "int8_reference",
]
