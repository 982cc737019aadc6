"""Side-by-side benchmark of registered models: OPs, flatbuffer size, latency, one run.

Every model is built with random weights and BatchNorm statistics, profiled (:func:`lq_ext.profile`),
converted with the converter its registry entry names (LCE for binary models, the
standard TFLite converter for float references), parity-checked on real images and
timed in LCE's Python Interpreter — all in one process on one machine, so the rows
can be compared with each other (and only with each other).
"""

from __future__ import annotations

import dataclasses
import os
import platform
from dataclasses import asdict, dataclass
from typing import Callable

from lq_ext.bench.interpreter import run
from lq_ext.data import load_samples, preprocess
from lq_ext.fake_quant import calibrate, int_quantizers, uncalibrated
from lq_ext.converters import ParityError, convert
from lq_ext.metrics import profile
from lq_ext.testing import randomize_weights
from lq_ext.zoo import get_model_spec


#: Parity allowance for models with int8 parts: two steps of an int8 softmax (1/256).
INT8_OUTPUT_ATOL = 2 / 256


@dataclass(frozen=True)
class ModelRow:
    """One model's costs and measurements."""

    name: str
    engine: str
    ops: float
    bops: float
    flops: float
    size_bytes: int
    bitpacked_share: float | None
    parity_max_rel_error: float | None
    top1_agreement: float | None
    parity_passed: bool
    median_ms: float
    min_ms: float
    kernel: str
    path: str

    def to_dict(self) -> dict:
        return asdict(self)


def machine_description() -> str:
    """CPU model, core count and OS of this machine, for benchmark records."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
        if names:
            cpu = names[0]
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} logical cores, {platform.system()} {platform.release()}, Python {platform.python_version()}"


@dataclass(frozen=True)
class Measurement:
    """Everything measured for one model: its table row and the full reports."""

    row: ModelRow
    cost: object  # lq_ext.metrics.ModelCost
    conversion: object  # lq_ext.converters.ConversionResult
    timing: object  # lq_ext.bench.BenchResult


def measure_model(
    name,
    output_dir,
    *,
    model=None,
    threads: int = 1,
    warmup: int = 3,
    runs: int = 20,
    progress: Callable[[str], None] | None = print,
    step: str = "",
    **model_kwargs,
) -> Measurement:
    """Build (unless ``model`` is given), profile, convert with parity check, and time.

    A model built here gets random weights and BatchNorm statistics
    (:func:`lq_ext.testing.randomize_weights`): a fresh model's statistics of exactly
    0 and 1 put binary activations exactly on their thresholds, which makes the parity
    check meaningless; latency does not depend on the values.  A model with 8-/4-bit
    parts (PokeBNN) is calibrated on the real sample images if it is not yet, and its
    parity check allows ``atol`` = :data:`INT8_OUTPUT_ATOL` (its softmax runs in int8).

    The flatbuffer goes to ``output_dir/<name>.tflite``, replacing an earlier output of
    this function there. ``model_kwargs`` go to the zoo entry (e.g. ``input_shape``).
    """
    spec = get_model_spec(name)
    say = progress or (lambda message: None)
    label = f"{step} {spec.name}".strip()
    os.makedirs(output_dir, exist_ok=True)
    if model is None:
        say(f"{label}: building with random weights and BatchNorm statistics")
        model = spec.build(**model_kwargs)
        randomize_weights(model)
    atol = 0.0
    if int_quantizers(model):
        say(f"{label}: calibrating its 8-/4-bit activation quantizers on real images")
        if uncalibrated(model):
            shape = tuple(model.inputs[0].shape[1:])
            calibrate(model, preprocess(load_samples("auto", input_shape=shape)[0]))
        atol = INT8_OUTPUT_ATOL
    cost = profile(model)
    say(f"{label}: converting ({spec.engine}) and checking parity on real images")
    path = os.path.join(output_dir, f"{spec.name}.tflite")
    try:
        conversion = convert(model, path, engine=spec.engine, overwrite=True, atol=atol)
    except ParityError as error:  # still measured, and the table says it failed
        say(f"{label}: PARITY FAILED, timing it anyway:\n{error.report}")
        conversion = convert(model, path, engine=spec.engine, overwrite=True, verify=False)
        conversion = dataclasses.replace(conversion, parity=error.report)
    say(f"{label}: timing {runs} runs after {warmup} warm-up")
    timing = run(path, threads=threads, warmup=warmup, runs=runs)
    say(f"{label}: {timing.median_ms:.2f} ms median, {conversion.size_bytes / 2**20:.2f} MiB")
    parity = conversion.parity
    row = ModelRow(
        name=spec.name,
        engine=spec.engine,
        ops=cost.ops,
        bops=cost.bops,
        flops=cost.flops,
        size_bytes=conversion.size_bytes,
        bitpacked_share=conversion.ops.bitpacked_share,
        parity_max_rel_error=parity.max_rel_error if parity else None,
        top1_agreement=parity.top1_agreement if parity else None,
        parity_passed=parity.passed if parity else True,
        median_ms=timing.median_ms,
        min_ms=timing.min_ms,
        kernel=timing.kernel,
        path=path,
    )
    return Measurement(row, cost, conversion, timing)


def benchmark_models(
    names,
    output_dir,
    *,
    threads: int = 1,
    warmup: int = 3,
    runs: int = 20,
    progress: Callable[[str], None] | None = print,
    **model_kwargs,
) -> list[ModelRow]:
    """:func:`measure_model` for each registered name, in one run; returns the rows."""
    for name in names:
        get_model_spec(name)  # unknown names fail before any work
    return [
        measure_model(
            name,
            output_dir,
            threads=threads,
            warmup=warmup,
            runs=runs,
            progress=progress,
            step=f"[{i}/{len(names)}]",
            **model_kwargs,
        ).row
        for i, name in enumerate(names, 1)
    ]


def _share(value):
    return "–" if value is None else f"{100 * value:.0f} %"


def markdown_table(rows: list[ModelRow]) -> str:
    """The rows as a markdown table (OPs in millions, size in MiB, latency in ms)."""
    lines = [
        "| model | converter | OPs (M) | BOPs (M) | FLOPs (M) | .tflite (MiB) | binary MACs bit-packed | parity max rel. err (all images) | latency median (ms) | min (ms) | kernel |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        parity = "–" if r.parity_max_rel_error is None else f"{r.parity_max_rel_error:.1e}"
        if not r.parity_passed:
            parity += " FAILED"
        lines.append(
            f"| {r.name} | {r.engine} | {r.ops / 1e6:.1f} | {r.bops / 1e6:.1f} | {r.flops / 1e6:.1f} "
            f"| {r.size_bytes / 2**20:.2f} | {_share(r.bitpacked_share)} | {parity} "
            f"| {r.median_ms:.2f} | {r.min_ms:.2f} | {r.kernel} |"
        )
    return "\n".join(lines)
