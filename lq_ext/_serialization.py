"""Registration of lq_ext Keras objects."""

import tensorflow as tf


def register(cls):
    """Register ``cls`` as ``lq_ext>ClassName``, plus its bare class name if that is free.

    The bare name is needed because tf-keras' .h5 loader resolves quantizers nested in
    a layer config by ``class_name`` only. It is added only when no other object (Larq,
    Keras) already owns it, so nothing is ever shadowed.
    """
    cls = tf.keras.utils.register_keras_serializable(package="lq_ext")(cls)
    objects = tf.keras.utils.get_custom_objects()
    owner = objects.setdefault(cls.__name__, cls)
    if owner is not cls and owner.__module__ != cls.__module__:  # a reload is fine
        raise RuntimeError(
            f"lq_ext.{cls.__name__} would shadow {objects[cls.__name__]!r}; rename it."
        )
    return cls
