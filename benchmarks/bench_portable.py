"""The portable target against LCE: file size, TFLite Micro arena and latency.

    python benchmarks/bench_portable.py [--runs 50] [--output benchmarks/results/portable.md]
    python benchmarks/bench_portable.py --trained [--output benchmarks/results/portable_trained.md]

For BDNetMobileNet (α = 0.25) and its naive baseline at 32×32 (10 classes, random weights,
seed 0; calibration: the 20 CIFAR-10 sample images) or, with ``--trained``, the trained
Fashion-MNIST networks of ``tests/converters/fixtures`` (32×32×1; calibration: the first 500
training images, the timed image the first test image), three conversions: LCE bit-packed
(``engine="lce"``), LCE with full int8 (``int8=True``) and the portable target
(``engine="builtin"``). Latency is the median of ``--runs`` single-image inferences on one
thread after 5 warm-ups: LCE's interpreter for the LCE files (the only runtime that has
their ``Lce*`` ops), LiteRT (``ai-edge-litert``) with and without XNNPACK and TFLite
Micro's Python interpreter (x86 reference kernels: a relative figure only) for the
portable file. The arena is what TFLite Micro's recording allocator reports. One run, one
machine: read the times as ratios.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import lq_ext  # noqa: F401  (selects legacy Keras before TensorFlow loads)

# isort: split
import numpy as np
from ai_edge_litert.interpreter import Interpreter, OpResolverType
from larq_compute_engine.tflite.python.interpreter import Interpreter as LceInterpreter

from lq_ext.bench.compare import machine_description
from lq_ext.bench.micro import arena_bytes, micro_interpreter
from lq_ext.converters import Int8Options, convert
from lq_ext.testing import randomize_weights
from lq_ext.zoo import BDNetMobileNet

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUTPUT = os.path.join(HERE, "results", "portable.md")
MODELS = {
    "bdnet_mobilenet α=0.25": dict(width_multiplier=0.25),
    "bdnet_mobilenet_naive α=0.25": dict(width_multiplier=0.25, baseline=True),
}
#: --trained: the fixtures' configs (experiments/portable_trained_fixtures.py), same order
TRAINED = {"bdnet_mobilenet α=0.25": "bdnet", "bdnet_mobilenet_naive α=0.25": "naive"}


def _model_and_inputs(name, kwargs, trained):
    """``(model, timed image, int8 options or None)``: random weights and CIFAR calibration, or the
    trained Fashion-MNIST network with Fashion-MNIST images."""
    if not trained:
        model = BDNetMobileNet(input_shape=(32, 32, 3), num_classes=10, **kwargs)
        randomize_weights(model, seed=0)
        return model, np.random.default_rng(0).uniform(-1, 1, (1, 32, 32, 3)).astype(np.float32), None
    sys.path.insert(0, os.path.join(HERE, "..", "tests", "converters"))
    from trained_fashion_mnist import fashion_images, trained_model

    calibration, _ = fashion_images("train", 500)
    return trained_model(TRAINED[name]), fashion_images("test", 1)[0], Int8Options(calibration=calibration)


def _median_ms(step, runs):
    for _ in range(5):
        step()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return 1000 * float(np.median(times))


def lce_ms(flatbuffer, image, runs):
    interpreter = LceInterpreter(flatbuffer, num_threads=1)
    return _median_ms(lambda: interpreter.predict(image), runs)


def litert_ms(flatbuffer, image, runs, xnnpack):
    resolver = OpResolverType.AUTO if xnnpack else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    interpreter = Interpreter(model_content=flatbuffer, num_threads=1, experimental_op_resolver_type=resolver)
    interpreter.allocate_tensors()
    index = interpreter.get_input_details()[0]["index"]

    def step():
        interpreter.set_tensor(index, image)
        interpreter.invoke()

    return _median_ms(step, runs)


def micro(flatbuffer, image, runs):
    """``(milliseconds, arena bytes)`` in TFLite Micro's Python interpreter."""
    interpreter = micro_interpreter(flatbuffer)

    def step():
        interpreter.set_input(image, 0)
        interpreter.invoke()

    ms = _median_ms(step, runs)
    return ms, arena_bytes(interpreter)


def _cell(row, key, fmt="{:.2f}"):
    return fmt.format(row[key]) if key in row else "—"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--output", default=None, help=f"default: {DEFAULT_OUTPUT} (--trained: portable_trained.md)")
    parser.add_argument("--trained", action="store_true", help="the trained Fashion-MNIST fixtures")
    args = parser.parse_args(argv)
    args.output = args.output or (DEFAULT_OUTPUT.replace(".md", "_trained.md") if args.trained else DEFAULT_OUTPUT)
    rows = []
    with tempfile.TemporaryDirectory() as directory:
        for name, kwargs in MODELS.items():
            model, image, int8 = _model_and_inputs(name, kwargs, args.trained)
            files = {}
            for label, options in [
                ("LCE bit-packed", dict()),
                ("LCE bit-packed + int8", dict(int8=int8 or True)),
                ("portable (builtin int8)", dict(engine="builtin", **({} if int8 is None else {"int8": int8}))),
            ]:
                path = os.path.join(directory, f"{len(rows)}_{len(files)}.tflite")
                result = convert(model, path, verify=False, **options)
                with open(path, "rb") as handle:
                    files[label] = (handle.read(), result)
            for label, (flatbuffer, result) in files.items():
                row = dict(model=name, file=label, bytes=len(flatbuffer), custom=", ".join(result.ops.custom_ops) or "none")
                row["lce_ms"] = lce_ms(flatbuffer, image, args.runs)  # LCE's runs builtin ops too
                if not result.ops.custom_ops:
                    row["litert_ms"] = litert_ms(flatbuffer, image, args.runs, xnnpack=True)
                    row["litert_ref_ms"] = litert_ms(flatbuffer, image, args.runs, xnnpack=False)
                    row["micro_ms"], row["arena"] = micro(flatbuffer, image, args.runs)
                    row["ops"] = ", ".join(result.ops.builtin_ops)
                rows.append(row)
                print(row, flush=True)
    lines = [
        f"Measured by `benchmarks/bench_portable.py{' --trained' if args.trained else ''}` on "
        f"{machine_description()}; one run, "
        f"median of {args.runs} single-image inferences on one thread.",
        "",
        "| model | file | bytes | custom ops | LCE interpreter ms | LiteRT XNNPACK ms | LiteRT no XNNPACK ms | TFLite Micro (x86) ms | TFLite Micro arena bytes |",
        "|---|---|---:|---|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        cells = [_cell(row, key) for key in ("lce_ms", "litert_ms", "litert_ref_ms", "micro_ms")]
        lines.append(
            f"| {row['model']} | {row['file']} | {row['bytes']:,} | {row['custom']} | "
            + " | ".join(cells)
            + f" | {_cell(row, 'arena', '{:,}')} |"
        )
    ops = sorted({row["ops"] for row in rows if "ops" in row})
    lines += ["", "Builtin ops of the portable files (the TFLite Micro op resolver): " + "; ".join(ops)]
    text = "\n".join(lines) + "\n"
    os.makedirs(os.path.dirname(args.output), exist_ok=True)
    with open(args.output, "w") as handle:
        handle.write(text)
    print(text)


if __name__ == "__main__":
    main()
