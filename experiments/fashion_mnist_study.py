"""What the Fashion-MNIST claim studies share: one training run → one JSON row, the
``--summary`` table, the accuracy-vs-OPs plot and the command line.

Used by ``fashion_mnist_bdnet.py``, ``fashion_mnist_esbnn.py`` and ``fashion_mnist_pokebnn.py``; a study gives its
``CONFIGS``, a ``build(config, args, input_shape, num_classes)`` and the row fields of
its own (``extra``).  Pages: docs/results/fashion_mnist.md, fashion_mnist_esbnn.md, fashion_mnist_pokebnn.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

# isort: split
import lq_ext  # noqa: F401  (selects legacy Keras before TensorFlow loads)

# isort: split
import numpy as np
import tensorflow as tf

from lq_ext import converters, training
from lq_ext.bench.compare import require_matplotlib
from lq_ext.data import dataset_info, load_dataset

HERE = Path(__file__).resolve().parent


def run(config, seed, args, build, extra):
    """Train ``build(config, args, input_shape, num_classes)`` once; the result row."""
    info = dataset_info("fashion_mnist")
    input_shape = (*info.image_size, info.channels)
    train_data = load_dataset("fashion_mnist", "train", batch_size=args.batch_size, seed=seed, limit=args.limit)
    test_data = load_dataset("fashion_mnist", "test", batch_size=500, limit=args.limit)
    recipe = training.Recipe(
        epochs=args.epochs, optimizer="adam", learning_rate=args.learning_rate, schedule="cosine"
    )
    output_dir = Path(args.output_dir) / f"{config}_seed{seed}"
    result = training.train(
        lambda: build(config, args, input_shape, info.num_classes), train_data, test_data,
        output_dir=output_dir, recipe=recipe, seed=seed, verbose=2, steps_per_epoch=args.steps_per_epoch,
        convert=False, overwrite=args.overwrite,
    )
    conversion, conversion_error = None, None
    if args.convert and seed == args.seeds[0]:
        # as training.train(convert=True) would (its 20 parity images: the first test
        # images), but a conversion that does not verify is recorded, not fatal
        samples = np.asarray(next(iter(test_data))[0])[:20]
        try:
            conversion = converters.convert(result.model, output_dir / "model.tflite", samples=samples, overwrite=True)
        except Exception as error:  # noqa: BLE001 (ParityError or an unsupported op: recorded)
            lines = str(error).splitlines() or [""]
            # the headline plus what the parity check and the per-layer diagnosis found first
            keep = [lines[0]] + [line.strip() for line in lines if "top-1 agreement" in line or "first divergence" in line]
            conversion_error = f"{type(error).__name__}: " + " | ".join(keep)
    cost = lq_ext.profile(result.model)
    return {
        "config": config,
        "seed": seed,
        "top1": result.val_accuracy,
        "epochs": args.epochs,
        "seconds": result.seconds,
        **extra,
        "batch_size": args.batch_size,
        "learning_rate": args.learning_rate,
        "limit": args.limit,
        "steps_per_epoch": args.steps_per_epoch,
        "ops": cost.ops,
        "bops": cost.bops,
        "flops": cost.flops,
        "ace": cost.ace,
        "elementwise": cost.elementwise,
        "train_acc_last": result.history["train"][-1]["accuracy"],
        "history": result.history["train"],
        "tflite_parity": None if conversion is None else conversion.parity.passed,
        # verified: the whole output matched, or the per-layer diagnosis explained every difference
        "tflite_verified": False if conversion_error else None if conversion is None else conversion.verified,
        "tflite_error": conversion_error,
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "finished": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


def load_results(path):
    if not Path(path).is_file():
        return []
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def _by_config(rows, configs):
    for config in configs:
        runs = sorted((r for r in rows if r["config"] == config), key=lambda r: r["seed"])
        if runs:
            yield config, runs, np.array([r["top1"] for r in runs]) * 100


def summary(rows, configs):
    """The results table; an ACE column (M) when every row has one (rows since ACE was
    recorded; older result files keep their table)."""
    ace = bool(rows) and all("ace" in r for r in rows)
    lines = [
        "| config | runs | top-1 (%) mean ± std | per seed | OPs (M) | BOPs (M) | FLOPs (M) | "
        + ("ACE (M) | " if ace else "") + "min/run |",
        "|---|---:|---:|---|---:|---:|---:|" + ("---:|" if ace else "") + "---:|",
    ]
    for config, runs, top1 in _by_config(rows, configs):
        std = top1.std(ddof=1) if len(top1) > 1 else float("nan")
        per_seed = ", ".join(f"{r['seed']}: {100 * r['top1']:.2f}" for r in runs)
        minutes = np.mean([r["seconds"] for r in runs]) / 60
        lines.append(
            f"| {config} | {len(runs)} | {top1.mean():.2f} ± {std:.2f} | {per_seed} | "
            f"{runs[0]['ops'] / 1e6:.2f} | {runs[0]['bops'] / 1e6:.1f} | {runs[0]['flops'] / 1e6:.2f} | "
            + (f"{runs[0]['ace'] / 1e6:.1f} | " if ace else "") + f"{minutes:.1f} |"
        )
    return "\n".join(lines)


def plot(rows, path, configs, *, title, xticks=(0.1, 0.2, 0.5, 1, 2, 5)):
    plt = require_matplotlib()
    import matplotlib.ticker
    fig, ax = plt.subplots(figsize=(6, 4))
    for config, runs, top1 in _by_config(rows, configs):
        ax.errorbar(runs[0]["ops"] / 1e6, top1.mean(), yerr=top1.std(ddof=1) if len(runs) > 1 else 0,
                    fmt="o", capsize=4, label=f"{config} (n={len(runs)})")
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xticks(list(xticks))
    ax.set_xlabel("OPs (M) = FLOPs + BOPs/64, 32×32 input, log scale")
    ax.set_ylabel("Fashion-MNIST test top-1 (%)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def parser(doc, configs, *, results, epochs=3, seeds=(0, 1, 2)):
    """The command line every study shares; a study adds its own options to it."""
    p = argparse.ArgumentParser(description=doc.splitlines()[0])
    p.add_argument("--configs", nargs="+", default=list(configs), choices=list(configs))
    p.add_argument("--seeds", nargs="+", type=int, default=list(seeds))
    p.add_argument("--epochs", type=int, default=epochs)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--learning-rate", type=float, default=2e-3)
    p.add_argument("--limit", type=int, default=None, help="use only the first N images of each split")
    p.add_argument("--steps-per-epoch", type=int, default=None,
                   help="train only N batches an epoch (drawn from the whole shuffled training set)")
    p.add_argument("--threads", type=int, default=0, help="TensorFlow intra-op threads (0: all)")
    p.add_argument("--shard", default="0/1", help="K/N: run every N-th job starting at K")
    p.add_argument("--output-dir", default=str(HERE / "runs"))
    p.add_argument("--results", default=str(HERE / "results" / results))
    p.add_argument("--no-convert", dest="convert", action="store_false",
                   help="skip the .tflite conversion of the first seed's models")
    p.add_argument("--overwrite", action="store_true", help="retrain runs that already finished")
    p.add_argument("--summary", action="store_true", help="print the table of --results and exit")
    p.add_argument("--plot", metavar="PNG", help="with --summary: plot top-1 against OPs")
    return p


def cli(argv, doc, configs, build, *, results, title, width, width_help, **defaults):
    """Parse the shared command line plus ``--width`` (default ``width``), then :func:`main`."""
    p = parser(doc, configs, results=results, **defaults)
    p.add_argument("--width", type=float, default=width, help=width_help)
    args = p.parse_args(argv)
    return main(args, configs, build, {"width_multiplier": args.width}, title=title)


def main(args, configs, build, extra, *, title, plot_fn=None):
    """Run the jobs of ``args`` (``--shard``), appending a row per finished run, or summarize
    (``plot_fn(rows, path, configs, title=)`` draws the plot, default :func:`plot`)."""
    if args.summary:
        rows = load_results(args.results)
        print(summary(rows, configs))
        if args.plot:
            (plot_fn or plot)(rows, args.plot, configs, title=title)
        return 0
    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    shard, shards = (int(v) for v in args.shard.split("/"))
    # seed by seed, the configurations in alternating order: shards get every configuration
    jobs = [(c, s) for i, s in enumerate(args.seeds) for c in args.configs[:: -1 if i % 2 else 1]]
    jobs = jobs[shard::shards]
    done = {(r["config"], r["seed"]) for r in load_results(args.results)}
    for config, seed in jobs:
        if (config, seed) in done and not args.overwrite:
            print(f"skip {config} seed {seed}: already in {args.results}", flush=True)
            continue
        print(f"=== {config} seed {seed} ===", flush=True)
        row = run(config, seed, args, build, extra)
        with open(args.results, "a") as file:
            file.write(json.dumps(row) + "\n")
        print(f"=== {config} seed {seed}: top-1 {100 * row['top1']:.2f} % in {row['seconds'] / 60:.1f} min", flush=True)
    return 0
