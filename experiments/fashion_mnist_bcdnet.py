"""BCDNet's claim on real data: binary MLP blocks vs ReActNet-A, and dynamic embeddings (B) vs A.

BCDNet-A (ReActNet-A's first 10 binary conv blocks, then 3 binary shift-MLP blocks)
against ReActNet-A (all 13 binary conv blocks) of the same width, and BCDNet-B (A +
contextual dynamic embeddings) against A, narrowed by ``--width`` (every stage width ×
m, :func:`lq_ext.zoo._blocks.scale_widths`), on full Fashion-MNIST at 32×32 (the
small-input layout: stride-1 stem, the MLP stage at 4×4).

Every configuration trains with the same budget (recipe, epochs, batch, data order per
seed) from scratch, for several seeds, seed by seed over all configurations; each
finished run appends one JSON line to ``--results``.  ``--summary`` prints the table
(top-1 mean ± std per configuration) and ``--plot`` draws accuracy against OPs.
Shared machinery: ``fashion_mnist_study.py``; page: docs/results/fashion_mnist_bcdnet.md.

    python experiments/fashion_mnist_bcdnet.py --seeds 0 1 2 3 4 --epochs 1 --width 0.125 --threads 1
    python experiments/fashion_mnist_bcdnet.py --summary --plot experiments/results/fashion_mnist_bcdnet.png

Configurations (``CONFIGS``), all with ``width_multiplier=--width``:

==============  ========================  ==============================================
name            model                     what it is
==============  ========================  ==============================================
``reactnet_a``  ``ReActNetA``             13 binary conv blocks (the paper's baseline)
``bcdnet_a``    ``BCDNetA``               10 conv blocks + 3 binary MLP blocks
``bcdnet_b``    ``BCDNetB``               BCDNet-A + contextual dynamic embeddings
==============  ========================  ==============================================
"""

from __future__ import annotations

import sys

from fashion_mnist_study import cli

from lq_ext.zoo import BCDNetA, BCDNetB, ReActNetA

CONFIGS = {
    "reactnet_a": ReActNetA,
    "bcdnet_a": BCDNetA,
    "bcdnet_b": BCDNetB,
}


def build(config, args, input_shape, num_classes):
    return CONFIGS[config](
        input_shape=input_shape,
        num_classes=num_classes,
        classifier_activation=None,
        width_multiplier=args.width,
        name=f"{config}_{args.width:g}x".replace(".", "_"),
    )


def main(argv=None):
    return cli(argv, __doc__, CONFIGS, build, results="fashion_mnist_bcdnet.jsonl", width=0.125,
               width_help="width_multiplier of every model (0.125: 4 … 128 channels)", epochs=1,
               seeds=range(5), title="BCDNet vs ReActNet-A on Fashion-MNIST (mean ± std over seeds)")


if __name__ == "__main__":
    sys.exit(main())
