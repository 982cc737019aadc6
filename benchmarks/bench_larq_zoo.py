"""Every larq-zoo model through :func:`lq_ext.converters.convert`: bit-packed share and parity.

    python benchmarks/bench_larq_zoo.py [--size 224] [--models XNORNet QuickNet ...] [--output table.md]
    python benchmarks/bench_larq_zoo.py --source lq_ext --size 32   # lq_ext's own zoo the same way

Builds each model of ``larq_zoo.literature`` and ``larq_zoo.sota`` (random weights and
BatchNorm statistics, :func:`lq_ext.testing.randomize_weights`, seed 0, 1000 classes),
converts it with the defaults (``verify=True``: parity on the 20 sample images, with the
per-layer diagnosis when the whole-output check fails) and prints one Markdown row per
model: file size and its bit floor, the binary MACs run bit-packed in ``LceBconv2d``,
the float ``CONV_2D`` count, how parity passed (whole output, or the diagnosis with its
binarizer ties) and the conversion time. Each model converts in a child process of its
own: a model that fails is a row with the error, not an abort. When LCE's converter fails
on a model (DoReFaNet at 224 px: a segmentation fault, or a ``ValueError``), the model is
converted again with the stock TFLite converter (``engine="tflite"``), and the row says so. The record is in
docs/results/larq_zoo.md.

``--source lq_ext`` does the same for every model of :func:`lq_ext.zoo.list_models`; a
model with 8-/4-bit activation quantizers (PokeBNN) has their bounds calibrated on the
sample images first (:func:`lq_ext.fake_quant.calibrate`), as ``convert`` requires.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time

# isort: split
import lq_ext  # noqa: F401  (selects legacy Keras before TensorFlow loads)

# isort: split
import larq_zoo as lqz
import tensorflow as tf

from lq_ext import zoo
from lq_ext.bench.compare import machine_description
from lq_ext.converters import ParityError, convert
from lq_ext.converters.verify import parity_inputs
from lq_ext.fake_quant import calibrate, int_quantizers
from lq_ext.testing import randomize_weights

#: How a row says that the converter itself failed (not the parity check).
CONVERTER_FAILED = "**converter failed: "

SOURCES = ("larq_zoo", "lq_ext")


def zoo_models(source: str = "larq_zoo") -> dict:
    """Name → entry point of every larq-zoo model (literature, then sota), or of every
    registered lq_ext model."""
    if source == "lq_ext":
        return {name: zoo.get_model_spec(name).build for name in zoo.list_models()}
    return {name: getattr(module, name) for module in (lqz.literature, lqz.sota) for name in module.__all__}


def _parity(result) -> str:
    parity, diagnosis = result.parity, result.diagnosis
    if diagnosis is None:
        top1 = "" if parity.top1_agreement is None else f", top-1 {parity.top1_agreement:.0%}"
        return (
            f"whole output: {len(parity.outliers)}/{parity.n_samples} samples above rtol "
            f"(max rel. {parity.max_rel_error:.1e}{top1})"
        )
    return f"per layer: {diagnosis.mismatches} mismatches, {diagnosis.ties} ties in {len(diagnosis.segments)} segments"


def measure(name, fn, size: int, directory: str, engine: str = "lce") -> str:
    tf.keras.backend.clear_session()
    model = fn(input_shape=(size, size, 3), weights=None)
    randomize_weights(model, seed=0)
    if int_quantizers(model):  # PokeBNN: convert refuses uncalibrated 8-/4-bit bounds
        calibrate(model, parity_inputs(model, None)[0])
    start = time.perf_counter()
    try:
        result = convert(model, os.path.join(directory, f"{name}.tflite"), overwrite=True, engine=engine)
    except ParityError as error:
        return f"| {name} | | | | | **parity FAILED**: {str(error).splitlines()[0]} | {time.perf_counter() - start:.0f} s |"
    except Exception as error:  # noqa: BLE001  (a row, not an abort: the table says what failed)
        return f"| {name} | | | | | {CONVERTER_FAILED}{type(error).__name__}: {str(error).splitlines()[0][:160]}** | |"
    seconds = time.perf_counter() - start
    ops = result.ops
    binary = ops.macs_by_class["bitpacked"] + ops.unpacked_binary_macs
    share = "no binary MACs" if ops.bitpacked_share is None else f"{100 * ops.bitpacked_share:.1f} % of {binary / 1e6:.0f} M"
    return (
        f"| {name} | {result.size_bytes / 1e6:.1f} MB | {ops.weight_floor_bytes / 1e6:.1f} MB | {share} | "
        f"{ops.count('CONV_2D')} | {_parity(result)} | {seconds:.0f} s |"
    )


def _child_row(name: str, size: int, source: str, engine: str = "lce") -> str:
    """``measure`` in a fresh process; a crash of the converter becomes the row's error, and
    a model LCE's converter fails on (an error or a crash) is tried again with the stock
    TFLite converter."""
    command = [sys.executable, os.path.abspath(__file__), "--row", "--size", str(size), "--models", name,
               "--source", source, "--engine", engine]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    rows = [line for line in done.stdout.splitlines() if line.startswith(f"| {name} |")]
    if done.returncode == 0 and rows and CONVERTER_FAILED not in rows[-1]:
        return rows[-1]
    if done.returncode == 0 and rows:
        reason = rows[-1].split(CONVERTER_FAILED, 1)[1].split("**", 1)[0]
    elif done.returncode < 0:
        reason = f"the converter process died ({signal.Signals(-done.returncode).name})"
    else:
        reason = (done.stderr.strip().splitlines() or ["no output"])[-1][:160]
    if engine == "lce":
        row = _child_row(name, size, source, "tflite")
        return row.replace(f"| {name} |", f"| {name} (engine tflite; LCE: {reason}) |", 1)
    return f"| {name} | | | | | **{reason}** | |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--models", nargs="+", default=None, help="model names (default: all of --source)")
    parser.add_argument("--source", choices=SOURCES, default="larq_zoo", help="larq-zoo's models or lq_ext's zoo")
    parser.add_argument("--output", default="", help="also write the table to this markdown file ('' for none)")
    parser.add_argument("--row", action="store_true", help="(internal) print the row of the one model given")
    parser.add_argument("--engine", choices=("lce", "tflite"), default="lce", help="(internal) the converter of --row")
    args = parser.parse_args()
    models = zoo_models(args.source)
    if args.row:
        with tempfile.TemporaryDirectory() as directory:
            print(measure(args.models[0], models[args.models[0]], args.size, directory, args.engine), flush=True)
        return
    names = args.models or list(models)
    unknown = sorted(set(names) - set(models))
    if unknown:
        parser.error(f"unknown {args.source} model(s) {unknown}; choose from {sorted(models)}")
    source = f"larq-zoo {lqz.__version__}" if args.source == "larq_zoo" else "lq_ext's zoo"
    header = [
        f"{source} at {args.size} px, random weights and BatchNorm statistics (seed 0); "
        f"{machine_description()}.",
        "",
        "| model | file | bit floor | binary MACs bit-packed | float CONV_2D | parity | convert() |",
        "|---|---|---|---|---|---|---|",
    ]
    print("\n".join(header), flush=True)
    rows = []
    for name in names:
        rows.append(_child_row(name, args.size, args.source))
        print(rows[-1], flush=True)
    if args.output:
        with open(args.output, "w") as handle:
            handle.write("\n".join(header + rows) + "\n")


if __name__ == "__main__":
    main()
