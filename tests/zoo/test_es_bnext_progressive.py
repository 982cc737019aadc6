"""ESBNextTiny(kernel_quantizer="progressive"): every binary conv gets BNext's
ProgressiveSign (hard state by default, equal to the default "sign" model), soft once T is
set; the default stays "sign"."""

import larq as lq
import numpy as np
import pytest
import tensorflow as tf

from lq_ext.layers import ESQuantConv2D
from lq_ext.progressive import ProgressiveSign, progressive_quantizers
from lq_ext.testing import randomize_weights
from lq_ext.zoo import ESBNextTiny
from lq_ext.zoo.es_bnext import bnext_basic_block

SMALL = dict(input_shape=(32, 32, 3), num_classes=10)


def _binary_convs(model):
    return [l for l in model.layers if isinstance(l, ESQuantConv2D) and l.input_quantizer is not None]


def test_every_binary_conv_of_the_model_gets_the_progressive_quantizer():
    model = ESBNextTiny(**SMALL, kernel_quantizer="progressive")
    convs = _binary_convs(model)
    # 13 blocks: one 3×3 sub-block each, one 1×1 FFN where C_in = C_out, two where it doubles
    # (blocks 1, 2, 4, 6, 12: 32→64, 64→128, 128→256, 256→512, 512→1024): 13 + 8 + 2·5 = 31
    assert len(convs) == 31
    assert all(isinstance(layer.kernel_quantizer, ProgressiveSign) for layer in convs)
    assert [float(q.temperature.numpy()) for q in progressive_quantizers(model)] == [0.0] * 31


def test_default_is_sign_and_the_hard_state_computes_what_sign_computes():
    inputs = tf.keras.Input((8, 8, 64))
    models = {
        kind: tf.keras.Model(
            inputs, bnext_basic_block(inputs, 32, 64, strides=2, kind="attention", tau=2, kernel_quantizer=kind, name="b")
        )
        for kind in ("sign", "progressive")
    }
    sign, progressive = models["sign"], models["progressive"]
    assert all(isinstance(l.kernel_quantizer, lq.quantizers.SteSign) for l in _binary_convs(sign))
    randomize_weights(sign, seed=3)
    for layer in sign.layers:
        if layer.weights:
            other = progressive.get_layer(layer.name)
            for source, target in zip(layer.weights, other.weights):  # the temperature comes last
                target.assign(source)
    x = np.random.default_rng(0).normal(size=(2, 8, 8, 64)).astype(np.float32)
    np.testing.assert_array_equal(progressive(x).numpy(), sign(x).numpy())
    for quantizer in progressive_quantizers(progressive):
        quantizer.temperature.assign(0.5)
    assert np.abs(progressive(x).numpy() - sign(x).numpy()).max() > 1e-3


def test_bad_kernel_quantizer_is_named():
    with pytest.raises(ValueError, match=r"kernel_quantizer must be one of \['sign', 'progressive'\], got kernel_quantizer='soft'"):
        ESBNextTiny(**SMALL, kernel_quantizer="soft")
