"""The int8 clone computes what the flatbuffer computes (issue 19, int8 half): an average pool
keeps its input's range (TFLite's int8 ``AVERAGE_POOL_2D`` cannot requantize), a ``PReLU``'s
slope sits on the int8 grid the converter stores it on; then the per-layer diagnosis passes
BDNetMobileNet in int8 mode with no mismatch. Numbers: docs/guides/parity.md, "Per-layer
diagnosis in int8 mode"."""

import numpy as np
import pytest
import tensorflow as tf
from converter_models import uniform_images

from lq_ext.converters import convert, diagnose
from lq_ext.converters._flatbuffer import constant, parse, quantization
from lq_ext.converters.engines import to_flatbuffer
from lq_ext.converters.int8 import Int8Range, int8_model
from lq_ext.converters.parity import run_interpreter
from lq_ext.layers import RPReLU
from lq_ext.testing import randomize_weights
from lq_ext.zoo import BDNetMobileNet

#: convert's whole-output check made strict, so that any difference goes to the diagnosis
STRICT = dict(rtol=1e-6, max_outlier_fraction=0.0, atol=0.0)


def _constant(flatbuffer, index):
    """The int8 constant tensor ``index`` of subgraph 0, dequantized (per-tensor)."""
    raw = constant(flatbuffer, index)
    assert raw is not None and raw.dtype == np.int8
    scales, zero_points = quantization(flatbuffer, index)
    assert len(scales) == 1
    return (raw.ravel().astype(np.float64) - zero_points[0]) * scales[0]


def _quantization(flatbuffer, index):
    scales, zero_points = quantization(flatbuffer, index)
    return float(scales[0]), int(zero_points[0])


def _convert_plain(model):
    """The flatbuffer LCE makes of ``model`` as it is (no int8 clone)."""
    return to_flatbuffer(model, engine="lce", target="arm", via="graphdef").data


def _convert(model, images, path):
    convert(model, path, int8=True, samples=images, verify=False)
    with open(path, "rb") as handle:
        return handle.read()


@pytest.fixture(scope="module")
def pool_case(tmp_path_factory):
    """conv → ReLU-free average pool → dense: the pool's values span a narrower range than its
    input's (a mean of a 3×3 window), so a calibrated range of its own would be narrower."""
    inputs = tf.keras.Input((12, 12, 3))
    x = tf.keras.layers.Conv2D(8, 3, name="conv")(inputs)
    x = tf.keras.layers.AveragePooling2D(3, name="pool")(x)
    x = tf.keras.layers.Flatten(name="flat")(x)
    outputs = tf.keras.layers.Dense(10, name="head")(x)
    model = tf.keras.Model(inputs, outputs)
    randomize_weights(model, seed=4)
    images = uniform_images((12, 12, 3), n=20, seed=4)
    flatbuffer = _convert(model, images, tmp_path_factory.mktemp("pool") / "pool.tflite")
    clone, plan = int8_model(model, images)
    return model, images, flatbuffer, clone, plan


def test_average_pool_keeps_its_input_range(pool_case):
    model, images, flatbuffer, clone, plan = pool_case
    assert plan.ranges["pool"] == plan.ranges["conv"]
    # the float pool's values do span a narrower range: a calibrated one would differ
    pooled = tf.keras.Model(model.inputs, model.get_layer("pool").output).predict(images, verbose=0)
    convolved = tf.keras.Model(model.inputs, model.get_layer("conv").output).predict(images, verbose=0)
    assert np.percentile(pooled, 99.9) < 0.9 * np.percentile(convolved, 99.9)
    graph = parse(flatbuffer)
    (pool,) = [op for op in graph.operators if op.op_type == "AVERAGE_POOL_2D"]
    assert _quantization(flatbuffer, pool.inputs[0]) == _quantization(flatbuffer, pool.outputs[0])
    # no requantizing QUANTIZE after the pool: the only one quantizes the float input
    assert [op.inputs[0] for op in graph.operators if op.op_type == "QUANTIZE"] == [0]
    report = diagnose(clone, flatbuffer, images)
    assert report.passed, str(report)
    assert "pool_int8" in {s.layer for s in report.segments}


@pytest.fixture(scope="module")
def prelu_case(tmp_path_factory):
    inputs = tf.keras.Input((8, 8, 3))
    x = tf.keras.layers.Conv2D(16, 3, padding="same", name="conv")(inputs)
    x = RPReLU(name="act")(x)
    x = tf.keras.layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = tf.keras.layers.Dense(10, name="head")(x)
    model = tf.keras.Model(inputs, outputs)
    randomize_weights(model, seed=6)
    model.get_layer("act").alpha.assign(np.linspace(-0.6, 0.9, 16, dtype=np.float32).reshape(1, 1, 16))
    images = uniform_images((8, 8, 3), n=20, seed=6)
    flatbuffer = _convert(model, images, tmp_path_factory.mktemp("prelu") / "prelu.tflite")
    clone, _ = int8_model(model, images)
    return model, images, flatbuffer, clone


def test_prelu_slope_is_the_one_tflite_stores(prelu_case):
    model, images, flatbuffer, clone = prelu_case
    alpha = np.linspace(-0.6, 0.9, 16)
    step = 0.9 / 127  # symmetric int8: max |α| / 127, zero point 0
    on_grid = np.round(alpha / step) * step
    assert np.abs(alpha - on_grid).max() > 0.3 * step  # the float slope is off the grid
    slope = clone.get_layer("act_prelu").alpha.numpy().reshape(-1)
    np.testing.assert_allclose(slope, on_grid, rtol=1e-6, atol=0)
    (prelu,) = [op for op in parse(flatbuffer).operators if op.op_type == "PRELU"]
    np.testing.assert_allclose(_constant(flatbuffer, prelu.inputs[1]), on_grid, rtol=1e-6, atol=0)
    # the clone's values before rounding now sit next to the midpoint where TFLite rounds
    # the other way (float slope: up to 0.27 steps on the small int8 BNN, 0.535 on BDNet)
    report = diagnose(clone, flatbuffer, images)
    (segment,) = [s for s in report.segments if s.op == "PRELU"]
    assert report.passed and segment.midpoint <= 0.02, str(report)


def test_prelu_slope_stays_on_the_grid_when_the_clone_is_trained(prelu_case):
    """Fine-tuning (Int8Distillation) trains the clone: the constraint puts the slope back."""
    _, images, _, clone = prelu_case
    trained = tf.keras.models.clone_model(clone)
    trained.set_weights(clone.get_weights())
    trained.compile(optimizer=tf.keras.optimizers.SGD(0.5), loss="mse")
    before = trained.get_layer("act_prelu").alpha.numpy().reshape(-1)
    trained.fit(images, np.ones((len(images), 10), np.float32), epochs=2, verbose=0)
    slope = trained.get_layer("act_prelu").alpha.numpy().reshape(-1)
    assert not np.allclose(slope, before)
    levels = slope / (np.abs(slope).max() / 127)
    np.testing.assert_allclose(levels, np.round(levels), atol=1e-3)


@pytest.fixture(scope="module")
def bdnet_int8(tmp_path_factory):
    """BDNetMobileNet α = 0.25 at 32 px, random weights (seed 0), converted in int8 mode on the
    20 CIFAR-10 samples with a strict whole-output check, so that convert diagnoses."""
    model = BDNetMobileNet(input_shape=(32, 32, 3), num_classes=10, width_multiplier=0.25)
    randomize_weights(model, seed=0)
    return convert(model, tmp_path_factory.mktemp("bdnet") / "bdnet_int8.tflite", int8=True, **STRICT)


def test_bdnet_int8_diagnoses_with_no_mismatch(bdnet_int8):
    result = bdnet_int8
    # the whole output differs (one-step roundings turned into sign flips by the binarizers)
    assert not result.parity.passed
    diagnosis = result.diagnosis
    assert diagnosis is not None and diagnosis.taps_exact
    assert diagnosis.mismatches == 0 and result.verified, str(diagnosis)
    assert len(diagnosis.segments) == 183
    by_op = {}
    for segment in diagnosis.segments:
        by_op.setdefault(segment.op, []).append(segment)
    # every PRELU's values before rounding within 0.02 steps of TFLite's (0.535 with the float slope)
    assert len(by_op["PRELU"]) == 26 and max(s.midpoint for s in by_op["PRELU"]) <= 0.02
    # 4 average-pool shortcuts and the global pool, no requantizing QUANTIZE after them
    assert len(by_op["AVERAGE_POOL_2D"]) == 5
    assert result.ops.count("QUANTIZE") == 1 and result.ops.count("AVERAGE_POOL_2D") == 5


@pytest.mark.parametrize("low, high", [(-2.0, 2.0), (-1.0580185651779175, 1.0580185651779175), (-0.7, 3.1)])
def test_int8_range_saturates_where_tflite_does(low, high):
    """A symmetric range has a half-integer zero point (127.5 steps from the low end): TF's
    fake-quant op (float32) rounded it to [−128, 127] steps for some ends (1.058..., the
    trained BD-Net's), TFLite's converter (double) to [−127, 128], and every saturated value
    differed by one step (the trained BD-Net: 10,475 elements)."""
    inputs = tf.keras.Input((6,))
    model = tf.keras.Model(inputs, Int8Range(low, high, name="range")(inputs))
    step = (high - low) / 255
    x = np.array([[-50.0, 50.0, 0.55 * low, 0.55 * high, 0.0, 0.4 * step]], np.float32)
    flatbuffer = _convert_plain(model)
    (quantize,) = [op for op in parse(flatbuffer).operators if op.op_type == "QUANTIZE"]
    scale, zero_point = _quantization(flatbuffer, quantize.outputs[0])
    expected = np.clip(np.round(x / scale) + zero_point, -128, 127) - zero_point  # TFLite's levels
    np.testing.assert_allclose(run_interpreter(flatbuffer, x) / scale, expected, atol=1e-4)
    np.testing.assert_allclose(model(x).numpy() / scale, expected, atol=1e-4)
    if low == -high:
        assert zero_point == -1  # not TF's own rounding (0)
