"""Forward values, gradients, errors and serialization of lq_ext's quantizers."""

import larq as lq
import numpy as np
import pytest
import tensorflow as tf

from lq_ext import quantizers
from lq_ext.quantizers import (
    BoundedSign,
    MaxAbsSign,
    RSign,
    ScaledSign,
    Ternary,
    max_abs_sign,
    mean_abs,
    reduction_axes,
    ternarize,
)
from lq_ext.testing import layer_classes, layer_test

#: (quantizer class, keyword arguments, input shape without the batch axis)
QUANTIZER_CASES = [
    (Ternary, {}, (3, 3, 4)),
    (Ternary, {"threshold": "twn", "clip_value": None, "granularity": "per_tensor", "channel_axes": (-2, -1), "scale": True}, (3, 3, 4)),
    (Ternary, {"threshold": 0.05}, (6,)),
    (ScaledSign, {"clip_value": 1.25, "channel_axes": (-2, -1)}, (3, 3, 4)),
    (RSign, {"clip_value": 1.5}, (4, 4, 3)),
    (BoundedSign, {"bound": 2.0}, (5,)),
    (MaxAbsSign, {}, (3, 4)),
    (MaxAbsSign, {"binarized": False}, (3, 4)),
]


@pytest.mark.parametrize("quantizer_cls, kwargs, input_shape", QUANTIZER_CASES)
def test_quantizer_harness(quantizer_cls, kwargs, input_shape):
    layer_test(quantizer_cls, kwargs, input_shape=input_shape)


def test_table_covers_every_quantizer_of_the_module():
    assert {case[0] for case in QUANTIZER_CASES} == layer_classes(quantizers)


def reference_ternary(w, delta):
    """t = sign(w) where |w| > Δ else 0 (numpy)."""
    return np.where(np.abs(w) > delta, np.sign(w), 0.0)


def test_absmean_threshold_matches_bitnet_rounding_per_channel():
    rng = np.random.default_rng(0)
    w = rng.normal(size=(3, 3, 4, 1)).astype(np.float32)  # a depth-wise kernel
    t = Ternary(channel_axes=(-2, -1))(tf.constant(w)).numpy()
    gamma = np.abs(w).mean(axis=(0, 1), keepdims=True)  # one γ per channel
    bitnet = np.clip(np.round(w / gamma), -1, 1)  # BitNet b1.58 absmean RoundClip
    np.testing.assert_array_equal(t, bitnet)
    np.testing.assert_array_equal(t, reference_ternary(w, 0.5 * gamma))
    assert set(np.unique(t)) <= {-1.0, 0.0, 1.0}


def test_hand_made_thresholds():
    # One output channel (last axis); mean|w| = (0.1 + 0.9 + 0.3 + 0.06) / 4 = 0.34
    w = tf.constant([[0.1], [-0.9], [0.3], [-0.06]])
    np.testing.assert_array_equal(Ternary()(w).numpy().ravel(), [0, -1, 1, 0])  # Δ = 0.17
    np.testing.assert_array_equal(Ternary("twn")(w).numpy().ravel(), [0, -1, 1, 0])  # Δ = 0.238
    np.testing.assert_array_equal(Ternary(0.05)(w).numpy().ravel(), [1, -1, 1, -1])
    np.testing.assert_array_equal(Ternary(0.2)(w).numpy().ravel(), [0, -1, 1, 0])
    # twn separates from absmean: 0.2 lies between Δ_absmean = 0.17 and Δ_twn = 0.238
    w2 = tf.constant([[0.2], [-0.9], [0.3], [-0.06]])  # mean|w| = 0.365
    np.testing.assert_array_equal(Ternary()(w2).numpy().ravel(), [1, -1, 1, 0])  # Δ = 0.1825
    np.testing.assert_array_equal(Ternary("twn")(w2).numpy().ravel(), [0, -1, 1, 0])  # Δ = 0.2555


def test_per_tensor_granularity_uses_one_threshold():
    w = tf.constant([[0.05, 2.0], [-0.3, 2.0]])  # channel 0 small, channel 1 large
    per_channel = Ternary()(w).numpy()
    per_tensor = Ternary(granularity="per_tensor")(w).numpy()
    np.testing.assert_array_equal(per_channel[:, 0], [0, -1])  # Δ_0 = 0.5 · 0.175
    np.testing.assert_array_equal(per_tensor[:, 0], [0, 0])  # Δ = 0.5 · 1.0875


def test_scale_multiplies_by_channel_mean_abs():
    w = tf.constant([[0.05, 2.0], [-0.3, -4.0]])  # mean|w| per channel: 0.175, 3.0
    t = Ternary(scale=True)(w).numpy()
    np.testing.assert_allclose(t, [[0, 3.0], [-0.175, -3.0]], rtol=1e-6)


@pytest.mark.parametrize("clip_value, expected", [(1.0, [1, 0, 0, 1]), (None, [1, 1, 1, 1])])
def test_ternary_straight_through_gradient(clip_value, expected):
    w = tf.Variable([[0.5], [1.5], [-2.0], [-0.3]])
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(ternarize(w, clip_value=clip_value) * 3.0)
    np.testing.assert_array_equal(tape.gradient(loss, w).numpy().ravel(), np.array(expected) * 3.0)


def test_scaled_sign_values_and_gradient():
    w = tf.Variable([[0.5, -2.0], [-1.5, 1.0]])
    with tf.GradientTape() as tape:
        q = ScaledSign(clip_value=1.0)(w)
        loss = tf.reduce_sum(q)
    np.testing.assert_allclose(q.numpy(), [[1.0, -1.5], [-1.0, 1.5]])
    np.testing.assert_array_equal(tape.gradient(loss, w).numpy(), [[1, 0], [0, 1]])


def test_rsign_learnable_threshold_forward_and_gradients():
    quantizer = RSign(clip_value=1.0)
    x = tf.constant([[0.2, -0.3], [0.6, 3.0]])
    quantizer.build(x.shape)
    quantizer.threshold.assign([0.5, -1.0])
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        y = quantizer(x)
        loss = tf.reduce_sum(y)
    # x − β = [[-0.3, 0.7], [0.1, 4.0]] → sign, +1 at 0 like larq.math.sign
    np.testing.assert_array_equal(y.numpy(), [[-1, 1], [1, 1]])
    np.testing.assert_array_equal(tape.gradient(loss, x).numpy(), [[1, 1], [1, 0]])
    np.testing.assert_array_equal(tape.gradient(loss, quantizer.threshold).numpy(), [-2, -1])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"threshold": "mean"}, "threshold must be one of"),
        ({"threshold": -0.1}, "threshold=-0.1"),
        ({"clip_value": -1.0}, "clip_value must be a positive number"),
        ({"clip_value": 0}, "clip_value=0"),
        ({"granularity": "per_row"}, "granularity must be one of"),
    ],
)
def test_ternary_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Ternary(**kwargs)


def test_rsign_bad_clip():
    with pytest.raises(ValueError, match="clip_value"):
        RSign(clip_value=-2)


@pytest.mark.parametrize(
    "quantizer",
    [
        Ternary(),
        Ternary("twn", clip_value=None, granularity="per_tensor", channel_axes=(-2, -1), scale=True),
        Ternary(0.05),
        RSign(clip_value=1.5),
        ScaledSign(clip_value=1.25, channel_axes=(-2, -1)),
    ],
)
def test_quantizers_serialize_through_larq(quantizer):
    restored = lq.quantizers.get(lq.quantizers.serialize(quantizer))
    assert type(restored) is type(quantizer)
    assert restored.get_config() == quantizer.get_config()


def test_registered_under_lq_ext_prefix_without_shadowing_larq():
    objects = tf.keras.utils.get_custom_objects()
    for name in ("Ternary", "RSign", "ScaledSign", "RPReLU", "BinaryDepthwiseConv2D"):
        assert f"lq_ext>{name}" in objects
    assert objects["SteSign"] is lq.quantizers.SteSign
    assert objects["SteTern"] is lq.quantizers.SteTern


def test_larq_summary_reads_ternary_precision():
    model = tf.keras.Sequential(
        [
            tf.keras.Input((4, 4, 2)),
            lq.layers.QuantConv2D(
                3, 3, input_quantizer="ste_sign", kernel_quantizer=Ternary(), use_bias=False
            ),
        ]
    )
    profile = lq.models.ModelProfile(model)
    layer = profile.layer_profiles[-1]
    assert Ternary.precision == 2 and Ternary.bits == 1.58
    assert [p.bitwidth for p in layer.weight_profiles] == [2]
    assert layer.op_profiles[0].precision == 2


# --- PokeBNN's binarizers -------------------------------------------------------------


def test_bounded_sign_forward_and_gradient_mask():
    x = tf.Variable([-4.0, -2.9, 0.0, 2.99, 3.0])
    with tf.GradientTape() as tape:
        y = BoundedSign(3.0)(x)
    np.testing.assert_array_equal(y.numpy(), [-1, -1, 1, 1, 1])  # sign(0) = +1
    np.testing.assert_array_equal(tape.gradient(y, x).numpy(), [0, 1, 1, 1, 0])  # |x| < B


def test_max_abs_sign_scale_identity_gradient_and_switch():
    w = tf.Variable([[0.5, -4.0], [-0.1, 1.0]])  # (in, out): channel maxima 0.5, 4.0
    quantizer = MaxAbsSign()
    with tf.GradientTape() as tape:
        y = quantizer(w)
        loss = tf.reduce_sum(y * [[1.0, 2.0], [3.0, 4.0]])
    np.testing.assert_allclose(y.numpy(), [[0.25, -2.0], [-0.25, 2.0]])  # ±max|w_c| / 2
    np.testing.assert_allclose(tape.gradient(loss, w).numpy(), [[1, 2], [3, 4]])  # never clipped
    quantizer.switch.assign(0.0)  # before PokeBNN's epoch 50: real-valued kernels
    np.testing.assert_allclose(quantizer(w).numpy(), w.numpy())


@pytest.mark.parametrize("bound", [0, -3.0, "3", True])
def test_bounded_sign_rejects_bad_bounds(bound):
    with pytest.raises(ValueError, match="bound must be a positive number"):
        BoundedSign(bound)


def test_max_abs_sign_and_mean_abs_share_the_channel_axes():
    assert reduction_axes(4, (-1,)) == [0, 1, 2]
    assert reduction_axes(4, (-2, -1)) == [0, 1]
    assert reduction_axes(2, (0,)) == [1]
    w = tf.constant(np.arange(-6, 6, dtype=np.float32).reshape(1, 3, 2, 2))  # depth-wise (kh, kw, C, m)
    per_channel = np.abs(w.numpy()).reshape(3, 4)  # (taps, channel·multiplier)
    np.testing.assert_allclose(mean_abs(w, (-2, -1)).numpy().ravel(), per_channel.mean(axis=0))
    np.testing.assert_allclose(
        max_abs_sign(w, (-2, -1)).numpy(), np.where(w.numpy() >= 0, 1, -1) * per_channel.max(axis=0).reshape(1, 1, 2, 2) / 2
    )


def test_max_abs_sign_binarized_must_be_a_bool():
    with pytest.raises(TypeError, match="binarized must be True or False, got binarized=1"):
        MaxAbsSign(binarized=1)


@pytest.mark.parametrize("clip_value", [True, "1", 0, -1.0])
def test_clip_value_must_be_a_positive_number(clip_value):
    with pytest.raises(ValueError, match=f"clip_value must be a positive number or None \\(no clipping\\), got clip_value={clip_value!r}"):
        ScaledSign(clip_value=clip_value)
