"""Op count and element-wise float work per zoo model, as its flatbuffer runs it.

    python benchmarks/bench_elementwise.py [--models bdnet_mobilenet,quicknet_small]
        [--sizes 224,32] [--fold-elementwise [--float-depthwise]] [--output docs/results/elementwise.md]

For every registered model (random weights, seed 0; 1000 classes at 224 px, 10 below)
and each input size (8-/4-bit activation quantizers calibrated on the 20 sample images,
as in bench_models.py), :func:`lq_ext.converters.convert` (``verify=False``, the model's
engine, graph-def path) writes the flatbuffer that users get and
:func:`lq_ext.converters.inspect` reads it: the number of ops, the ``LceBconv2d`` count,
the element-wise float work per image (``OpReport.elementwise_float_work``: the largest
float activation of every non-MAC op, summed; definition in
docs/guides/conversion.md) and its three largest op types, next to the model's OPs
(``lq_ext.metrics.profile``: BOPs / 64 + FLOPs) and the element-wise ops the Keras-level
profile counts. This is the baseline of issue 17's goal (BDNetMobileNet: element-wise
work and op count each at most half of it). ``--fold-elementwise`` converts with
``convert(..., fold_elementwise=True)`` (BatchNorm thresholds,
:mod:`lq_ext.converters.fold_elementwise`, and RPReLU shifts,
:mod:`lq_ext.converters.fold_shifts`) and adds the folded figures next to the baseline; with ``--float-depthwise`` also those of the
model with its exact-int8 depth-wise convs as float ones, folded
(:func:`lq_ext.bench.compare.float_depthwise_model`: BD-Net's mean|w| then folds into the
float depth-wise kernel; "–" for models without such convs).
"""

from __future__ import annotations

import argparse
import gc
import inspect as pyinspect
import os
import sys
import tempfile
from dataclasses import dataclass

import lq_ext  # noqa: F401  (selects legacy Keras before TensorFlow loads)

# isort: split
import tensorflow as tf

from lq_ext.bench.compare import check_model_names, command_line, float_depthwise_model, machine_description
from lq_ext.converters import convert
from lq_ext.data import load_samples, preprocess
from lq_ext.fake_quant import calibrate, uncalibrated
from lq_ext.metrics import profile
from lq_ext.testing import randomize_weights
from lq_ext.zoo import get_model_spec, list_models

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUTPUT = os.path.join(HERE, os.pardir, "docs", "results", "elementwise.md")


@dataclass(frozen=True)
class Row:
    model: str
    size: int
    ops: int
    bconvs: int
    elementwise: int
    top_types: str  # the three op types with the most element-wise work, with their share
    model_ops: float  # profile(model).ops: BOPs / 64 + FLOPs
    keras_elementwise: int  # profile(model).elementwise
    folded_ops: int | None = None
    folded_elementwise: int | None = None
    float_dw_ops: int | None = None  # float depth-wise twin, folded
    float_dw_elementwise: int | None = None


def _convert(model, engine: str, fold: bool):
    kwargs = {"fold_elementwise": True} if fold else {}
    with tempfile.TemporaryDirectory() as tmp:
        return convert(model, os.path.join(tmp, "m.tflite"), engine=engine, verify=False, **kwargs).ops


def measure(name: str, size: int, fold: bool = False, float_depthwise: bool = False) -> Row:
    spec = get_model_spec(name)
    kwargs = dict(input_shape=(size, size, 3))
    if size < 224:
        kwargs["num_classes"] = 10
    model = spec.build(**kwargs)
    randomize_weights(model, seed=0)
    if uncalibrated(model):  # PokeBNN's 8-/4-bit activation quantizers, as bench_models.py does
        calibrate(model, preprocess(load_samples("auto", input_shape=(size, size, 3))[0]))
    report = _convert(model, spec.engine, fold=False)
    total = report.elementwise_float_work
    top = list(report.elementwise_by_type.items())[:3]
    cost = profile(model)
    folded = _convert(model, spec.engine, fold=True) if fold else None
    twin, changed = float_depthwise_model(model) if float_depthwise else (model, ())
    float_dw = _convert(twin, spec.engine, fold=True) if changed else None
    row = Row(
        model=name,
        size=size,
        ops=len(report.ops),
        bconvs=report.count("LceBconv2d"),
        elementwise=total,
        top_types=", ".join(f"{op} {work / total:.0%}" for op, work in top) if total else "–",
        model_ops=float(cost.ops),
        keras_elementwise=int(cost.elementwise),
        folded_ops=None if folded is None else len(folded.ops),
        folded_elementwise=None if folded is None else folded.elementwise_float_work,
        float_dw_ops=None if float_dw is None else len(float_dw.ops),
        float_dw_elementwise=None if float_dw is None else float_dw.elementwise_float_work,
    )
    del model
    tf.keras.backend.clear_session()
    gc.collect()
    return row


def _millions(value: float) -> str:
    return f"{value / 1e6:.2f} M"


def _against_baseline(r: Row, ops: int | None, elementwise: int | None) -> str:
    """Two cells: ``ops`` and ``elementwise`` with their share of the row's baseline, or "–"."""
    if ops is None:
        return " – | – |"
    return f" {ops} ({ops / r.ops:.0%}) | {_millions(elementwise)} ({elementwise / max(r.elementwise, 1):.0%}) |"


def markdown_table(rows: list[Row]) -> str:
    fold = any(r.folded_ops is not None for r in rows)
    float_dw = any(r.float_dw_ops is not None for r in rows)
    head = ("| model | input | ops | LceBconv2d | element-wise float work / image | largest op types | OPs | "
            "element-wise / OPs | Keras-profile element-wise |")
    rule = "|---|---|---:|---:|---:|---|---:|---:|---:|"
    if fold:
        head += " ops folded | element-wise folded |"
        rule += "---:|---:|"
    if float_dw:
        head += " ops float dw folded | element-wise float dw folded |"
        rule += "---:|---:|"
    lines = [head, rule]
    for r in rows:
        line = (
            f"| {r.model} | {r.size} px | {r.ops} | {r.bconvs} | {_millions(r.elementwise)} | {r.top_types} | "
            f"{_millions(r.model_ops)} | {r.elementwise / r.model_ops:.2f} | {_millions(r.keras_elementwise)} |"
        )
        if fold:
            line += _against_baseline(r, r.folded_ops, r.folded_elementwise)
        if float_dw:
            line += _against_baseline(r, r.float_dw_ops, r.float_dw_elementwise)
        lines.append(line)
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", help="comma-separated registered names (default: all)")
    parser.add_argument("--sizes", default="224,32", help="input sizes in pixels (default 224,32)")
    parser.add_argument("--fold-elementwise", action="store_true", help="also convert with fold_elementwise=True")
    parser.add_argument("--float-depthwise", action="store_true",
                        help="with --fold-elementwise: also the model with float depth-wise convs, folded")
    parser.add_argument("--output", default=DEFAULT_OUTPUT, help="markdown file to write ('' for none)")
    args = parser.parse_args(argv)
    names = args.models.split(",") if args.models else list_models()
    check_model_names(parser, names)
    if args.fold_elementwise and "fold_elementwise" not in pyinspect.signature(convert).parameters:
        parser.error("--fold-elementwise: this lq_ext's convert() has no fold_elementwise option")
    if args.float_depthwise and not args.fold_elementwise:
        parser.error("--float-depthwise needs --fold-elementwise (it measures the folded float depth-wise twin)")
    sizes = [int(s) for s in args.sizes.split(",")]
    rows = []
    for size in sizes:
        for name in names:
            rows.append(measure(name, size, fold=args.fold_elementwise, float_depthwise=args.float_depthwise))
            print(markdown_table(rows[-1:]).splitlines()[2], flush=True)  # the model's row
    table = markdown_table(rows)
    header = f"Machine: {machine_description()}.\nCommand: `{command_line(__file__, argv)}`\n"
    print(header + "\n" + table)
    if args.output:
        with open(args.output, "w") as handle:
            handle.write("# Element-wise float work per zoo model\n\n" + header + "\n" + table + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
