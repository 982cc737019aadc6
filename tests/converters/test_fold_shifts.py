"""fold_shifts: RPReLU's b₂ carried forward into its readers, b₁ into a conv branch's bias,
RPReLUs without shifts as PReLU; on the layer patterns (strided / channel-doubling /
concatenated shortcuts, negative slopes) and on BDNetMobileNet at 32 px."""

import larq as lq
import numpy as np
import pytest
import tensorflow as tf

from lq_ext.converters import convert, inspect
from lq_ext.converters.engines import to_flatbuffer
from lq_ext.converters.fold_shifts import (
    carry_output_shifts,
    fold_input_shifts,
    fold_rprelu_shifts,
    plain_prelus,
)
from lq_ext.converters.parity import Interpreter
from lq_ext.converters.verify import parity_inputs
from lq_ext.layers import BinaryDepthwiseConv2D, ChannelBroadcast, LearnableBias, RPReLU
from lq_ext.quantizers import RSign, ScaledSign
from lq_ext.testing import randomize_weights

C = 8
ACTS = ("act0", "act_a", "act_b", "act_c1", "act_c2", "act_d")


def _bconv(filters, kernel=1, strides=1, quantizer=RSign, name=None):
    return lq.layers.QuantConv2D(
        filters, kernel, strides=strides, padding="same", use_bias=False, input_quantizer=quantizer(),
        kernel_quantizer=ScaledSign(clip_value=1.5), kernel_constraint=lq.constraints.WeightClip(1.5), name=name,
    )  # fmt: skip


def _stream(broadcast="tile", seed=0):
    """A residual stream through every kind of reader: RPReLU → {AveragePooling2D 'same' on
    7×7 (padded), strided RSign conv} → Add → RPReLU → {ChannelBroadcast, RSign conv} → Add
    → RPReLU → two ReActNet halves (LearnableBias → approx-sign conv → BN → Add → RPReLU)
    → Concatenate → {BN → RSign conv, identity} → Add → RPReLU → global pool → Dense
    without bias. Random weights: slopes, shifts, γ of both signs."""
    inputs = tf.keras.Input((7, 7, C))
    x = RPReLU(name="act0")(inputs)
    shortcut = tf.keras.layers.AveragePooling2D(2, padding="same", name="pool")(x)
    x = tf.keras.layers.Add(name="add_a")([shortcut, _bconv(C, 3, 2, name="conv_a")(x)])
    x = RPReLU(name="act_a")(x)
    shortcut = ChannelBroadcast(2 * C, mode=broadcast, name="widen")(x)
    x = tf.keras.layers.Add(name="add_b")([shortcut, _bconv(2 * C, name="conv_b")(x)])
    x = RPReLU(name="act_b")(x)
    halves = []
    for i in (1, 2):
        y = LearnableBias(name=f"bias{i}")(x)
        y = _bconv(2 * C, quantizer=lambda: "approx_sign", name=f"conv_c{i}")(y)
        y = tf.keras.layers.BatchNormalization(name=f"bn_c{i}")(y)
        halves.append(RPReLU(name=f"act_c{i}")(tf.keras.layers.Add(name=f"add_c{i}")([x, y])))
    x = tf.keras.layers.Concatenate(name="concat")(halves)
    y = _bconv(4 * C, name="conv_d")(tf.keras.layers.BatchNormalization(name="bn_d")(x))
    x = RPReLU(name="act_d")(tf.keras.layers.Add(name="add_d")([x, y]))
    x = tf.keras.layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = tf.keras.layers.Dense(5, use_bias=False, name="logits")(x)
    model = tf.keras.Model(inputs, outputs)
    randomize_weights(model, seed=seed)
    assert min(model.get_layer(name).alpha.numpy().min() for name in ACTS) < 0  # negative slopes
    assert model.get_layer("bn_d").gamma.numpy().min() < 0
    return model


def _inputs(shape, seed=1, n=16):
    return np.random.default_rng(seed).normal(0, 1.5, (n, *shape)).astype(np.float32)


def _assert_same(folded, model, x):
    expected = model(x).numpy()
    assert np.abs(expected).max() > 0.1  # not a trivial output
    np.testing.assert_allclose(folded(x).numpy(), expected, rtol=1e-5, atol=1e-5 * np.abs(expected).max())


@pytest.fixture(scope="module")
def stream():
    model = _stream()
    carried, names = carry_output_shifts(model)
    return model, carried, names


def test_every_output_shift_is_carried_exactly(stream):
    model, carried, names = stream
    assert names == ACTS
    for name in ACTS:
        assert np.all(carried.get_layer(name).shift_out.numpy() == 0)
    _assert_same(carried, model, _inputs((7, 7, C)))


def test_carried_shifts_match_the_algebra(stream):
    model, carried, _ = stream

    def old(name, weight):
        return getattr(model.get_layer(name), weight).numpy().astype(np.float64)

    def new(name, weight):
        return getattr(carried.get_layer(name), weight).numpy()

    b2 = {name: old(name, "shift_out") for name in ACTS}
    close = dict(rtol=1e-6, atol=1e-6)
    # RSign: sign(x − t) = sign((x − b₂) − (t − b₂)); the pool keeps the constant (padding excluded)
    np.testing.assert_allclose(carried.get_layer("conv_a").input_quantizer.threshold.numpy(),
                               model.get_layer("conv_a").input_quantizer.threshold.numpy() - b2["act0"], **close)
    np.testing.assert_allclose(new("act_a", "shift_in"), old("act_a", "shift_in") - b2["act0"], **close)
    # the channel-doubling shortcut tiles the constant; the conv branch absorbed it
    np.testing.assert_allclose(new("act_b", "shift_in"), old("act_b", "shift_in") - np.tile(b2["act_a"], 2), **close)
    np.testing.assert_allclose(new("bias1", "bias"), old("bias1", "bias") + b2["act_b"], **close)
    np.testing.assert_allclose(new("act_c2", "shift_in"), old("act_c2", "shift_in") - b2["act_b"], **close)
    both = np.concatenate([b2["act_c1"], b2["act_c2"]])
    np.testing.assert_allclose(new("bn_d", "moving_mean"), old("bn_d", "moving_mean") - both, **close)
    np.testing.assert_allclose(new("act_d", "shift_in"), old("act_d", "shift_in") - both, **close)
    np.testing.assert_allclose(new("logits", "bias"), b2["act_d"] @ old("logits", "kernel"), **close)


def test_zero_padding_broadcast_carries_zeros():
    model = _stream(broadcast="zeropad", seed=3)
    carried, names = carry_output_shifts(model)
    assert names == ACTS
    b2 = model.get_layer("act_a").shift_out.numpy()
    np.testing.assert_allclose(carried.get_layer("act_b").shift_in.numpy(),
                               model.get_layer("act_b").shift_in.numpy() - np.concatenate([b2, np.zeros(C)]),
                               rtol=1e-6, atol=1e-6)
    _assert_same(carried, model, _inputs((7, 7, C), seed=4))


def test_shifts_that_cannot_be_carried_stay():
    inputs = tf.keras.Input((6, 6, C))
    x = RPReLU(name="kept_float_conv")(inputs)  # a float 3×3 'same' conv pads: not a reader
    x = tf.keras.layers.Conv2D(C, 3, padding="same", name="float_conv")(x)
    x = RPReLU(name="carried")(x)
    x = _bconv(C, name="reader")(x)
    x = RPReLU(name="kept_output")(x)  # a model output
    model = tf.keras.Model(inputs, x)
    randomize_weights(model, seed=5)
    carried, names = carry_output_shifts(model)
    assert names == ("carried",)
    assert np.all(carried.get_layer("kept_float_conv").shift_out.numpy() != 0)
    _assert_same(carried, model, _inputs((6, 6, C), seed=6))
    output_only = tf.keras.Model(inputs, RPReLU()(inputs))
    randomize_weights(output_only)
    assert carry_output_shifts(output_only) == (output_only, ())


def test_input_shifts_move_into_conv_and_batchnorm_biases(stream):
    _, carried, _ = stream
    folded, names = fold_input_shifts(carried)
    assert names == ACTS[1:]  # act0 reads the model input
    for name in ACTS[1:]:
        assert np.all(folded.get_layer(name).shift_in.numpy() == 0)
    b1 = carried.get_layer("act_a").shift_in.numpy()
    np.testing.assert_allclose(folded.get_layer("conv_a").bias.numpy(), -b1, rtol=1e-6)
    np.testing.assert_allclose(folded.get_layer("bn_c1").beta.numpy(),
                               carried.get_layer("bn_c1").beta.numpy() - carried.get_layer("act_c1").shift_in.numpy(),
                               rtol=1e-6, atol=1e-6)
    _assert_same(folded, carried, _inputs((7, 7, C), seed=7))


@pytest.mark.parametrize("exact_int8, scale_kernel, folded", [
    (True, True, "affine"),  # int8 bias would round: mean|w| and b₁ in a float 1×1 depth-wise conv
    (True, False, None),  # no scale MUL to replace: b₁ stays
    (False, True, "bias"),  # a float depth-wise conv takes b₁ in its bias
])
def test_depthwise_branch(exact_int8, scale_kernel, folded):
    inputs = tf.keras.Input((6, 6, C))
    y = BinaryDepthwiseConv2D(3, padding="same", scale_kernel=scale_kernel, input_quantizer=RSign(),
                              exact_int8=exact_int8, clip_value=1.5, name="dw")(inputs)
    x = RPReLU(name="act")(tf.keras.layers.Add()([inputs, y]))
    model = tf.keras.Model(inputs, tf.keras.layers.Dense(3)(tf.keras.layers.GlobalAveragePooling2D()(x)))
    randomize_weights(model, seed=8)
    result, names = fold_input_shifts(model)
    assert names == (() if folded is None else ("act",))
    if folded is None:
        return
    _assert_same(result, model, _inputs((6, 6, C), seed=9))
    shift = model.get_layer("act").shift_in.numpy()
    if folded == "bias":
        np.testing.assert_allclose(result.get_layer("dw").bias.numpy(), -shift, rtol=1e-6)
    else:
        assert result.get_layer("dw").scale_kernel is False
        kernel, bias = result.get_layer("dw_affine").get_weights()
        latent = model.get_layer("dw").depthwise_kernel.numpy()
        np.testing.assert_allclose(kernel.ravel(), np.abs(latent).mean(axis=(0, 1)).ravel(), rtol=1e-6)
        np.testing.assert_allclose(bias, -shift, rtol=1e-6)


def test_plain_prelus(stream):
    model, carried, _ = stream
    lowered, names = plain_prelus(fold_input_shifts(carried)[0])
    assert names == ACTS
    assert not any(isinstance(layer, RPReLU) for layer in lowered.layers)
    assert [type(lowered.get_layer(n)) for n in ("act0_shift_in", "act0")] == [LearnableBias, tf.keras.layers.PReLU]
    _assert_same(lowered, model, _inputs((7, 7, C), seed=10))
    assert plain_prelus(model) == (model, ())  # every RPReLU has b₂ ≠ 0


def test_convert_removes_one_op_per_shift(tmp_path):
    """Six b₂ ADDs gone, five b₁ SUBs in conv / BN biases, act0's b₁ an ADD; bn_d folded
    into conv_d's threshold (MUL + ADD); the rest unchanged; parity passed."""
    model = _stream(seed=11)
    samples = _inputs((7, 7, C), seed=12, n=8)
    plain = convert(model, tmp_path / "plain.tflite", samples=samples)
    folded = convert(model, tmp_path / "folded.tflite", samples=samples, fold_elementwise=True)
    assert folded.folded_batchnorms == ("bn_d",) and folded.folded_shifts == ACTS
    assert "RPReLU shifts folded into neighbouring layers: 6" in str(folded)
    counts = dict(plain.ops.op_counts)
    counts.update(SUB=counts["SUB"] - 6, ADD=counts["ADD"] - 6 - 1 + 1, MUL=counts["MUL"] - 1)
    assert folded.ops.op_counts == {k: v for k, v in counts.items() if v}
    assert folded.verified


@pytest.fixture(scope="module")
def bdnet(bdnet_bn_folded):
    """BDNetMobileNet at 32 px after the BatchNorm fold (``before``) and after the shift folds."""
    model, thresholds, _, before = bdnet_bn_folded
    folded, names = fold_rprelu_shifts(thresholds)
    flatbuffer = to_flatbuffer(folded).data
    return model, folded, names, inspect(before), inspect(flatbuffer), flatbuffer


def test_bdnet_every_rprelu_shift_is_folded(bdnet):
    model, folded, names, _, _, _ = bdnet
    rprelus = [layer.name for layer in model.layers if isinstance(layer, RPReLU)]
    assert len(rprelus) == 26 and names == tuple(rprelus)
    assert not any(isinstance(layer, (RPReLU, LearnableBias)) for layer in folded.layers)
    # each depth-wise unit's mean|w| scale and b₁ in a float 1×1 depth-wise conv
    assert sorted(layer.name for layer in folded.layers if type(layer) is tf.keras.layers.DepthwiseConv2D) == sorted(
        n.replace("_act", "_conv_affine") for n in rprelus if n.endswith("_dw_act")
    )


def test_bdnet_flatbuffer_loses_the_shift_ops(bdnet):
    """Per unit, RPReLU's SUB / PRELU / ADD become one PRELU (b₂ carried forward; b₁ in
    LceBconv2d's bias, or with mean|w| in a float 1×1 DEPTHWISE_CONV_2D that replaces the
    depth-wise unit's MUL): 26 ADDs, 26 SUBs and 13 MULs fewer, 13 float depth-wise convs
    more (one MAC per element)."""
    model, _, names, before, after, _ = bdnet
    size = {n: int(np.prod(model.get_layer(n).output.shape[1:])) for n in names}
    depthwise = [n for n in names if n.endswith("_dw_act")]
    assert len(depthwise) == 13
    expected = dict(before.op_counts, SUB=before.count("SUB") - 26, ADD=before.count("ADD") - 26,
                    MUL=before.count("MUL") - 13, DEPTHWISE_CONV_2D=before.count("DEPTHWISE_CONV_2D") + 13)
    assert after.op_counts == {k: v for k, v in expected.items() if v}
    assert len(after.ops) == len(before.ops) - 52
    saved = 2 * sum(size.values()) + sum(size[n] for n in depthwise)  # b₂ ADDs, b₁ SUBs, the MULs
    assert after.elementwise_float_work == before.elementwise_float_work - saved
    macs = dict(before.macs_by_class)
    macs["float"] += sum(size[n] for n in depthwise)
    assert after.macs_by_class == macs


def test_bdnet_folded_flatbuffer_matches_keras(bdnet):
    model, folded, _, _, _, flatbuffer = bdnet
    images, _ = parity_inputs(model, None)
    expected = model.predict(images, verbose=0)
    tolerance = dict(rtol=1e-4, atol=1e-4 * np.abs(expected).max())
    np.testing.assert_allclose(folded.predict(images, verbose=0), expected, **tolerance)
    np.testing.assert_allclose(Interpreter(flatbuffer).predict(images), expected, **tolerance)
