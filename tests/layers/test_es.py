"""ESQuantConv2D: the harness, keyword parity, reduction to QuantConv2D, hand-built equivalent,
validation, saved-model round trips.  ChannelSlice: tests/layers/test_channels.py."""

import larq as lq
import numpy as np
import pytest
import tensorflow as tf

from lq_ext.layers import ChannelBroadcast, ChannelSlice, es
from lq_ext.layers.es import ESQuantConv2D
from lq_ext.lce_rules import grouped_bconv_error
from lq_ext.testing import (
    keyword_mismatches,
    layer_classes,
    layer_test,
    randomize_weights,
)

BINARY = dict(
    input_quantizer="ste_sign",
    kernel_quantizer="ste_sign",
    kernel_constraint="weight_clip",
    use_bias=False,
)
RNG = np.random.default_rng(0)

LAYER_CASES = [
    (ESQuantConv2D, dict(filters=16, kernel_size=3, tau=2, **BINARY), (6, 6, 64)),
    (ESQuantConv2D, dict(filters=32, kernel_size=3, padding="same", pad_values=1.0, tau=2, groups=2, **BINARY), (5, 5, 64)),
    (ESQuantConv2D, dict(filters=16, kernel_size=1, tau=2, groups=2), (4, 4, 12)),  # float ES conv
]

#: (layer, twin, arguments both need, extras)
TWINS = [(ESQuantConv2D, lq.layers.QuantConv2D, {"filters": 4, "kernel_size": 3}, ("tau", "for_lce"))]


@pytest.mark.parametrize("layer_cls, kwargs, input_shape", LAYER_CASES)
def test_layer_harness(layer_cls, kwargs, input_shape):
    out = layer_test(layer_cls, kwargs, input_shape=input_shape)
    layer = layer_cls(**kwargs)
    assert out.shape[-1] == kwargs["filters"] * kwargs.get("tau", 1) * kwargs.get("groups", 1) == layer.output_channels


def test_table_covers_every_layer_of_the_module():
    assert {case[0] for case in LAYER_CASES} == layer_classes(es)


@pytest.mark.parametrize("layer_cls, twin_cls, required, extras", TWINS)
def test_takes_its_twins_keyword_arguments(layer_cls, twin_cls, required, extras):
    assert keyword_mismatches(layer_cls, twin_cls, required=required, extras=extras) == []


def _x(shape):
    return RNG.uniform(-1, 1, size=shape).astype(np.float32)


def test_tau1_groups1_is_the_plain_binary_layer():
    x = _x((2, 6, 6, 40))
    plain = lq.layers.QuantConv2D(24, 3, padding="same", pad_values=1.0, **BINARY)
    es = ESQuantConv2D(24, 3, padding="same", pad_values=1.0, **BINARY)
    y_plain = plain(x)
    es(x)
    es.set_weights(plain.get_weights())
    np.testing.assert_array_equal(es(x).numpy(), y_plain.numpy())
    assert es.kernel.shape == plain.kernel.shape and es.replicas == 1


@pytest.mark.parametrize("tau, groups", [(2, 1), (1, 2), (2, 2), (4, 1)])
def test_equals_hand_built_conv_tile_bn(tau, groups):
    """conv (C_out/τ kernels, g groups) → whole-tensor tile τ²g → BN over C_out·τ·g."""
    c_in, c_out = 32, 16
    width = c_in * tau * groups
    inputs = tf.keras.Input((8, 8, width))
    es = ESQuantConv2D(c_out, 3, strides=2, padding="same", pad_values=1.0, tau=tau, groups=groups, **BINARY)
    y = tf.keras.layers.BatchNormalization()(es(inputs))
    es_model = tf.keras.Model(inputs, y)
    assert es_model.output_shape == (None, 4, 4, c_out * tau * groups)
    randomize_weights(es_model, seed=tau * 10 + groups)

    conv = lq.layers.QuantConv2D(
        c_out // tau, 3, strides=2, padding="same", pad_values=1.0, groups=groups, **BINARY
    )
    tiled = ChannelBroadcast(c_out * tau * groups, mode="tile")(conv(inputs))
    ref = tf.keras.Model(inputs, tf.keras.layers.BatchNormalization()(tiled))
    ref.set_weights(es_model.get_weights())

    x = _x((3, 8, 8, width))
    np.testing.assert_allclose(es_model(x).numpy(), ref(x).numpy(), rtol=1e-5, atol=1e-5)
    # replicas differ only through the BN: before it they are exact copies
    raw = es(x).numpy()
    k = c_out // tau
    for r in range(1, tau * tau * groups):
        np.testing.assert_array_equal(raw[..., r * k : (r + 1) * k], raw[..., :k])


def test_binary_macs_unchanged_by_tau_and_groups():
    kernels = []
    for tau, groups in [(1, 1), (2, 1), (2, 2), (4, 2)]:
        layer = ESQuantConv2D(64, 3, tau=tau, groups=groups, **BINARY)
        layer.build((None, 8, 8, 32 * tau * groups))
        kernels.append(int(np.prod(layer.kernel.shape)))
    assert len(set(kernels)) == 1  # k²·C_in·C_out
    assert layer.compute_output_shape((None, 8, 8, 256)) == (None, 6, 6, 64 * 4 * 2)
    assert layer.filters == 16 and layer.replicas == 32 and layer.output_channels == 512


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(filters=24, tau=5), r"tau=5 must divide filters=24.*nearest valid tau: \[4, 6\]"),
        (dict(filters=24, tau=2, groups=5), r"groups=5 must divide .* 12 kernels.*\[4, 6\]"),
        (dict(filters=24, tau=0), r"tau must be a positive int, got tau=0"),
        (dict(filters=24, groups=1.5), r"groups must be a positive int"),
    ],
)
def test_construction_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ESQuantConv2D(kernel_size=3, name="blk_conv", **BINARY, **kwargs)


def test_for_lce_must_be_a_bool():
    with pytest.raises(TypeError, match=r"for_lce must be True or False, got for_lce='yes'"):
        ESQuantConv2D(24, 3, for_lce="yes", name="blk_conv", **BINARY)


def test_build_errors_name_layer_numbers_and_nearest_choice():
    layer = ESQuantConv2D(16, 3, tau=1, groups=2, name="blk_conv", **BINARY)
    with pytest.raises(ValueError) as error:
        layer(tf.keras.Input((8, 8, 32)))  # 16 input channels per group
    message = str(error.value)
    assert "'blk_conv'" in message and "16 input channels per group" in message
    assert "Nearest valid choice: groups=1" in message and "C_in·tau" in message
    # the converter's own check gives the same first sentence
    assert message.startswith(grouped_bconv_error("blk_conv", "ESQuantConv2D", 2, 16, 16))

    with pytest.raises(ValueError, match=r"groups=3 must divide the 32 input channels.*\[2, 4\]"):
        ESQuantConv2D(12, 3, tau=2, groups=3, name="b", for_lce=False, **BINARY)(tf.keras.Input((8, 8, 32)))


def test_for_lce_false_and_float_es_conv_skip_the_32_rule():
    # 16 input channels per group: refused for LCE, built for training with for_lce=False
    with pytest.raises(ValueError, match="16 input channels per group"):
        ESQuantConv2D(16, 3, groups=2, **BINARY)(tf.keras.Input((8, 8, 32)))
    training_only = ESQuantConv2D(16, 3, groups=2, for_lce=False, **BINARY)
    y = training_only(tf.keras.Input((8, 8, 32)))
    assert y.shape == (None, 6, 6, 16 * 2) and training_only.kernel.shape == (3, 3, 16, 16)
    # float (no input quantizer): 6 input channels per group, no LCE rule applies
    float_es = ESQuantConv2D(16, 1, tau=2, groups=2)
    y = float_es(tf.keras.Input((8, 8, 12)))
    assert y.shape == (None, 8, 8, 16 * 2 * 2) and float_es.kernel.shape == (1, 1, 6, 8)


def test_config_values_and_h5_and_savedmodel(tmp_path):
    """The harness covers from_config; here the saved formats of a model with ES and ChannelSlice."""
    inputs = tf.keras.Input((8, 8, 64))
    x = ESQuantConv2D(32, 3, padding="same", pad_values=1.0, tau=2, groups=2, name="es", **BINARY)(inputs)
    x = tf.keras.layers.BatchNormalization()(x)
    x = ChannelSlice(32, name="slice")(x)
    model = tf.keras.Model(inputs, x)
    randomize_weights(model, seed=7)
    config = model.get_layer("es").get_config()
    assert (config["filters"], config["tau"], config["groups"], config["for_lce"]) == (32, 2, 2, True)
    assert ESQuantConv2D.from_config(config).get_config() == config
    x_in = _x((2, 8, 8, 64))
    expected = model.predict(x_in, verbose=0)
    assert expected.shape == (2, 8, 8, 32)

    h5 = str(tmp_path / "es.h5")
    model.save(h5)
    np.testing.assert_array_equal(tf.keras.models.load_model(h5).predict(x_in, verbose=0), expected)
    saved = str(tmp_path / "es_saved")
    model.save(saved, save_format="tf")
    np.testing.assert_array_equal(tf.keras.models.load_model(saved).predict(x_in, verbose=0), expected)
