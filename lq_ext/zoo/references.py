"""Third-party reference models registered for benchmarks: larq-zoo QuickNets, float MobileNetV1.

They are built with random weights (``weights=None``): pretrained weights need network
access, and latency and op composition do not depend on the weight values.
"""

import larq_zoo as lqz
import tensorflow as tf

from lq_ext.zoo._registry import register_model


@register_model(
    "quicknet_small",
    description="larq-zoo QuickNetSmall (reference BNN)",
    paper="arXiv:2011.09398",
    reference=True,
)
def QuickNetSmall(**kwargs):
    kwargs.setdefault("weights", None)
    return lqz.sota.QuickNetSmall(**kwargs)


@register_model(
    "quicknet",
    description="larq-zoo QuickNet (reference BNN)",
    paper="arXiv:2011.09398",
    reference=True,
)
def QuickNet(**kwargs):
    kwargs.setdefault("weights", None)
    return lqz.sota.QuickNet(**kwargs)


@register_model(
    "mobilenet_v1_float",
    description="float MobileNetV1 (Keras applications, standard TFLite converter)",
    paper="arXiv:1704.04861",
    engine="tflite",
    reference=True,
)
def MobileNetV1Float(*, input_shape=None, input_tensor=None, weights=None, include_top=True, num_classes=1000):
    return tf.keras.applications.MobileNet(
        input_shape=input_shape,
        input_tensor=input_tensor,
        weights=weights,
        include_top=include_top,
        classes=num_classes,
    )
