"""ES-BNext-Tiny / BNext-Tiny: costs from the layout table, sub-blocks against hand-built
math, the clamped mix, validation, a block SavedModel round trip and one LCE conversion.

The whole-model config / h5 / SavedModel round trips run in test_registry.py on the same
model (conftest.CONVERSIONS)."""

import math

import numpy as np
import pytest
import tensorflow as tf

import lq_ext
from lq_ext.layers import ChannelBroadcast, ChannelSlice, ClampedMix, ESQuantConv2D
from lq_ext.layers.mix import UnitIntervalClip
from lq_ext.testing import randomize_weights
from lq_ext.zoo import ESBNextTiny, create_model, list_models
from lq_ext.zoo.es_bnext import bnext_basic_block, bnext_sub_block

SMALL = dict(input_shape=(32, 32, 3), num_classes=10)

# Spec §6 table (ES-BNext-Tiny at 224×224), typed in independently of the zoo code:
# block i: (C_in, C_out, stride, 3×3 sub-block, output resolution).
TABLE_224 = [
    (32, 64, 1, "ffn3", 112),
    (64, 128, 2, "attn", 56),
    (128, 128, 1, "ffn3", 56),
    (128, 256, 2, "attn", 28),
    (256, 256, 1, "ffn3", 28),
    (256, 512, 2, "attn", 14),
    (512, 512, 1, "ffn3", 14),
    (512, 512, 1, "attn", 14),
    (512, 512, 1, "ffn3", 14),
    (512, 512, 1, "attn", 14),
    (512, 512, 1, "ffn3", 14),
    (512, 1024, 2, "attn", 7),
    (1024, 1024, 1, "ffn3", 7),
]


def _hand_costs_224():
    """Binary and float MACs of the table, by hand.

    Per block at output resolution R: the 3×3 sub-block's binary conv C_in·C_in·9·R²,
    C_out/C_in 1×1 FFNs of C_in·C_in·R² each; every sub-block's SE C_in²/4 MACs
    (C_in → C_in/8 → C_in). Plus the real stem 3·32·9·112² and the classifier 1024·1000.
    """
    bops = sum(ci * ci * 9 * r * r + (co // ci) * ci * ci * r * r for ci, co, _, _, r in TABLE_224)
    se = sum((1 + co // ci) * ci * ci // 4 for ci, co, _, _, _ in TABLE_224)
    flops = 3 * 32 * 9 * 112 * 112 + se + 1024 * 1000
    return bops, flops


@pytest.fixture(scope="module")
def small_model(zoo):
    """τ = 2 at 32×32, logits; random weights (seed 6, scale 0.25), BN calibrated on the samples.

    Shared by the layout, round-trip and conversion tests (building it takes seconds).
    Why not ``randomize_weights``' default scale 0.5: BNext's ELM-Attention multiplies
    the binary branch by its residual, ``BN(g·t·r) + r``, so with N(0, 0.5²) BN
    parameters the activations grow by ~10× per attention block (logits ~4e6 at 32×32)
    and the model is chaotic at float round-off: in Keras itself, scaling the BN
    variances by 1 + 1e-6·N(0, 1) already moves 2–10 of the 20 parity samples beyond
    rtol and flips 5–15 % of their top-1 (measured, seeds 5 and 6), which would fail any
    parity check whatever the converter does. With scale 0.25 and BN statistics
    calibrated on the parity images the same perturbation moves 1–2 samples and no
    top-1, while every replica keeps its own BN/PReLU/threshold/mix parameters.
    """
    model, _ = zoo.converted("es_bnext_tiny")  # prepared as above: conftest.CONVERSIONS
    assert model.get_layer("block1_ffn3_conv").tau == 2
    return model


@pytest.fixture(scope="module")
def models_224(zoo):
    return {1: zoo.build("es_bnext_tiny", tau=1), 2: zoo.build("es_bnext_tiny")}  # shared: test_registry


@pytest.fixture(scope="module")
def costs_224(zoo):
    return {1: zoo.profile("es_bnext_tiny", tau=1), 2: zoo.profile("es_bnext_tiny")}


def test_bops_and_flops_at_224_match_the_layout_table(costs_224):
    bops, flops = _hand_costs_224()
    assert bops == 4_816_896_000 and flops == 13_344_512  # the formula, evaluated once by hand
    ops = bops / 64 + flops
    for tau, cost in costs_224.items():
        print(f"tau={tau}: BOPs={cost.bops} FLOPs={cost.flops} OPs={cost.ops:.6e} "
              f"element-wise={cost.elementwise}")
        assert (cost.bops, cost.flops) == (bops, flops), tau
        assert cost.ops == pytest.approx(ops, rel=0, abs=1e-6) and round(ops) == 88_608_512


def test_tau_keeps_bops_and_flops_and_widens_the_elementwise_work(costs_224):
    plain, es = costs_224[1], costs_224[2]
    assert es.bops == plain.bops and isinstance(es.bops, int)  # exact integers
    assert es.flops == plain.flops  # FLOP-neutral SE and sliced head ("ops" variant)
    assert es.macs["1-bit"] == plain.macs["1-bit"]
    # the ES overhead is element-wise (BN, PReLU, thresholds, gating, adds at ×τ width)
    assert 1.9 * plain.elementwise < es.elementwise < 2.1 * plain.elementwise


def _sub_block_kinds(model):
    kinds = {}
    for layer in model.layers:
        parts = layer.name.split("_")
        if parts[0].startswith("block") and layer.name.endswith("_conv") and len(parts) == 3:
            if parts[1] in ("attn", "ffn3"):
                kinds[int(parts[0][5:])] = (parts[1], layer.strides[0])
    return kinds


def test_layout_replication_and_head_at_32px(small_model):
    model = small_model
    assert model.name == "es_bnext_tiny" and model.output_shape == (None, 10)
    assert model.get_layer("stem_conv").strides == (1, 1)  # small-input stem
    assert model.get_layer("stem_tile").output_shape == (None, 32, 32, 64)
    expected = {i: (kind, 2 if stride == 2 else 1) for i, (_, _, stride, kind, _) in enumerate(TABLE_224, 1)}
    assert _sub_block_kinds(model) == expected
    binary = [l for l in model.layers if isinstance(l, ESQuantConv2D) and l.input_quantizer is not None]
    assert len(binary) == 13 + 18  # 13 3×3 sub-blocks; 1×1 FFNs: 5 doubling blocks ×2 + 8
    assert all(l.tau == 2 and l.replicas == 4 for l in binary)
    assert sum(l.kernel_size == (3, 3) for l in binary) == 13
    # C·τ inputs, C/τ kernels, output C·τ; per-replica BN / PReLU / threshold / mix
    conv = model.get_layer("block13_ffn1_conv")
    assert conv.kernel.shape == (1, 1, 2048, 512) and conv.output_shape == (None, 2, 2, 2048)
    assert model.get_layer("block12_attn_conv").kernel.shape == (3, 3, 1024, 256)
    assert model.get_layer("block13_ffn1_bn1").gamma.shape == (2048,)
    assert model.get_layer("block13_ffn1_bias").bias.shape == (2048,)
    assert model.get_layer("block12_attn_act1").alpha.shape == (1, 1, 1024)
    assert model.get_layer("block13_ffn1_mix").scale.shape == (2048,)
    # FLOP-neutral SE: Cτ → (C/8)/τ, tile τ², (C/8)τ → C/τ, tile τ²
    assert model.get_layer("block13_ffn1_se_conv1").kernel.shape == (1, 1, 2048, 64)
    assert model.get_layer("block13_ffn1_se_conv2").kernel.shape == (1, 1, 256, 512)
    assert model.get_layer("block13_ffn1_se_conv2").output_shape == (None, 1, 1, 2048)
    assert model.get_layer("head_slice").output_shape == (None, 2, 2, 1024)
    assert model.get_layer("head_prelu").alpha.shape == (1, 1, 1024)
    assert model.get_layer("block2_concat").output_shape == (None, 16, 16, 256)


def test_tau1_is_plain_bnext_tiny(models_224):
    model = models_224[1]
    assert model.get_layer("stem_conv").strides == (2, 2)  # ImageNet stem
    assert not any(isinstance(l, (ChannelBroadcast, ChannelSlice)) for l in model.layers)
    assert all(l.replicas == 1 for l in model.layers if isinstance(l, ESQuantConv2D))
    assert model.get_layer("block13_ffn1_conv").kernel.shape == (1, 1, 1024, 1024)
    assert model.get_layer("block13_ffn1_se_conv1").kernel.shape == (1, 1, 1024, 128)
    assert model.get_layer("block13_ffn1_bn2").gamma.shape == (1024,)
    assert model.get_layer("head_prelu").input_shape == (None, 7, 7, 1024)


# --- sub-blocks against hand-built math -------------------------------------------------


def _sign(v):
    return np.where(v >= 0, 1.0, -1.0).astype(np.float32)


def _w(model, name, attr):
    return getattr(model.get_layer(name), attr).numpy()


def _bn(model, name, v):
    layer = model.get_layer(name)
    gamma, beta, mean, var = (w.numpy() for w in (layer.gamma, layer.beta, layer.moving_mean, layer.moving_variance))
    return gamma * (v - mean) / np.sqrt(var + 1e-5) + beta


def _prelu(model, name, v):
    alpha = _w(model, name, "alpha")
    return np.maximum(v, 0) + alpha * np.minimum(v, 0)


def _pool2(v):
    n, h, w, c = v.shape
    return v[:, : h // 2 * 2, : w // 2 * 2].reshape(n, h // 2, 2, w // 2, 2, c).mean(axis=(2, 4))


def _binary_conv(model, name, v, stride):
    kernel = _sign(_w(model, name, "kernel"))
    k = kernel.shape[0]
    h = v.shape[1]
    out = math.ceil(h / stride)
    total = max((out - 1) * stride + k - h, 0)  # Keras "same", padded with +1 (pad_values=1)
    pads = [[0, 0], [total // 2, total - total // 2], [total // 2, total - total // 2], [0, 0]]
    padded = np.pad(v, pads, constant_values=1.0)
    return tf.nn.conv2d(padded, kernel, stride, "VALID").numpy()


def _hand_sub_block(model, name, x, kind, stride, tau):
    """Spec §6 written out: tile *then* ReLU / sigmoid, explicit +1 padding, numpy BN."""
    reps = tau * tau
    t = _binary_conv(model, f"{name}_conv", _sign(x + _w(model, f"{name}_bias", "bias")), stride)
    t = np.tile(t, (1, 1, 1, reps))
    t = _prelu(model, f"{name}_act2", _bn(model, f"{name}_bn1", t))
    shortcut = _pool2(x) if stride == 2 else x
    residual = _prelu(model, f"{name}_act1", x) if kind == "attention" else x
    residual = _pool2(residual) if stride == 2 else residual
    s = np.clip(_w(model, f"{name}_mix", "scale"), 0, 1)
    mix = s * shortcut + (1 - s) * t
    g = mix.mean(axis=(1, 2), keepdims=True)
    g = np.tile(g @ _w(model, f"{name}_se_conv1", "kernel")[0, 0] + _w(model, f"{name}_se_conv1", "bias"), (1, 1, 1, reps))
    g = np.maximum(g, 0)
    g = np.tile(g @ _w(model, f"{name}_se_conv2", "kernel")[0, 0] + _w(model, f"{name}_se_conv2", "bias"), (1, 1, 1, reps))
    y = t / (1 + np.exp(-g))
    if kind == "attention":
        y = y * residual
    return _bn(model, f"{name}_bn2", y) + residual


@pytest.mark.parametrize(
    "kind, stride, tau", [("attention", 2, 2), ("attention", 1, 1), ("ffn3x3", 2, 2), ("ffn1x1", 1, 2)]
)
def test_sub_block_equals_hand_built(kind, stride, tau):
    channels = 32
    inputs = tf.keras.Input((8, 8, channels * tau))
    model = tf.keras.Model(inputs, bnext_sub_block(inputs, channels, kind=kind, strides=stride, tau=tau, name="s"))
    randomize_weights(model, seed=7)
    mix = model.get_layer("s_mix")
    mix.scale.assign(np.random.default_rng(1).uniform(-0.5, 1.5, mix.scale.shape))  # clamping too
    x = np.random.default_rng(2).normal(size=(2, 8, 8, channels * tau)).astype(np.float32)
    got = model.predict(x, verbose=0)
    assert got.shape == (2, 8 // stride, 8 // stride, channels * tau)
    np.testing.assert_allclose(got, _hand_sub_block(model, "s", x, kind, stride, tau), rtol=1e-4, atol=1e-4)


def test_doubling_basic_block_concatenates_two_ffns():
    inputs = tf.keras.Input((8, 8, 64))
    out = bnext_basic_block(inputs, 32, 64, strides=2, kind="attention", tau=2, name="b")
    model = tf.keras.Model(inputs, out)
    assert model.output_shape == (None, 4, 4, 128)
    assert model.get_layer("b_concat").input[0] is model.get_layer("b_ffn1a_add").output
    assert model.get_layer("b_ffn1a_bias").input is model.get_layer("b_ffn1b_bias").input
    with pytest.raises(ValueError, match=r"C_out must be C_in or 2·C_in, got 32 → 96"):
        bnext_basic_block(inputs, 32, 96, strides=1, kind="ffn3x3", tau=2, name="c")


# --- the clamped mix --------------------------------------------------------------------


def test_clamped_mix_on_hand_made_inputs():
    layer = ClampedMix(name="m")
    a = tf.constant([[[[1.0, 2.0, 3.0, -4.0]]]])
    b = tf.constant([[[[5.0, -6.0, 7.0, 8.0]]]])
    assert layer([a, b]).numpy().ravel().tolist() == [3.0, -2.0, 5.0, 2.0]  # s = 0.5
    layer.scale.assign([0.25, 1.0, -0.5, 1.7])  # clamped to 0.25, 1, 0, 1
    np.testing.assert_allclose(layer([a, b]).numpy().ravel(), [4.0, 2.0, 7.0, -4.0])
    with tf.GradientTape() as tape:
        y = tf.reduce_sum(layer([a, b]))
    # straight-through: ∂y/∂s = a − b even where s lies outside [0, 1]
    np.testing.assert_allclose(tape.gradient(y, layer.scale).numpy(), [-4.0, 8.0, -4.0, -12.0])
    np.testing.assert_array_equal(UnitIntervalClip()(tf.constant([-1.0, 0.25, 2.0])).numpy(), [0.0, 0.25, 1.0])
    assert layer.scale.constraint.__class__ is UnitIntervalClip
    clone = ClampedMix.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config() and clone.scale_initializer == 0.5


def test_clamped_mix_constraint_applies_after_an_optimizer_step():
    layer = ClampedMix(scale_initializer=0.9)
    a, b = tf.ones((1, 1, 1, 2)), tf.zeros((1, 1, 1, 2))
    layer([a, b])
    optimizer = tf.keras.optimizers.SGD(1.0)
    with tf.GradientTape() as tape:
        loss = -tf.reduce_sum(layer([a, b]))  # pushes s up by 1
    optimizer.apply_gradients(zip(tape.gradient(loss, [layer.scale]), [layer.scale]))
    np.testing.assert_array_equal(layer.scale.numpy(), [1.0, 1.0])


@pytest.mark.parametrize(
    "kwargs, call, match",
    [
        (dict(scale_initializer=1.5), None, r"scale_initializer must be a number in \[0, 1\], got scale_initializer=1.5"),
        (dict(scale_initializer="half"), None, r"scale_initializer must be a number"),
        ({}, "single", r"must be called on a list \[a, b\] of two tensors"),
        ({}, "mismatch", r"shapes .* differ"),
    ],
)
def test_clamped_mix_errors(kwargs, call, match):
    with pytest.raises(ValueError, match=match):
        layer = ClampedMix(**kwargs)
        if call == "single":
            layer(tf.zeros((1, 2, 2, 3)))
        else:
            layer([tf.zeros((1, 2, 2, 3)), tf.zeros((1, 2, 2, 4))])


# --- validation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(tau=3), r"es_bnext_tiny: tau=3 does not divide the block width 32;.*Allowed: tau in \[1, 2, 4\]"),
        (dict(tau=8), r"es_bnext_tiny: tau=8 does not divide the SE width 32/8 = 4 of a 32-wide block;.*Allowed: tau in \[1, 2, 4\]"),
        (dict(tau=0), r"es_bnext_tiny: tau must be a positive int, got tau=0"),
        (dict(tau=2.0), r"tau must be a positive int, got tau=2.0"),
        (dict(tau=True), r"tau must be a positive int, got tau=True"),
        (dict(tau=3, name="mine"), r"^mine: tau=3"),
        (dict(for_lce=1), r"for_lce must be True or False, got for_lce=1"),  # deprecated, still checked
        (dict(pad_values=0.5), r"pad_values must be one of \[1.0, 0.0\], got pad_values=0.5"),
        (dict(weights="imagenet"), r"No pretrained lq_ext weights"),
        (dict(num_classes=0), r"num_classes must be a positive int"),
    ],
)
def test_bad_arguments_give_clear_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ESBNextTiny(**{**SMALL, **kwargs})


def test_registry_tau4_input_tensor_and_no_top():
    assert "es_bnext_tiny" in list_models()
    tensor = tf.keras.Input((48, 48, 3))
    model = create_model(
        "es_bnext_tiny", input_tensor=tensor, include_top=False, pooling="avg", tau=4, pad_values=0.0
    )
    assert model.inputs[0] is tensor and model.output_shape == (None, 1024)
    assert model.get_layer("head_prelu").output_shape == (None, 3, 3, 1024)  # 48 px: small layout
    assert model.get_layer("block13_ffn1_se_conv1").kernel.shape == (1, 1, 4096, 32)
    assert model.get_layer("block13_ffn1_conv").kernel.shape == (1, 1, 4096, 256)
    assert model.get_layer("block2_attn_conv").pad_values == 0.0


# --- round trips ----------------------------------------------------------------------------


def _x(n=2, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, size=(n, 32, 32, 3)).astype(np.float32)


def test_for_lce_is_deprecated_and_without_effect():
    # clear_session before each build: Keras numbers the quantizers' auto names per session
    # ("ste_sign", "ste_sign_62", ...), and those names are part of the configs compared
    tf.keras.backend.clear_session()
    with pytest.warns(DeprecationWarning, match=r"ESBNextTiny\(for_lce=\) has no effect"):
        model = ESBNextTiny(**SMALL, tau=2, for_lce=False)
    tf.keras.backend.clear_session()
    plain = ESBNextTiny(**SMALL, tau=2)
    assert [l.get_config() for l in model.layers[1:]] == [l.get_config() for l in plain.layers[1:]]


def test_savedmodel_round_trip_identical_outputs(tmp_path):
    """Whole-model SavedModel tracing takes ~2 min here: a stem tile, one doubling
    BasicBlock (Attention + two 1×1 FFNs) and the sliced PReLU head cover every layer type
    of the model."""
    inputs = tf.keras.Input((32, 32, 3))
    x = tf.keras.layers.Conv2D(32, 3, padding="same", use_bias=False)(inputs)
    x = ChannelBroadcast(64, mode="tile")(x)
    x = tf.keras.layers.BatchNormalization()(x)
    x = bnext_basic_block(x, 32, 64, strides=2, kind="attention", tau=2, name="b1")
    x = tf.keras.layers.PReLU(shared_axes=[1, 2])(ChannelSlice(64)(x))
    x = tf.keras.layers.Dense(5)(tf.keras.layers.GlobalAveragePooling2D()(x))
    model = tf.keras.Model(inputs, x)
    randomize_weights(model, seed=4, scale=0.25)
    path = str(tmp_path / "bnext_blocks")
    model.save(path, save_format="tf")
    x = _x(seed=1)
    np.testing.assert_array_equal(
        tf.keras.models.load_model(path)(x, training=False).numpy(), model(x, training=False).numpy()
    )


# --- LCE conversion (slow: once per module) ---------------------------------------------------


@pytest.fixture(scope="module")
def converted(zoo):
    return zoo.converted("es_bnext_tiny")  # small_model, convert(small_model, path)


def test_lce_conversion_bitpacks_every_binary_conv_and_parity(converted):
    model, result = converted
    print(result)
    counts = result.ops.op_counts
    assert counts["LceBconv2d"] == 31
    assert result.ops.bitpacked_share == 1.0
    assert not result.ops.unpacked_outputs  # every re-binarized bconv output is bit-packed
    assert result.ops.macs_by_class["bitpacked"] == lq_ext.profile(model).bops
    assert "LceDequantize" not in counts and not any(op.startswith("Flex") for op in counts)
    assert result.verified and result.parity.kernel == "optimized"
    # the bulk of the samples agrees to float round-off (sign flips aside, see module notes)
    assert np.median(result.parity.sample_rel_errors) < 1e-5
