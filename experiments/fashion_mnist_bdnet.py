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

import sys

from fashion_mnist_study import cli

from lq_ext import training
from lq_ext.zoo import BDNetMobileNet

CONFIGS = {
    "bdnet": dict(),
    "naive": dict(baseline=True),
    "ternary_only": dict(residual_mode="post_bn"),
    "pre_bn_only": dict(depthwise_bits=1),
    "float": dict(),  # real_valued_twin of bdnet
}


def build(config, args, input_shape, num_classes):
    model = BDNetMobileNet(
        input_shape=input_shape,
        num_classes=num_classes,
        classifier_activation=None,
        width_multiplier=args.width,
        name=f"bdnet_{config}",
        **CONFIGS[config],
    )
    return training.real_valued_twin(model) if config == "float" else model


def main(argv=None):
    return cli(argv, __doc__, CONFIGS, build, results="fashion_mnist_bdnet.jsonl", width=0.25,
               width_help="BDNetMobileNet width_multiplier",
               title="BD-Net ablation on Fashion-MNIST (mean ± std over seeds)")


if __name__ == "__main__":
    sys.exit(main())
