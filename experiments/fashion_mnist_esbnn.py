"""ES-BNN's claim on real data: ES-ResNet-20, τ = 2 (and with group conv) vs τ = 1, same BOPs.

Expanding-and-shrinking (τ = 2) and binary group conv against τ = 1 at the same BOPs,
on full Fashion-MNIST.

Every configuration trains with the same budget (recipe, epochs, batch, data order per
seed) from scratch, for several seeds; each finished run appends one JSON line to
``--results``.  ``--summary`` prints the table (top-1 mean ± std per configuration) and
``--plot`` draws accuracy against OPs.  Shared machinery: ``fashion_mnist_study.py``;
page: docs/results/fashion_mnist_esbnn.md.

    python experiments/fashion_mnist_esbnn.py --seeds 0 1 2 3 4 --epochs 1 --width 0.5 --threads 1 --shard 0/2
    python experiments/fashion_mnist_esbnn.py --summary --plot fashion_mnist_esbnn.png

Configurations (``CONFIGS``), all ``ESResNet20(width_multiplier=--width)``:

===========  ====  ======  ===================================================
name         τ     groups  what it is
===========  ====  ======  ===================================================
``tau1``     1     1       the plain binary ResNet-20 (ReActNet-style blocks)
``tau2``     2     1       ES: 2× wide activations, same BOPs
``tau2_g2``  2     2       ES + binary group conv (G): 4× wide, same BOPs
===========  ====  ======  ===================================================

``tau2_g2`` needs ``--width 1`` (LCE: 32 input channels per group) and trains very
slowly on CPU (TensorFlow's grouped-conv gradient: ~110 s a step of 128 images at width
0.5 on the loaded 2-core machine, against ~2 s for ``tau2``); see the results page.
"""

from __future__ import annotations

import sys

from fashion_mnist_study import cli

from lq_ext.zoo import ESResNet20

CONFIGS = {
    "tau1": dict(tau=1, groups=1),
    "tau2": dict(tau=2, groups=1),
    "tau2_g2": dict(tau=2, groups=2),
}


def build(config, args, input_shape, num_classes):
    return ESResNet20(
        input_shape=input_shape,
        num_classes=num_classes,
        classifier_activation=None,
        width_multiplier=args.width,
        for_lce=args.convert,
        name=f"es_resnet20_{config}",
        **CONFIGS[config],
    )


def main(argv=None):
    return cli(argv, __doc__, CONFIGS, build, results="fashion_mnist_esbnn.jsonl", width=0.5,
               width_help="ESResNet20 width_multiplier (0.5: 8/16/32)", epochs=1, seeds=range(5),
               title="ES-ResNet-20 on Fashion-MNIST (mean ± std over seeds)")


if __name__ == "__main__":
    sys.exit(main())
