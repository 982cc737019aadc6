"""BDNetMobileNet: layout, residual wiring, arguments, weights and block round trips.

The larq-zoo contract (input_tensor, pooling, whole-model config / h5 / SavedModel round
trips, conversion) runs for every registered model in test_registry.py."""

import larq as lq
import numpy as np
import pytest
import tensorflow as tf

import lq_ext
from lq_ext.layers import BinaryDepthwiseConv2D
from lq_ext.testing import randomize_weights
from lq_ext.zoo import BDNetMobileNet
from lq_ext.zoo._blocks import MOBILENET_WIDTHS
from lq_ext.zoo.bdnet import bdnet_block

SMALL = dict(input_shape=(32, 32, 3), num_classes=10)


@pytest.fixture(scope="module")
def small_model():
    return BDNetMobileNet(**SMALL)


def _layers_of(model, cls):
    return [layer for layer in model.layers if type(layer) is cls]


def test_imagenet_layout_matches_mobilenet_v1(zoo):
    model = zoo.build("bdnet_mobilenet")  # BDNetMobileNet(), shared with test_registry
    assert model.name == "bdnet_mobilenet"
    assert model.input_shape == (None, 224, 224, 3)
    assert model.output_shape == (None, 1000)
    dws = _layers_of(model, BinaryDepthwiseConv2D)
    pws = _layers_of(model, lq.layers.QuantConv2D)
    assert len(dws) == len(pws) == 13
    assert all(layer.kernel_bits == 1.58 for layer in dws)
    assert [layer.filters for layer in pws] == list(MOBILENET_WIDTHS[1:])
    assert [layer.strides[0] for layer in dws] == [1, 2, 1, 2, 1, 2, 1, 1, 1, 1, 1, 2, 1]
    assert model.get_layer("block13_pw_act").output_shape == (None, 7, 7, 1024)
    # real-valued stem and classifier
    assert model.get_layer("stem_conv").strides == (2, 2)
    assert model.get_layer("logits").units == 1000


@pytest.mark.parametrize("side, final", [(32, 2), (64, 4), (96, 3)])
def test_small_input_layout(side, final):
    model = BDNetMobileNet(input_shape=(side, side, 3), include_top=False)
    assert model.output_shape == (None, final, final, 1024)
    assert model.get_layer("stem_conv").strides == ((1, 1) if side <= 64 else (2, 2))


def _inbound(layer):
    inbound = layer.inbound_nodes[0].inbound_layers
    return inbound if isinstance(inbound, list) else [inbound]


def test_residual_modes_wire_bn_where_the_reading_says():
    pre = BDNetMobileNet(**SMALL)
    post = BDNetMobileNet(**SMALL, residual_mode="post_bn")
    sum_bn = BDNetMobileNet(**SMALL, residual_mode="sum_then_bn")
    # pre_bn: add(identity, conv(bn(x)))
    assert _inbound(pre.get_layer("block3_dw_conv"))[0].name == "block3_dw_bn"
    assert {l.name for l in _inbound(pre.get_layer("block3_dw_add"))} == {"block2_pw_act", "block3_dw_conv"}
    # post_bn: add(identity, bn(conv(x)))
    assert _inbound(post.get_layer("block3_dw_bn"))[0].name == "block3_dw_conv"
    assert {l.name for l in _inbound(post.get_layer("block3_dw_add"))} == {"block2_pw_act", "block3_dw_bn"}
    # sum_then_bn: bn(add(identity, conv(x)))
    assert _inbound(sum_bn.get_layer("block3_dw_bn"))[0].name == "block3_dw_add"


def test_pre_bn_block_computes_z_plus_conv_of_bn(small_model):
    """Recompute one block by hand from its layers: z + Conv(sign(BN(z) − β))."""
    model = small_model
    randomize_weights(model)
    x = np.random.default_rng(1).uniform(-1, 1, size=(2, 32, 32, 3)).astype(np.float32)
    probe = tf.keras.Model(
        model.input,
        [model.get_layer(n).output for n in ("block2_pw_act", "block3_dw_act", "block3_pw_act")],
    )
    z, after_dw, after_pw = probe.predict(x, verbose=0)
    layer = model.get_layer
    expected_dw = layer("block3_dw_act")(z + layer("block3_dw_conv")(layer("block3_dw_bn")(z, training=False)))
    np.testing.assert_allclose(after_dw, expected_dw, rtol=1e-5, atol=1e-5)
    expected_pw = layer("block3_pw_act")(after_dw + layer("block3_pw_conv")(layer("block3_pw_bn")(after_dw, training=False)))
    np.testing.assert_allclose(after_pw, expected_pw, rtol=1e-5, atol=1e-5)


def test_doubling_block_tiles_identity_and_pools_when_strided(small_model):
    model = small_model
    randomize_weights(model, seed=3)
    x = np.random.default_rng(2).uniform(-1, 1, size=(1, 32, 32, 3)).astype(np.float32)
    names = ("block1_pw_act", "block2_dw_shortcut", "block2_dw_act", "block2_pw_shortcut")
    probe = tf.keras.Model(model.input, [model.get_layer(n).output for n in names])
    z, pooled, after_dw, broadcast = probe.predict(x, verbose=0)
    np.testing.assert_allclose(pooled, z.reshape(1, 16, 2, 16, 2, 64).mean(axis=(2, 4)), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(broadcast, np.concatenate([after_dw, after_dw], axis=-1))


def test_concat_dup_builds_two_convs_per_doubling():
    model = BDNetMobileNet(**SMALL, broadcast_mode="concat_dup")
    assert model.get_layer("block2_pw1_conv").filters == 64
    assert model.get_layer("block2_pw_concat").output_shape == (None, 16, 16, 128)


def test_naive_baseline_is_one_argument_away():
    naive = BDNetMobileNet(**SMALL, baseline=True)
    assert naive.name == "bdnet_mobilenet_naive"
    assert all(l.kernel_bits == 1 for l in _layers_of(naive, BinaryDepthwiseConv2D))
    assert _inbound(naive.get_layer("block3_dw_bn"))[0].name == "block3_dw_conv"  # post_bn
    registered = lq_ext.zoo.create_model("bdnet_mobilenet_naive", **SMALL)
    assert registered.name == naive.name
    assert [l.name for l in registered.layers[1:]] == [l.name for l in naive.layers[1:]]
    assert all(l.kernel_bits == 1 for l in _layers_of(registered, BinaryDepthwiseConv2D))


def test_input_tensor_include_top_and_pooling():
    tensor = tf.keras.Input((48, 48, 1))
    model = BDNetMobileNet(input_tensor=tensor, include_top=False, pooling="avg")
    assert model.inputs[0] is tensor
    assert model.output_shape == (None, 1024)
    logits = BDNetMobileNet(**SMALL, classifier_activation=None)
    assert logits.layers[-1].name == "logits"


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"residual_mode": "prebn"}, ValueError, r"residual_mode must be one of \['pre_bn', 'post_bn', 'sum_then_bn'\], got residual_mode='prebn'"),
        ({"broadcast_mode": "repeat"}, ValueError, "broadcast_mode must be one of"),
        ({"depthwise_bits": 2}, ValueError, "depthwise_bits must be one of"),
        ({"input_shape": (28, 28, 1)}, ValueError, r"input_shape=\(28, 28, 1\) is too small: .* at least 32 px"),
        ({"input_shape": (32, 32)}, ValueError, r"input_shape must be \(height, width, channels\)"),
        ({"num_classes": 0}, ValueError, "num_classes must be a positive int, got num_classes=0"),
        ({"weights": "imagenet"}, ValueError, "No pretrained lq_ext weights are hosted yet"),
        ({"weights": "/nonexistent/w.h5"}, FileNotFoundError, "does not exist"),
        ({"pooling": "sum", "include_top": False}, ValueError, "pooling must be one of"),
        ({"baseline": True, "residual_mode": "sum_then_bn"}, ValueError, "baseline=True sets depthwise_bits=1"),
    ],
)
def test_bad_arguments_give_clear_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        BDNetMobileNet(**kwargs)


def test_weights_from_local_file_and_wrong_architecture(tmp_path, small_model):
    randomize_weights(small_model, seed=5)
    path = str(tmp_path / "bdnet32.h5")
    small_model.save_weights(path)
    loaded = BDNetMobileNet(**SMALL, weights=path)
    x = np.random.default_rng(0).uniform(-1, 1, size=(2, 32, 32, 3)).astype(np.float32)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), small_model.predict(x, verbose=0))
    with pytest.raises(ValueError, match="was not saved from this architecture"):
        BDNetMobileNet(input_shape=(32, 32, 3), num_classes=100, weights=path)


@pytest.mark.parametrize("residual_mode", ["pre_bn", "post_bn"])
def test_blocks_savedmodel_round_trip(tmp_path, residual_mode):
    """SavedModel tracing of the whole network takes over a minute: two blocks cover
    every layer type of it (strided, doubling, RSign, ternary and binary kernels)."""
    inputs = tf.keras.Input((8, 8, 16))
    x = bdnet_block(inputs, 32, 2, name="a", residual_mode=residual_mode)
    x = bdnet_block(x, 32, 1, name="b", depthwise_bits=1, residual_mode=residual_mode)
    model = tf.keras.Model(inputs, x)
    randomize_weights(model, seed=8)
    path = str(tmp_path / "blocks")
    model.save(path, save_format="tf")
    loaded = tf.keras.models.load_model(path)
    x = np.random.default_rng(0).uniform(-1, 1, size=(2, 8, 8, 16)).astype(np.float32)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_registry_lists_models():
    assert {"bdnet_mobilenet", "bdnet_mobilenet_naive"} <= set(lq_ext.zoo.list_models(include_references=False))


def test_exact_int8_changes_the_graph_not_the_outputs():
    exact = BDNetMobileNet(**SMALL)
    plain = BDNetMobileNet(**SMALL, exact_int8=False)
    depthwise = [l for l in exact.layers if isinstance(l, BinaryDepthwiseConv2D)]
    assert len(depthwise) == 13 and all(l.exact_int8 for l in depthwise)
    assert not any(l.exact_int8 for l in plain.layers if isinstance(l, BinaryDepthwiseConv2D))
    randomize_weights(exact, seed=3)
    plain.set_weights(exact.get_weights())
    x = np.random.default_rng(3).uniform(-1, 1, size=(2, 32, 32, 3)).astype(np.float32)
    np.testing.assert_allclose(exact(x).numpy(), plain(x).numpy(), rtol=0, atol=1e-5)
    assert lq_ext.profile(exact).bops == lq_ext.profile(plain).bops
    with pytest.raises(ValueError, match="exact_int8 must be True or False, got exact_int8='yes'"):
        BDNetMobileNet(**SMALL, exact_int8="yes")


def test_depthwise_int8_is_the_deprecated_spelling_of_exact_int8():
    with pytest.warns(DeprecationWarning, match="depthwise_int8= is deprecated, use exact_int8="):
        plain = BDNetMobileNet(**SMALL, depthwise_int8=False)
    assert not any(l.exact_int8 for l in plain.layers if isinstance(l, BinaryDepthwiseConv2D))
    with pytest.raises(ValueError, match="depthwise_int8 must be True or False, got depthwise_int8='yes'"):
        BDNetMobileNet(**SMALL, depthwise_int8="yes")
    with pytest.raises(ValueError, match="pass exact_int8 or its deprecated spelling depthwise_int8, not both"):
        BDNetMobileNet(**SMALL, depthwise_int8=True, exact_int8=False)


def test_width_multiplier_scales_every_width_and_the_macs():
    def conv_widths(model):
        return [layer.filters for layer in model.layers if layer.name.endswith("pw_conv")]

    full = BDNetMobileNet(input_shape=(32, 32, 3), num_classes=10)
    half = BDNetMobileNet(input_shape=(32, 32, 3), num_classes=10, width_multiplier=0.5)
    assert conv_widths(half) == [c // 2 for c in conv_widths(full)] == [c // 2 for c in MOBILENET_WIDTHS[1:]]
    full_cost, half_cost = lq_ext.profile(full), lq_ext.profile(half)
    # Point-wise MACs go with C_in·C_out (×1/4), depth-wise ones with C (×1/2).
    assert half_cost.macs["1-bit"] * 4 == full_cost.macs["1-bit"]
    assert half_cost.macs["1.58-bit"] * 2 == full_cost.macs["1.58-bit"]
    # An α whose stem width rounds keeps every doubling a doubling.
    odd = BDNetMobileNet(input_shape=(32, 32, 3), num_classes=10, width_multiplier=0.3)
    assert conv_widths(odd)[-1] == 32 * 10  # stem round(9.6) = 10, last 1024/32·10


@pytest.mark.parametrize("value", [0, -0.5, 5, True, "0.5"])
def test_width_multiplier_errors(value):
    with pytest.raises(ValueError, match=r"width_multiplier must be a number in \(0, 4\]"):
        BDNetMobileNet(input_shape=(32, 32, 3), width_multiplier=value)
