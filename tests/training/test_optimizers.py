"""lq_ext.training.optimizers: the weight-decay group and the two ways to decay it."""

import numpy as np
import pytest
import tensorflow as tf

import lq_ext
from lq_ext.training import decayed_variables, make_optimizer


def tiny_bdnet(**kwargs):
    return lq_ext.zoo.BDNetMobileNet(
        input_shape=(32, 32, 1), num_classes=10, width_multiplier=0.25, classifier_activation=None, **kwargs
    )


def _dense_model(seed, classes=3):
    tf.keras.utils.set_random_seed(seed)
    inputs = tf.keras.Input((4,))
    return tf.keras.Model(inputs, tf.keras.layers.Dense(classes)(inputs))


def test_decay_group_is_the_kernels_only():
    model = tiny_bdnet()
    decayed = decayed_variables(model)
    kernels = [
        v for v in model.trainable_variables
        if v.name.split("/")[-1].split(":")[0] in ("kernel", "depthwise_kernel")
    ]
    assert {id(v) for v in decayed} == {id(v) for v in kernels}
    # stem conv + 13 depth-wise + 13 point-wise + classifier
    assert len(decayed) == 1 + 13 + 13 + 1
    assert not any("batch_normalization" in v.name or "_bn/" in v.name for v in decayed)


def test_adam_weight_decay_is_a_coupled_l2_loss():
    model = _dense_model(0)
    make_optimizer("adam", 1e-3, weight_decay=1e-2, model=model)
    kernel = model.layers[-1].kernel.numpy()
    assert float(tf.add_n(model.losses)) == pytest.approx(0.5 * 1e-2 * (kernel**2).sum(), rel=1e-6)


def test_adamw_excludes_everything_but_kernels():
    model = _dense_model(0)
    optimizer = make_optimizer("adamw", 1.0, weight_decay=0.1, model=model)
    kernel, bias = model.layers[-1].kernel, model.layers[-1].bias
    bias.assign(np.ones(3))
    before_k, before_b = kernel.numpy().copy(), bias.numpy().copy()
    optimizer.apply_gradients([(tf.zeros_like(kernel), kernel), (tf.zeros_like(bias), bias)])
    assert np.allclose(kernel.numpy(), before_k * (1 - 1.0 * 0.1))  # decayed, zero gradient
    assert np.array_equal(bias.numpy(), before_b)  # excluded


def test_optimizer_errors():
    with pytest.raises(ValueError, match="optimizer must be one of"):
        make_optimizer("sgd", 1e-3)
    with pytest.raises(ValueError, match="needs the model"):
        make_optimizer("adam", 1e-3, weight_decay=1e-5)
    with pytest.raises(ValueError, match="weight_decay must be a number ≥ 0, got weight_decay=-0.1"):
        make_optimizer("adam", 1e-3, weight_decay=-0.1, model=_dense_model(0))
