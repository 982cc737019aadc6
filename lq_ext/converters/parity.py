"""Keras-vs-flatbuffer parity: run both on real images and compare the outputs.

Metrics, over the samples (and all outputs of the model):

- per-sample relative error ``e_i = max_j |tflite_ij − keras_ij| / max|keras|`` (one
  scale per output, the largest |value| over all samples, so a near-zero logit does not
  blow the ratio up);
- ``max_rel_error = max_i e_i`` and ``max_abs_error = max |tflite − keras|``;
- ``outliers``: samples with ``e_i > rtol``;
- ``top1_agreement``: fraction of samples whose argmax agrees, for outputs shaped
  (batch, classes) with classes > 1 (``None`` otherwise).

``atol`` (default 0) is an absolute allowance for models whose outputs TFLite quantizes
(an int8 softmax has steps of 1/256): ``e_i`` counts only the part of the error above
``atol``, and the flatbuffer's top-1 class agrees when its Keras value is within
``2·atol`` of the Keras maximum (two classes within one step each can swap).

The check passes when ``outliers <= max_outlier_fraction · n`` and ``top1_agreement >=
min_top1_agreement`` (and nothing is NaN). Outliers are allowed because a binarizer
input that lies within float round-off of its threshold can flip sign between Keras
and TFLite, and in a deep BNN one flipped bit moves that one sample's output far
beyond round-off while every other sample stays at ~1e-6 (numbers in
:mod:`lq_ext.converters.verify`). A real conversion bug moves every sample.

:class:`ParityError` subclasses ``AssertionError``: a failed parity check is a failed
verification (as with ``numpy.testing.assert_allclose``), not a bad argument; it
carries the :class:`ParityReport` as ``.report`` and the flatbuffer as ``.flatbuffer``.

Tolerances and their derivation: docs/guides/parity.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from larq_compute_engine.tflite.python.interpreter import Interpreter

__all__ = ["ParityError", "ParityReport", "compare_outputs", "run_interpreter", "run_parity"]

#: Interpreter kernels, shared with :mod:`lq_ext.bench` (name → Interpreter flags).
KERNELS = {
    "optimized": {},
    "indirect_bgemm": {"use_indirect_bgemm": True},
    "reference": {"use_reference_bconv": True},
}


@dataclass(frozen=True)
class ParityReport:
    """Outcome of comparing Keras ``model.predict`` with the LCE Interpreter."""

    samples: str  # where the inputs came from
    n_samples: int
    max_abs_error: float
    max_rel_error: float
    keras_max_abs: float  # the scale of the output with the worst relative error
    sample_rel_errors: tuple[float, ...]  # e_i per sample (worst output)
    top1_agreement: float | None
    rtol: float
    max_outlier_fraction: float
    min_top1_agreement: float
    kernel: str  # LCE Interpreter kernel used for the flatbuffer
    atol: float = 0.0  # absolute allowance (quantized outputs)

    @property
    def outliers(self) -> tuple[int, ...]:
        """Indices of the samples whose relative error exceeds ``rtol`` (or is NaN)."""
        return tuple(i for i, e in enumerate(self.sample_rel_errors) if not e <= self.rtol)

    @property
    def median_rel_error(self) -> float:
        return float(np.median(self.sample_rel_errors)) if self.sample_rel_errors else 0.0

    @property
    def worst_sample(self) -> int:
        errors = np.nan_to_num(np.asarray(self.sample_rel_errors, float), nan=np.inf)
        return int(np.argmax(errors)) if errors.size else 0

    @property
    def failures(self) -> list[str]:
        """Why the check failed (empty when it passed)."""
        problems = []
        if any(math.isnan(e) for e in self.sample_rel_errors) or math.isnan(self.max_abs_error):
            problems.append("the flatbuffer produced NaN")
        allowed = math.floor(self.max_outlier_fraction * self.n_samples + 1e-9)
        if len(self.outliers) > allowed:
            problems.append(
                f"{len(self.outliers)} of {self.n_samples} samples exceed rtol={self.rtol:g} "
                f"(at most {allowed} allowed by max_outlier_fraction={self.max_outlier_fraction:g})"
            )
        if self.top1_agreement is not None and self.top1_agreement < self.min_top1_agreement:
            problems.append(
                f"top-1 agreement {self.top1_agreement:.1%} < "
                f"min_top1_agreement={self.min_top1_agreement:.1%}"
            )
        return problems

    @property
    def passed(self) -> bool:
        return not self.failures

    def format(self) -> str:
        top1 = "n/a (output is not (batch, classes))" if self.top1_agreement is None else (
            f"{self.top1_agreement:.1%} (min {self.min_top1_agreement:.1%})"
        )
        status = "passed" if self.passed else "FAILED: " + "; ".join(self.failures)
        outliers = self.outliers
        listed = ", ".join(
            f"#{i} ({self.sample_rel_errors[i]:.2g})" for i in outliers[:8]
        ) + (" ..." if len(outliers) > 8 else "")
        return "\n".join(
            [
                f"Parity Keras vs TFLite ({self.kernel} kernel) on {self.n_samples} {self.samples}: {status}",
                f"  relative error max {self.max_rel_error:.3g}, median {self.median_rel_error:.3g} "
                f"(rtol {self.rtol:g}"
                + (f", above atol {self.atol:g}" if self.atol else "")
                + f"); max abs error {self.max_abs_error:.3g} "
                f"(max|keras| {self.keras_max_abs:.3g}); worst sample #{self.worst_sample}",
                f"  samples above rtol: {len(outliers)}" + (f": {listed}" if outliers else ""),
                f"  top-1 agreement {top1}",
            ]
        )

    def __str__(self) -> str:
        return self.format()


class ParityError(AssertionError):
    """The converted flatbuffer's outputs differ from Keras beyond the tolerances."""

    def __init__(self, report: ParityReport, message: str = "", flatbuffer: bytes | None = None):
        self.report = report
        self.flatbuffer = flatbuffer
        super().__init__(((message + "\n") if message else "") + report.format())


def _as_list(outputs) -> list[np.ndarray]:
    if isinstance(outputs, (list, tuple)):
        return [np.asarray(o) for o in outputs]
    return [np.asarray(outputs)]


def compare_outputs(
    keras_outputs,
    tflite_outputs,
    *,
    rtol: float,
    min_top1_agreement: float,
    max_outlier_fraction: float = 0.0,
    samples: str = "samples",
    kernel: str = "optimized",
    atol: float = 0.0,
) -> ParityReport:
    """Compare two sets of outputs (arrays or lists of arrays, batch first)."""
    keras_list, tflite_list = _as_list(keras_outputs), _as_list(tflite_outputs)
    if len(keras_list) != len(tflite_list):
        raise ValueError(
            f"Keras gives {len(keras_list)} outputs, the flatbuffer {len(tflite_list)}."
        )
    n_samples = int(keras_list[0].shape[0])
    sample_rel = np.zeros(n_samples)
    max_abs, keras_scale, worst_output_rel = 0.0, 0.0, -1.0
    agreements = []
    for index, (k, t) in enumerate(zip(keras_list, tflite_list)):
        k = k.astype(np.float64)
        t = t.astype(np.float64)
        if k.shape != t.shape:
            if k.size != t.size:
                raise ValueError(
                    f"Output {index}: Keras shape {k.shape} vs flatbuffer shape {t.shape}."
                )
            t = t.reshape(k.shape)
        diff = np.abs(t - k).reshape(n_samples, -1)
        scale = float(np.max(np.abs(k))) if k.size else 0.0
        per_sample_abs = diff.max(axis=1) if diff.size else np.zeros(n_samples)
        nan_rows = np.isnan(diff).any(axis=1) if diff.size else np.zeros(n_samples, bool)
        beyond = np.maximum(per_sample_abs - atol, 0.0)
        if scale > 0:
            rel = beyond / scale
        else:
            rel = np.where(beyond == 0, 0.0, np.inf)
        rel = np.where(nan_rows, np.nan, rel)
        sample_rel = np.where(np.isnan(rel) | (rel > sample_rel), rel, sample_rel)
        output_rel = float(np.nanmax(rel)) if not np.isnan(rel).all() else float("inf")
        if output_rel > worst_output_rel:
            worst_output_rel, keras_scale = output_rel, scale
        if nan_rows.any():
            max_abs = float("nan")
        elif not math.isnan(max_abs):
            max_abs = max(max_abs, float(per_sample_abs.max()) if per_sample_abs.size else 0.0)
        if k.ndim == 2 and k.shape[1] > 1:
            picked = k[np.arange(n_samples), np.argmax(t, axis=1)]
            agreements.append(picked >= k.max(axis=1) - 2 * atol)
    top1 = float(np.mean(np.concatenate(agreements))) if agreements else None
    max_rel = float("nan") if np.isnan(sample_rel).any() else float(sample_rel.max(initial=0.0))
    return ParityReport(
        samples=samples,
        n_samples=n_samples,
        max_abs_error=max_abs,
        max_rel_error=max_rel,
        keras_max_abs=keras_scale,
        sample_rel_errors=tuple(float(e) for e in sample_rel),
        top1_agreement=top1,
        rtol=float(rtol),
        max_outlier_fraction=float(max_outlier_fraction),
        min_top1_agreement=float(min_top1_agreement),
        kernel=kernel,
        atol=float(atol),
    )


def run_interpreter(flatbuffer: bytes, inputs: np.ndarray, *, kernel: str = "optimized"):
    """Run the LCE Python Interpreter on ``inputs`` (one sample at a time)."""
    interpreter = Interpreter(flatbuffer, num_threads=1, **KERNELS[kernel])
    return interpreter.predict(inputs)


def run_parity(
    model,
    flatbuffer: bytes,
    inputs: np.ndarray,
    *,
    rtol: float,
    min_top1_agreement: float,
    max_outlier_fraction: float,
    samples: str,
    kernel: str = "optimized",
    atol: float = 0.0,
) -> ParityReport:
    """Keras ``model.predict(inputs)`` vs the flatbuffer in the LCE Interpreter."""
    keras_outputs = model.predict(inputs, verbose=0)
    tflite_outputs = run_interpreter(flatbuffer, inputs, kernel=kernel)
    return compare_outputs(
        keras_outputs,
        tflite_outputs,
        rtol=rtol,
        min_top1_agreement=min_top1_agreement,
        max_outlier_fraction=max_outlier_fraction,
        samples=samples,
        kernel=kernel,
        atol=atol,
    )
