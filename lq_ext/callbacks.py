"""Deprecated location: use :mod:`lq_ext.training.callbacks` (``lq_ext.training.WeightBinarization``).

Kept so that ``lq_ext.callbacks.WeightBinarization`` and ``from lq_ext.callbacks import
...`` keep working; the callbacks are training code and live in ``lq_ext.training``.
"""

from lq_ext.training.callbacks import WeightBinarization, weight_switches

__all__ = ["WeightBinarization", "weight_switches"]
