"""Training step time per zoo model: the binary network against its float twin.

    python benchmarks/bench_training.py [--models bdnet_mobilenet,reactnet_a]
        [--size 32] [--batch 32] [--classes 10] [--rounds 7] [--steps 3] [--warmup 2]
        [--output docs/results/training_speed.md]

For every registered model (random weights, seed 0) and its
:func:`lq_ext.training.real_valued_twin` (every binary / ternary kernel quantizer and
every input quantizer removed, all else the same), one compiled ``tf.function`` train
step — forward, sparse categorical cross-entropy (+ ``model.losses``), backward, Adam
update — runs on one fixed random batch. After ``--warmup`` steps each (the first one
traces), ``--rounds`` rounds follow; in each round the binary model and the twin run
``--steps`` steps each, in alternating order (binary first on even rounds), and the
per-round medians give one ratio per round. The table gives each model's median ms/step
over rounds and the median ratio with a 95 % bootstrap interval over rounds
(:func:`lq_ext.bench.paired.bootstrap_median`). Times are wall clock on a shared machine:
read the ratios.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import time
from dataclasses import dataclass

import lq_ext  # noqa: F401  (selects legacy Keras before TensorFlow loads)

# isort: split
import larq as lq
import numpy as np
import tensorflow as tf

from lq_ext.bench.compare import command_line, machine_description
from lq_ext.bench.paired import Interval, bootstrap_median
from lq_ext.graph import all_layers, map_layers
from lq_ext.layers import BinaryDepthwiseConv2D
from lq_ext.testing import randomize_weights
from lq_ext.training import real_valued_twin
from lq_ext.zoo import get_model_spec, list_models

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUTPUT = os.path.join(HERE, os.pardir, "docs", "results", "training_speed.md")


@dataclass(frozen=True)
class Row:
    model: str
    binary_ms: float
    float_ms: float
    ratio: Interval
    load: float


def train_step(model: tf.keras.Model):
    """A compiled train step of ``model`` (Adam, sparse CE on every output)."""
    optimizer = tf.keras.optimizers.Adam(1e-3)
    loss_fn = tf.keras.losses.SparseCategoricalCrossentropy()

    @tf.function
    def step(x, y):
        with tf.GradientTape() as tape:
            outputs = model(x, training=True)
            outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
            loss = tf.add_n([loss_fn(y, o) for o in outputs] + list(model.losses))
        variables = model.trainable_variables
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss

    return step


def timed(step, x, y) -> float:
    start = time.perf_counter()
    step(x, y).numpy()  # .numpy() waits for the step to finish
    return (time.perf_counter() - start) * 1e3


def batch(args):
    rng = np.random.default_rng(0)
    x = tf.constant(rng.uniform(-1, 1, (args.batch, args.size, args.size, 3)).astype(np.float32))
    y = tf.constant(rng.integers(0, args.classes, (args.batch,)).astype(np.int32))
    return x, y


def paired_rounds(models: dict, args) -> dict[str, list[float]]:
    """Per model, its median ms/step in each round; the two models alternate order by round."""
    x, y = batch(args)
    steps = {kind: train_step(m) for kind, m in models.items()}
    for kind in models:
        for _ in range(args.warmup):
            timed(steps[kind], x, y)
    kinds = list(models)
    per_round = {kind: [] for kind in kinds}
    for r in range(args.rounds):
        for kind in kinds if r % 2 == 0 else kinds[::-1]:
            per_round[kind].append(statistics.median(timed(steps[kind], x, y) for _ in range(args.steps)))
    return per_round


def build(name: str, args) -> tf.keras.Model:
    model = get_model_spec(name).build(input_shape=(args.size, args.size, 3), num_classes=args.classes)
    randomize_weights(model, seed=0)
    return model


def release():
    tf.keras.backend.clear_session()
    gc.collect()


def measure(name: str, args, reference=None) -> Row:
    """``name``'s binary model against its float twin, or against ``reference(model)``."""
    model = build(name, args)
    other = real_valued_twin(model) if reference is None else reference(model)
    per_round = paired_rounds({"binary": model, "other": other}, args)
    ratios = [b / f for b, f in zip(per_round["binary"], per_round["other"])]
    row = Row(
        model=name,
        binary_ms=statistics.median(per_round["binary"]),
        float_ms=statistics.median(per_round["other"]),
        ratio=bootstrap_median(ratios),
        load=os.getloadavg()[0],
    )
    del model, other
    release()
    return row


# ------------------------------------------------------------------ where the time goes
QUANTIZER_KEYS = ("input_quantizer", "kernel_quantizer", "depthwise_quantizer", "pointwise_quantizer")


def quantizer_classes(model) -> list[type]:
    """The quantizer classes ``model``'s layers use (inputs and kernels), in first-seen order."""
    found = {}
    for layer in all_layers(model):
        for key in QUANTIZER_KEYS:
            quantizer = getattr(layer, key, None)
            if quantizer is not None:
                found.setdefault(type(quantizer), None)
    return list(found)


def identity():
    return lq.quantizers.NoOp(precision=32)


class _IdentityKernelDepthwise(BinaryDepthwiseConv2D):
    """A :class:`BinaryDepthwiseConv2D` (exact-int8 path kept) whose kernel quantizer,
    derived from ``kernel_bits``, is the identity."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.depthwise_quantizer = identity()  # before build, so the kernel variable uses it


def without(cls: type):
    """``model → model`` with every quantizer of class ``cls`` replaced by the identity
    (larq's ``NoOp``; fresh weights)."""

    def relax(layer):
        keys = [k for k in QUANTIZER_KEYS if isinstance(getattr(layer, k, None), cls)]
        if not keys:
            return None
        config = {**layer.get_config(), **{k: identity() for k in keys if k != "depthwise_quantizer"}}
        if isinstance(layer, BinaryDepthwiseConv2D) and "depthwise_quantizer" in keys:
            return _IdentityKernelDepthwise, config
        if "depthwise_quantizer" in keys:
            config["depthwise_quantizer"] = identity()
        return type(layer), config

    return lambda model: map_layers(model, relax, weights="fresh")[0]


def without_exact_int8(model):
    relax = lambda layer: (  # noqa: E731
        (type(layer), {**layer.get_config(), "exact_int8": False})
        if isinstance(layer, BinaryDepthwiseConv2D) and layer.exact_int8 else None
    )
    return map_layers(model, relax, weights="fresh")[0]


def ablations(name: str, args) -> list[tuple[str, Row]]:
    """``name`` against itself with one quantizer class at a time replaced by the identity
    (and with exact-int8 depth-wise convs off, where it has them)."""
    model = build(name, args)
    variants = [(f"without {cls.__name__}", without(cls)) for cls in quantizer_classes(model)]
    if any(isinstance(layer, BinaryDepthwiseConv2D) and layer.exact_int8 for layer in all_layers(model)):
        variants.append(("exact_int8=False", without_exact_int8))
    del model
    release()
    return [(label, measure(name, args, reference=fn)) for label, fn in variants]


def markdown_table(rows: list[Row]) -> str:
    lines = [
        "| model | binary ms/step | float twin ms/step | ratio [95 % interval] (min–max over rounds) | load average |",
        "|---|---:|---:|---|---:|",
    ]
    for r in rows:
        flag = " **> 1.5×**" if r.ratio.median > 1.5 else ""
        lines.append(
            f"| {r.model} | {r.binary_ms:.1f} | {r.float_ms:.1f} | {r.ratio.median:.2f}× "
            f"[{r.ratio.low:.2f}–{r.ratio.high:.2f}] ({r.ratio.min:.2f}–{r.ratio.max:.2f}){flag} | {r.load:.1f} |"
        )
    return "\n".join(lines)


def ablation_table(rows: list[tuple[str, Row]]) -> str:
    lines = [
        "| model | variant | model ms/step | variant ms/step | ratio model / variant [95 % interval] | load average |",
        "|---|---|---:|---:|---|---:|",
    ]
    for label, r in rows:
        lines.append(
            f"| {r.model} | {label} | {r.binary_ms:.1f} | {r.float_ms:.1f} | {r.ratio.median:.2f}× "
            f"[{r.ratio.low:.2f}–{r.ratio.high:.2f}] | {r.load:.1f} |"
        )
    return "\n".join(lines)


def ablation_text(rows) -> str:
    if not rows:
        return ""
    return "\nWhere the time goes (each variant paired with the model it comes from):\n\n" + ablation_table(rows) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", help="comma-separated registered names (default: all)")
    parser.add_argument("--size", type=int, default=32, help="input height = width in pixels (default 32)")
    parser.add_argument("--batch", type=int, default=32, help="batch size (default 32)")
    parser.add_argument("--classes", type=int, default=10, help="number of classes (default 10)")
    parser.add_argument("--rounds", type=int, default=7, help="paired rounds (default 7)")
    parser.add_argument("--steps", type=int, default=3, help="train steps per model per round (default 3)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps per model first (default 2)")
    parser.add_argument(
        "--ablate", type=float, default=None, metavar="RATIO",
        help="for every model slower than RATIO × its twin, also time it against itself with one "
        "quantizer class at a time removed (where the time goes)",
    )
    parser.add_argument("--output", default=DEFAULT_OUTPUT, help="markdown file to write ('' for none)")
    args = parser.parse_args(argv)
    for flag in ("size", "batch", "classes", "rounds", "steps", "warmup"):
        low = 0 if flag == "warmup" else (2 if flag == "classes" else 1)
        if getattr(args, flag) < low:
            parser.error(f"--{flag} must be an integer >= {low}, got {getattr(args, flag)}")
    names = args.models.split(",") if args.models else list_models()
    rows, ablated = [], []
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    command = command_line(__file__, argv)
    for name in names:
        rows.append(measure(name, args))
        print(markdown_table(rows[-1:]).splitlines()[2], flush=True)  # the model's row
        if args.ablate is not None and rows[-1].ratio.median > args.ablate:
            for label, row in ablations(name, args):
                ablated.append((label, row))
                print(ablation_table(ablated[-1:]).splitlines()[2], flush=True)
        header = (
            f"Machine: {machine_description()}; run {started} to {time.strftime('%H:%M UTC', time.gmtime())}; "
            f"TensorFlow {tf.__version__}.\n"
            f"Batch {args.batch} of {args.size}×{args.size}×3, {args.classes} classes; {args.warmup} warm-up steps, "
            f"{args.rounds} rounds × {args.steps} steps per model.\n"
            f"Command: `{command}`\n"
        )
        if args.output:  # rewritten after every model: a stopped run keeps its rows
            with open(args.output, "w") as handle:
                handle.write(
                    "# Training step time: binary models vs their float twins\n\n"
                    + header + "\n" + markdown_table(rows) + "\n" + ablation_text(ablated)
                )
    print(header + "\n" + markdown_table(rows) + "\n" + ablation_text(ablated))
    return 0


if __name__ == "__main__":
    sys.exit(main())
