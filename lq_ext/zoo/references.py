"""Third-party reference models registered for benchmarks: larq-zoo QuickNets, float MobileNetV1.

Their papers and published figures are on their cards in :mod:`lq_ext.zoo.catalog`.

They are built with random weights (``weights=None``): pretrained weights need network
access, and latency and op composition do not depend on the weight values.
"""

import larq_zoo as lqz
import tensorflow as tf
from larq_zoo.sota import quicknet

from lq_ext.zoo import _common
from lq_ext.zoo._registry import register_model


@tf.keras.utils.register_keras_serializable(package="lq_ext")
class BlurPoolInitializer(tf.keras.initializers.Initializer):
    """larq-zoo's ``blurpool_initializer`` (a plain function, which Keras cannot load by
    name) as a registered initializer, so saved QuickNets load back."""

    def __call__(self, shape, dtype=None, **kwargs):
        return quicknet.blurpool_initializer(shape, dtype)


def _serializable_initializers(model):
    for layer in model.layers:
        if getattr(layer, "depthwise_initializer", None) is quicknet.blurpool_initializer:
            layer.depthwise_initializer = BlurPoolInitializer()


def _larq_zoo_model(factory, *, input_shape, input_tensor, weights, include_top, num_classes, pooling):
    """A larq-zoo model with the zoo's ``pooling`` (larq-zoo has none: it is applied here).

    No ``classifier_activation``: larq-zoo's classifier ends in its softmax, and the
    signature says so (``lq-ext train`` refuses these models for that reason).
    """
    _common.validate_head_args(
        include_top=include_top,
        num_classes=num_classes,
        pooling=pooling,
        classifier_activation="softmax",
        weights=None,  # larq-zoo resolves its own weights ("imagenet" or a path)
        model_name=factory.__name__,
    )
    keras_tensor = input_tensor is not None and tf.keras.backend.is_keras_tensor(input_tensor)
    model = factory(
        input_shape=tuple(input_tensor.shape[1:]) if keras_tensor and input_shape is None else input_shape,
        # larq-zoo's type check refuses Keras tensors (it wants a tf.Tensor): the model
        # is built on its own input and called on the tensor below
        input_tensor=None if keras_tensor else input_tensor,
        weights=weights,
        include_top=include_top,
        num_classes=num_classes,
    )
    _serializable_initializers(model)
    outputs = model.output
    if not include_top and pooling == "avg":
        outputs = _common.global_pool(outputs)
    elif not include_top and pooling == "max":
        outputs = tf.keras.layers.GlobalMaxPooling2D(name="global_max_pool")(outputs)
    if outputs is not model.output:
        model = tf.keras.Model(model.inputs, outputs, name=model.name)
    if keras_tensor:
        sources = tf.keras.utils.get_source_inputs(input_tensor)
        model = tf.keras.Model(sources, model(input_tensor), name=model.name)
    return model


@register_model("quicknet_small")
def QuickNetSmall(
    *,
    input_shape=None,
    input_tensor=None,
    weights=None,
    include_top=True,
    num_classes=1000,
    pooling=None,
):
    """larq-zoo's ``QuickNetSmall`` (random weights by default) with the zoo's signature."""
    return _larq_zoo_model(
        lqz.sota.QuickNetSmall, input_shape=input_shape, input_tensor=input_tensor, weights=weights,
        include_top=include_top, num_classes=num_classes, pooling=pooling,
    )


@register_model("quicknet")
def QuickNet(
    *,
    input_shape=None,
    input_tensor=None,
    weights=None,
    include_top=True,
    num_classes=1000,
    pooling=None,
):
    """larq-zoo's ``QuickNet`` (random weights by default) with the zoo's signature."""
    return _larq_zoo_model(
        lqz.sota.QuickNet, input_shape=input_shape, input_tensor=input_tensor, weights=weights,
        include_top=include_top, num_classes=num_classes, pooling=pooling,
    )


@register_model("mobilenet_v1_float")
def MobileNetV1Float(
    *,
    input_shape=None,
    input_tensor=None,
    weights=None,
    include_top=True,
    num_classes=1000,
    pooling=None,
    classifier_activation="softmax",
):
    """Keras applications' float ``MobileNet`` (``classes`` = ``num_classes``)."""
    return tf.keras.applications.MobileNet(
        input_shape=input_shape,
        input_tensor=input_tensor,
        weights=weights,
        include_top=include_top,
        classes=num_classes,
        pooling=pooling,
        classifier_activation=classifier_activation,
    )
