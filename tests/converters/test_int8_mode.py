"""Full-int8 mode: the rewrites are exact in float, the flatbuffer has no float op left."""

import larq as lq
import numpy as np
import pytest
import tensorflow as tf
from converter_models import build_int8_bnn, uniform_images

from lq_ext.converters import convert
from lq_ext.converters.int8 import LOWERINGS, UNIT_RANGE, Int8Range, batchnorm_as_depthwise, int8_model
from lq_ext.layers import DPReLU, ESQuantConv2D, RPReLU
from lq_ext.testing import randomize_weights
from lq_ext.zoo.bnext import bnext_sub_block


@pytest.fixture(scope="module")
def small():
    return build_int8_bnn()


def test_plan_folds_lowers_and_keeps_keras_outputs_within_int8_steps(small):
    images = uniform_images((16, 16, 3))
    clone, plan = int8_model(small, images)
    assert plan.folded == (("stem", "stem_bn"),)
    assert set(plan.quantized_kernels) == {"stem", "head"}
    # pre_bn becomes one affine op that also takes the RSign threshold; the RPReLU a chain
    assert "pre_bn" in plan.lowered and "act" in plan.lowered
    assert "bconv_bn" not in plan.lowered  # LCE fuses it into LceBconv2d
    assert plan.output_step == pytest.approx(1 / 256)
    # ranges come from the float model: the input's is the images' own [min, max], 0.1 % wider
    low, high = plan.ranges[small.layers[0].name]
    assert low == pytest.approx(1.001 * images.min()) and high == pytest.approx(1.001 * images.max())
    reference = small.predict(images, verbose=0)
    quantized = clone.predict(images, verbose=0)
    # binarizer inputs within an int8 step of their threshold may flip: a BNN's outputs
    # are only checked by their class here; the float network below gets a tight bound
    assert (quantized.argmax(1) == reference.argmax(1)).mean() >= 0.9
    assert small.get_layer("stem_bn") is not None  # the model passed in is untouched


def test_float_network_in_int8_stays_within_a_few_output_steps():
    inputs = tf.keras.Input((12, 12, 3))
    x = tf.keras.layers.Conv2D(8, 3, padding="same", name="conv")(inputs)
    x = tf.keras.layers.BatchNormalization(name="bn")(x)
    x = tf.keras.layers.ReLU(name="relu")(x)
    x = tf.keras.layers.DepthwiseConv2D(3, name="dw")(x)
    x = tf.keras.layers.Flatten(name="flat")(x)
    outputs = tf.keras.layers.Dense(5, name="logits")(x)
    model = tf.keras.Model(inputs, outputs)
    randomize_weights(model, seed=1, scale=0.3)
    images = uniform_images((12, 12, 3), n=16)
    clone, plan = int8_model(model, images, percentile=100)  # nothing clipped
    assert plan.folded == (("conv", "bn"),) and set(plan.quantized_kernels) == {"conv", "dw", "logits"}
    assert plan.ranges["flat"] == plan.ranges["dw"]  # a reshape keeps its input's range
    reference = model.predict(images, verbose=0)
    error = np.abs(clone.predict(images, verbose=0) - reference).max()
    assert 0 < error < 0.03 * np.abs(reference).max()


def test_convert_int8_leaves_no_float_op_and_matches_the_clone(small, tmp_path):
    images = uniform_images((16, 16, 3), n=20, seed=1)
    result = convert(small, tmp_path / "small_int8.tflite", int8=True, samples=images)
    classes = {info.op_type: info.op_class for info in result.ops.ops}
    assert result.ops.macs_by_class["float"] == 0
    assert not [t for t, c in classes.items() if c == "float"], classes
    assert result.ops.count("LceBconv2d") == 1 and result.ops.bitpacked_share == 1.0
    assert result.ops.count("CONV_2D") == 1 and result.ops.count("FULLY_CONNECTED") == 1
    assert result.parity.passed and result.parity.max_abs_error <= 2 / 256
    agreement = result.int8_agreement
    assert agreement.n_samples == 20 and agreement.top1_agreement >= 0.9
    float_result = convert(small, tmp_path / "small_float.tflite", samples=images)
    assert result.size_bytes < float_result.size_bytes
    assert "int8 vs the float model" in str(result)


def test_batchnorm_affine_absorbs_the_rsign_threshold_exactly():
    bn = tf.keras.layers.BatchNormalization()
    bn.build((None, 4, 4, 6))
    rng = np.random.default_rng(0)
    gamma, beta, mean = rng.normal(size=(3, 6))
    variance = rng.uniform(0.5, 2, size=6)
    bn.set_weights([gamma, beta, mean, variance])
    threshold = rng.normal(size=6)
    conv, (kernel, bias) = batchnorm_as_depthwise(bn, threshold)
    x = rng.normal(size=(2, 4, 4, 6)).astype(np.float32)
    expected = bn(x, training=False).numpy() - threshold
    np.testing.assert_allclose(x * kernel.reshape(-1) + bias, expected, atol=1e-5)


@pytest.mark.parametrize("layer_type", [RPReLU, DPReLU])
def test_lowered_activation_chain_equals_the_layer(layer_type):
    layer = layer_type()
    x = np.random.default_rng(1).normal(size=(2, 5, 5, 8)).astype(np.float32)
    layer(tf.keras.Input((5, 5, 8)))  # a functional call: lowerings read input_shape
    rng = np.random.default_rng(2)
    layer.set_weights([rng.uniform(0.2, 1.5, size=w.shape).astype(np.float32) * rng.choice([-1, 1], size=w.shape) for w in layer.get_weights()])
    # the PReLU slope (α, or n / p) is stored as a symmetric int8 constant and the lowering
    # puts it on that grid, k/127 · max|slope|: choose it there (off the grid, below)
    slope = np.append(rng.integers(-127, 127, size=7), 127) / 127 * 0.9
    if layer_type is DPReLU:
        # the slope p becomes an int8 per-tensor kernel: choose p on its grid, k/127 · max p
        layer.pos_slope.assign(np.append(rng.integers(20, 127, size=7), 127) / 127 * 1.3)
        layer.neg_slope.assign(slope * layer.pos_slope.numpy())
    else:
        layer.alpha.assign(slope.reshape(layer.alpha.shape))
    lowering = LOWERINGS[layer_type]
    assert lowering.applies(layer)
    y = tf.constant(x)
    for new, weights in lowering.layers(layer):
        new.build(y.shape)
        new.set_weights(weights)
        y = new(y)
    np.testing.assert_allclose(y.numpy(), layer(x).numpy(), atol=1e-5)


@pytest.mark.parametrize("activation, tau", [("sigmoid", 2), ("relu", 1)])
def test_float_es_conv_is_lowered_to_an_int8_conv_its_activation_and_the_tile(activation, tau):
    layer = ESQuantConv2D(16, 1, tau=tau, use_bias=True, activation=activation, name="se")
    layer(tf.keras.Input((1, 1, 8 * tau)))
    rng = np.random.default_rng(4)
    # per output channel, the kernel on its own int8 grid k/127 · max|w|
    levels = rng.integers(-127, 128, size=layer.kernel.shape)
    levels[0] = 127
    layer.set_weights([(levels / 127 * rng.uniform(0.1, 1.0, layer.filters)).astype(np.float32),
                       rng.normal(size=layer.filters).astype(np.float32)])
    lowering = LOWERINGS[ESQuantConv2D]
    assert lowering.applies(layer)
    steps = lowering.layers(layer)
    kinds = [type(new).__name__ for new, _ in steps]
    assert kinds == ["QuantConv2D", "Activation"] + (["ChannelBroadcast"] if tau > 1 else [])
    x = rng.normal(size=(3, 1, 1, 8 * tau)).astype(np.float32)
    y = tf.constant(x)
    for new, weights in steps:
        new.build(y.shape)
        new.set_weights(weights)
        y = new(y)
    np.testing.assert_allclose(y.numpy(), layer(x).numpy(), atol=1e-5)
    # a binary ES conv is lowered only when it tiles (else LceBconv2d fuses what follows)
    binary = ESQuantConv2D(16, 1, tau=tau, input_quantizer="ste_sign", kernel_quantizer="ste_sign")
    binary(tf.keras.Input((1, 1, 8 * tau)))
    assert lowering.applies(binary) == (tau > 1)


def test_bnext_attention_block_runs_in_int8_without_a_float_op(tmp_path):
    """ES-BNext's attention sub-block (τ = 2): the binary ES conv writes int8 before its
    tile, its BN becomes an int8 affine, ClampedMix two int8 scales and an add, the SE
    gate int8 convs with the sigmoid in TFLite's fixed range [0, 255/256]."""
    inputs = tf.keras.Input((8, 8, 32))
    x = tf.keras.layers.Conv2D(32, 3, padding="same", name="stem")(inputs)
    x = bnext_sub_block(x, 16, kind="attention", tau=2, name="blk")
    x = tf.keras.layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = tf.keras.layers.Dense(4, name="logits")(x)
    model = tf.keras.Model(inputs, outputs)
    randomize_weights(model, seed=2, scale=0.3)
    images = uniform_images((8, 8, 32), n=20, seed=3)
    result = convert(model, tmp_path / "blk.tflite", int8=True, samples=images)
    plan = result.int8_plan
    assert {"blk_conv", "blk_bn1", "blk_mix", "blk_se_conv1", "blk_se_conv2"} <= set(plan.lowered)
    assert plan.ranges["blk_se_conv2/1"] == UNIT_RANGE
    assert result.ops.macs_by_class["float"] == 0
    assert not [i.op_type for i in result.ops.ops if i.op_class == "float"]
    assert result.ops.count("LceBconv2d") == 1 and result.ops.bitpacked_share == 1.0
    assert result.ops.count("LOGISTIC") == 1 and result.ops.count("TILE") == 0
    # the whole output differs by rounding steps in 3 of 20 samples; the per-layer diagnosis
    # explains every difference (its two PReLUs: slopes on TFLite's int8 grid)
    assert result.verified and (result.parity.passed or result.diagnosis.mismatches == 0)


def test_dprelu_with_a_negative_slope_is_not_lowered():
    layer = DPReLU()
    layer(tf.keras.Input((2, 2, 3)))
    layer.pos_slope.assign([1.0, -0.5, 1.0])
    assert not LOWERINGS[DPReLU].applies(layer)


def test_int8_range_rounds_to_its_grid_and_serializes():
    layer = Int8Range(-1.0, 1.0)
    step = 2.0 / 255
    x = np.array([0.0, 0.3, -0.99, 5.0], np.float32)
    y = layer(x).numpy()
    assert np.all(np.abs(y[:3] - x[:3]) <= step / 2 + 1e-7)
    assert y[3] == pytest.approx(1.0, abs=step)
    clone = Int8Range.from_config(layer.get_config())
    assert (clone.low, clone.high) == (-1.0, 1.0)
    with pytest.raises(ValueError, match="low ≤ 0 ≤ high"):
        Int8Range(0.5, 1.0)


def test_bad_int8_arguments_are_refused_before_converting(small, tmp_path):
    path = tmp_path / "m.tflite"
    with pytest.raises(ValueError, match="int8=True needs engine='lce'"):
        convert(small, path, int8=True, engine="tflite")
    with pytest.raises(ValueError, match="only used with int8=True"):
        convert(small, path, calibration=uniform_images((16, 16, 3)))
    with pytest.raises(TypeError, match="int8 must be True or False"):
        convert(small, path, int8="yes")
    with pytest.raises(ValueError, match=r"calibration images must be an array \(n ≥ 1, 16, 16, 3\)"):
        convert(small, path, int8=True, calibration=uniform_images((8, 8, 3)))
    assert not path.exists()


def test_zero_padded_binary_conv_is_refused_with_the_layer_named():
    inputs = tf.keras.Input((8, 8, 32))
    x = lq.layers.QuantConv2D(
        32, 3, padding="same", input_quantizer="ste_sign", kernel_quantizer="ste_sign", name="zero_pad"
    )(inputs)
    model = tf.keras.Model(inputs, tf.keras.layers.BatchNormalization()(x))
    with pytest.raises(ValueError, match="'zero_pad'.*pad_values=1.0"):
        int8_model(model, uniform_images((8, 8, 32)))


def test_shared_and_subclassed_models_are_refused():
    dense = tf.keras.layers.Dense(4)
    inputs = tf.keras.Input((4,))
    shared = tf.keras.Model(inputs, dense(dense(inputs)))
    with pytest.raises(ValueError, match="shared layers; layer 'dense"):
        int8_model(shared, uniform_images((4,)))

    class Sub(tf.keras.Model):
        def call(self, x):
            return x

    with pytest.raises(ValueError, match="subclassed"):
        int8_model(Sub(), uniform_images((4,)))


def test_bdnet_in_int8_mode_has_only_bitpacked_and_int8_ops(tmp_path):
    """The foundation model end to end: every MAC bit-packed or int8, nothing in float."""
    from lq_ext.zoo import BDNetMobileNet

    model = BDNetMobileNet(input_shape=(32, 32, 3), num_classes=10, width_multiplier=0.25)
    randomize_weights(model, seed=0)
    float_result = convert(model, tmp_path / "bdnet.tflite")
    # With random weights this deep BNN is chaotic: TFLite's integer rounding moves a few
    # binarizer inputs across zero, and top-1 against the int8 clone falls to ~70 %;
    # what int8 costs a trained network is measured by experiments/int8_agreement.py.
    result = convert(model, tmp_path / "bdnet_int8.tflite", int8=True, verify=False)
    ops = result.ops
    assert ops.macs_by_class["float"] == 0
    assert not [info.op_type for info in ops.ops if info.op_class == "float"]
    # 13 exact ternary depth-wise convs, their 13 per-channel scales and 26 pre-BNs
    assert ops.count("LceBconv2d") == 13 and ops.count("DEPTHWISE_CONV_2D") == 13 + 13 + 26
    assert ops.quantize_dequantize_pairs == 0 and not ops.unpacked_outputs
    # the binary work is as in the float conversion: bit-packed 1x1s, exact int8 depth-wise
    assert ops.macs_by_class["bitpacked"] == float_result.ops.macs_by_class["bitpacked"]
    assert ops.bitpacked_share == float_result.ops.bitpacked_share
    # float stem, BN / activation chains and head → int8: 142,984 against 192,848 bytes
    assert result.size_bytes < 0.8 * float_result.size_bytes


def test_ranges_span_the_chosen_percentile_of_the_float_values():
    inputs = tf.keras.Input((64,))
    outputs = tf.keras.layers.Dense(1, use_bias=False, name="sum")(inputs)
    model = tf.keras.Model(inputs, outputs)
    model.set_weights([np.ones((64, 1), np.float32)])
    images = np.random.default_rng(0).normal(size=(400, 64)).astype(np.float32)
    sums = images.sum(axis=1)
    _, full = int8_model(model, images, percentile=100)
    _, clipped = int8_model(model, images, percentile=90)
    assert full.ranges["sum"] == pytest.approx((sums.min(), sums.max()), rel=1e-5)
    assert clipped.ranges["sum"] == pytest.approx(
        (np.percentile(sums, 10), np.percentile(sums, 90)), rel=1e-5
    )
    with pytest.raises(ValueError, match="percentile must be a number > 50 and ≤ 100, got percentile=40"):
        int8_model(model, images, percentile=40)
