"""Deprecated location: knowledge distillation moved to :mod:`lq_ext.distillation` (below
both the converters and training, which use it).  Re-exported here for old imports."""

from lq_ext.distillation import DistillationModel, MultiTeacherDistillationModel, distribution_loss

__all__ = ["DistillationModel", "MultiTeacherDistillationModel", "distribution_loss"]
