"""Make ``tf.keras`` the legacy Keras 2 (tf-keras) that Larq needs.

Larq 0.14 and Larq Compute Engine 0.16 are written against ``tf.keras`` = Keras 2.
TensorFlow >= 2.16 serves Keras 3 under ``tf.keras`` unless ``TF_USE_LEGACY_KERAS=1``
is set before ``tf.keras`` is first resolved.  This module sets the variable and
checks that it took effect, so every other module of ``lq_ext`` can simply
``import tensorflow as tf`` afterwards.
"""

import os

LEGACY_KERAS_VARIABLE = "TF_USE_LEGACY_KERAS"

_FIX = (
    "Set the environment variable before TensorFlow is imported, e.g. "
    "`export TF_USE_LEGACY_KERAS=1` in the shell, or put `import lq_ext` (or "
    "`os.environ['TF_USE_LEGACY_KERAS'] = '1'`) before the first `import tensorflow`; "
    "in a notebook, restart the kernel after doing so. tf-keras must be installed "
    "(`pip install tf-keras==2.16.0`)."
)


def ensure_legacy_keras() -> None:
    """Select Keras 2 for ``tf.keras`` or raise an ImportError that says how to fix it."""
    # Even when TensorFlow is already imported, tf.keras may not be resolved yet:
    # setting the variable then still works, which the version check below confirms.
    os.environ[LEGACY_KERAS_VARIABLE] = "1"

    import tensorflow as tf

    layer_module = tf.keras.layers.Layer.__module__
    if not layer_module.startswith("tf_keras"):
        raise ImportError(
            f"lq_ext needs tf.keras to be the legacy Keras 2 (tf-keras), but TensorFlow "
            f"{tf.__version__} was already imported with Keras 3 as tf.keras "
            f"({layer_module}), which breaks larq. " + _FIX
        )
