"""Keras-vs-flatbuffer parity: run both on real images and compare the outputs.

Metrics, over all samples and outputs:

- ``max_rel_error`` = max|tflite − keras| / max|keras| (one scale per output, so a
  near-zero logit does not blow the ratio up);
- ``max_abs_error`` = max|tflite − keras|;
- ``top1_agreement``: fraction of samples whose argmax agrees, for outputs shaped
  (batch, classes) with classes > 1 (``None`` otherwise).

:class:`ParityError` subclasses ``AssertionError``: a failed parity check is a failed
verification (as with ``numpy.testing.assert_allclose``), not a bad argument; it
carries the :class:`ParityReport` as ``.report`` and the flatbuffer as ``.flatbuffer``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["ParityError", "ParityReport", "compare_outputs", "run_parity"]

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
    keras_max_abs: float  # max|keras| of the output with the worst relative error
    top1_agreement: float | None
    worst_sample: int  # index of the sample with the largest absolute error
    rtol: float
    min_top1_agreement: float
    kernel: str  # LCE Interpreter kernel used for the flatbuffer

    @property
    def failures(self) -> list[str]:
        """Why the check failed (empty when it passed)."""
        problems = []
        if not self.max_rel_error <= self.rtol:  # also catches NaN
            problems.append(
                f"max relative error {self.max_rel_error:.3g} > rtol={self.rtol:g}"
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
        return "\n".join(
            [
                f"Parity Keras vs TFLite ({self.kernel} kernel) on {self.n_samples} {self.samples}: {status}",
                f"  max relative error {self.max_rel_error:.3g} (rtol {self.rtol:g}); "
                f"max abs error {self.max_abs_error:.3g} (max|keras| {self.keras_max_abs:.3g}); "
                f"worst sample #{self.worst_sample}",
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
    samples: str = "samples",
    kernel: str = "optimized",
) -> ParityReport:
    """Compare two sets of outputs (arrays or lists of arrays, batch first)."""
    keras_list, tflite_list = _as_list(keras_outputs), _as_list(tflite_outputs)
    if len(keras_list) != len(tflite_list):
        raise ValueError(
            f"Keras gives {len(keras_list)} outputs, the flatbuffer {len(tflite_list)}."
        )
    n_samples = keras_list[0].shape[0]
    max_abs, max_rel, keras_scale = 0.0, 0.0, 0.0
    per_sample = np.zeros(n_samples)
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
        diff = np.abs(t - k)
        scale = float(np.max(np.abs(k))) if k.size else 0.0
        abs_err = float(np.max(diff)) if diff.size else 0.0
        if np.isnan(diff).any():
            abs_err = float("nan")
        rel = abs_err / scale if scale > 0 else (0.0 if abs_err == 0 else float("inf"))
        if not np.isnan(max_rel) and (np.isnan(rel) or rel > max_rel):  # NaN is the worst
            max_rel, keras_scale = rel, scale
        if not np.isnan(max_abs) and (np.isnan(abs_err) or abs_err > max_abs):
            max_abs = abs_err
        per_sample = np.maximum(per_sample, diff.reshape(n_samples, -1).max(axis=1))
        if k.ndim == 2 and k.shape[1] > 1:
            agreements.append(np.argmax(k, axis=1) == np.argmax(t, axis=1))
    top1 = float(np.mean(np.concatenate(agreements))) if agreements else None
    return ParityReport(
        samples=samples,
        n_samples=int(n_samples),
        max_abs_error=max_abs,
        max_rel_error=max_rel,
        keras_max_abs=keras_scale,
        top1_agreement=top1,
        worst_sample=int(np.nanargmax(per_sample)) if n_samples and not np.isnan(per_sample).all() else 0,
        rtol=float(rtol),
        min_top1_agreement=float(min_top1_agreement),
        kernel=kernel,
    )


def run_interpreter(flatbuffer: bytes, inputs: np.ndarray, *, kernel: str = "optimized"):
    """Run the LCE Python Interpreter on ``inputs`` (one sample at a time)."""
    from larq_compute_engine.tflite.python.interpreter import Interpreter

    interpreter = Interpreter(flatbuffer, num_threads=1, **KERNELS[kernel])
    return interpreter.predict(inputs)


def run_parity(
    model,
    flatbuffer: bytes,
    inputs: np.ndarray,
    *,
    rtol: float,
    min_top1_agreement: float,
    samples: str,
    kernel: str = "optimized",
) -> ParityReport:
    """Keras ``model.predict(inputs)`` vs the flatbuffer in the LCE Interpreter."""
    keras_outputs = model.predict(inputs, verbose=0)
    tflite_outputs = run_interpreter(flatbuffer, inputs, kernel=kernel)
    return compare_outputs(
        keras_outputs,
        tflite_outputs,
        rtol=rtol,
        min_top1_agreement=min_top1_agreement,
        samples=samples,
        kernel=kernel,
    )
