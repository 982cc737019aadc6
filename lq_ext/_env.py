"""Make ``tf.keras`` the legacy Keras 2 (tf-keras) that Larq needs.

Larq 0.14 and Larq Compute Engine 0.16 are written against ``tf.keras`` = Keras 2.
TensorFlow >= 2.16 serves Keras 3 under ``tf.keras`` unless ``TF_USE_LEGACY_KERAS=1``
is set before TensorFlow is imported: part of TensorFlow's Keras wiring (e.g.
``tf.keras.optimizers.legacy``) is bound at import time. This module sets the variable
and refuses to go on when TensorFlow was imported without it, so every other module of
``lq_ext`` can simply ``import tensorflow as tf`` afterwards.
"""

import os
import sys

LEGACY_KERAS_VARIABLE = "TF_USE_LEGACY_KERAS"

_FIX = (
    "Set the environment variable before TensorFlow is imported: `export "
    "TF_USE_LEGACY_KERAS=1` in the shell, or put `import lq_ext` (or "
    "`os.environ['TF_USE_LEGACY_KERAS'] = '1'`) before the first `import tensorflow`; "
    "in a notebook, restart the kernel after doing so. tf-keras must be installed "
    "(`pip install tf-keras==2.16.0`)."
)


def _legacy_requested() -> bool:
    return os.environ.get(LEGACY_KERAS_VARIABLE, "").lower() in ("1", "true")


def ensure_legacy_keras() -> None:
    """Select Keras 2 for ``tf.keras`` or raise an ImportError that says how to fix it."""
    if "tensorflow" in sys.modules and not _legacy_requested():
        raise ImportError(
            "lq_ext needs tf.keras to be the legacy Keras 2 (tf-keras), but TensorFlow was "
            f"already imported without {LEGACY_KERAS_VARIABLE}=1, so it is wired to "
            "Keras 3, which breaks larq. " + _FIX
        )
    os.environ[LEGACY_KERAS_VARIABLE] = "1"

    import tensorflow as tf

    layer_module = tf.keras.layers.Layer.__module__
    if not layer_module.startswith("tf_keras"):
        raise ImportError(
            f"lq_ext needs tf.keras to be the legacy Keras 2 (tf-keras), but TensorFlow "
            f"{tf.__version__} resolves tf.keras to Keras 3 ({layer_module}), which breaks "
            "larq. " + _FIX
        )
