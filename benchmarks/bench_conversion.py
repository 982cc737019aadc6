"""Conversion time per zoo model: LCE through a SavedModel vs through its graph-def front end.

    python benchmarks/bench_conversion.py [--models bdnet_mobilenet,reactnet_a]
        [--sizes 32,224] [--output docs/results/conversion.md]

For every registered model (random weights, seed 0; 10 classes at 32 px, 1000 at 224 px)
and each input size, :func:`lq_ext.converters.engines.to_flatbuffer` runs with
``via="saved_model"`` (what ``larq_compute_engine.convert_keras_model`` does) and
``via="graphdef"`` (lq_ext's default), in alternating order per model. The table gives
both times (wall clock, the conversion only: the model is built and traced once before),
the speed-up, whether the two files have the same structure (every op, its options and
its tensors' shapes and types, in order: ``Graph.structure``), the largest output
difference on four random inputs in LCE's interpreter, and the two file sizes.
Times are from one run on a shared 2-core machine: read them as ratios.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time
from dataclasses import dataclass

import lq_ext  # noqa: F401  (selects legacy Keras before TensorFlow loads)

# isort: split
import numpy as np
import tensorflow as tf

from lq_ext.bench.compare import command_line, machine_description
from lq_ext.converters._flatbuffer import parse
from lq_ext.converters.engines import to_flatbuffer
from lq_ext.converters.parity import Interpreter
from lq_ext.converters.rewrite import binary_dense_as_bconv
from lq_ext.testing import randomize_weights
from lq_ext.zoo import get_model_spec, list_models

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUTPUT = os.path.join(HERE, os.pardir, "docs", "results", "conversion.md")


@dataclass(frozen=True)
class Row:
    model: str
    size: int
    saved_model_s: float
    graphdef_s: float
    same_structure: bool
    max_abs_difference: float
    saved_model_bytes: int
    graphdef_bytes: int


def measure(name: str, size: int, order_flip: bool) -> Row:
    spec = get_model_spec(name)
    kwargs = dict(input_shape=(size, size, 3))
    if size < 224:
        kwargs["num_classes"] = 10
    model = spec.build(**kwargs)
    randomize_weights(model, seed=0)
    if spec.engine == "lce":
        model, _ = binary_dense_as_bconv(model)  # what convert() hands to LCE
    model(np.zeros((1, size, size, 3), np.float32))  # build once outside the timings
    seconds, made = {}, {}
    for via in ("graphdef", "saved_model") if order_flip else ("saved_model", "graphdef"):
        start = time.perf_counter()
        made[via] = to_flatbuffer(model, engine=spec.engine, via=via)
        seconds[via] = time.perf_counter() - start
    x = np.random.default_rng(0).uniform(-1, 1, (4, size, size, 3)).astype(np.float32)
    outputs = {via: Interpreter(m.data).predict(x) for via, m in made.items()}
    row = Row(
        model=name,
        size=size,
        saved_model_s=seconds["saved_model"],
        graphdef_s=seconds["graphdef"],
        same_structure=parse(made["graphdef"].data).structure() == parse(made["saved_model"].data).structure(),
        max_abs_difference=float(np.abs(outputs["graphdef"] - outputs["saved_model"]).max()),
        saved_model_bytes=len(made["saved_model"].data),
        graphdef_bytes=len(made["graphdef"].data),
    )
    del model, made
    tf.keras.backend.clear_session()
    gc.collect()
    return row


def markdown_table(rows: list[Row]) -> str:
    lines = [
        "| model | input | SavedModel path (s) | graph-def path (s) | speed-up | same ops | max abs output difference | bytes (SavedModel / graph-def) |",
        "|---|---|---:|---:|---:|---|---:|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r.model} | {r.size} px | {r.saved_model_s:.1f} | {r.graphdef_s:.1f} | "
            f"{r.saved_model_s / r.graphdef_s:.1f}× | {'yes' if r.same_structure else 'NO'} | "
            f"{r.max_abs_difference:.3g} | {r.saved_model_bytes:,} / {r.graphdef_bytes:,} |"
        )
    for size in sorted({r.size for r in rows}):
        subset = [r for r in rows if r.size == size]
        saved, graphdef = sum(r.saved_model_s for r in subset), sum(r.graphdef_s for r in subset)
        lines.append(f"| **all {len(subset)} models** | {size} px | {saved:.0f} | {graphdef:.0f} | {saved / graphdef:.1f}× | | | |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", help="comma-separated registered names (default: all)")
    parser.add_argument("--sizes", default="32,224", help="input sizes in pixels (default 32,224)")
    parser.add_argument("--output", default=DEFAULT_OUTPUT, help="markdown file to write ('' for none)")
    args = parser.parse_args(argv)
    names = args.models.split(",") if args.models else list_models()
    sizes = [int(s) for s in args.sizes.split(",")]
    rows = []
    for size in sizes:
        for i, name in enumerate(names):
            rows.append(measure(name, size, order_flip=bool(i % 2)))
            print(markdown_table(rows[-1:]).splitlines()[2], flush=True)  # the model's row
    table = markdown_table(rows)
    header = (
        f"Machine: {machine_description()}; load average at the end {os.getloadavg()[0]:.2f}.\n"
        f"Command: `{command_line(__file__, argv)}`\n"
    )
    print(header + "\n" + table)
    if args.output:
        with open(args.output, "w") as handle:
            handle.write("# Conversion time: SavedModel path vs graph-def path\n\n" + header + "\n" + table + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
