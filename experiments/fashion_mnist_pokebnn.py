"""PokeBNN's claim on real data: the PokeConv network against its ablations, ACE per row.

The PokeConv bottleneck network (narrowed, fewer bottlenecks) against the same network
with PReLU for DPReLU, without the local shortcut around every binary conv
(``reshape_add``), and without the 4-bit SE gate, on full Fashion-MNIST.

Every configuration trains with the same budget (recipe, epochs, batch, data order per
seed) from scratch, for several seeds; each finished run appends one JSON line (with
its ACE) to ``--results``.  ``--summary`` prints the table and ``--plot`` draws accuracy
against OPs.  Shared machinery: ``fashion_mnist_study.py``; page:
docs/results/fashion_mnist_pokebnn.md.

    python experiments/fashion_mnist_pokebnn.py --seeds 0 1 2 3 4 --epochs 1 --threads 1
    python experiments/fashion_mnist_pokebnn.py --summary --plot fashion_mnist_pokebnn.png

Configurations (``CONFIGS``), all ``PokeBNN(width_multiplier=--width,
stage_blocks=--stage-blocks)``:

==================  ==========  ===========  ======  ===============================
name                activation  reshape_add  SE      what it is
==================  ==========  ===========  ======  ===============================
``pokebnn``         DPReLU      yes          yes     the paper's PokeConv
``prelu``           PReLU       yes          yes     DPReLU → per-channel PReLU
``no_reshape_add``  DPReLU      no           yes     no local shortcut per conv
``no_se``           DPReLU      yes          no      no 4-bit SE gate
==================  ==========  ===========  ======  ===============================

The 8-/4-bit activation bounds freeze at ``--freeze-step`` (the official run keeps these
layers in float until step 7500 of a much longer run; a 1-epoch run never reaches it and
could not be converted), so the second part of the epoch trains the quantized network.
"""

from __future__ import annotations

import sys

from fashion_mnist_study import _by_config, parser
from fashion_mnist_study import main as study_main

from lq_ext.fake_quant import IntActivationQuantizer
from lq_ext.zoo import PokeBNN

CONFIGS = {
    "pokebnn": dict(),
    "prelu": dict(activation="prelu"),
    "no_reshape_add": dict(reshape_add=False),
    "no_se": dict(squeeze_excite=False),
}


def _activation_quantizers(model):
    for layer in model.layers:
        if isinstance(layer, IntActivationQuantizer):
            yield layer
        quantizer = getattr(layer, "input_quantizer", None)
        if isinstance(quantizer, IntActivationQuantizer):
            yield quantizer


def build(config, args, input_shape, num_classes):
    model = PokeBNN(
        input_shape=input_shape,
        num_classes=num_classes,
        classifier_activation=None,
        width_multiplier=args.width,
        stage_blocks=tuple(args.stage_blocks),
        init_group=args.init_group,
        small_input=args.small_input,
        name=f"pokebnn_{config}",
        **CONFIGS[config],
    )
    for quantizer in _activation_quantizers(model):
        quantizer.freeze_step = args.freeze_step
    return model


def plot(rows, path, configs, *, title):
    """Top-1 per configuration (each seed a dot, mean ± std a bar), ACE in the labels: three
    of the four share their OPs, so an accuracy-vs-OPs plot would stack them."""
    from lq_ext.bench.compare import require_matplotlib

    plt = require_matplotlib()
    fig, ax = plt.subplots(figsize=(6, 4))
    labels = []
    for i, (config, runs, top1) in enumerate(_by_config(rows, configs)):
        ax.plot([i] * len(top1), top1, "o", color="0.6", markersize=4)
        ax.errorbar(i + 0.15, top1.mean(), yerr=top1.std(ddof=1) if len(runs) > 1 else 0,
                    fmt="s", color="C0", capsize=4)
        labels.append(f"{config}\nACE {runs[0]['ace'] / 1e6:.2f} M\n(n={len(runs)})")
    ax.set_xticks(range(len(labels)))
    ax.set_xlim(-0.5, len(labels) - 0.3)
    ax.set_xticklabels(labels, fontsize=8)
    ax.set_ylabel("Fashion-MNIST test top-1 (%)")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv=None):
    p = parser(__doc__, CONFIGS, results="fashion_mnist_pokebnn.jsonl", epochs=1, seeds=range(5))
    p.add_argument("--width", type=float, default=0.25, help="PokeBNN width_multiplier (0.25: f = 16…128)")
    p.add_argument("--stage-blocks", nargs=4, type=int, default=[1, 1, 1, 1],
                   help="bottlenecks per stage (official: 3 4 6 3)")
    p.add_argument("--init-group", type=int, default=1,
                   help="PokeInit's group count (official 32; TensorFlow's grouped-conv gradient is ~10× slower on CPU)")
    p.add_argument("--small-input", action="store_true",
                   help="3×3 stride-1 PokeInit (32×32 stages); default: the official 4×4/4 one (8×8)")
    p.add_argument("--freeze-step", type=int, default=200,
                   help="training step at which the 8-/4-bit activation bounds freeze")
    args = p.parse_args(argv)
    extra = {"width_multiplier": args.width, "stage_blocks": list(args.stage_blocks),
             "freeze_step": args.freeze_step, "init_group": args.init_group, "small_input": args.small_input}
    return study_main(args, CONFIGS, build, extra,
                      title="PokeBNN ablations on Fashion-MNIST (seeds, mean ± std)", plot_fn=plot)


if __name__ == "__main__":
    sys.exit(main())
