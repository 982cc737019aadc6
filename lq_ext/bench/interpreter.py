"""Time single-sample inference of a ``.tflite`` file in LCE's Python Interpreter.

On x86 the LCE binary kernels are portable C++ (no x86 SIMD BNN kernels), so these
timings check relative costs and catch regressions; they say nothing about ARM
latency (use the ``lce_benchmark_model`` binary on the device for that).

Kernels of ``LceBconv2d`` (``kernel=``):

- ``"optimized"``: the default BGEMM kernel (ruy; multi-threaded). It refuses grouped
  binary convs ("Grouped binary convolutions are not supported with this kernel").
- ``"indirect_bgemm"``: the indirect BGEMM kernel; handles grouped convs, single-threaded.
- ``"reference"``: the slow reference kernel (correctness baseline).
- ``"auto"`` (default): ``"indirect_bgemm"`` if the model has grouped binary convs,
  else ``"optimized"``.
"""

from __future__ import annotations

import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from lq_ext._validate import check_int
from lq_ext.converters._flatbuffer import load_bytes
from lq_ext.converters.op_report import inspect
from lq_ext.converters.parity import KERNELS

__all__ = ["BenchResult", "KERNEL_CHOICES", "check_run_arguments", "prepare", "resolve_kernel", "run"]

KERNEL_CHOICES = ("auto", *KERNELS)


def resolve_kernel(kernel: str, report, source: str) -> str:
    """The ``LceBconv2d`` kernel to run the flatbuffer of ``report`` (from ``source``) with.

    ``"auto"`` becomes ``"indirect_bgemm"`` when the model has grouped binary convs, else
    ``"optimized"``; an explicit ``"optimized"`` on such a model is an error (that kernel
    refuses grouped convs at run time); other choices pass through.
    """
    if kernel == "auto":
        return "indirect_bgemm" if report.has_grouped_bconv else "optimized"
    if kernel == "optimized" and report.has_grouped_bconv:
        raise ValueError(
            f"kernel='optimized' cannot run {source!r}: it has grouped binary convolutions "
            f"(\"Grouped binary convolutions are not supported with this kernel\"). Use "
            f"kernel='indirect_bgemm' (what 'auto' picks) or 'reference'."
        )
    return kernel


@dataclass(frozen=True)
class BenchResult:
    """Latency of one ``.tflite`` file, single sample per run, in milliseconds."""

    path: str
    size_bytes: int
    kernel: str  # the kernel actually used ("auto" resolved)
    threads: int
    runs: int
    warmup: int
    median_ms: float
    min_ms: float
    max_ms: float
    mean_ms: float
    use_xnnpack: bool = False
    machine: str = platform.machine()

    def __str__(self) -> str:
        lines = [
            f"{self.path} ({self.size_bytes:,} bytes): median {self.median_ms:.3f} ms, "
            f"min {self.min_ms:.3f} ms, max {self.max_ms:.3f} ms, mean {self.mean_ms:.3f} ms",
            f"  {self.runs} runs after {self.warmup} warm-up, kernel={self.kernel}, "
            f"threads={self.threads}, xnnpack={'on' if self.use_xnnpack else 'off'}, "
            f"LCE Python Interpreter on {self.machine}",
        ]
        if self.kernel == "indirect_bgemm" and self.threads > 1:
            lines.append("  note: the indirect_bgemm kernel is single-threaded")
        if self.machine.lower() not in ("aarch64", "arm64", "armv7l", "armv8l"):
            lines.append("  note: x86 timings say nothing about ARM latency")
        return "\n".join(lines)


def _make_input(interpreter, inputs, seed: int = 0) -> list[np.ndarray]:
    shapes, types = interpreter.input_shapes, interpreter.input_types
    if isinstance(inputs, str):
        if inputs != "random":
            raise ValueError(f"inputs must be 'random' or an array, got inputs={inputs!r}.")
        rng = np.random.default_rng(seed)
        arrays = []
        for shape, dtype in zip(shapes, types):
            dtype = np.dtype(dtype)
            if dtype.kind == "f":
                arrays.append(rng.uniform(-1.0, 1.0, shape).astype(dtype))
            else:
                info = np.iinfo(dtype)
                arrays.append(rng.integers(info.min, info.max, shape, endpoint=True).astype(dtype))
        return arrays
    if len(shapes) != 1:
        raise ValueError("inputs as an array needs a single-input model; use inputs='random'.")
    array = np.asarray(inputs)
    shape = tuple(shapes[0])
    if array.shape == shape[1:]:
        array = array[np.newaxis]
    if array.shape != shape:
        raise ValueError(
            f"inputs must be one sample of shape {shape[1:]} (or {shape}), got shape {array.shape}."
        )
    return [array.astype(np.dtype(types[0]), copy=False)]


def prepare(flatbuffer: bytes, source: str, *, kernel: str, threads: int, use_xnnpack: bool, inputs="random"):
    """An LCE Interpreter of ``flatbuffer`` ready to time: ``(invoke, batch, kernel)``.

    ``invoke(batch)`` runs one inference of the single-sample ``batch``; ``kernel`` is the
    ``LceBconv2d`` kernel used (``"auto"`` resolved). Arguments are checked by the callers.
    """
    kernel = resolve_kernel(kernel, inspect(flatbuffer), source)

    from larq_compute_engine.tflite.python.interpreter import Interpreter

    try:
        interpreter = Interpreter(
            flatbuffer, num_threads=threads, use_xnnpack=use_xnnpack, **KERNELS[kernel]
        )
    except RuntimeError as error:  # details go to stderr, the exception says little
        raise RuntimeError(
            f"The LCE Interpreter could not prepare {source!r} with kernel={kernel!r}, "
            f"use_xnnpack={use_xnnpack} (see the ERROR lines on stderr): {error}"
        ) from error
    batch = _make_input(interpreter, inputs)
    # The wrapper's predict takes batch-1 arrays directly, without the per-call
    # generator and concatenation of Interpreter.predict.
    invoke = getattr(interpreter, "interpreter", None)
    invoke = invoke.predict if invoke is not None and hasattr(invoke, "predict") else interpreter.predict
    return invoke, batch, kernel


def check_run_arguments(*, threads, warmup, runs, kernel, use_xnnpack) -> tuple[int, int, int]:
    """The shared guards of :func:`run` and :func:`lq_ext.bench.paired.paired_latency`."""
    threads = check_int("threads", threads, low=1)
    warmup = check_int("warmup", warmup, low=0)
    runs = check_int("runs", runs, low=1)
    if not isinstance(kernel, str) or kernel not in KERNEL_CHOICES:
        raise ValueError(f"kernel={kernel!r} is not supported; expected one of {list(KERNEL_CHOICES)}.")
    if not isinstance(use_xnnpack, bool):
        raise ValueError(f"use_xnnpack must be True or False, got use_xnnpack={use_xnnpack!r}.")
    return threads, warmup, runs


def run(
    path,
    *,
    threads: int = 1,
    warmup: int = 3,
    runs: int = 20,
    kernel: str = "auto",
    use_xnnpack: bool = False,
    inputs="random",
    progress: Callable[[int, int], None] | None = None,
) -> BenchResult:
    """Time ``runs`` single-sample inferences of ``path`` after ``warmup`` untimed ones.

    # Arguments
        path: a ``.tflite`` file (or its bytes).
        threads: interpreter threads (>= 1).
        warmup: untimed runs first (>= 0).
        runs: timed runs (>= 1).
        kernel: ``"auto"``, ``"optimized"``, ``"indirect_bgemm"`` or ``"reference"``
            (see the module docstring).
        use_xnnpack: apply TFLite's XNNPACK delegate to float ops.
        inputs: ``"random"`` (uniform in [-1, 1] for float inputs, full range for ints)
            or one sample as an array, with or without the batch axis.
        progress: called as ``progress(done, total)`` after each warm-up and timed run.

    # Returns
        A :class:`BenchResult` (times in milliseconds, wall clock of ``invoke`` incl.
        copying the input in and the output out).

    # Raises
        FileNotFoundError / ValueError: missing or non-TFLite file (as
            :func:`lq_ext.converters.inspect`).
        ValueError: invalid arguments, or ``kernel="optimized"`` on a model with
            grouped binary convs.
        RuntimeError: the interpreter cannot prepare or run the model.
    """
    threads, warmup, runs = check_run_arguments(
        threads=threads, warmup=warmup, runs=runs, kernel=kernel, use_xnnpack=use_xnnpack
    )
    if progress is not None and not callable(progress):
        raise ValueError(f"progress must be a callable(done, total) or None, got {progress!r}.")

    flatbuffer, source = load_bytes(path)
    invoke, batch, kernel = prepare(flatbuffer, source, kernel=kernel, threads=threads, use_xnnpack=use_xnnpack, inputs=inputs)

    total = warmup + runs
    times = []
    try:
        for i in range(total):
            start = time.perf_counter()
            invoke(batch)
            elapsed = time.perf_counter() - start
            if i >= warmup:
                times.append(elapsed * 1e3)
            if progress is not None:
                progress(i + 1, total)
    except RuntimeError as error:
        raise RuntimeError(f"Running {source!r} with kernel={kernel!r} failed: {error}") from error

    return BenchResult(
        path=source,
        size_bytes=len(flatbuffer),
        kernel=kernel,
        threads=threads,
        runs=runs,
        warmup=warmup,
        median_ms=statistics.median(times),
        min_ms=min(times),
        max_ms=max(times),
        mean_ms=statistics.fmean(times),
        use_xnnpack=use_xnnpack,
    )
