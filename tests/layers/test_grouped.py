"""GroupedQuantConv2D (and ESQuantConv2D, its subclass): in training the groups are
ordinary convs with the same sums and gradients, in inference Keras' grouped conv; the
harness, keyword parity with QuantConv2D; PokeBNN's PokeInit uses it."""

import larq as lq
import numpy as np
import pytest
import tensorflow as tf

from lq_ext.fake_quant import IntActivationQuantizer, IntWeightQuantizer
from lq_ext.layers import ESQuantConv2D, GroupedQuantConv2D, grouped
from lq_ext.testing import keyword_mismatches, layer_classes, layer_test, randomize_weights
from lq_ext.zoo import PokeBNN

BINARY = dict(input_quantizer="ste_sign", kernel_quantizer="ste_sign", kernel_constraint="weight_clip",
              use_bias=False)
#: PokeInit's second conv: 8-bit, one input channel per group
INT8 = dict(input_quantizer=IntActivationQuantizer(8), kernel_quantizer=IntWeightQuantizer(8), use_bias=False)


@pytest.mark.parametrize("kwargs, input_shape", [
    (dict(filters=8, kernel_size=3, groups=4, padding="same", **INT8), (5, 5, 4)),
    (dict(filters=16, kernel_size=1, groups=2, **BINARY), (4, 4, 64)),
    (dict(filters=6, kernel_size=3, groups=1, use_bias=True), (5, 5, 3)),  # groups=1: QuantConv2D
])
def test_layer_harness(kwargs, input_shape):
    out = layer_test(GroupedQuantConv2D, kwargs, input_shape=input_shape)
    assert out.shape[-1] == kwargs["filters"]


def test_module_defines_one_layer():
    assert layer_classes(grouped) == {GroupedQuantConv2D}


def test_takes_quantconv2ds_keyword_arguments():
    required = {"filters": 4, "kernel_size": 3}
    assert keyword_mismatches(GroupedQuantConv2D, lq.layers.QuantConv2D, required=required) == []


def _compiled_ops(layer, x, training):
    """The ops of ``layer``'s traced call that XLA must compile (nested functions included)."""
    graph = tf.function(lambda t: layer(t, training=training)).get_concrete_function(x).graph
    functions = [graph, *(f.graph for f in graph._functions.values() if hasattr(f, "graph"))]
    return [op.type for g in functions for op in g.get_operations() if "_XlaMustCompile" in op.node_def.attr]


@pytest.mark.parametrize("make, channels", [
    (lambda: GroupedQuantConv2D(64, 3, groups=32, padding="same", **INT8), 32),  # PokeInit's conv2
    (lambda: GroupedQuantConv2D(8, 3, groups=2, padding="valid", use_bias=True), 6),  # float, biased
    (lambda: ESQuantConv2D(16, 3, tau=2, groups=2, strides=2, padding="same", pad_values=1.0, **BINARY), 64),
    (lambda: ESQuantConv2D(16, 3, tau=2, groups=2, padding="valid", use_bias=True), 64),
])
def test_training_computes_groups_as_plain_convs_with_the_same_sums(make, channels):
    """In training the g groups are g ordinary convs (no XLA): outputs and gradients equal
    Keras' grouped conv of inference, and the traced training graph compiles nothing.
    Fails if tf-keras stops routing grouped convs through ``_jit_compiled_convolution_op``."""
    layer = make()
    x = tf.constant(np.random.default_rng(0).uniform(-1, 1, (2, 8, 8, channels)).astype(np.float32))
    layer(x)
    randomize_weights(layer, seed=3)
    results = {}
    for training in (False, True):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x, training=training)
            loss = tf.reduce_sum(y * tf.range(y.shape[-1], dtype=y.dtype))
        results[training] = [y, *tape.gradient(loss, [x, *layer.trainable_weights])]
    for grouped_result, split in zip(results[False], results[True]):
        # float sums in another order: round-off relative to the largest value
        scale = float(np.abs(grouped_result.numpy()).max())
        np.testing.assert_allclose(split.numpy(), grouped_result.numpy(), rtol=0, atol=1e-6 * scale)
    assert _compiled_ops(layer, x, training=False), "inference should keep Keras' grouped conv"
    assert not _compiled_ops(layer, x, training=True)


def test_pokebnn_stem_trains_without_xla():
    """PokeInit's 32-group conv is a GroupedQuantConv2D (its XLA gradient took 2.5 of
    PokeBNN-0.75's 4.1 s per training step at 32 px); the other convs stay QuantConv2D."""
    model = PokeBNN(width_multiplier=0.25, input_shape=(32, 32, 3), num_classes=10)
    grouped_convs = [layer.name for layer in model.layers if isinstance(layer, GroupedQuantConv2D)]
    assert grouped_convs == ["poke_init_conv2"]
    assert model.get_layer("poke_init_conv2").groups == 32
    x = tf.zeros((1, 32, 32, 3))
    stem = tf.keras.Model(model.input, model.get_layer("poke_init_conv2").output)
    assert _compiled_ops(stem, x, training=False) and not _compiled_ops(stem, x, training=True)
