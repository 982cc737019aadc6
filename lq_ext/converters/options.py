"""The settings of int8 mode (:func:`lq_ext.converters.convert` with ``int8=Int8Options(...)``),
one object with every knob of :func:`lq_ext.converters.int8.int8_model` and the
tolerances of its parity check as visible defaults.  Guide: docs/guides/int8.md."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from lq_ext._validate import check_int, check_number
from lq_ext.converters.int8 import DEFAULT_PERCENTILE
from lq_ext.converters.verify import (
    DEFAULT_MAX_OUTLIER_FRACTION_INT8,
    DEFAULT_MIN_TOP1_AGREEMENT_INT8,
    DEFAULT_RTOL,
    Tolerances,
)

__all__ = ["DEFAULT_CALIBRATION_BATCH_SIZE", "Int8Options"]

#: Images per forward pass while calibrating (:func:`~lq_ext.converters.int8.int8_model`'s default).
DEFAULT_CALIBRATION_BATCH_SIZE = 8


@dataclass(frozen=True, eq=False)
class Int8Options:
    """How :func:`lq_ext.converters.convert` runs a model's non-binary parts in int8.

    ``convert(model, path, int8=Int8Options())`` is ``int8=True``.

    # Attributes
        calibration: the images ``(n, *input_shape)`` that set the int8 ranges; default
            None: the parity check's images (the agreement is then measured on the
            calibration images; pass held-out ones for a fair figure).
        percentile: each activation range spans this percentile of the tensor's values,
            in (50, 100]; 100 is TFLite's min / max rule (default 99.9, measured:
            :data:`lq_ext.converters.int8.DEFAULT_PERCENTILE`).
        batch_size: images per forward pass while calibrating.
        fine_tune: a callable ``fine_tune(clone, model)`` that trains the calibrated int8
            clone in place before it is converted, e.g.
            :class:`lq_ext.converters.int8_tuning.Int8Distillation`; None: post-training
            int8 only.
        min_top1_agreement: the whole-output check against the int8 Keras clone needs at
            least this fraction of classes to agree; None (default): 0.9 as in float mode
            (the portable target, ``engine="builtin"``, too).
        max_outlier_fraction: fraction of samples allowed above ``rtol`` against the
            clone; None (default): 0 as in float mode (the portable target too). TFLite's
            integer kernels round some values one step away from the clone and a deep BNN
            turns that into sign flips, so the whole output often fails: ``convert`` then
            runs the per-layer diagnosis against the clone, which passes the conversion when
            every difference is such a rounding step (the measurements are in
            :mod:`lq_ext.converters.verify`).
        atol: absolute error allowed against the clone; None (default): two int8 steps
            of the clone's output.

    A tolerance passed to ``convert`` itself takes precedence over these defaults; the
    same tolerance set to two different values in both places is refused.

    # Raises
        TypeError / ValueError: a value outside the ranges above.
    """

    calibration: np.ndarray | None = field(default=None, repr=False)
    percentile: float = DEFAULT_PERCENTILE
    batch_size: int = DEFAULT_CALIBRATION_BATCH_SIZE
    fine_tune: Callable | None = None
    min_top1_agreement: float | None = None
    max_outlier_fraction: float | None = None
    atol: float | None = None

    def __post_init__(self):
        if self.calibration is not None:
            try:
                images = np.asarray(self.calibration, dtype=np.float32)
            except (TypeError, ValueError):
                images = None
            if images is None or images.ndim < 2 or len(images) == 0:
                raise ValueError(
                    f"calibration must be a non-empty array of images (n, *input_shape), got "
                    f"{type(self.calibration).__name__} "
                    f"{getattr(images, 'shape', '') if images is not None else repr(self.calibration)[:60]}."
                )
            object.__setattr__(self, "calibration", images)
        check_number("percentile", self.percentile, low=50, low_inclusive=False, high=100)
        check_int("batch_size", self.batch_size, low=1)
        if self.fine_tune is not None and not callable(self.fine_tune):
            raise ValueError(
                f"fine_tune must be a callable fine_tune(clone, model) or None, got "
                f"fine_tune={self.fine_tune!r}."
            )
        for name in ("min_top1_agreement", "max_outlier_fraction"):
            if getattr(self, name) is not None:
                check_number(name, getattr(self, name), low=0, high=1)
        if self.atol is not None:
            check_number("atol", self.atol, low=0)

    def tolerances(self, output_step: float, rtol: float = DEFAULT_RTOL) -> Tolerances:
        """The parity tolerances of a clone whose outputs have int8 steps of ``output_step``
        (int8 mode and the portable target alike)."""
        return Tolerances(
            rtol=rtol,
            max_outlier_fraction=(
                DEFAULT_MAX_OUTLIER_FRACTION_INT8 if self.max_outlier_fraction is None else self.max_outlier_fraction
            ),
            min_top1_agreement=(
                DEFAULT_MIN_TOP1_AGREEMENT_INT8 if self.min_top1_agreement is None else self.min_top1_agreement
            ),
            atol=2 * output_step if self.atol is None else self.atol,
        )
