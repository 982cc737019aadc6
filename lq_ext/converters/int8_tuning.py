"""Deprecated location: int8 fine-tuning moved to :mod:`lq_ext.converters.int8.tuning`.
Re-exported here for old imports (``from lq_ext.converters.int8_tuning import
Int8Distillation``)."""

from lq_ext.converters.int8.tuning import DEFAULT_LEARNING_RATE, Int8Distillation, logits_model

__all__ = ["DEFAULT_LEARNING_RATE", "Int8Distillation", "logits_model"]
