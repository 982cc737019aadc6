"""randomize_weights: N(0, scale²) weights, positive BatchNorm variances, quantizer state kept."""

import larq as lq
import numpy as np
import tensorflow as tf

from lq_ext.fake_quant import IntActivationQuantizer
from lq_ext.quantizers import MaxAbsSign
from lq_ext.testing import randomize_weights


def _model():
    inputs = tf.keras.Input((4, 4, 3))
    inner_in = tf.keras.Input((4, 4, 3))
    inner = tf.keras.Model(inner_in, IntActivationQuantizer(8, initial_bound=2.5, name="act")(inner_in), name="inner")
    x = lq.layers.QuantConv2D(8, 3, kernel_quantizer=MaxAbsSign(binarized=False), name="conv")(inner(inputs))
    x = tf.keras.layers.BatchNormalization(name="bn")(x)
    return tf.keras.Model(inputs, x)


def test_random_values_positive_variances_and_kept_quantizer_state():
    model = _model()
    randomize_weights(model, seed=1, scale=0.5)
    kernel = model.get_layer("conv").kernel.numpy()
    assert 0.35 < kernel.std() < 0.65 and abs(kernel.mean()) < 0.1
    assert model.get_layer("bn").moving_variance.numpy().min() >= 0.5
    # the binarization switch (nested in the conv) and the calibrated bound (in a nested
    # model) are configuration: kept
    assert float(model.get_layer("conv").kernel_quantizer.switch.numpy()) == 0.0
    assert float(model.get_layer("inner").get_layer("act").bound.numpy()) == 2.5


def test_same_seed_same_weights():
    first, second = _model(), _model()
    randomize_weights(first, seed=3)
    randomize_weights(second, seed=3)
    for a, b in zip(first.get_weights(), second.get_weights()):
        np.testing.assert_array_equal(a, b)
