"""Small binary models for the converter tests (32×32 inputs)."""

import larq as lq
import numpy as np
import tensorflow as tf

from lq_ext.layers import BinaryDepthwiseConv2D, RPReLU
from lq_ext.quantizers import RSign
from lq_ext.testing import randomize_weights

BINARY = dict(
    input_quantizer="ste_sign",
    kernel_quantizer="ste_sign",
    kernel_constraint="weight_clip",
    use_bias=False,
)


def randomize_batchnorm(model, seed=0):
    """Non-trivial BN statistics, as in a trained model (default ones make exact ties at 0)."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, tf.keras.layers.BatchNormalization):
            c = layer.gamma.shape[0]
            layer.gamma.assign(rng.uniform(0.5, 1.5, c))
            layer.beta.assign(rng.normal(0.0, 0.5, c))
            layer.moving_mean.assign(rng.normal(0.0, 2.0, c))
            layer.moving_variance.assign(rng.uniform(5.0, 40.0, c))
    return model


def build_small_bnn(seed=0, random_batchnorm=True):
    """Float stem → binary depth-wise (1.58-bit) → binary conv → GAP → dense → softmax.

    Hand-computed MACs (32×32×3 input):
      stem CONV_2D 3×3/2, 32 filters: 16·16·32 · 3·3·3   =   221,184
      BinaryDepthwiseConv2D 3×3:      16·16·32 · 3·3     =    73,728  (float, unpacked binary)
      QuantConv2D 3×3, 32 filters:    16·16·32 · 3·3·32  = 2,359,296  (LceBconv2d)
      Dense 32 → 10:                  10 · 32            =       320
    bit-packed share = 2,359,296 / (2,359,296 + 73,728) = 32/33.
    """
    tf.keras.utils.set_random_seed(seed)
    inputs = tf.keras.Input((32, 32, 3))
    x = tf.keras.layers.Conv2D(32, 3, strides=2, padding="same", use_bias=False, name="stem")(inputs)
    x = tf.keras.layers.BatchNormalization(name="stem_bn")(x)
    x = BinaryDepthwiseConv2D(3, padding="same", name="bdw")(x)
    x = tf.keras.layers.BatchNormalization(name="bdw_bn")(x)
    x = lq.layers.QuantConv2D(32, 3, padding="same", pad_values=1.0, name="bconv", **BINARY)(x)
    x = tf.keras.layers.BatchNormalization(name="bconv_bn")(x)
    x = tf.keras.layers.GlobalAveragePooling2D()(x)
    x = tf.keras.layers.Dense(10, name="head")(x)
    outputs = tf.keras.layers.Softmax()(x)
    model = tf.keras.Model(inputs, outputs, name="small_bnn")
    return randomize_batchnorm(model, seed) if random_batchnorm else model


def build_grouped_bnn(seed=0, channels_per_group=64, groups=2):
    """Stem → RSign-binarized grouped QuantConv2D (3×3, ``groups``) → GAP → dense."""
    tf.keras.utils.set_random_seed(seed)
    channels = channels_per_group * groups
    inputs = tf.keras.Input((32, 32, 3))
    x = tf.keras.layers.Conv2D(channels, 3, strides=2, padding="same", use_bias=False, name="stem")(inputs)
    x = tf.keras.layers.BatchNormalization(name="stem_bn")(x)
    x = lq.layers.QuantConv2D(
        64,
        3,
        groups=groups,
        padding="same",
        pad_values=1.0,
        input_quantizer=RSign(),
        kernel_quantizer="ste_sign",
        kernel_constraint="weight_clip",
        use_bias=False,
        name="grouped_bconv",
    )(x)
    x = tf.keras.layers.BatchNormalization(name="grouped_bn")(x)
    x = tf.keras.layers.GlobalAveragePooling2D()(x)
    outputs = tf.keras.layers.Dense(10, name="head")(x)
    model = tf.keras.Model(inputs, outputs, name="grouped_bnn")
    # RSign thresholds away from 0 as after training
    rsign = model.get_layer("grouped_bconv").input_quantizer
    rsign.threshold.assign(np.random.default_rng(seed).normal(0, 0.1, channels))
    return randomize_batchnorm(model, seed)


def uniform_images(shape, n=12, seed=0):
    """``n`` images of ``shape`` with values uniform in [−1, 1]."""
    return np.random.default_rng(seed).uniform(-1, 1, size=(n, *shape)).astype(np.float32)


def build_int8_bnn():
    """For int8 mode (16×16 inputs): stem conv + BN (folded), a pre-BN RSign binary conv
    (LCE fuses its BN), RPReLU, a residual add, and a softmax head."""
    inputs = tf.keras.Input((16, 16, 3))
    x = tf.keras.layers.Conv2D(32, 3, strides=2, padding="same", use_bias=False, name="stem")(inputs)
    x = tf.keras.layers.BatchNormalization(name="stem_bn")(x)
    shortcut = x
    x = tf.keras.layers.BatchNormalization(name="pre_bn")(x)
    x = lq.layers.QuantConv2D(
        32, 3, padding="same", pad_values=1.0, input_quantizer=RSign(), kernel_quantizer="ste_sign",
        kernel_constraint="weight_clip", use_bias=False, name="bconv",
    )(x)
    x = tf.keras.layers.BatchNormalization(name="bconv_bn")(x)
    x = tf.keras.layers.Add(name="add")([x, shortcut])
    x = RPReLU(name="act")(x)
    x = tf.keras.layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = tf.keras.layers.Dense(10, activation="softmax", name="head")(x)
    model = tf.keras.Model(inputs, outputs)
    randomize_weights(model, seed=3)
    return model
