"""BCDNetA / BCDNetB: shift blocks against a hand-built reference, embeddings, published
counts, the distillation head fold, arguments, block round trips and LCE conversion.

The larq-zoo contract (input_tensor, pooling, whole-model config / h5 / SavedModel round
trips) runs for every registered model in test_registry.py."""

import larq as lq
import numpy as np
import pytest
import tensorflow as tf

import lq_ext
from lq_ext.layers import CircularShift
from lq_ext.layers.embedding import contextual_embedding
from lq_ext.testing import randomize_weights
from lq_ext.zoo import BCDNetA, BCDNetB, fold_distillation_head
from lq_ext.zoo._blocks import reactnet_block
from lq_ext.zoo.bcdnet import mlp_block, point_block, shift_block

SMALL = dict(input_shape=(32, 32, 3), num_classes=10)

#: BCDNet-A's 10 conv blocks at 224×224 (``a_3.py``): widths and strides.
CONV_WIDTHS = [32, 64, 128, 128, 256, 256, 512, 512, 512, 512, 1024]
CONV_STRIDES = [1, 2, 1, 2, 1, 2, 1, 1, 1, 2]


def _binary_convs(model):
    return [l for l in model.layers if isinstance(l, lq.layers.QuantConv2D) and l.input_quantizer is not None]


# ------------------------------------------------------------------ numpy reference
def _sign(x):
    return np.where(x >= 0, 1.0, -1.0)  # Larq's sign: +1 at 0


def _roll4(a, dy, dx):
    q = np.split(a, 4, axis=-1)
    return np.concatenate(
        [np.roll(q[0], dy, 1), np.roll(q[1], -dy, 1), np.roll(q[2], dx, 2), np.roll(q[3], -dx, 2)], axis=-1
    )


def _binary_1x1(binary_input, layer):
    latent = layer.get_weights()[0][0, 0]  # (Cin, Cout)
    kernel = _sign(latent) * np.abs(latent).mean(axis=0)
    return np.einsum("bhwc,cd->bhwd", binary_input, kernel)


def _bn(y, layer):
    gamma, beta, mean, variance = layer.get_weights()
    return gamma * (y - mean) / np.sqrt(variance + layer.epsilon) + beta


def _rprelu(y, layer):
    shift_in, alpha, shift_out = layer.get_weights()
    z = y - shift_in
    return np.where(z >= 0, z, alpha.reshape(-1) * z) + shift_out


def test_shift_and_point_blocks_equal_a_hand_built_reference():
    """Binarize ONCE, shift the binary tensor, three 1×1 convs, one BN (released code),
    against the graph that shifts x + b and binarizes per branch (for LCE)."""
    inputs = tf.keras.Input((6, 5, 8))
    model = tf.keras.Model(inputs, point_block(shift_block(inputs, name="s"), name="p"))
    randomize_weights(model, seed=1)
    x = np.random.default_rng(1).normal(size=(3, 6, 5, 8)).astype(np.float32)
    shifted, out = tf.keras.Model(inputs, [model.get_layer("s_act").output, model.output]).predict(x, verbose=0)
    layer = model.get_layer
    assert layer("s_shift_long").offsets == (3, 2)  # (H // 2, W // 2) of a 6×5 map

    binary = _sign(x + layer("s_bias").get_weights()[0])
    y = (
        _binary_1x1(binary, layer("s_conv"))
        + _binary_1x1(_roll4(binary, 1, 1), layer("s_conv_short"))
        + _binary_1x1(_roll4(binary, 3, 2), layer("s_conv_long"))
    )
    expected = _rprelu(_bn(y, layer("s_bn")) + x, layer("s_act"))
    np.testing.assert_allclose(shifted, expected, rtol=1e-4, atol=1e-4)

    binary = _sign(expected + layer("p_bias").get_weights()[0])
    expected = _rprelu(_bn(_binary_1x1(binary, layer("p_conv")), layer("p_bn")) + expected, layer("p_act"))
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4)


def test_mlp_block_structure():
    inputs = tf.keras.Input((4, 4, 16))
    model = tf.keras.Model(inputs, mlp_block(inputs, name="m"))
    assert [l.name for l in _binary_convs(model)] == [
        f"m_shift{i}_conv{s}" for i in (1, 2, 3) for s in ("", "_short", "_long")
    ] + ["m_point_conv"]
    assert model.get_layer("m_shift1_shift_long").offsets == (2, 2)
    # one BatchNorm after the sum of the three branches
    inbound = model.get_layer("m_shift1_bn").inbound_nodes[0].inbound_layers
    assert inbound.name == "m_shift1_conv_sum"


@pytest.mark.parametrize(
    "shape, kwargs, match",
    [
        ((3, 8, 16), {}, r"s: the 3x8 feature map is too small for the shifts: .* \(1, 1\), so height must be at least 4"),
        ((5, 5, 16), {"short_range": 2}, r"\(H // 2, W // 2\) = \(2, 2\) must exceed the short-range shift \(2, 2\)"),
        ((4, 4, 6), {}, r"s: the channels must be divisible by 4 .* got channels=6"),
        ((4, 4, 8), {"short_range": 0}, r"shift must be a positive int, .* got shift=0"),
    ],
)
def test_shift_block_errors(shape, kwargs, match):
    with pytest.raises(ValueError, match=match):
        shift_block(tf.keras.Input(shape), name="s", **kwargs)


# ------------------------------------------------------------------ dynamic embeddings
def _static_and_dynamic(**embedding):
    inputs = tf.keras.Input((8, 8, 16))
    static = tf.keras.Model(inputs, reactnet_block(inputs, 32, 2, name="s"))
    dynamic = tf.keras.Model(inputs, reactnet_block(inputs, 32, 2, name="d", embedding_reduction=4, **embedding))
    return static, dynamic


def test_dynamic_block_starts_as_the_static_block():
    """Zero-initialised W₂, W₃: α = b₂ (= −b of the static bias) and W₃·e = 0."""
    static, dynamic = _static_and_dynamic()
    randomize_weights(static, seed=2)
    for layer in static.layers:
        if not layer.weights:
            continue
        name = "d" + layer.name[1:]
        if name.endswith("_bias"):
            fc = dynamic.get_layer(name[: -len("_bias")] + "_threshold_fc")
            fc.set_weights([fc.get_weights()[0], -layer.get_weights()[0]])
        else:
            dynamic.get_layer(name).set_weights(layer.get_weights())
    x = np.random.default_rng(2).normal(size=(2, 8, 8, 16)).astype(np.float32)
    # equal up to float round-off (W₃·e = 0 is added before the BN, which changes TF's fusions)
    np.testing.assert_allclose(dynamic.predict(x, verbose=0), static.predict(x, verbose=0), rtol=1e-5, atol=1e-5)


def test_dynamic_threshold_and_bias_by_hand():
    _, dynamic = _static_and_dynamic()
    randomize_weights(dynamic, seed=3)
    x = np.random.default_rng(3).normal(size=(2, 8, 8, 16)).astype(np.float32)
    names = ("d_3x3_threshold", "d_3x3_conv", "d_3x3_conv_context")
    thresholded, conv, context = tf.keras.Model(dynamic.input, [dynamic.get_layer(n).output for n in names]).predict(x, verbose=0)
    w1, b1 = dynamic.get_layer("d_3x3_embedding_fc").get_weights()
    w2, b2 = dynamic.get_layer("d_3x3_threshold_fc").get_weights()
    (w3,) = dynamic.get_layer("d_3x3_conv_context_fc").get_weights()
    e = np.maximum(x.mean(axis=(1, 2)) @ w1 + b1, 0)  # (batch, 16 // 4)
    assert e.shape == (2, 4)
    np.testing.assert_allclose(thresholded, x - (e @ w2 + b2)[:, None, None, :], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(context - conv, np.broadcast_to((e @ w3)[:, None, None, :], conv.shape), rtol=1e-4, atol=1e-4)


def test_share_embedding_uses_one_embedding_of_the_block_input():
    _, dynamic = _static_and_dynamic(share_embedding=True)
    names = {l.name for l in dynamic.layers}
    assert "d_embedding_fc" in names and "d_3x3_embedding_fc" not in names and "d_pw_embedding_fc" not in names
    pool = dynamic.get_layer("d_embedding_pool").inbound_nodes[0].inbound_layers
    assert pool.name == dynamic.layers[0].name  # the block input


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"reduction": 4, "activation": "elu"}, r"activation must be one of \[None, 'relu', .*got activation='elu'"),
        ({"reduction": 0}, r"reduction must be a positive int .* got reduction=0"),
        ({"reduction": 2.5}, r"reduction must be a positive int .* got reduction=2.5"),
        ({"reduction": 32}, r"reduction=32 leaves no hidden units for a 16-channel input .* 1 <= reduction <= 16"),
    ],
)
def test_embedding_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        contextual_embedding(tf.keras.Input((4, 4, 16)), name="e", **kwargs)


# ------------------------------------------------------------------ zoo models
@pytest.fixture(scope="module")
def imagenet_a(zoo):
    return zoo.build("bcdnet_a")  # BCDNetA(), shared with test_registry


def test_imagenet_layout(imagenet_a):
    model = imagenet_a
    assert model.name == "bcdnet_a" and model.output_shape == (None, 1000)
    convs = _binary_convs(model)
    three = [l for l in convs if l.kernel_size == (3, 3)]
    assert [l.strides[0] for l in three] == CONV_STRIDES
    assert len(convs) == 10 + 15 + 3 * (3 * 3 + 1)
    assert model.get_layer("block10_pw_concat").output_shape == (None, 7, 7, 1024)
    assert model.get_layer("mlp3_point_act").output_shape == (None, 7, 7, 1024)
    shifts = [l for l in model.layers if isinstance(l, CircularShift)]
    assert len(shifts) == 18 and {l.offsets for l in shifts} == {(1, 1), (3, 3)}  # the code's 1 and 3


def test_published_counts_bcdnet_a(zoo):
    """BOPs 4.8169·10⁹ (= ReActNet-A), FLOPs 0.12·10⁸, OPs 0.87·10⁸ (poster)."""
    cost = zoo.profile("bcdnet_a")
    size, conv_bops = 112, 0
    for c_in, c_out, stride in zip(CONV_WIDTHS[:-1], CONV_WIDTHS[1:], CONV_STRIDES):
        size //= stride
        conv_bops += (9 * c_in * c_in + c_in * c_out) * size * size
    # an MLP block (10 binary 1×1 C×C convs at 7×7×1024) costs exactly one removed conv
    # block: a 512→512 block at 14×14 or the 1024→1024 block at 7×7 (spec §3)
    mlp_block_bops = 10 * 1024 * 1024 * 7 * 7
    assert mlp_block_bops == (9 + 1) * 512 * 512 * 14 * 14 == (9 + 1) * 1024 * 1024 * 7 * 7 == 513_802_240
    assert cost.bops == conv_bops + 3 * mlp_block_bops == 4_816_896_000 == zoo.profile("reactnet_a").bops
    assert round(cost.bops / 1e9, 4) == 4.8169
    assert cost.flops == 112 * 112 * 27 * 32 + 1024 * 1000 == 11_862_016
    assert cost.ops == 87_126_016 and round(cost.ops / 1e8, 2) == 0.87
    binary_weights = sum(9 * c * c + c * c_out for c, c_out in zip(CONV_WIDTHS[:-1], CONV_WIDTHS[1:]))
    binary_weights += 3 * 10 * 1024 * 1024
    assert cost.params["1-bit"] == binary_weights == 43_981_824  # ≈ 44.0 M (spec §3)


def test_bcdnet_b_flops_increase_from_the_embeddings(zoo):
    a_cost = zoo.profile("bcdnet_a")
    cost = zoo.profile("bcdnet_b")
    assert cost.bops == a_cost.bops == 4_816_896_000
    # per block: 3×3 conv W₁, W₂, W₃ = 3·C²/r; 1×1 conv W₁, W₂ = 2·C²/r, W₃ = C·C'/r
    pairs = list(zip(CONV_WIDTHS[:-1], CONV_WIDTHS[1:]))
    increase = sum(5 * c * c + c * c_out for c, c_out in pairs) // 4
    assert cost.flops - a_cost.flops == increase == 1_913_600
    assert round(cost.flops / 1e8, 2) == 0.14 and round(cost.ops / 1e8, 2) == 0.89  # poster: 0.14, 0.89
    # the embeddings' MACs do not depend on the resolution: check sharing at 32×32
    shared = lq_ext.profile(BCDNetB(**SMALL, share_embedding=True)).flops - lq_ext.profile(BCDNetA(**SMALL)).flops
    assert shared == sum(4 * c * c + c * c_out for c, c_out in pairs) // 4 == 1_609_216


@pytest.mark.parametrize("side, final", [(32, 4), (64, 8), (128, 4)])
def test_layouts_keep_the_shift_stage_at_least_4x4(side, final):
    model = BCDNetA(input_shape=(side, side, 3), include_top=False)
    assert model.output_shape == (None, final, final, 1024)


def test_distillation_head_folds_into_one_classifier(tmp_path):
    train = BCDNetA(**SMALL, distillation_head=True, classifier_activation=None)
    randomize_weights(train, seed=4)
    assert [o.name.split("/")[0] for o in train.outputs] == ["logits", "logits_dist"]
    x = np.random.default_rng(4).uniform(-1, 1, size=(3, 32, 32, 3)).astype(np.float32)
    fc, fc_dist = train.predict(x, verbose=0)
    folded = fold_distillation_head(train)
    atol = 1e-6 * np.abs(fc).max()  # float32 round-off of sums of large terms
    np.testing.assert_allclose(folded.predict(x, verbose=0), (fc + fc_dist) / 2, rtol=1e-5, atol=atol)
    # the folded model is the zoo's inference graph: its weights load into BCDNetA(...)
    path = str(tmp_path / "folded.h5")
    folded.save_weights(path)
    inference = BCDNetA(**SMALL, classifier_activation=None, weights=path)
    np.testing.assert_allclose(inference.predict(x, verbose=0), folded.predict(x, verbose=0), rtol=1e-5, atol=atol)
    assert lq_ext.profile(folded).flops == lq_ext.profile(inference).flops
    with pytest.raises(ValueError, match="expects a model built with distillation_head=True"):
        fold_distillation_head(inference)


def test_fold_keeps_the_softmax():
    inputs = tf.keras.Input((4,))
    fc, fc_dist = tf.keras.layers.Dense(3, name="logits"), tf.keras.layers.Dense(3, name="logits_dist")
    outputs = [
        tf.keras.layers.Activation("softmax", name=f"predictions{s}")(layer(inputs))
        for s, layer in (("", fc), ("_dist", fc_dist))
    ]
    folded = fold_distillation_head(tf.keras.Model(inputs, outputs, name="m"))
    assert folded.layers[-1].name == "predictions" and folded.name == "m"
    x = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
    expected = tf.nn.softmax((fc(x) + fc_dist(x)) / 2)
    np.testing.assert_allclose(folded.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("fn", [BCDNetA, BCDNetB])
@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"input_shape": (96, 96, 3)}, r"input_shape=\(96, 96, 3\) gives a 3x3 feature map at the shift \(MLP\) stage.*at least 4x4"),
        ({"input_shape": (28, 28, 3)}, r"input_shape=\(28, 28, 3\) is too small"),
        ({"distillation_head": True, "include_top": False}, r"distillation_head=True .* needs include_top=True"),
        ({"distillation_head": "yes"}, r"distillation_head must be True or False"),
        ({"pad_values": -1.0}, r"pad_values must be one of \[1.0, 0.0\], got pad_values=-1.0"),
        ({"num_classes": 0}, "num_classes must be a positive int, got num_classes=0"),
        ({"weights": "imagenet"}, "No pretrained lq_ext weights are hosted yet"),
    ],
)
def test_bad_arguments_give_clear_errors(fn, kwargs, match):
    with pytest.raises(ValueError, match=match):
        fn(**kwargs)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"embedding_reduction": None}, r"reduction must be a positive int .* got reduction=None"),
        ({"embedding_reduction": -2}, r"got reduction=-2"),
        ({"embedding_reduction": 64}, r"reduction=64 leaves no hidden units for a 32-channel input .* 1 <= reduction <= 32"),
        ({"embedding_activation": "softplus"}, r"embedding_activation must be one of \[None, 'relu'.*got embedding_activation='softplus'"),
        ({"share_embedding": 1}, r"share_embedding must be True or False, got share_embedding=1"),
    ],
)
def test_bcdnet_b_embedding_argument_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        BCDNetB(**SMALL, **kwargs)


def test_registry_entries():
    names = lq_ext.zoo.list_models(include_references=False)
    assert {"reactnet_a", "bcdnet_a", "bcdnet_b"} <= set(names)
    model = lq_ext.zoo.create_model("bcdnet_b", **SMALL, embedding_reduction=8)
    assert model.name == "bcdnet_b" and model.get_layer("block1_3x3_embedding_fc").units == 32 // 8


def test_reduction_is_the_deprecated_spelling_of_embedding_reduction():
    with pytest.warns(DeprecationWarning, match="reduction= is deprecated, use embedding_reduction="):
        model = BCDNetB(**SMALL, reduction=8)
    assert model.get_layer("block1_3x3_embedding_fc").units == 32 // 8
    with pytest.raises(ValueError, match="pass embedding_reduction or its deprecated spelling reduction, not both"):
        BCDNetB(**SMALL, reduction=8, embedding_reduction=2)


@pytest.mark.parametrize("save_format", ["h5", "tf"])
def test_blocks_round_trip(tmp_path, save_format):
    """A dynamic-embedding doubling block, a shift block and a point block cover every
    layer type of BCDNetB (whole-network SavedModel tracing is slow)."""
    inputs = tf.keras.Input((8, 8, 16))
    x = reactnet_block(inputs, 32, 2, name="c", embedding_reduction=4, embedding_activation="swish")
    x = point_block(shift_block(x, name="s"), name="p")
    model = tf.keras.Model(inputs, x)
    randomize_weights(model, seed=6)
    path = str(tmp_path / ("blocks.h5" if save_format == "h5" else "blocks"))
    model.save(path, save_format=save_format)
    loaded = tf.keras.models.load_model(path)
    x = np.random.default_rng(6).normal(size=(2, 8, 8, 16)).astype(np.float32)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


# ------------------------------------------------------------------ conversion
ALLOWED_OPS = {
    "LceQuantize", "LceBconv2d", "CONV_2D", "FULLY_CONNECTED", "ADD", "SUB", "MUL", "PRELU",
    "CONCATENATION", "STRIDED_SLICE", "AVERAGE_POOL_2D", "MEAN",
}


@pytest.mark.parametrize("name, embeddings", [("bcdnet_a", 0), ("bcdnet_b", 10 * 5 + 15)])
def test_lce_conversion_every_binary_conv_is_bitpacked(zoo, name, embeddings):
    """Shifted branches included: 25 conv-block + 30 MLP bconvs, shifts as builtins, no Flex."""
    # fn(**SMALL, classifier_activation=None), randomize_weights(seed=7), embedding W₁..W₃
    # scaled by 0.05 (α, β at the activations' scale): conftest.CONVERSIONS
    model, result = zoo.converted(name)
    ops = result.ops
    counts = ops.op_counts
    assert set(counts) <= ALLOWED_OPS, set(counts) - ALLOWED_OPS  # no Flex, no LceDequantize
    assert counts["LceBconv2d"] == 25 + 30
    # one binarizer per conv-block unit and per MLP block (three per shift block: see bcdnet.py)
    assert counts["LceQuantize"] == 20 + 3 * (3 * 3 + 1)
    # 18 shifts: 4 rolled quarters + their concatenation each; 5 channel-doubling concats
    assert counts["CONCATENATION"] == 18 * 5 + 5 and counts["STRIDED_SLICE"] > 0
    assert counts["CONV_2D"] == 1 and counts["FULLY_CONNECTED"] == 1 + embeddings
    assert ops.bitpacked_share == 1.0 and not ops.unpacked_binary
    assert not ops.unpacked_outputs  # every re-binarized bconv output is bit-packed
    assert ops.macs_by_class["bitpacked"] == lq_ext.profile(model).bops
    # a correct conversion leaves most samples at round-off; a sample beyond it carries a
    # binarizer input flipped on round-off, which the per-layer diagnosis explains
    assert result.verified and result.parity.top1_agreement == 1.0
    assert result.parity.median_rel_error < 1e-5
    print(result)
