"""Paired latency rounds: zoo models timed alternately in one process, ratios with intervals.

    python benchmarks/bench_paired.py [--models bdnet_mobilenet quicknet_small]
        [--reference quicknet_small] [--input-shape 224,224,3] [--rounds 8] [--runs 10]
        [--int8] [--fold-elementwise] [--float-depthwise] [--output docs/results/paired_latency.md]

Each model is built with random weights and BatchNorm statistics, converted once
(``lq_ext.converters.convert``, no parity check: latency does not depend on the values),
then timed with :func:`lq_ext.bench.paired.paired_latency` for every LCE kernel and
XNNPACK off / on: alternating rounds (A B, then B A, ...), per-round medians, the ratio
to the reference per round, the median ratio with a 95 % bootstrap interval and the
min–max over rounds. ``--int8`` adds each model's full-int8 conversion as a row of its
own; ``--fold-elementwise`` adds each model converted with
``convert(..., fold_elementwise=True)`` (issue 17's folds) as a row ``<name>_folded``;
``--float-depthwise`` adds, for each model with exact-int8
depth-wise convs (BD-Net), the same model with float ones (``exact_int8=False``,
:func:`lq_ext.bench.compare.float_depthwise_model`) as ``<name>_float_dw`` (and
``<name>_float_dw_folded``). x86 timings of LCE's binary kernels are portable C++: read the ratios, not the
milliseconds, and never compare them with a board's.
"""

# isort: split
import lq_ext  # noqa: F401  (selects legacy Keras before TensorFlow loads)

# isort: split
import argparse
import os
import sys
import tempfile
import time

from lq_ext.bench.compare import check_model_names, float_depthwise_model, machine_description
from lq_ext.bench.paired import paired_latency
from lq_ext.cli import parse_shape  # the CLI's H,W,C parser
from lq_ext.converters import convert
from lq_ext.data import load_samples, preprocess
from lq_ext.fake_quant import calibrate, int_quantizers, uncalibrated
from lq_ext.testing import randomize_weights
from lq_ext.zoo import get_model_spec

KERNELS = ("optimized", "indirect_bgemm")
DEFAULT_OUTPUT = os.path.join(os.path.dirname(__file__), "..", "docs", "results", "paired_latency.md")


def convert_models(names, input_shape, directory, *, int8, fold_elementwise=False, float_depthwise=False):
    """``{row name: .tflite path}``: each model (and its int8 conversion with ``int8``, its
    element-wise folded conversion with ``fold_elementwise``, its float depth-wise twin with
    ``float_depthwise``)."""
    files = {}

    def add(row, model, **kwargs):
        path = os.path.join(directory, f"{row}.tflite")
        convert(model, path, overwrite=True, verify=False, **kwargs)
        files[row] = path

    for name in names:
        spec = get_model_spec(name)
        print(f"{name}: building at {input_shape} with random weights, converting", flush=True)
        model = spec.build(input_shape=input_shape)
        randomize_weights(model)
        samples = preprocess(load_samples("auto", input_shape=input_shape)[0])
        if int_quantizers(model) and uncalibrated(model):
            calibrate(model, samples)
        add(name, model, engine=spec.engine)
        if int8:
            add(f"{name}_int8", model, engine="lce", int8=True)
        if fold_elementwise:
            add(f"{name}_folded", model, engine=spec.engine, fold_elementwise=True)
        twin, changed = float_depthwise_model(model) if float_depthwise else (model, ())
        if changed:
            add(f"{name}_float_dw", twin, engine=spec.engine)
            if fold_elementwise:
                add(f"{name}_float_dw_folded", twin, engine=spec.engine, fold_elementwise=True)
    return files


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["bdnet_mobilenet", "quicknet_small"])
    parser.add_argument("--reference", help="the model ratios are taken against (default: the last of --models)")
    parser.add_argument("--input-shape", type=parse_shape, default="224,224,3", metavar="H,W,C")
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--runs", type=int, default=10, help="inferences per model per round")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--int8", action="store_true", help="also time each model's full-int8 conversion")
    parser.add_argument("--fold-elementwise", action="store_true",
                        help="also time each model converted with fold_elementwise=True")
    parser.add_argument("--float-depthwise", action="store_true",
                        help="also time models with exact-int8 depth-wise convs with float ones")
    parser.add_argument("--output", default=DEFAULT_OUTPUT, help="markdown file to write ('' for none)")
    args = parser.parse_args(argv)
    check_model_names(parser, args.models)
    reference = args.reference or args.models[-1]
    if reference not in args.models:
        parser.error(f"--reference {reference} is not one of --models {args.models}")

    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    sections = []
    with tempfile.TemporaryDirectory() as directory:
        files = convert_models(args.models, args.input_shape, directory, int8=args.int8,
                               fold_elementwise=args.fold_elementwise, float_depthwise=args.float_depthwise)
        for kernel in KERNELS:
            for xnnpack in (False, True):
                print(f"timing: kernel={kernel}, xnnpack={'on' if xnnpack else 'off'}", flush=True)
                result = paired_latency(
                    files, reference=reference, rounds=args.rounds, runs_per_round=args.runs,
                    warmup=args.warmup, kernel=kernel, use_xnnpack=xnnpack,
                )
                verdicts = [
                    f"{name} / {reference}: {'below 1' if result.below(name) else 'not below 1'} "
                    f"(interval {result.ratio[name].low:.3f}–{result.ratio[name].high:.3f})"
                    for name in result.names if name != reference
                ]
                sections += [
                    f"### kernel={kernel}, XNNPACK {'on' if xnnpack else 'off'}",
                    "",
                    result.markdown(),
                    "",
                    "; ".join(verdicts) + ".",
                    "",
                ]
                print(result, flush=True)

    command = " ".join(
        ["python benchmarks/bench_paired.py", f"--models {' '.join(args.models)}", f"--reference {reference}",
         f"--input-shape {','.join(map(str, args.input_shape))}", f"--rounds {args.rounds}", f"--runs {args.runs}",
         f"--warmup {args.warmup}"] + (["--int8"] if args.int8 else [])
        + (["--fold-elementwise"] if args.fold_elementwise else [])
        + (["--float-depthwise"] if args.float_depthwise else [])
    )
    record = "\n".join(
        [
            "# Paired latency rounds",
            "",
            f"Measured {started} with `{command}`.",
            "",
            f"Machine: {machine_description()}. LCE's Python interpreter, one thread, single image, "
            f"random weights, {'x'.join(map(str, args.input_shape))} input. Each round times every model "
            f"{args.runs}×, in alternating order; the interval is a 95 % bootstrap interval of the median "
            f"over {args.rounds} rounds. x86 timings of LCE's binary kernels are portable C++: read the ratios.",
            "",
            *sections,
        ]
    )
    if args.output:
        with open(args.output, "w") as handle:
            handle.write(record)
    print(record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
