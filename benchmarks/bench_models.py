"""Benchmark record: OPs, flatbuffer size and latency of the zoo next to references.

    python benchmarks/bench_models.py [--runs 50] [--output benchmarks/results.md]
        [--models bdnet_mobilenet quicknet_small] [--input-shape 224,224,3] [--plot latency.png]

Builds every model with random weights (default 224x224x3), converts it (LCE for binary
models, the standard TFLite converter for the float MobileNetV1) with the parity
check on real images, and times it in LCE's Python interpreter, all in one run on
this machine. Where lq_ext's conversion differs from LCE alone (BDNetMobileNet's
exact-int8 depth-wise convs, binary dense layers), the LCE-alone conversion of the same
model is timed next to it. Writes a markdown table with the machine description;
``--plot`` also draws latency against OPs (needs matplotlib, which lq_ext does not
install: the option fails before any work if it is missing). x86 timings of
LCE's binary kernels are portable C++, not ARM numbers: compare rows with each other.
"""

import argparse
import importlib.metadata
import json
import os
import sys
import time

import lq_ext  # noqa: F401  (selects legacy Keras before TensorFlow loads)
from lq_ext.bench.compare import (
    benchmark_models,
    check_model_names,
    machine_description,
    markdown_table,
    plot_latency_vs_ops,
    require_matplotlib,
)
from lq_ext.cli import _shape as parse_shape  # the CLI's H,W,C parser

MODELS = (
    "bdnet_mobilenet",
    "bdnet_mobilenet_naive",
    "reactnet_a",
    "bcdnet_a",
    "bcdnet_b",
    "es_reactnet",
    "es_resnet18",
    "es_bnext_tiny",
    "pokebnn_075",
    "pokebnn_10",
    "pokebnn_14",
    "quicknet_small",
    "quicknet",
    "mobilenet_v1_float",
)


def _save_row(row, directory):
    """Append a measured row to DIRECTORY/rows.jsonl as soon as it exists."""
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "rows.jsonl"), "a") as handle:
        handle.write(json.dumps(row.to_dict()) + "\n")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument(
        "--output",
        help="markdown file to write (default: benchmarks/results.md for the full default run; "
        "a subset or another input shape writes nothing unless --output is given)",
    )
    parser.add_argument("--flatbuffers", default="results/benchmarks", help="where the .tflite files (and rows.jsonl, each row as measured) go")
    parser.add_argument("--input-shape", type=parse_shape, default="224,224,3", metavar="H,W,C", help="model input (default 224,224,3)")
    parser.add_argument("--plot", metavar="PATH", help="also plot latency vs OPs to PATH (.png/.svg; needs matplotlib)")
    parser.add_argument("--no-int8", dest="int8", action="store_false", help="skip the full-int8 conversion of each model")
    args = parser.parse_args(argv)
    input_shape = args.input_shape
    check_model_names(parser, args.models)
    if args.plot:  # fail before an hour of benchmarking, not after
        try:
            require_matplotlib()
        except RuntimeError as error:
            parser.error(f"--plot {args.plot}: {error}")

    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    rows = benchmark_models(
        args.models,
        args.flatbuffers,
        threads=args.threads,
        warmup=args.warmup,
        runs=args.runs,
        input_shape=input_shape,
        int8=args.int8,
        on_row=lambda row: _save_row(row, args.flatbuffers),
    )
    table = markdown_table(rows)
    command = " ".join(
        ["python benchmarks/bench_models.py", f"--runs {args.runs}", f"--warmup {args.warmup}", f"--threads {args.threads}"]
        + ([f"--models {' '.join(args.models)}"] if list(args.models) != list(MODELS) else [])
        + ([f"--input-shape {','.join(map(str, input_shape))}"] if input_shape != (224, 224, 3) else [])
        + ([f"--plot {args.plot}"] if args.plot else [])
        + ([] if args.int8 else ["--no-int8"])
    )
    record = "\n".join(
        [
            f"Measured {started} with `{command}`.",
            "",
            f"Machine: {machine_description()}.",
            f"Latency: LCE {importlib.metadata.version('larq-compute-engine')} Python interpreter, single image, "
            f"{args.threads} thread(s), XNNPACK off, median of {args.runs} runs after {args.warmup} "
            f"warm-up; random weights and BatchNorm statistics, {'x'.join(map(str, input_shape))} input.",
            "",
            table,
            "",
            "size / bit floor: file size over the bits its constants need (1 per binary weight, 8 per "
            "int8, 32 per float value). LCE alone: the same model and weights converted as LCE 0.16 "
            "does by itself (exact-int8 depth-wise convs back to float, binary dense as float "
            "FULLY_CONNECTED), timed right after lq_ext's flatbuffer; '–' where the two are the same.",
            "int8 mode: convert(..., int8=True) calibrated on the 20 sample images (LCE also for the "
            "float reference), timed right after; its outputs are not checked here (random weights), "
            "experiments/int8_agreement.py measures its agreement on a trained network.",
            "x86 timings of LCE's binary kernels (portable C++, no x86 SIMD kernels) are not ARM "
            "timings: compare rows with each other, never with Raspberry Pi numbers.",
        ]
    )
    output = args.output
    if output is None and list(args.models) == list(MODELS) and input_shape == (224, 224, 3):
        output = os.path.join(os.path.dirname(__file__), "results.md")
    if output:
        with open(output, "w") as f:
            f.write(record + "\n")
    print(record)
    if args.plot:
        print(f"Plot: {plot_latency_vs_ops(rows, args.plot)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
