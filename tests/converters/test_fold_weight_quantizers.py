"""Scaled-sign kernel quantizers folded into ±1 kernels and a per-channel scale
(lq_ext.converters.fold), on hand-made layers and on larq-zoo's XNORNet; for the stock TFLite
converter, any kernel quantizer folded into its constant."""

import larq as lq
import larq_zoo as lqz
import numpy as np
import pytest
import tensorflow as tf
from larq_zoo.literature.xnornet import xnor_weight_scale

from lq_ext.converters import convert
from lq_ext.converters.fold import (
    AUTO_MIN_KERNEL_BYTES,
    fold_kernel_quantizers,
    fold_weight_quantizers,
    foldable_layers,
    sign_and_scale,
)
from lq_ext.layers import ChannelScale
from lq_ext.quantizers import MaxAbsSign, RSign, ScaledSign
from lq_ext.testing import randomize_weights

FILTERS, CHANNELS = 8, 16


def negative_scale(w):
    """−0.3·sign(w): a scale of the wrong sign still folds (S = −sign(w), α = 0.3)."""
    return -0.3 * lq.quantizers.ste_sign(w)


def tensor_scale(w):
    """One α for the whole kernel: mean|w|·sign(w)."""
    return tf.reduce_mean(tf.abs(w)) * lq.quantizers.ste_sign(w)


def _per_channel(w, reduce):
    return reduce(np.abs(w).reshape(-1, w.shape[-1]), axis=0)


# (kernel quantizer, its α computed from the latent kernel W by its own formula)
QUANTIZERS = {
    "xnor_weight_scale": (xnor_weight_scale, lambda w: _per_channel(np.clip(w, -1, 1), np.mean)),
    "magnitude_aware_sign": ("magnitude_aware_sign", lambda w: _per_channel(w, np.mean)),
    "ScaledSign": (ScaledSign(), lambda w: _per_channel(w, np.mean)),
    "MaxAbsSign": (MaxAbsSign(), lambda w: _per_channel(w, np.max) / 2),
    "negative_scale": (negative_scale, lambda w: np.full(w.shape[-1], 0.3)),
    "tensor_scale": (tensor_scale, lambda w: np.full(w.shape[-1], np.mean(np.abs(w)))),
}


def _conv_model(kernel_quantizer, *, use_bias=False, activation=None, input_quantizer="ste_sign", seed=0):
    """Input → BN → binary QuantConv2D "bconv" (3×3, 16 → 8) → MaxPool; random weights
    (N(0, 1) kernel, so xnor_weight_scale's clip at ±1 matters), channel 0 of the kernel
    all zeros and two single zeros in channel 1 (sign(0))."""
    inputs = tf.keras.Input((8, 8, CHANNELS))
    x = tf.keras.layers.BatchNormalization(name="bn")(inputs)
    x = lq.layers.QuantConv2D(
        FILTERS, 3, padding="same", input_quantizer=input_quantizer, kernel_quantizer=kernel_quantizer,
        kernel_constraint="weight_clip", use_bias=use_bias, activation=activation, name="bconv",
    )(x)  # fmt: skip
    x = tf.keras.layers.MaxPool2D(name="pool")(x)
    model = tf.keras.Model(inputs, x, name="conv_model")
    randomize_weights(model, seed=seed, scale=1.0)
    layer = model.get_layer("bconv")
    kernel = layer.get_weights()[0]
    kernel[..., 0] = 0.0
    kernel[0, 0, :2, 1] = 0.0
    layer.set_weights([kernel, *layer.get_weights()[1:]])
    return model


def _inputs(seed=1):
    return np.random.default_rng(seed).normal(size=(4, 8, 8, CHANNELS)).astype(np.float32)


@pytest.mark.parametrize("use_bias, activation", [(False, None), (True, "relu")])
@pytest.mark.parametrize("name", list(QUANTIZERS))
def test_fold_keeps_outputs_and_makes_a_sign_kernel(name, use_bias, activation):
    quantizer, alpha_of = QUANTIZERS[name]
    model = _conv_model(quantizer, use_bias=use_bias, activation=activation)
    original = [w.copy() for w in model.get_weights()]
    latent = model.get_layer("bconv").get_weights()[0]

    folded, names = fold_weight_quantizers(model)

    assert names == ("bconv",)
    conv, scale = folded.get_layer("bconv"), folded.get_layer("bconv_scale")
    assert isinstance(conv.kernel_quantizer, lq.quantizers.SteSign) and not conv.use_bias
    assert isinstance(scale, ChannelScale) and scale.use_bias == use_bias
    alpha = alpha_of(latent)
    sign = np.where(latent < 0, -1.0, 1.0) * (-1.0 if name == "negative_scale" else 1.0)
    sign[..., 0] = 1.0  # α_0 = 0: the quantized channel is all zeros, its sign is +1
    if name == "negative_scale":
        alpha[0] = 0.3  # -0.3·ste_sign(0) = -0.3: a zero kernel keeps a (negative) value
        sign[..., 0] = -1.0
    np.testing.assert_array_equal(conv.get_weights()[0], sign)
    np.testing.assert_allclose(scale.get_weights()[0], alpha, rtol=1e-6)
    if use_bias:
        np.testing.assert_array_equal(scale.get_weights()[1], model.get_layer("bconv").get_weights()[1])
    x = _inputs()
    expected, got = model(x).numpy(), folded(x).numpy()
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5 * np.abs(expected).max())
    # the model passed in is untouched
    assert model.get_layer("bconv").kernel_quantizer is not conv.kernel_quantizer
    for before, after in zip(original, model.get_weights(), strict=True):
        np.testing.assert_array_equal(before, after)


def test_sign_and_scale_of_an_all_zero_channel():
    """xnor_weight_scale on a zero channel gives 0 (α = 0): the ±1 kernel is +1 there and
    the channel's output is exactly 0, as in the original."""
    model = _conv_model(xnor_weight_scale)
    sign, alpha = sign_and_scale(model.get_layer("bconv"))
    assert alpha[0] == 0.0 and np.all(sign[..., 0] == 1.0) and np.all(alpha[1:] > 0)
    folded, _ = fold_weight_quantizers(model)
    x = _inputs()
    assert np.all(folded(x).numpy()[..., 0] == 0.0) and np.all(model(x).numpy()[..., 0] == 0.0)


def sign_with_zero(w):
    """tf.sign: 0 at 0, so a kernel with zeros is not ±α and cannot be bit-packed."""
    return 0.5 * tf.sign(w)


@pytest.mark.parametrize(
    "kernel_quantizer, input_quantizer",
    [
        ("ste_sign", "ste_sign"),  # already ±1: nothing to fold
        (ScaledSign(channel_axes=(-2,)), "ste_sign"),  # α per *input* channel: not per output channel
        (sign_with_zero, "ste_sign"),  # zeros among ±α
        ("magnitude_aware_sign", None),  # float input: LCE makes no bconv of it
    ],
)
def test_not_foldable_returns_the_model_itself(kernel_quantizer, input_quantizer):
    model = _conv_model(kernel_quantizer, input_quantizer=input_quantizer)
    assert foldable_layers(model) == []
    folded, names = fold_weight_quantizers(model)
    assert folded is model and names == ()


def test_nested_model_is_folded():
    inner = _conv_model("magnitude_aware_sign")
    inputs = tf.keras.Input((8, 8, CHANNELS))
    outer = tf.keras.Model(inputs, tf.keras.layers.Flatten(name="flat")(inner(inputs)))
    folded, names = fold_weight_quantizers(outer)
    assert names == ("bconv",)
    x = _inputs()
    expected = outer(x).numpy()
    np.testing.assert_allclose(folded(x).numpy(), expected, atol=1e-5 * np.abs(expected).max())


def test_channel_scale_layer():
    layer = ChannelScale(use_bias=True, name="s")
    x = np.arange(6, dtype=np.float32).reshape(1, 2, 3)
    layer(x)
    layer.set_weights([np.array([2.0, -1.0, 0.0], np.float32), np.array([1.0, 2.0, 3.0], np.float32)])
    np.testing.assert_array_equal(layer(x).numpy(), [[[1.0, 1.0, 3.0], [7.0, -2.0, 3.0]]])
    clone = ChannelScale.from_config(layer.get_config())
    assert clone.use_bias and clone.name == "s"
    with pytest.raises(TypeError, match="use_bias must be True or False, got use_bias=1"):
        ChannelScale(use_bias=1)


# --------------------------------------------------------------------------- flatbuffers
@pytest.fixture(scope="module")
def small_conversions(tmp_path_factory):
    """The xnor_weight_scale conv model converted with and without the fold."""
    model = _conv_model(xnor_weight_scale, use_bias=True)
    directory = tmp_path_factory.mktemp("fold")
    return {
        fold: convert(model, directory / f"fold_{fold}.tflite", fold_weights=fold, samples=_inputs(2))
        for fold in (True, False)
    }


def test_scale_is_fused_into_the_bconv(small_conversions):
    """conv → scale → MaxPool: the scale's MUL and ADD become LceBconv2d's multiplier and
    bias (α_0 = 0 included); only the BN before the binarizer keeps a MUL and an ADD.
    Without the fold LCE runs this conv in float: TensorFlow folds so small a kernel's
    quantizer, but LCE takes a kernel as binary only if every channel's scale is non-zero
    (IsBinaryFilter), and channel 0 is all zeros. The folded ±1 kernel has no zeros."""
    folded, unfolded = small_conversions[True], small_conversions[False]
    assert folded.folded_layers == ("bconv",)
    assert "folded to ±1 kernels and a scale: bconv" in str(folded)
    assert folded.ops.op_counts == {"MUL": 1, "ADD": 1, "LceQuantize": 1, "LceBconv2d": 1, "MAX_POOL_2D": 1}
    assert folded.ops.bitpacked_share == 1.0 and folded.ops.unpacked_binary_macs == 0
    assert unfolded.ops.count("CONV_2D") == 1 and unfolded.ops.count("LceBconv2d") == 0
    assert unfolded.ops.bitpacked_share == 0.0
    assert folded.size_bytes < unfolded.size_bytes


def test_fold_weights_off_and_a_bitpacked_model_unchanged(small_conversions, tmp_path):
    assert small_conversions[False].folded_layers == ()
    model = _conv_model("ste_sign")
    on = convert(model, tmp_path / "on.tflite", samples=_inputs(2))
    convert(model, tmp_path / "off.tflite", samples=_inputs(2), fold_weights=False)
    assert on.folded_layers == ()
    assert (tmp_path / "on.tflite").read_bytes() == (tmp_path / "off.tflite").read_bytes()


def test_fold_weights_must_be_a_mode(tmp_path):
    with pytest.raises(ValueError, match=r"fold_weights must be one of \['auto', True, False\], got fold_weights='yes'"):
        convert(_conv_model("ste_sign"), tmp_path / "x.tflite", fold_weights="yes")


def test_auto_folds_only_what_lce_would_run_in_float(small_conversions):
    """``"auto"`` (default): the zero channel of the test conv makes LCE refuse it unfolded,
    so it is folded; the same conv without zero channels is bit-packed by LCE as it is
    (TensorFlow folds so small a quantizer), so it is left alone; a kernel of at least
    AUTO_MIN_KERNEL_BYTES is folded whatever its values."""
    model = _conv_model(xnor_weight_scale, use_bias=True)
    assert fold_weight_quantizers(model, only_needed=True)[1] == ("bconv",)  # channel 0 all zeros
    layer = model.get_layer("bconv")
    kernel = layer.get_weights()[0]
    kernel[kernel == 0] = 0.5
    layer.set_weights([kernel, *layer.get_weights()[1:]])
    assert fold_weight_quantizers(model, only_needed=True) == (model, ())
    assert fold_weight_quantizers(model)[1] == ("bconv",)
    inputs = tf.keras.Input((1, 1, 4096))
    big = lq.layers.QuantConv2D(4096, 1, input_quantizer="ste_sign", kernel_quantizer=ScaledSign(), name="big")
    big_model = tf.keras.Model(inputs, big(inputs))
    assert 4 * big.kernel.shape.num_elements() == AUTO_MIN_KERNEL_BYTES
    assert foldable_layers(big_model) == [big]
    assert fold_weight_quantizers(big_model, only_needed=True)[1] == ("big",)


def test_xnornet_fully_bitpacked(tmp_path):
    """larq-zoo's XNORNet at 217 px (the smallest input it builds at), without its top:
    every binary MAC in LceBconv2d, the only CONV_2D the float stem, parity passed. With
    the default ``fold_weights="auto"`` only the 6×6 conv (151 MB of float kernel) is
    folded: TensorFlow folds the other four kernels' quantizers itself."""
    model = lqz.literature.XNORNet(input_shape=(217, 217, 3), weights=None, include_top=False)
    randomize_weights(model, seed=0)
    binary = [layer for layer in model.layers if isinstance(layer, lq.layers.QuantConv2D)]
    large = [layer.name for layer in binary if 4 * layer.kernel.shape.num_elements() >= AUTO_MIN_KERNEL_BYTES]
    result = convert(model, tmp_path / "xnornet.tflite")
    assert len(binary) == 5 and result.folded_layers == tuple(large) and len(large) == 1
    assert result.ops.bitpacked_share == 1.0 and result.ops.unpacked_binary_macs == 0
    assert result.ops.count("LceBconv2d") == 5 and result.ops.count("CONV_2D") == 1
    assert result.parity is not None and not result.parity.outliers


def test_input_quantizer_state_is_kept():
    """An RSign input quantizer's thresholds travel with the folded conv."""
    model = _conv_model("magnitude_aware_sign", input_quantizer=RSign())
    thresholds = np.random.default_rng(3).normal(0, 0.5, CHANNELS).astype(np.float32)
    layer = model.get_layer("bconv")
    layer.set_weights([layer.get_weights()[0], thresholds])
    folded, names = fold_weight_quantizers(model)
    assert names == ("bconv",)
    np.testing.assert_array_equal(folded.get_layer("bconv").get_weights()[1], thresholds)
    x = _inputs()
    expected = model(x).numpy()
    np.testing.assert_allclose(folded(x).numpy(), expected, atol=1e-5 * np.abs(expected).max())


def _dorefa_like(units=32, features=64):
    """A DoReFaNet-like head: 2-bit DoReFa input, a whole-kernel mean|w|·sign kernel on a
    dense layer and a DoReFa-weights kernel on a conv, each a quantizer the stock TFLite
    converter computes in the graph unless TensorFlow constant-folds it."""
    inputs = tf.keras.Input((4, 4, 8))
    x = lq.layers.QuantConv2D(features // 16, 3, padding="same", input_quantizer=lq.quantizers.DoReFa(k_bit=2),
                              kernel_quantizer=lq.quantizers.DoReFa(k_bit=2, mode="weights"), name="conv")(inputs)
    x = tf.keras.layers.Flatten()(x)
    x = lq.layers.QuantDense(units, input_quantizer=lq.quantizers.DoReFa(k_bit=2), kernel_quantizer=tensor_scale,
                             use_bias=False, name="dense")(x)
    model = tf.keras.Model(inputs, x)
    randomize_weights(model, seed=4)
    return model


def test_every_kernel_quantizer_folds_into_its_constant_for_tflite(tmp_path):
    model = _dorefa_like()
    x = np.random.default_rng(5).uniform(-1, 2, (8, 4, 4, 8)).astype(np.float32)
    folded, names = fold_kernel_quantizers(model)
    assert names == ("conv", "dense")
    for name in names:
        original, constant = model.get_layer(name), folded.get_layer(name)
        assert constant.kernel_quantizer is None and original.kernel_quantizer is not None  # the model untouched
        np.testing.assert_array_equal(constant.kernel.numpy(), original.kernel_quantizer(tf.convert_to_tensor(original.kernel)).numpy())
    np.testing.assert_allclose(folded(x).numpy(), model(x).numpy(), rtol=0, atol=1e-6)
    result = convert(model, tmp_path / "folded.tflite", engine="tflite", fold_weights=True, samples=x)
    assert result.folded_layers == names and result.verified
    assert "Kernel quantizers folded into constant kernels: conv, dense" in str(result)
    assert {"MEAN", "TANH", "SIGN"}.isdisjoint(result.ops.op_counts)  # nothing left of the quantizers
    # "auto" folds only kernels TensorFlow would not constant-fold itself
    assert fold_kernel_quantizers(model, only_needed=True) == (model, ())
    big = _dorefa_like(units=AUTO_MIN_KERNEL_BYTES // 4 // 4096, features=4096)
    assert 4 * big.get_layer("dense").kernel.shape.num_elements() == AUTO_MIN_KERNEL_BYTES
    assert fold_kernel_quantizers(big, only_needed=True)[1] == ("dense",)
