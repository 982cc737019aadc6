"""fold_elementwise: BatchNorm → RSign folded into the binarizer's threshold (sign of γ < 0
moved into the next binary kernel), on the layer pattern and on BDNetMobileNet at 32 px."""

import larq as lq
import numpy as np
import pytest
import tensorflow as tf

from lq_ext.converters import convert, inspect
from lq_ext.converters.engines import to_flatbuffer
from lq_ext.converters.fold_elementwise import fold_batchnorm_thresholds, foldable_batchnorms
from lq_ext.converters.parity import Interpreter
from lq_ext.converters.verify import parity_inputs
from lq_ext.layers import BinaryDepthwiseConv2D
from lq_ext.quantizers import RSign, ScaledSign
from lq_ext.testing import randomize_weights

C_IN, C_OUT = 16, 24


def _pattern(seed=0, *, second_reader=False, pad_values=0.0, input_quantizer=RSign, gamma_zero=False):
    """BN → RSign-binarized ternary depth-wise conv → BN → RSign-binarized 1×1 (or 3×3) conv,
    random weights, γ < 0 in 4 channels, a zero variance in channel 1."""
    rng = np.random.default_rng(seed)
    inputs = tf.keras.Input((8, 8, C_IN))
    x = tf.keras.layers.BatchNormalization(name="bn1")(inputs)
    x = BinaryDepthwiseConv2D(3, padding="same", scale_kernel=True, input_quantizer=RSign(), exact_int8=True,
                              clip_value=1.5, name="dw")(x)
    bn2 = tf.keras.layers.BatchNormalization(name="bn2")(x)
    kernel = 1 if pad_values == 0.0 else 3
    x = lq.layers.QuantConv2D(C_OUT, kernel, padding="same", pad_values=pad_values, use_bias=False,
                              input_quantizer=input_quantizer(), kernel_quantizer=ScaledSign(clip_value=1.5),
                              kernel_constraint=lq.constraints.WeightClip(1.5), name="pw")(bn2)
    if second_reader:
        x = tf.keras.layers.Concatenate()([x, bn2])
    model = tf.keras.Model(inputs, x)
    randomize_weights(model, seed=seed)
    for name in ("bn1", "bn2"):
        bn = model.get_layer(name)
        gamma = rng.normal(0, 1, C_IN)
        gamma[:4] = -np.abs(gamma[:4]) - 0.1
        if gamma_zero:
            gamma[5] = 0.0
        variance = rng.uniform(0.1, 3.0, C_IN)
        variance[1] = 0.0  # σ = √ε
        bn.gamma.assign(gamma)
        bn.moving_variance.assign(variance)
    for name in ("dw", "pw"):
        quantizer = model.get_layer(name).input_quantizer
        if isinstance(quantizer, RSign):
            quantizer.threshold.assign(rng.normal(0, 0.3, C_IN))
    return model


@pytest.fixture(scope="module")
def pattern():
    model = _pattern()
    folded, names = fold_batchnorm_thresholds(model)
    return model, folded, names


def test_pattern_folds_both_batchnorms_exactly(pattern):
    model, folded, names = pattern
    assert names == ("bn1", "bn2")
    assert [layer.name for layer in folded.layers[1:]] == ["dw", "pw"]  # both BatchNorms gone
    x = np.random.default_rng(1).normal(0, 2, (32, 8, 8, C_IN)).astype(np.float32)
    expected = model(x).numpy()
    assert np.abs(expected).max() > 1  # not a trivial output
    np.testing.assert_allclose(folded(x).numpy(), expected, rtol=1e-6, atol=1e-5)


def test_threshold_and_flipped_channels_match_the_formula(pattern):
    model, folded, _ = pattern
    bn, conv = model.get_layer("bn2"), model.get_layer("pw")
    gamma, beta = bn.gamma.numpy(), bn.beta.numpy()
    mean, sigma = bn.moving_mean.numpy(), np.sqrt(bn.moving_variance.numpy() + bn.epsilon)
    t = conv.input_quantizer.threshold.numpy()
    # sign(γ(x − μ)/σ + β − t) = sign(γ)·sign(x − (μ + (t − β)σ/γ))
    np.testing.assert_allclose(folded.get_layer("pw").input_quantizer.threshold.numpy(),
                               mean + (t - beta) * sigma / gamma, rtol=1e-5, atol=1e-6)
    old, new = conv.kernel.numpy(), folded.get_layer("pw").kernel.numpy()
    flip = np.where(gamma < 0, -1.0, 1.0)
    assert (gamma < 0).sum() >= 4
    np.testing.assert_array_equal(new, old * flip[None, None, :, None])
    dw_flip = np.where(model.get_layer("bn1").gamma.numpy() < 0, -1.0, 1.0)
    np.testing.assert_array_equal(folded.get_layer("dw").depthwise_kernel.numpy(),
                                  model.get_layer("dw").depthwise_kernel.numpy() * dw_flip[None, None, :, None])


def test_model_is_not_modified(pattern):
    model, _, _ = pattern
    assert sum(isinstance(layer, tf.keras.layers.BatchNormalization) for layer in model.layers) == 2


@pytest.mark.parametrize("kwargs, left", [
    (dict(second_reader=True), ["bn1"]),  # bn2 also feeds the Concatenate
    (dict(pad_values=1.0), ["bn1"]),  # a flipped channel would pad with −1
    (dict(input_quantizer=lambda: "ste_sign"), ["bn1"]),  # only RSign is folded
    (dict(gamma_zero=True), []),  # γ = 0: a constant channel, not folded
])
def test_patterns_that_are_not_folded(kwargs, left):
    model = _pattern(**kwargs)
    assert [bn.name for bn, _ in foldable_batchnorms(model)] == left
    folded, names = fold_batchnorm_thresholds(model)
    assert list(names) == left
    if not left:
        assert folded is model
    else:
        x = np.random.default_rng(2).normal(0, 2, (8, 8, 8, C_IN)).astype(np.float32)
        np.testing.assert_allclose(folded(x).numpy(), model(x).numpy(), rtol=1e-6, atol=1e-5)


def test_convert_rejects_a_non_bool(tmp_path, no_conversion):
    with pytest.raises(TypeError, match=r"fold_elementwise must be True or False, got fold_elementwise='yes'"):
        convert(_pattern(), tmp_path / "m.tflite", fold_elementwise="yes")


@pytest.fixture(scope="module")
def bdnet(bdnet_bn_folded):
    model, folded, names, flatbuffer = bdnet_bn_folded
    before, after = inspect(to_flatbuffer(model).data), inspect(flatbuffer)
    return model, folded, names, before, after, flatbuffer


def test_bdnet_every_unit_batchnorm_is_folded(bdnet):
    model, folded, names, _, _, _ = bdnet
    bns = [layer.name for layer in model.layers if isinstance(layer, tf.keras.layers.BatchNormalization)]
    assert len(names) == 26 and set(names) == {n for n in bns if n.endswith(("_dw_bn", "_pw_bn"))}
    assert [layer.name for layer in folded.layers if isinstance(layer, tf.keras.layers.BatchNormalization)] == [
        n for n in bns if n not in names
    ]


def test_bdnet_flatbuffer_loses_one_mul_and_one_add_per_fold(bdnet):
    model, _, names, before, after, _ = bdnet
    saved = sum(2 * int(np.prod(model.get_layer(n).output.shape[1:])) for n in names)  # MUL + ADD outputs
    assert len(after.ops) == len(before.ops) - 2 * 26
    expected = dict(before.op_counts, MUL=before.count("MUL") - 26, ADD=before.count("ADD") - 26)
    assert after.op_counts == expected
    assert after.elementwise_float_work == before.elementwise_float_work - saved
    assert after.macs_by_class == before.macs_by_class


def test_bdnet_folded_flatbuffer_matches_keras(bdnet):
    model, folded, _, _, _, flatbuffer = bdnet
    images, _ = parity_inputs(model, None)
    expected = model.predict(images, verbose=0)
    np.testing.assert_allclose(folded.predict(images, verbose=0), expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())
    tflite = Interpreter(flatbuffer).predict(images)
    np.testing.assert_allclose(tflite, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())


def test_convert_folds_lists_and_checks_parity(tmp_path):
    """Through ``convert(fold_elementwise=True)``: both BatchNorms folded and named on the
    result, one MUL and one ADD fewer each, parity against the unfolded model passed."""
    model = _pattern()
    samples = np.random.default_rng(4).normal(0, 2, (8, 8, 8, C_IN)).astype(np.float32)
    plain = convert(model, tmp_path / "plain.tflite", samples=samples)
    folded = convert(model, tmp_path / "folded.tflite", samples=samples, fold_elementwise=True)
    assert plain.folded_batchnorms == () and folded.folded_batchnorms == ("bn1", "bn2")
    assert "BatchNorms folded into binarizer thresholds: 2" in str(folded)
    assert folded.ops.count("MUL") == plain.ops.count("MUL") - 2
    assert folded.ops.count("ADD") == plain.ops.count("ADD") - 2
    assert folded.parity is not None and folded.verified
