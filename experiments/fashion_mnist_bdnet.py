"""BD-Net's claim on real data: BDNetMobileNet vs. its naive baseline, the ablations of
each ingredient, and the float network of the same layout, on full Fashion-MNIST.

Every configuration trains with the same budget (recipe, epochs, batch, data order
per seed) from scratch, for several seeds; each finished run appends one JSON line to
``--results``.  ``--summary`` prints the table (top-1 mean ± std per configuration) and
``--plot`` draws accuracy against OPs.

    python experiments/fashion_mnist_bdnet.py --seeds 0 1 2 --epochs 3   # all runs
    python experiments/fashion_mnist_bdnet.py --shard 0/2 ...            # half of them
    python experiments/fashion_mnist_bdnet.py --summary --plot acc_vs_ops.png

Configurations (``CONFIGS``):

=================  ==============  ===========  =============================================
name               depth-wise      residual     what it is
=================  ==============  ===========  =============================================
``bdnet``          1.58-bit        pre-BN       BD-Net (``BDNetMobileNet()``)
``naive``          1-bit           post-BN      the naive baseline (``baseline=True``)
``ternary_only``   1.58-bit        post-BN      ablation: BD-Net's 1.58-bit conv alone
``pre_bn_only``    1-bit           pre-BN       ablation: BD-Net's pre-BN residual alone
``float``          float           pre-BN       the same layout with every quantizer removed
=================  ==============  ===========  =============================================
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import tensorflow as tf

import lq_ext  # noqa: F401  (selects legacy Keras before TensorFlow loads)
from lq_ext import training
from lq_ext.bench.compare import require_matplotlib
from lq_ext.data import dataset_info, load_dataset
from lq_ext.zoo import BDNetMobileNet

HERE = Path(__file__).resolve().parent

CONFIGS = {
    "bdnet": dict(),
    "naive": dict(baseline=True),
    "ternary_only": dict(residual_mode="post_bn"),
    "pre_bn_only": dict(depthwise_bits=1),
    "float": dict(),  # real_valued_twin of bdnet
}


def build(config, *, width_multiplier, input_shape, num_classes):
    model = BDNetMobileNet(
        input_shape=input_shape,
        num_classes=num_classes,
        classifier_activation=None,
        width_multiplier=width_multiplier,
        name=f"bdnet_{config}",
        **CONFIGS[config],
    )
    return training.real_valued_twin(model) if config == "float" else model


def run(config, seed, args):
    info = dataset_info("fashion_mnist")
    input_shape = (*info.image_size, info.channels)
    train_data = load_dataset("fashion_mnist", "train", batch_size=args.batch_size, seed=seed, limit=args.limit)
    test_data = load_dataset("fashion_mnist", "test", batch_size=500, limit=args.limit)
    recipe = training.Recipe(
        epochs=args.epochs, optimizer="adam", learning_rate=args.learning_rate, schedule="cosine"
    )
    output_dir = Path(args.output_dir) / f"{config}_seed{seed}"
    model_fn = lambda: build(  # noqa: E731
        config, width_multiplier=args.width, input_shape=input_shape, num_classes=info.num_classes
    )
    result = training.train(
        model_fn, train_data, test_data, output_dir=output_dir, recipe=recipe, seed=seed,
        verbose=2, convert=args.convert and seed == args.seeds[0], overwrite=args.overwrite,
    )
    cost = lq_ext.profile(result.model)
    return {
        "config": config,
        "seed": seed,
        "top1": result.val_accuracy,
        "epochs": args.epochs,
        "seconds": result.seconds,
        "width_multiplier": args.width,
        "batch_size": args.batch_size,
        "learning_rate": args.learning_rate,
        "limit": args.limit,
        "ops": cost.ops,
        "bops": cost.bops,
        "flops": cost.flops,
        "train_acc_last": result.history["train"][-1]["accuracy"],
        "history": result.history["train"],
        "tflite_parity": None if result.conversion is None else result.conversion.parity.passed,
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "finished": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


def load_results(path):
    if not Path(path).is_file():
        return []
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def summary(rows):
    lines = [
        "| config | runs | top-1 (%) mean ± std | per seed | OPs (M) | BOPs (M) | FLOPs (M) | min/run |",
        "|---|---:|---:|---|---:|---:|---:|---:|",
    ]
    for config in CONFIGS:
        runs = sorted((r for r in rows if r["config"] == config), key=lambda r: r["seed"])
        if not runs:
            continue
        top1 = np.array([r["top1"] for r in runs]) * 100
        std = top1.std(ddof=1) if len(top1) > 1 else float("nan")
        per_seed = ", ".join(f"{r['seed']}: {100 * r['top1']:.2f}" for r in runs)
        minutes = np.mean([r["seconds"] for r in runs]) / 60
        lines.append(
            f"| {config} | {len(runs)} | {top1.mean():.2f} ± {std:.2f} | {per_seed} | "
            f"{runs[0]['ops'] / 1e6:.2f} | {runs[0]['bops'] / 1e6:.1f} | {runs[0]['flops'] / 1e6:.2f} | {minutes:.1f} |"
        )
    return "\n".join(lines)


def plot(rows, path):
    plt = require_matplotlib()
    import matplotlib.ticker
    fig, ax = plt.subplots(figsize=(6, 4))
    for config in CONFIGS:
        runs = [r for r in rows if r["config"] == config]
        if runs:
            top1 = np.array([r["top1"] for r in runs]) * 100
            ax.errorbar(runs[0]["ops"] / 1e6, top1.mean(), yerr=top1.std(ddof=1) if len(runs) > 1 else 0,
                        fmt="o", capsize=4, label=f"{config} (n={len(runs)})")
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xticks([0.1, 0.2, 0.5, 1, 2, 5])
    ax.set_xlabel("OPs (M) = FLOPs + BOPs/64, 32×32 input, log scale")
    ax.set_ylabel("Fashion-MNIST test top-1 (%)")
    ax.set_title("BD-Net ablation on Fashion-MNIST (mean ± std over seeds)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--learning-rate", type=float, default=2e-3)
    parser.add_argument("--width", type=float, default=0.25, help="BDNetMobileNet width_multiplier")
    parser.add_argument("--limit", type=int, default=None, help="use only the first N images of each split")
    parser.add_argument("--threads", type=int, default=0, help="TensorFlow intra-op threads (0: all)")
    parser.add_argument("--shard", default="0/1", help="K/N: run every N-th job starting at K")
    parser.add_argument("--output-dir", default=str(HERE / "runs"))
    parser.add_argument("--results", default=str(HERE / "results" / "fashion_mnist_bdnet.jsonl"))
    parser.add_argument("--no-convert", dest="convert", action="store_false",
                        help="skip the .tflite conversion of the first seed's models")
    parser.add_argument("--overwrite", action="store_true", help="retrain runs that already finished")
    parser.add_argument("--summary", action="store_true", help="print the table of --results and exit")
    parser.add_argument("--plot", metavar="PNG", help="with --summary: plot top-1 against OPs")
    args = parser.parse_args(argv)

    if args.summary:
        rows = load_results(args.results)
        print(summary(rows))
        if args.plot:
            plot(rows, args.plot)
        return 0
    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    shard, shards = (int(v) for v in args.shard.split("/"))
    jobs = [(c, s) for s in args.seeds for c in args.configs][shard::shards]
    done = {(r["config"], r["seed"]) for r in load_results(args.results)}
    for config, seed in jobs:
        if (config, seed) in done and not args.overwrite:
            print(f"skip {config} seed {seed}: already in {args.results}", flush=True)
            continue
        print(f"=== {config} seed {seed} ===", flush=True)
        row = run(config, seed, args)
        with open(args.results, "a") as file:
            file.write(json.dumps(row) + "\n")
        print(f"=== {config} seed {seed}: top-1 {100 * row['top1']:.2f} % in {row['seconds'] / 60:.1f} min", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
