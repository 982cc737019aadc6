"""Where the time goes: per-op-type latency of zoo models, one op at a time.

    nice -n 19 python benchmarks/bench_op_profile.py [--models bdnet_mobilenet quicknet_small]
        [--input-shape 224,224,3] [--kernels optimized indirect_bgemm] [--rounds 5] [--runs 5]
        [--clock cpu] [--fold-elementwise] [--output docs/results/op_profile.md]

Each model is built with random weights and BatchNorm statistics, converted once
(``lq_ext.converters.convert``, no parity check: latency does not depend on the values) and
profiled with :func:`lq_ext.bench.op_profile.profile_ops` for each LCE kernel, XNNPACK off,
one thread (``--fold-elementwise``: converted with ``convert(..., fold_elementwise=True)``):
every op alone as a one-op graph fed the model's own activations, minus the copy
of its inputs, next to the whole model timed in the same rounds. Prints each table in the
"Summary by node type" layout of ``lce_benchmark_model --enable_op_profiling``. x86 timings of
LCE's binary kernels are portable C++: read the shares, not the milliseconds.
"""

# isort: split
import lq_ext  # noqa: F401  (selects legacy Keras before TensorFlow loads)

# isort: split
import argparse
import os
import sys
import tempfile
import time

from lq_ext.bench.compare import check_model_names, machine_description
from lq_ext.bench.op_profile import profile_ops
from lq_ext.cli import parse_shape  # the CLI's H,W,C parser
from lq_ext.converters import convert
from lq_ext.data import load_samples, preprocess
from lq_ext.fake_quant import calibrate, int_quantizers, uncalibrated
from lq_ext.testing import randomize_weights
from lq_ext.zoo import get_model_spec

DEFAULT_OUTPUT = os.path.join(os.path.dirname(__file__), "..", "docs", "results", "op_profile.md")


def _load() -> str:
    try:
        return " / ".join(f"{value:.1f}" for value in os.getloadavg())
    except OSError:
        return "unknown"


def _record(args, started, load_start, sections) -> str:
    command = " ".join(
        ["nice -n 19 python benchmarks/bench_op_profile.py", f"--models {' '.join(args.models)}",
         f"--input-shape {','.join(map(str, args.input_shape))}", f"--kernels {' '.join(args.kernels)}",
         f"--rounds {args.rounds}", f"--runs {args.runs}", f"--warmup {args.warmup}", f"--clock {args.clock}"]
        + (["--fold-elementwise"] if args.fold_elementwise else [])
    )
    record = "\n".join([
        "# Where the time goes: op profile",
        "",
        f"Measured {started} with `{command}`.",
        "",
        f"Machine: {machine_description()}. Load average (1 / 5 / 15 min) at start {load_start}, at end "
        f"{_load()}, on 2 cores shared with other jobs: the milliseconds are inflated and noisy, the shares less so.",
        f"LCE's Python interpreter, one thread, XNNPACK off, single image, random weights, {args.clock} clock, "
        f"{'x'.join(map(str, args.input_shape))} input. Each op runs alone as a one-op graph fed the activations "
        f"the whole model computes ({args.rounds} rounds × {args.runs} calls, order reversed every other round, "
        f"the whole model timed in the same rounds); each op call is followed by a call of a no-op graph with the same "
        f"inputs (the copy into the interpreter), the op's time is the median of the differences in a round, then the "
        f"median over rounds. A type's time is the sum of its ops'. Min–max: over rounds (per-round sums for types).",
        "",
        *sections,
    ])
    return record


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["bdnet_mobilenet", "quicknet_small"])
    parser.add_argument("--input-shape", type=parse_shape, default="224,224,3", metavar="H,W,C")
    parser.add_argument("--kernels", nargs="+", default=["optimized", "indirect_bgemm"])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--runs", type=int, default=5, help="timed calls of each graph per round")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--clock", choices=["cpu", "wall"], default="cpu",
                        help="cpu (default): CPU time of this process, not inflated by other jobs; wall: wall time")
    parser.add_argument("--fold-elementwise", action="store_true",
                        help="convert with fold_elementwise=True (issue 17's element-wise folds)")
    parser.add_argument("--output", default=DEFAULT_OUTPUT, help="markdown file to write ('' for none)")
    args = parser.parse_args(argv)
    check_model_names(parser, args.models)

    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    load_start = _load()
    sections = []
    with tempfile.TemporaryDirectory() as directory:
        for name in args.models:
            spec = get_model_spec(name)
            print(f"{name}: building at {args.input_shape} with random weights, converting", flush=True)
            model = spec.build(input_shape=args.input_shape)
            randomize_weights(model)
            if int_quantizers(model) and uncalibrated(model):  # PokeBNN's 8-/4-bit parts
                calibrate(model, preprocess(load_samples("auto", input_shape=args.input_shape)[0]))
            path = os.path.join(directory, f"{name}.tflite")
            convert(model, path, engine=spec.engine, overwrite=True, verify=False,
                    fold_elementwise=args.fold_elementwise)
            for kernel in args.kernels:
                print(f"{name}: profiling with kernel={kernel}", flush=True)
                try:
                    result = profile_ops(path, kernel=kernel, rounds=args.rounds, runs_per_round=args.runs,
                                         warmup=args.warmup, clock=args.clock,
                                         progress=lambda done, total: print(f"  round {done}/{total}", flush=True))
                except ValueError as error:  # e.g. kernel='optimized' on grouped binary convs
                    print(error, flush=True)
                    sections += [f"### {name}, kernel={kernel}", "", f"Not profiled: {error}", ""]
                    continue
                print(result, flush=True)
                sections += [
                    f"### {name}, kernel={result.kernel}", "",
                    f"{len(result.ops)} ops. Sum of the ops {result.sum_ms:.2f} ms (min–max over rounds "
                    f"{result.sum_spread.min:.2f}–{result.sum_spread.max:.2f}), whole model {result.whole.median:.2f} ms "
                    f"({result.whole.min:.2f}–{result.whole.max:.2f}); input copies subtracted from the ops: "
                    f"{result.copy_ms:.2f} ms.", "",
                    result.markdown(), "",
                    "The ten slowest ops:", "", result.top_ops_markdown(10), "",
                    "<details><summary>In the layout of <code>lce_benchmark_model --enable_op_profiling</code></summary>", "",
                    "```", result.node_type_table(), "```", "", "</details>", "",
                ]
                if args.output:  # after every section: a later failure loses nothing
                    with open(args.output, "w") as handle:
                        handle.write(_record(args, started, load_start, sections))
    print(_record(args, started, load_start, sections))
    return 0


if __name__ == "__main__":
    sys.exit(main())
