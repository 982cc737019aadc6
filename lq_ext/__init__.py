"""lq_ext: recent binary-neural-network research for Larq users.

Importing this package selects the legacy Keras 2 for ``tf.keras`` (Larq needs it):
import ``lq_ext`` before TensorFlow, or set ``TF_USE_LEGACY_KERAS=1`` yourself.
"""

from lq_ext._env import ensure_legacy_keras

ensure_legacy_keras()

from lq_ext import (  # noqa: E402
    bench,
    callbacks,
    converters,
    data,
    fake_quant,
    layers,
    progressive,
    quantizers,
    training,
    zoo,
)
from lq_ext.metrics import ModelCost, profile, summary  # noqa: E402

__version__ = "0.1.0"

__all__ = [
    "ModelCost",
    "bench",
    "callbacks",
    "converters",
    "data",
    "fake_quant",
    "layers",
    "profile",
    "progressive",
    "quantizers",
    "summary",
    "training",
    "zoo",
    "__version__",
]
