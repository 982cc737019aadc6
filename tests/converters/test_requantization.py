"""TFLite's double-rounding requantization (lq_ext.converters._requantization) and the per-layer
diagnosis that allows exactly it on an int8 conv's output: a 4-bit conv like PokeBNN's SE
expand (uint4 input, 4-bit kernel, int8 output)."""

import larq as lq
import numpy as np
import pytest
import tensorflow as tf

from lq_ext.converters import diagnose
from lq_ext.converters._flatbuffer import parse
from lq_ext.converters._flatbuffer_edit import edit_quantization
from lq_ext.converters._requantization import requantization_slack, requantizations
from lq_ext.converters.engines import to_flatbuffer
from lq_ext.fake_quant import IntActivationQuantizer, IntWeightQuantizer, calibrate


def test_slack_follows_the_multipliers_exponent():
    # M = M0 · 2^e: 2^(e-1) for e < 0 (the first rounding, in output steps), 0 from M = 0.5 up
    assert requantization_slack([0.36, 0.2, 0.06, 0.5, 3.0], bias=False) == pytest.approx([0.25, 0.125, 1 / 32, 0, 0])
    # an int32 bias rounded to s_in·s_w: half a step of the accumulator, M/2 output steps
    assert requantization_slack([0.36, 3.0], bias=True) == pytest.approx([0.25 + 0.18, 1.5])


@pytest.fixture(scope="module")
def se_like():
    tf.keras.utils.set_random_seed(0)
    inputs = tf.keras.Input((1, 1, 96))
    x = IntActivationQuantizer(8, name="pre")(inputs)
    x = lq.layers.QuantConv2D(192, 1, use_bias=False, input_quantizer=IntActivationQuantizer(4, signed=False),
                              kernel_quantizer=IntWeightQuantizer(4), name="conv")(x)
    x = IntActivationQuantizer(8, name="out")(x)
    model = tf.keras.Model(inputs, tf.keras.layers.Activation("sigmoid")(x))
    images = np.maximum(np.random.default_rng(0).normal(0, 0.15, (64, 1, 1, 96)), 0).astype(np.float32)
    calibrate(model, images)
    flatbuffer = to_flatbuffer(model).data
    (conv,) = [op for op in parse(flatbuffer).operators if op.op_type == "CONV_2D"]
    return model, images, flatbuffer, conv


def test_allowance_of_the_conv_output(se_like):
    model, _, flatbuffer, conv = se_like
    requantization = requantizations(flatbuffer)[conv.outputs[0]]
    allowance = requantization.slack()
    conv_layer = model.get_layer("conv")
    assert allowance.shape == (192,) and 0 < allowance.min() and allowance.max() <= 0.25
    # the multiplier of each channel from Keras' own steps: uint4 input B/16, kernel max|w_c|/7,
    # output B/127 (no bias: the converter's zeros are exact)
    kernel_steps = np.abs(conv_layer.kernel.numpy()).max(axis=(0, 1, 2)) / 7
    multiplier = float(conv_layer.input_quantizer.bound.numpy()) / 16 * kernel_steps / (float(model.get_layer("out").bound.numpy()) / 127)
    expected = requantization_slack(multiplier, bias=False)
    assert allowance == pytest.approx(expected, rel=1e-5)
    assert not requantization.bias_in_file and requantization.multiplier == pytest.approx(multiplier, rel=1e-5)
    # a float bias (which may round to the file's zeros) adds its half step
    assert requantization.slack(float_bias=True) == pytest.approx(expected + multiplier / 2, rel=1e-5)


def test_diagnosis_passes_tflite_rounding_and_catches_one_channel_scale(se_like):
    """The correct file: many outputs one step off (TFLite's double rounding), every one within
    its channel's slack. One output channel's kernel scale 0.4 % off (half a step at the top of
    the int8 range) is caught at the conv; the fixed 0.4 steps of INT8_MIDPOINT allowed it."""
    model, images, flatbuffer, conv = se_like
    report = diagnose(model, flatbuffer, images)
    out = {s.layer: s for s in report.segments}["out"]
    assert report.passed and report.mismatches == 0 and out.steps > 0.05 * out.elements, str(report)
    outputs = tf.keras.Model(model.input, model.get_layer("out").output).predict(images, verbose=0)
    largest = int(np.argmax(np.abs(outputs).max(axis=(0, 1, 2))))  # the channel with the largest outputs

    def larger(scales):
        scales[largest] *= 1.004
        return scales

    corrupted = diagnose(model, edit_quantization(flatbuffer, conv.inputs[1], larger), images)
    first = corrupted.first_divergence
    assert first is not None and first.layer == "out" and first.max_abs_diff <= 1.001 * first.step, str(corrupted)
    assert first.midpoint <= 0.4  # within the fixed allowance: caught only by the slack per channel


def _coarse_bias_model(seed):
    """A 4-bit conv with a bias whose output grid is fine: M = s_in·s_w/s_out ≈ 4."""
    tf.keras.utils.set_random_seed(seed)
    inputs = tf.keras.Input((1, 1, 96))
    x = IntActivationQuantizer(8, name="pre")(inputs)
    conv = lq.layers.QuantConv2D(24, 1, input_quantizer=IntActivationQuantizer(4),
                                 kernel_quantizer=IntWeightQuantizer(4), name="conv")
    x = IntActivationQuantizer(8, name="out")(conv(x))
    model = tf.keras.Model(inputs, tf.keras.layers.Activation("sigmoid")(x))
    images = np.random.default_rng(seed).normal(0, 0.3, (64, 1, 1, 96)).astype(np.float32)
    calibrate(model, images)
    out = model.get_layer("out")
    out.bound.assign(out.bound * 0.1)  # a fine output grid: M ≈ 4
    return model, conv, images


def _conv_output(flatbuffer):
    (op,) = [op for op in parse(flatbuffer).operators if op.op_type == "CONV_2D"]
    return op.outputs[0]


def test_a_bias_on_a_grid_coarser_than_the_output_is_explained():
    """With M = s_in·s_w/s_out above 1 the int32 bias's grid (s_in·s_w) spans several output
    steps: TFLite's output differs from the float bias's by up to ½ + M/2 steps, more than
    one step, and the diagnosis explains it (PokeBNN's SE reduce convs under random biases)."""
    model, conv, images = _coarse_bias_model(1)
    conv.bias.assign(np.random.default_rng(2).normal(0, 0.3, 24).astype(np.float32))
    flatbuffer = to_flatbuffer(model).data
    requantization = requantizations(flatbuffer)[_conv_output(flatbuffer)]
    assert requantization.bias_in_file and requantization.slack().min() > 0.5  # the bias's half step
    report = diagnose(model, flatbuffer, images)
    segment = {s.layer: s for s in report.segments}["out"]
    assert report.passed and report.mismatches == 0, str(report)
    assert segment.max_abs_diff > 1.5 * segment.step, str(report)  # more than one step: the bias


def test_a_float_bias_rounded_to_zeros_in_the_file_is_explained():
    """A float bias under half the int32 grid in every channel is all zeros in the file, as a
    conv without a bias is: the file cannot tell, the float model can (PokeBNN-0.75's
    stage4_block2_2 SE reduce under random biases: 229 elements one step off, up to 0.93 steps
    from the midpoint, before the diagnosis asked the Keras layers)."""
    model, conv, images = _coarse_bias_model(1)
    grid = requantizations(to_flatbuffer(model).data)
    (requantization,) = grid.values()
    signs = np.where(np.random.default_rng(3).random(24) < 0.5, -1.0, 1.0)
    conv.bias.assign((0.45 * signs * requantization.bias_grid).astype(np.float32))
    flatbuffer = to_flatbuffer(model).data
    rounded = requantizations(flatbuffer)[_conv_output(flatbuffer)]
    assert not rounded.bias_in_file  # every channel's bias rounded to 0
    report = diagnose(model, flatbuffer, images)
    segment = {s.layer: s for s in report.segments}["out"]
    assert report.passed and report.mismatches == 0, str(report)
    assert segment.max_abs_diff > 1.5 * segment.step, str(report)  # the lost bias: more than one step
