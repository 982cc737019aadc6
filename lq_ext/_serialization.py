"""Registration of lq_ext Keras objects under the ``lq_ext>`` package prefix."""

import tensorflow as tf


def register(cls):
    """Register ``cls`` as ``lq_ext>ClassName`` (never shadows a Larq or Keras name)."""
    return tf.keras.utils.register_keras_serializable(package="lq_ext")(cls)
