"""Depth-wise micro-benchmark: BD-Net's 1.58-bit depth-wise convs, LCE's float path vs lq_ext's exact int8 path.

    python benchmarks/bench_depthwise.py [--runs 20] [--warmup 3] [--rounds 2] [--threads 1]
        [--xnnpack] [--input-shape 224,224,3] [--output benchmarks/results/depthwise.md]

Builds ``BDNetMobileNet`` (random weights) at the input size, takes each of its
``BinaryDepthwiseConv2D`` layers with the input shape, stride and configuration the model
gives it (nothing is typed in), and converts that layer alone twice with the same
weights: ``exact_int8=False`` (what LCE does by itself: ``LceQuantize → LceDequantize →
DEPTHWISE_CONV_2D`` in float) and ``exact_int8=True`` (lq_ext: the same numbers through
an int8 ``DEPTHWISE_CONV_2D``). Both flatbuffers are parity-checked against Keras on
random inputs and timed back to back in LCE's Python interpreter, in one run: in
``--rounds`` rounds of alternating order (float first, then int8 first, ...), each path's
latency being the lowest of its per-round medians (the least disturbed by other jobs on
the machine; the load average is recorded).
The op column is read from each flatbuffer (:func:`lq_ext.converters.inspect`), so it
shows which op actually carries the MACs.

x86 timings are ratios only: LCE's x86 binary kernels are portable C++, and TFLite's
float and int8 depth-wise kernels are optimized differently on x86 and on ARM.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.metadata
import os
import sys
import time
from dataclasses import dataclass

import lq_ext  # noqa: F401  (selects legacy Keras before TensorFlow loads)

# isort: split
import numpy as np
import tensorflow as tf

from lq_ext.bench import run
from lq_ext.bench.compare import command_line, machine_description
from lq_ext.cli import _shape as parse_shape  # the CLI's H,W,C parser
from lq_ext.converters import convert
from lq_ext.layers import BinaryDepthwiseConv2D
from lq_ext.testing import randomize_weights
from lq_ext.zoo import BDNetMobileNet

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUTPUT = os.path.join(HERE, "results", "depthwise.md")
#: Parity inputs per layer (random normal, the binarizer's threshold is learnt).
PARITY_SAMPLES = 4


@dataclass(frozen=True)
class DepthwiseLayer:
    """One depth-wise conv of the model: where it sits and how it is configured."""

    name: str
    input_shape: tuple[int, int, int]
    strides: tuple[int, int]
    config: dict  # BinaryDepthwiseConv2D.get_config()


@dataclass(frozen=True)
class Path:
    """One conversion of one layer (float or int8) and its measurements."""

    path: str
    median_ms: float  # lowest per-round median
    ops: str  # op sequence of the flatbuffer, MAC op with its class
    mac_class: str  # class of the op carrying the depth-wise MACs
    macs: int
    parity_max_rel_error: float
    size_bytes: int


def depthwise_layers(model) -> list[DepthwiseLayer]:
    """The model's ``BinaryDepthwiseConv2D`` layers in order, with their input shapes."""
    layers = []
    for layer in model.layers:
        if isinstance(layer, BinaryDepthwiseConv2D):
            shape = tuple(int(d) for d in layer.input_shape[1:])
            layers.append(DepthwiseLayer(layer.name, shape, tuple(layer.strides), layer.get_config()))
    return layers


def single_layer_model(spec: DepthwiseLayer, exact_int8: bool) -> tf.keras.Model:
    inputs = tf.keras.Input(spec.input_shape)
    layer = BinaryDepthwiseConv2D.from_config({**spec.config, "exact_int8": exact_int8})
    return tf.keras.Model(inputs, layer(inputs), name=f"{spec.name}_{'int8' if exact_int8 else 'float'}")


def op_sequence(report) -> tuple[str, str, int]:
    """("LceQuantize → ... → DEPTHWISE_CONV_2D (int8) → ...", MAC op class, MACs)."""
    parts, mac_class, macs = [], "–", 0
    for info in report.ops:
        if info.macs:
            parts.append(f"{info.op_type} **{info.op_class}**")
            mac_class, macs = info.op_class, macs + info.macs
        else:
            parts.append(info.op_type)
    return " → ".join(parts), mac_class, macs


def convert_layer(spec, exact_int8, weights, samples, directory) -> Path:
    """Convert the layer alone (parity-checked), latency not yet measured."""
    model = single_layer_model(spec, exact_int8)
    model.set_weights(weights)
    path = os.path.join(directory, f"{model.name}.tflite")
    # One layer, no binarizer after it: parity is float round-off (rtol 1e-5 is 100x it).
    result = convert(model, path, overwrite=True, samples=samples, rtol=1e-5, max_outlier_fraction=0.0)
    ops, mac_class, macs = op_sequence(result.ops)
    return Path(
        path=path,
        median_ms=float("inf"),
        ops=ops,
        mac_class=mac_class,
        macs=macs,
        parity_max_rel_error=result.parity.max_rel_error,
        size_bytes=result.size_bytes,
    )


def time_side_by_side(paths, *, rounds, runs, warmup, threads, use_xnnpack=False) -> list[Path]:
    """Time the paths back to back, ``rounds`` times in alternating order; keep each
    path's lowest per-round median."""
    best = [p.median_ms for p in paths]
    for r in range(rounds):
        order = range(len(paths)) if r % 2 == 0 else reversed(range(len(paths)))
        for i in order:
            timing = run(paths[i].path, runs=runs, warmup=warmup, threads=threads, use_xnnpack=use_xnnpack)
            best[i] = min(best[i], timing.median_ms)
    return [dataclasses.replace(p, median_ms=ms) for p, ms in zip(paths, best)]


def markdown_table(rows) -> str:
    lines = [
        "| # | layer | input (H×W×C) | stride | MACs | float ms (LCE alone) | int8 ms (lq_ext) | int8 / float | "
        "parity float / int8 | LCE alone: ops | lq_ext: ops |",
        "|---:|---|---|---:|---:|---:|---:|---:|---|---|---|",
    ]
    for i, (spec, flt, i8) in enumerate(rows, 1):
        h, w, c = spec.input_shape
        lines.append(
            f"| {i} | {spec.name} | {h}×{w}×{c} | {spec.strides[0]} | {flt.macs:,} | {flt.median_ms:.3f} "
            f"| {i8.median_ms:.3f} | {i8.median_ms / flt.median_ms:.2f} "
            f"| {flt.parity_max_rel_error:.1e} / {i8.parity_max_rel_error:.1e} | {flt.ops} | {i8.ops} |"
        )
    total_float = sum(flt.median_ms for _, flt, _ in rows)
    total_int8 = sum(i8.median_ms for _, _, i8 in rows)
    total_macs = sum(flt.macs for _, flt, _ in rows)
    lines.append(
        f"| | **sum of {len(rows)} layers** | | | {total_macs:,} | **{total_float:.3f}** | **{total_int8:.3f}** "
        f"| **{total_int8 / total_float:.2f}** | | | |"
    )
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2, help="timing rounds, alternating float/int8 order")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--xnnpack", action="store_true", help="apply TFLite's XNNPACK delegate (off by default)")
    parser.add_argument("--input-shape", type=parse_shape, default="224,224,3", metavar="H,W,C", help="BDNetMobileNet input (default 224,224,3)")
    parser.add_argument("--output", default=DEFAULT_OUTPUT, help="markdown file to write ('' for none)")
    parser.add_argument("--flatbuffers", default="results/benchmarks/depthwise", help="where the .tflite files go")
    args = parser.parse_args(argv)
    input_shape = args.input_shape

    if args.rounds < 1:
        parser.error(f"--rounds must be >= 1, got {args.rounds}")
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    load_start = os.getloadavg()[0]
    model = BDNetMobileNet(input_shape=input_shape)
    randomize_weights(model)
    specs = depthwise_layers(model)
    os.makedirs(args.flatbuffers, exist_ok=True)
    rows = []
    for i, spec in enumerate(specs, 1):
        weights = model.get_layer(spec.name).get_weights()  # RSign thresholds + kernel
        samples = np.random.default_rng(i).normal(size=(PARITY_SAMPLES, *spec.input_shape)).astype(np.float32)
        measured = time_side_by_side(
            [convert_layer(spec, flag, weights, samples, args.flatbuffers) for flag in (False, True)],
            rounds=args.rounds, runs=args.runs, warmup=args.warmup, threads=args.threads,
            use_xnnpack=args.xnnpack,
        )
        print(
            f"[{i}/{len(specs)}] {spec.name} {spec.input_shape} stride {spec.strides[0]}: "
            f"float {measured[0].median_ms:.3f} ms, int8 {measured[1].median_ms:.3f} ms",
            flush=True,
        )
        rows.append((spec, *measured))

    command = command_line(__file__, argv)
    config = specs[0].config
    load_end = os.getloadavg()[0]
    record = "\n".join(
        [
            "# BD-Net depth-wise convs: LCE's float path vs lq_ext's exact int8 path",
            "",
            f"Measured {started} with `{command.strip()}`.",
            "",
            f"Machine: {machine_description()}.",
            f"Latency: LCE {importlib.metadata.version('larq-compute-engine')} Python interpreter "
            f"(`lq_ext.bench.run`), single image, {args.threads} thread(s), XNNPACK "
            f"{'on' if args.xnnpack else 'off'}; each layer "
            f"converted alone, float and int8 timed back to back in {args.rounds} round(s) of "
            f"alternating order, {args.runs} runs after {args.warmup} warm-up each; a path's latency "
            f"is its lowest per-round median. Load average (1 min) at start / end: "
            f"{load_start:.1f} / {load_end:.1f} on {os.cpu_count()} cores (other jobs were running "
            f"when it is above 1).",
            f"Layers: the {len(specs)} `BinaryDepthwiseConv2D` of `BDNetMobileNet(input_shape="
            f"{input_shape})` (kernel_bits={config['kernel_bits']}, {config['kernel_size'][0]}×"
            f"{config['kernel_size'][1]}, padding={config['padding']!r}, RSign input, per-channel "
            f"mean|w| scale), shapes and strides read from the model; random weights and "
            f"thresholds, the same for both paths.",
            "",
            markdown_table(rows),
            "",
            "float = `exact_int8=False`, what LCE 0.16 does alone; int8 = `exact_int8=True`, "
            "lq_ext's default in BDNetMobileNet. The op columns are read from each flatbuffer "
            "(`lq_ext.converters.inspect`); the MAC-carrying op is followed by its class. Parity: "
            f"max relative error against Keras on {PARITY_SAMPLES} random inputs (rtol 1e-5).",
            "x86 timings are ratios only: LCE's x86 binary kernels are portable C++, and TFLite's "
            "float and int8 depth-wise kernels are optimized differently on x86 and ARM; measure "
            "on the board with `lq-ext bench --tool` for ARM numbers.",
        ]
    )
    if args.output:
        os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
        with open(args.output, "w") as f:
            f.write(record + "\n")
    print(record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
