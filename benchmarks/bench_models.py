"""Benchmark record: OPs, flatbuffer size and latency of the zoo next to references.

    python benchmarks/bench_models.py [--runs 50] [--output benchmarks/results.md]

Builds every model with random weights at 224x224x3, converts it (LCE for binary
models, the standard TFLite converter for the float MobileNetV1) with the parity
check on real images, and times it in LCE's Python interpreter, all in one run on
this machine. Writes a markdown table with the machine description. x86 timings of
LCE's binary kernels are portable C++, not ARM numbers: compare rows with each other.
"""

import argparse
import importlib.metadata
import os
import sys
import time

import lq_ext  # noqa: F401  (selects legacy Keras before TensorFlow loads)
from lq_ext.bench.compare import benchmark_models, machine_description, markdown_table

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


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--output", default=os.path.join(os.path.dirname(__file__), "results.md"))
    parser.add_argument("--flatbuffers", default="results/benchmarks", help="where the .tflite files go")
    args = parser.parse_args(argv)

    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    rows = benchmark_models(
        args.models, args.flatbuffers, threads=args.threads, warmup=args.warmup, runs=args.runs
    )
    table = markdown_table(rows)
    record = "\n".join(
        [
            f"Measured {started} with `python benchmarks/bench_models.py --runs {args.runs} "
            f"--warmup {args.warmup} --threads {args.threads}`.",
            "",
            f"Machine: {machine_description()}.",
            f"Latency: LCE {importlib.metadata.version('larq-compute-engine')} Python interpreter, single image, "
            f"{args.threads} thread(s), XNNPACK off, median of {args.runs} runs after {args.warmup} "
            "warm-up; random weights and BatchNorm statistics, 224x224x3 input.",
            "",
            table,
            "",
            "x86 timings of LCE's binary kernels (portable C++, no x86 SIMD kernels) are not ARM "
            "timings: compare rows with each other, never with Raspberry Pi numbers.",
        ]
    )
    with open(args.output, "w") as f:
        f.write(record + "\n")
    print(record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
