"""ReActNetA: layout, published counts, block wiring, arguments, weights, conversion.

The larq-zoo contract (input_tensor, pooling, config / h5 / SavedModel round trips,
bit-packing) runs for every registered model in test_registry.py."""

import larq as lq
import numpy as np
import pytest
import tensorflow as tf

import lq_ext
from lq_ext.layers import LearnableBias
from lq_ext.testing import randomize_weights
from lq_ext.zoo import ReActNetA
from lq_ext.zoo._blocks import REACTNET_A_WIDTHS, reactnet_block

SMALL = dict(input_shape=(32, 32, 3), num_classes=10)

#: ReActNet-A at 224×224 (paper, Table / BCDNet poster): stride of each of the 13 blocks.
IMAGENET_STRIDES = [1, 2, 1, 2, 1, 2, 1, 1, 1, 1, 1, 2, 1]


def _binary_convs(model):
    return [l for l in model.layers if isinstance(l, lq.layers.QuantConv2D) and l.input_quantizer is not None]


def _inbound(model, name):
    inbound = model.get_layer(name).inbound_nodes[0].inbound_layers
    return [l.name for l in (inbound if isinstance(inbound, list) else [inbound])]


def _bops(widths, strides, side=224):
    """Binary MACs by hand: 3×3 C→C conv + 1×1 C→C' conv per block, stem stride 2."""
    size, total = side // 2, 0
    for c_in, c_out, stride in zip(widths[:-1], widths[1:], strides):
        size //= stride
        total += 9 * c_in * c_in * size * size + c_in * c_out * size * size
    return total


@pytest.fixture(scope="module")
def imagenet_model(zoo):
    return zoo.build("reactnet_a")  # ReActNetA(), shared with test_registry / test_bcdnet


def test_imagenet_layout(imagenet_model):
    model = imagenet_model
    assert model.name == "reactnet_a"
    assert model.input_shape == (None, 224, 224, 3) and model.output_shape == (None, 1000)
    convs = _binary_convs(model)
    three = [l for l in convs if l.kernel_size == (3, 3)]
    assert len(three) == 13 and len(convs) == 13 + 18  # 5 doubling blocks have two 1×1 convs
    assert [l.strides[0] for l in three] == IMAGENET_STRIDES
    assert all(l.filters == l.input_shape[-1] for l in three)  # full C→C 3×3, not depth-wise
    assert all(l.input_quantizer.__class__ is lq.quantizers.ApproxSign for l in convs)
    assert all(l.kernel_quantizer.get_config()["clip_value"] == 1.0 for l in convs)
    assert model.get_layer("block13_pw_act").output_shape == (None, 7, 7, 1024)
    assert model.get_layer("stem_conv").strides == (2, 2) and model.get_layer("logits").units == 1000


def test_published_counts_at_224(zoo):
    """BOPs 4.8169·10⁹ exactly, FLOPs = stem conv + one FC, OPs 0.87·10⁸ (BCDNet poster, ReActNet)."""
    cost = zoo.profile("reactnet_a")
    expected_bops = _bops(REACTNET_A_WIDTHS, IMAGENET_STRIDES)
    assert cost.bops == expected_bops == 4_816_896_000
    assert round(cost.bops / 1e9, 4) == 4.8169
    stem = 112 * 112 * 3 * 3 * 3 * 32
    assert cost.macs["float"] == cost.flops == stem + 1024 * 1000 == 11_862_016
    assert cost.ops == cost.bops / 64 + cost.flops == 87_126_016
    assert round(cost.ops / 1e8, 2) == 0.87 and round(cost.flops / 1e8, 2) == 0.12


@pytest.mark.parametrize("side, final, stem_stride", [(32, 4, 1), (64, 8, 1), (96, 3, 2)])
def test_small_input_layout_keeps_4x4(side, final, stem_stride):
    model = ReActNetA(input_shape=(side, side, 3), include_top=False)
    assert model.output_shape == (None, final, final, 1024)
    assert model.get_layer("stem_conv").strides == (stem_stride, stem_stride)
    last_stride = model.get_layer("block12_3x3_conv").strides[0]
    assert last_stride == (1 if side <= 64 else 2)


def test_block_recomputed_from_its_layers():
    """block2 (64→128, stride 2): pooled shortcut, one threshold shared by both 1×1 convs."""
    model = ReActNetA(**SMALL)
    randomize_weights(model, seed=1)
    x = np.random.default_rng(1).uniform(-1, 1, size=(2, 32, 32, 3)).astype(np.float32)
    names = ("block1_pw_concat", "block2_3x3_act", "block2_pw_concat")
    z, o1, out = tf.keras.Model(model.input, [model.get_layer(n).output for n in names]).predict(x, verbose=0)
    layer = model.get_layer
    pooled = z.reshape(2, 16, 2, 16, 2, 64).mean(axis=(2, 4))
    conv3 = layer("block2_3x3_conv")(layer("block2_3x3_bias")(z))
    expected_o1 = layer("block2_3x3_act")(layer("block2_3x3_bn")(conv3, training=False) + pooled)
    np.testing.assert_allclose(o1, expected_o1, rtol=1e-5, atol=1e-5)
    t = layer("block2_pw_bias")(o1)
    halves = [
        layer(f"block2_pw{i}_act")(layer(f"block2_pw{i}_bn")(layer(f"block2_pw{i}_conv")(t), training=False) + o1)
        for i in (1, 2)
    ]
    np.testing.assert_allclose(out, np.concatenate(halves, axis=-1), rtol=1e-5, atol=1e-5)
    assert _inbound(model, "block2_pw1_conv") == _inbound(model, "block2_pw2_conv") == ["block2_pw_bias"]
    assert sum(isinstance(l, LearnableBias) for l in model.layers) == 26  # one per binarization


def test_kernels_are_sign_times_mean_abs_per_output_channel():
    model = ReActNetA(**SMALL)
    randomize_weights(model, seed=2)
    conv = model.get_layer("block3_3x3_conv")
    latent = conv.kernel.numpy()
    expected = np.where(latent >= 0, 1.0, -1.0) * np.abs(latent).mean(axis=(0, 1, 2))
    with lq.context.quantized_scope(True):
        np.testing.assert_allclose(conv.kernel.numpy(), expected, rtol=1e-5)


def test_input_tensor_include_top_pooling_and_registry():
    tensor = tf.keras.Input((40, 40, 1))
    model = ReActNetA(input_tensor=tensor, include_top=False, pooling="avg")
    assert model.inputs[0] is tensor and model.output_shape == (None, 1024)
    assert ReActNetA(**SMALL, classifier_activation=None).layers[-1].name == "logits"
    registered = lq_ext.zoo.create_model("reactnet_a", **SMALL)
    assert registered.name == "reactnet_a" and registered.count_params() == ReActNetA(**SMALL).count_params()


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"pad_values": 0.5}, ValueError, r"pad_values must be one of \[1.0, 0.0\], got pad_values=0.5"),
        ({"input_shape": (28, 28, 3)}, ValueError, r"input_shape=\(28, 28, 3\) is too small: .* at least 32 px"),
        ({"num_classes": -3}, ValueError, "num_classes must be a positive int, got num_classes=-3"),
        ({"classifier_activation": "relu"}, ValueError, "classifier_activation must be 'softmax', 'linear' or None"),
        ({"weights": "imagenet"}, ValueError, "No pretrained lq_ext weights are hosted yet"),
        ({"pooling": "sum", "include_top": False}, ValueError, "pooling must be one of"),
    ],
)
def test_bad_arguments_give_clear_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        ReActNetA(**kwargs)


def test_zero_padding_option():
    model = ReActNetA(**SMALL, pad_values=0.0)
    assert {l.pad_values for l in _binary_convs(model) if l.kernel_size == (3, 3)} == {0.0}


def test_weights_file_round_trip_identical_outputs(tmp_path):
    """(The whole-model .h5 round trip is in test_registry.py.)"""
    model = ReActNetA(**SMALL)
    randomize_weights(model, seed=3)
    x = np.random.default_rng(0).uniform(-1, 1, size=(2, 32, 32, 3)).astype(np.float32)
    weights = str(tmp_path / "w.h5")
    model.save_weights(weights)
    np.testing.assert_array_equal(ReActNetA(**SMALL, weights=weights).predict(x, verbose=0), model.predict(x, verbose=0))


def test_block_savedmodel_round_trip(tmp_path):
    """SavedModel tracing of the whole network is slow: a strided doubling block and a
    plain block cover every layer type of it."""
    inputs = tf.keras.Input((8, 8, 16))
    x = reactnet_block(inputs, 32, 2, name="a")
    x = reactnet_block(x, 32, 1, name="b", pad_values=0.0)
    model = tf.keras.Model(inputs, x)
    randomize_weights(model, seed=4)
    path = str(tmp_path / "blocks")
    model.save(path, save_format="tf")
    loaded = tf.keras.models.load_model(path)
    x = np.random.default_rng(0).uniform(-1, 1, size=(2, 8, 8, 16)).astype(np.float32)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_lce_conversion_every_binary_conv_is_bitpacked(zoo):
    # ReActNetA(**SMALL, classifier_activation=None), randomize_weights(seed=5), convert():
    # conftest.CONVERSIONS, the conversion test_registry.py checks too
    model, result = zoo.converted("reactnet_a")
    ops = result.ops
    counts = ops.op_counts
    assert counts["LceBconv2d"] == 31 and counts["LceQuantize"] == 26
    assert counts["CONV_2D"] == 1 and counts["FULLY_CONNECTED"] == 1  # float stem and classifier
    assert "LceDequantize" not in counts and not any(op.startswith("Flex") for op in counts)
    assert ops.bitpacked_share == 1.0
    assert not ops.unpacked_outputs  # every re-binarized bconv output is bit-packed
    assert ops.macs_by_class["bitpacked"] == lq_ext.profile(model).bops
    assert result.verified and result.parity.top1_agreement == 1.0
    assert result.parity.median_rel_error < 1e-5
    print(result)
