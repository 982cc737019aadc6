"""The registered models by name, readable without TensorFlow (standard library only).

``lq-ext --help`` and ``lq-ext list`` read this module by file path, so they answer
without importing :mod:`lq_ext` (and TensorFlow). Each entry repeats the name,
description, paper and ``reference`` flag of a ``register_model`` call in ``lq_ext/zoo``;
``tests/cli`` checks that both agree. Reference: docs/api/zoo.md
"""

from __future__ import annotations

__all__ = ["MODEL_NAMES", "format_table"]

# (name, one-line description, paper, reference model of a third party)
_ENTRIES = (
    ("bcdnet_a", "BCDNet-A: ReActNet-A conv blocks + 3 binary shift-MLP blocks at 7x7x1024",
     "arXiv:2209.01404", False),
    ("bcdnet_b", "BCDNet-B: BCDNet-A + contextual dynamic embeddings in the conv blocks (reconstruction)",
     "arXiv:2209.01404", False),
    ("bdnet_mobilenet", "BD-Net binary MobileNetV1: 1.58-bit depth-wise, pre-BN residuals",
     "arXiv:2511.17633", False),
    ("bdnet_mobilenet_naive", "BD-Net's naive baseline: 1-bit depth-wise, post-BN (ReActNet) residuals",
     "arXiv:2511.17633", False),
    ("es_bnext_tiny", "ES-BNN BNext-Tiny (official 'ops' variant, tau=2; tau=1 is plain BNext-Tiny)",
     "arXiv:2503.23709", False),
    ("es_reactnet", "ES-BNN ReActNet-A (MobileNetV1 widths, full 3x3 binary convs) with tau / groups",
     "arXiv:2503.23709", False),
    ("es_resnet18", "ES-BNN ReActNet ResNet-18 with expanding-and-shrinking (tau) and binary group conv (groups)",
     "arXiv:2503.23709", False),
    ("es_resnet20", "ES-BNN CIFAR ResNet-20 with expanding-and-shrinking (tau) and binary group conv (groups)",
     "arXiv:2503.23709", False),
    ("mobilenet_v1_float", "float MobileNetV1 (Keras applications, standard TFLite converter)",
     "arXiv:1704.04861", True),
    ("pokebnn_075", "PokeBNN-0.75x (ACE 2.59 G; the abstract's 70.5 % model, multiplier inferred)",
     "arXiv:2112.00133", False),
    ("pokebnn_10", "PokeBNN-1.0x (ACE 4.22 G; the released config)", "arXiv:2112.00133", False),
    ("pokebnn_14", "PokeBNN-1.4x (ACE 7.76 G; the abstract's 75.6 % model, multiplier inferred)",
     "arXiv:2112.00133", False),
    ("quicknet", "larq-zoo QuickNet (reference BNN)", "arXiv:2011.09398", True),
    ("quicknet_small", "larq-zoo QuickNetSmall (reference BNN)", "arXiv:2011.09398", True),
    ("reactnet_a", "ReActNet-A: binary MobileNetV1 with RSign/RPReLU (BD-Net's and BCDNet's baseline)",
     "arXiv:2003.03488", False),
)

#: Every registered model name, sorted (as ``lq_ext.zoo.list_models()``).
MODEL_NAMES = tuple(sorted(name for name, *_ in _ENTRIES))


def format_table(include_references: bool = True) -> str:
    """One line per model, sorted by name: the name, then its description."""
    rows = sorted(entry for entry in _ENTRIES if include_references or not entry[3])
    return "\n".join(f"{name:24s} {description}" for name, description, _paper, _reference in rows)
