"""Side-by-side benchmark of registered models: OPs, flatbuffer size, latency, one run.

Every model is built with random weights and BatchNorm statistics, profiled (:func:`lq_ext.profile`),
converted with the converter its registry entry names (LCE for binary models, the
standard TFLite converter for float references), parity-checked on real images and
timed in LCE's Python Interpreter — all in one process on one machine, so the rows
can be compared with each other (and only with each other).

Where lq_ext's conversion differs from what LCE does alone — exact-int8 depth-wise
convs (``BinaryDepthwiseConv2D(exact_int8=True)``, e.g. BDNetMobileNet's
``exact_int8=True``) and binary dense layers run as 1×1 ``LceBconv2d`` — the same
model with the same weights is also converted the LCE-alone way (:func:`lce_alone_model`,
``convert(..., binary_dense="float")``) and timed next to it. :func:`lq_ext.bench.plot.plot_latency_vs_ops`
draws latency against OPs (needs matplotlib, not a dependency of lq_ext).
"""

from __future__ import annotations

import dataclasses
import os
import platform
import shlex
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass

import larq as lq

from lq_ext.bench.interpreter import run
from lq_ext.bench.plot import plot_latency_vs_ops, require_matplotlib  # noqa: F401 (their home before lq_ext.bench.plot)
from lq_ext.converters import ParityError, convert
from lq_ext.converters.rewrite import replace_layers, rewritable_dense_layers
from lq_ext.data import load_samples, preprocess
from lq_ext.fake_quant import calibrate, int_quantizers, uncalibrated
from lq_ext.layers import BinaryDense, BinaryDepthwiseConv2D
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
    size_over_floor: float | None = None  # file size / bit floor of its constants
    lce_alone_median_ms: float | None = None  # same model converted as LCE does alone
    int8_median_ms: float | None = None  # convert(..., int8=True): the non-binary parts in int8
    int8_float_mac_share: float | None = None  # MACs left in float ops in that flatbuffer
    int8_size_bytes: int | None = None
    int8_error: str | None = None  # why convert(..., int8=True) refused the model

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


def command_line(script: str, argv=None) -> str:
    """``python <script> <argv>`` for a benchmark record: the script's path from the
    repository root (the directory above its folder), the arguments (default: this
    process's) shell-quoted."""
    path = os.path.abspath(script)
    root = os.path.dirname(os.path.dirname(path))
    arguments = sys.argv[1:] if argv is None else argv
    return " ".join(shlex.quote(a) for a in ["python", os.path.relpath(path, root), *arguments])


def check_model_names(parser, names) -> None:
    """Exit through ``parser.error`` (status 2, the registry's message and suggestion) at the
    first of ``names`` that is not a registered model."""
    for name in names:
        try:
            get_model_spec(name)
        except KeyError as error:
            parser.error(str(error.args[0]))


def lce_alone_model(model):
    """``model`` with lq_ext's conversion measures turned off: what LCE 0.16 gets alone.

    Exact-int8 depth-wise convs become float ones (``exact_int8=False``, i.e.
    ``BDNetMobileNet(exact_int8=False)``) and :class:`~lq_ext.layers.BinaryDense`
    layers plain ``QuantDense`` (convert the result with ``binary_dense="float"``); the
    weights and the Keras outputs stay the same. Returns ``(model, changed layer
    names)``; ``(model, ())`` — the same object — when there is nothing to change
    (:func:`lq_ext.converters.rewrite.replace_layers`, on :func:`lq_ext.graph.map_layers`).
    """
    return replace_layers(model, _lce_alone_layer)


def float_depthwise_model(model):
    """``model`` with its exact-int8 depth-wise convs as float ones (``exact_int8=False``):
    same weights, same Keras outputs; LCE then runs them as float ``DEPTHWISE_CONV_2D``
    into which the element-wise folds can fold the kernel scale. Returns ``(model,
    changed layer names)`` like :func:`lce_alone_model`."""
    return replace_layers(model, _float_depthwise_layer)


def _float_depthwise_layer(layer):
    if isinstance(layer, BinaryDepthwiseConv2D) and layer.exact_int8:
        return type(layer), {**layer.get_config(), "exact_int8": False}
    return None


def _lce_alone_layer(layer):
    """``(cls, config)`` of ``layer`` as LCE alone would get it, or None if unchanged."""
    if isinstance(layer, BinaryDepthwiseConv2D):
        return _float_depthwise_layer(layer)
    if isinstance(layer, BinaryDense):
        return lq.layers.QuantDense, layer.get_config()
    return None


@dataclass(frozen=True)
class Measurement:
    """Everything measured for one model: its table row and the full reports."""

    row: ModelRow
    cost: object  # lq_ext.metrics.ModelCost
    conversion: object  # lq_ext.converters.ConversionResult
    timing: object  # lq_ext.bench.BenchResult
    lce_alone_timing: object = None  # BenchResult of the LCE-alone conversion, if it differs
    int8_conversion: object = None  # ConversionResult of int8 mode, with int8=True
    int8_timing: object = None


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
    lce_alone: bool = True,
    int8: bool = False,
    **model_kwargs,
) -> Measurement:
    """Build (unless ``model`` is given), profile, convert with parity check, and time.

    A model built here gets random weights and BatchNorm statistics
    (:func:`lq_ext.testing.randomize_weights`): a fresh model's statistics of exactly
    0 and 1 put binary activations exactly on their thresholds, which makes the parity
    check meaningless; latency does not depend on the values.  A model with 8-/4-bit
    parts (PokeBNN) is calibrated on the real sample images if it is not yet, and its
    parity check allows ``atol`` = :data:`INT8_OUTPUT_ATOL` (its softmax runs in int8).

    With ``lce_alone=True`` (default) and a model that lq_ext converts differently from
    LCE alone, the :func:`lce_alone_model` of it goes to
    ``output_dir/<name>_lce_alone.tflite`` (no parity check: it is a timing reference)
    and is timed right after lq_ext's flatbuffer.

    With ``int8=True`` the model is also converted in full-int8 mode
    (``convert(..., int8=True)``, calibrated on the real sample images, with LCE even
    for float references) to ``output_dir/<name>_int8.tflite`` and timed. Its outputs are
    not checked: with random weights, agreement with the float model means nothing
    (``experiments/int8_agreement.py`` measures it on a trained network).

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
    alone_timing = None
    if lce_alone and spec.engine == "lce":
        alone, changed = lce_alone_model(model)
        changed += tuple(layer.name for layer in rewritable_dense_layers(model))
        if changed:
            say(f"{label}: converting as LCE alone ({len(changed)} layer(s) left to LCE's float path), timing it")
            alone_path = os.path.join(output_dir, f"{spec.name}_lce_alone.tflite")
            convert(alone, alone_path, engine="lce", overwrite=True, verify=False, binary_dense="float")
            alone_timing = run(alone_path, threads=threads, warmup=warmup, runs=runs)
            say(f"{label}: LCE alone {alone_timing.median_ms:.2f} ms median")
    int8_conversion = int8_timing = int8_error = None
    if int8:
        say(f"{label}: converting in full-int8 mode (calibrated on the sample images), timing it")
        int8_path = os.path.join(output_dir, f"{spec.name}_int8.tflite")
        try:  # calibrated on convert's default images: the real samples, preprocessed
            int8_conversion = convert(model, int8_path, engine="lce", overwrite=True, verify=False, int8=True)
        except ValueError as error:  # a deployment rule int8 mode enforces: recorded
            int8_error = str(error)
            say(f"{label}: int8 mode refused: {int8_error}")
        else:
            int8_timing = run(int8_path, threads=threads, warmup=warmup, runs=runs)
            say(f"{label}: int8 mode {int8_timing.median_ms:.2f} ms median")
    parity = conversion.parity
    int8_macs = int8_conversion.ops.macs_by_class if int8_conversion is not None else None
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
        parity_passed=conversion.verified if parity else True,  # whole output or per-layer diagnosis
        median_ms=timing.median_ms,
        min_ms=timing.min_ms,
        kernel=timing.kernel,
        path=path,
        size_over_floor=conversion.ops.size_over_floor,
        lce_alone_median_ms=alone_timing.median_ms if alone_timing is not None else None,
        int8_median_ms=int8_timing.median_ms if int8_timing is not None else None,
        int8_float_mac_share=(
            int8_macs["float"] / max(sum(int8_macs.values()), 1) if int8_macs is not None else None
        ),
        int8_size_bytes=int8_conversion.size_bytes if int8_conversion is not None else None,
        int8_error=int8_error,
    )
    return Measurement(row, cost, conversion, timing, alone_timing, int8_conversion, int8_timing)


def benchmark_models(
    names,
    output_dir,
    *,
    threads: int = 1,
    warmup: int = 3,
    runs: int = 20,
    progress: Callable[[str], None] | None = print,
    lce_alone: bool = True,
    int8: bool = False,
    on_row: Callable[[ModelRow], None] | None = None,
    **model_kwargs,
) -> list[ModelRow]:
    """:func:`measure_model` for each registered name, in one run; returns the rows.

    ``on_row(row)`` is called as soon as each row is measured (e.g. to save it, so that
    a failure in a later model loses nothing)."""
    for name in names:
        get_model_spec(name)  # unknown names fail before any work
    rows = []
    for i, name in enumerate(names, 1):
        row = measure_model(
            name,
            output_dir,
            threads=threads,
            warmup=warmup,
            runs=runs,
            progress=progress,
            step=f"[{i}/{len(names)}]",
            lce_alone=lce_alone,
            int8=int8,
            **model_kwargs,
        ).row
        rows.append(row)
        if on_row is not None:
            on_row(row)
    return rows


def _share(value):
    return "–" if value is None else f"{100 * value:.0f} %"


def _optional(value, fmt):
    return "–" if value is None else format(value, fmt)


def markdown_table(rows: list[ModelRow]) -> str:
    """The rows as a markdown table (OPs in millions, size in MiB, latency in ms).

    "size / bit floor" is the file size over the bit floor of its constants (1 bit per
    binary weight, 8 per int8, 32 per float value; :attr:`OpReport.size_over_floor`).
    "LCE alone (ms)" is the same model converted as LCE does alone, for the rows where
    lq_ext's conversion differs ("–" elsewhere: there the two are the same flatbuffer).
    With int8 measurements, three more columns: the full-int8 file's size, its latency
    and the share of its MACs still in float ops.
    """
    with_int8 = any(r.int8_median_ms is not None for r in rows)
    head = "| model | converter | OPs (M) | BOPs (M) | FLOPs (M) | .tflite (MiB) | size / bit floor | binary MACs bit-packed | parity max rel. err (all images) | latency median (ms) | LCE alone (ms) | min (ms) | kernel |"
    rule = "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
    if with_int8:
        head += " int8 mode (MiB) | int8 mode (ms) | int8 mode: float MACs |"
        rule += "---:|---:|---:|"
    lines = [head, rule]
    for r in rows:
        parity = "–" if r.parity_max_rel_error is None else f"{r.parity_max_rel_error:.1e}"
        if not r.parity_passed:
            parity += " FAILED"
        lines.append(
            f"| {r.name} | {r.engine} | {r.ops / 1e6:.1f} | {r.bops / 1e6:.1f} | {r.flops / 1e6:.1f} "
            f"| {r.size_bytes / 2**20:.2f} | {_optional(r.size_over_floor, '.2f')} "
            f"| {_share(r.bitpacked_share)} | {parity} "
            f"| {r.median_ms:.2f} | {_optional(r.lce_alone_median_ms, '.2f')} | {r.min_ms:.2f} | {r.kernel} |"
            + (
                f" {_optional(r.int8_size_bytes and r.int8_size_bytes / 2**20, '.2f')} "
                f"| {'refused' if r.int8_error else _optional(r.int8_median_ms, '.2f')} "
                f"| {_optional(r.int8_float_mac_share, '.1%')} |"
                if with_int8
                else ""
            )
        )
    return "\n".join(lines)
