"""Make ``tf.keras`` the legacy Keras 2 (tf-keras) that Larq needs.

Larq 0.14 and Larq Compute Engine 0.16 are written against ``tf.keras`` = Keras 2.
TensorFlow >= 2.16 serves Keras 3 under ``tf.keras`` unless ``TF_USE_LEGACY_KERAS=1``
is set before TensorFlow is imported: part of TensorFlow's Keras wiring (e.g.
``tf.keras.optimizers.legacy``) is bound at import time. This module sets the variable
and refuses to go on when TensorFlow was imported without it, so every other module of
``lq_ext`` can simply ``import tensorflow as tf`` afterwards.

It also gives tf-keras the AutoGraph treatment TensorFlow gives Keras: AutoGraph leaves
modules named ``keras`` unconverted, but not ``tf_keras``, so every Keras internal a custom
layer reaches while a model is built (``Layer.__call__``, ``add_weight``, the conv's
``call``) went through ``converted_call``: about half of the time it takes to build a
zoo model (PokeBNN-1.0×: 52 s → 26 s on this project's machine). See
:func:`leave_tf_keras_unconverted`.
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
    leave_tf_keras_unconverted()


def leave_tf_keras_unconverted() -> None:
    """Add ``tf_keras`` to AutoGraph's do-not-convert rules, as ``keras`` already is.

    tf-keras is Keras 2 moved to its own package; its code is written for graph mode and
    was never meant to be converted (under TensorFlow's own Keras it was not). User code,
    larq and lq_ext's layers are still converted as before. Idempotent.
    """
    global _TF_KERAS_RULE
    from tensorflow.python.autograph.core import config

    if _TF_KERAS_RULE is None:
        _TF_KERAS_RULE = config.DoNotConvert("tf_keras")
    if _TF_KERAS_RULE not in config.CONVERSION_RULES:
        config.CONVERSION_RULES = (_TF_KERAS_RULE, *config.CONVERSION_RULES)


_TF_KERAS_RULE = None
