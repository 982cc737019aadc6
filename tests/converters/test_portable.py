"""The portable target (engine="builtin"): builtin int8 ops only, run in LiteRT and in
TFLite Micro, binary convs exact in integers."""

import larq as lq
import numpy as np
import pytest
import tensorflow as tf
from converter_models import BINARY, build_int8_bnn, build_small_bnn, randomize_batchnorm, uniform_images

# Imported here, not on the CLI's first use: lq_ext.bench.compare (imported by the commands)
# binds ``convert`` by name, so importing it while a test patches lq_ext.converters.convert
# kept the fake there (a later demo test in the same worker then wrote nothing).
import lq_ext.cli.commands  # noqa: F401
import lq_ext.converters
from lq_ext.bench.runtimes import litert_outputs, micro_outputs
from lq_ext.cli import main
from lq_ext.converters import Int8Options, convert
from lq_ext.converters.int8 import int8_model
from lq_ext.converters.int8.binary import portable_model, sign_magnitude
from lq_ext.converters.parity import run_interpreter
from lq_ext.testing import randomize_weights
from lq_ext.zoo import BDNetMobileNet


def binary_conv_model(kernel_quantizer="ste_sign", batchnorm=False):
    """±1 inputs → one-padded binary 3×3 conv (8 → 16 channels) [→ BN]: integer sums."""
    inputs = tf.keras.Input((6, 6, 8))
    x = lq.layers.QuantConv2D(
        16,
        3,
        padding="same",
        pad_values=1.0,
        name="bconv",
        **{**BINARY, "kernel_quantizer": kernel_quantizer},
    )(inputs)
    if batchnorm:
        x = tf.keras.layers.BatchNormalization(name="bn")(x)
    model = tf.keras.Model(inputs, x, name="one_bconv")
    randomize_weights(model, seed=2)
    return randomize_batchnorm(model, seed=2) if batchnorm else model


def binary_images(n=24, seed=0):
    """Random ±1 with some exact zeros (Larq's sign(0) = +1 must hold in int8 too)."""
    rng = np.random.default_rng(seed)
    images = rng.choice([-1.0, 1.0], size=(n, 6, 6, 8)).astype(np.float32)
    images[rng.random(images.shape) < 0.1] = 0.0
    return images


@pytest.mark.parametrize("kernel_quantizer, batchnorm", [("ste_sign", False), ("magnitude_aware_sign", True)])
def test_binary_conv_is_exact_in_integers(kernel_quantizer, batchnorm, tmp_path):
    """Every output of the int8 CONV_2D is the Keras (and LCE bit-packed) value rounded to
    its int8 step: an integer sum off by one would be a whole step or more away."""
    model = binary_conv_model(kernel_quantizer, batchnorm)
    images = binary_images()
    options = Int8Options(calibration=images, percentile=100)  # nothing clipped
    result = convert(model, tmp_path / "one.tflite", engine="builtin", int8=options, samples=images)
    assert result.ops.custom_ops == () and result.ops.count("CONV_2D") == 1
    with open(result.path, "rb") as handle:
        flatbuffer = handle.read()
    expected = model.predict(images, verbose=0)
    low, high = result.int8_plan.ranges["bn" if batchnorm else "bconv"]
    step = (high - low) / 255
    # without BN the outputs are integer sums and a step < 0.5: an error below 0.6 step
    # means every int32 sum was exact (one ±1 product off would be ≥ 1 − 0.3 away)
    assert batchnorm or step < 0.5
    portable = litert_outputs(flatbuffer, images)
    assert np.abs(portable - expected).max() <= 0.6 * step
    # TFLite Micro's reference kernels requantize in fixed point, LiteRT's XNNPACK in
    # float: both round the exact sums to the nearest step, up to ties (measured: 0.52 step)
    micro, _ = micro_outputs(flatbuffer, images)
    assert np.abs(micro - expected).max() <= 0.6 * step
    # LCE's bit-packed LceBconv2d on the same inputs (float output: the exact sums)
    bitpacked = convert(model, tmp_path / "lce.tflite", samples=images)
    assert bitpacked.ops.count("LceBconv2d") == 1
    with open(bitpacked.path, "rb") as handle:
        lce = np.asarray(run_interpreter(handle.read(), images))
    assert np.abs(portable - lce).max() <= 0.6 * step


def test_binary_dense_with_batchnorm_is_an_int8_conv(tmp_path):
    """A binary QuantDense (+ BN) as a 1×1 int8 CONV_2D between reshapes, within 0.6 step."""
    inputs = tf.keras.Input((40,))
    x = lq.layers.QuantDense(24, name="bdense", **BINARY)(inputs)
    outputs = tf.keras.layers.BatchNormalization(name="bn")(x)
    model = tf.keras.Model(inputs, outputs, name="one_bdense")
    randomize_weights(model, seed=1)
    randomize_batchnorm(model, seed=1)
    rng = np.random.default_rng(0)
    vectors = rng.choice([-1.0, 1.0], size=(24, 40)).astype(np.float32)
    vectors[rng.random(vectors.shape) < 0.1] = 0.0
    options = Int8Options(calibration=vectors, percentile=100)
    result = convert(model, tmp_path / "dense.tflite", engine="builtin", int8=options, samples=vectors)
    assert result.ops.builtin_ops == ("CONV_2D", "DEPTHWISE_CONV_2D", "DEQUANTIZE", "QUANTIZE", "RESHAPE")
    low, high = result.int8_plan.ranges["bn"]
    with open(result.path, "rb") as handle:
        flatbuffer = handle.read()
    expected = model.predict(vectors, verbose=0)
    assert np.abs(litert_outputs(flatbuffer, vectors) - expected).max() <= 0.6 * (high - low) / 255
    assert np.abs(micro_outputs(flatbuffer, vectors)[0] - expected).max() <= 0.6 * (high - low) / 255


def test_sign_magnitude_recognises_plain_signs_only():
    assert sign_magnitude(lq.quantizers.SteSign()) == 1.0
    assert sign_magnitude(lq.quantizers.ApproxSign()) == 1.0
    assert sign_magnitude(lq.quantizers.SteHeaviside()) is None  # {0, 1}: not a sign


@pytest.fixture(scope="module")
def bdnet():
    model = BDNetMobileNet(input_shape=(32, 32, 3), num_classes=10, width_multiplier=0.25)
    randomize_weights(model, seed=0)
    return model


@pytest.fixture(scope="module")
def bdnet_images():
    return np.random.default_rng(5).uniform(-1, 1, size=(8, 32, 32, 3)).astype(np.float32)


@pytest.fixture(scope="module")
def bdnet_portable(bdnet, bdnet_images, tmp_path_factory):
    """convert(engine="builtin") of BDNetMobileNet α = 0.25 at 32 px, checked against its
    int8 Keras clone by convert itself (top-1, as int8 mode)."""
    path = tmp_path_factory.mktemp("portable") / "bdnet_builtin.tflite"
    return convert(
        bdnet, path, engine="builtin", int8=Int8Options(calibration=bdnet_images), samples=bdnet_images
    )


def test_bdnet_portable_has_builtin_int8_ops_only(bdnet_portable):
    ops = bdnet_portable.ops
    assert ops.custom_ops == () and ops.macs_by_class["float"] == 0 and ops.macs_by_class["bitpacked"] == 0
    assert not [info.op_type for info in ops.ops if info.op_class == "float"]
    # 13 binary 1×1 convs + the stem; 13 exact depth-wise, their 13 scales, 26 pre-BNs, 26 signs
    assert ops.count("CONV_2D") == 13 + 1
    assert ops.count("DEPTHWISE_CONV_2D") == 13 + 13 + 26 + 26
    text = ops.format()
    assert "Custom ops: none (runs on stock TFLite / LiteRT and TFLite Micro)" in text
    assert "Builtin ops to register (TFLite Micro op resolver): " + ", ".join(ops.builtin_ops) in text
    assert {"CONV_2D", "DEPTHWISE_CONV_2D", "QUANTIZE", "DEQUANTIZE"} <= set(ops.builtin_ops)
    assert len(bdnet_portable.int8_plan.lowered) >= 13 + 13


def test_bdnet_portable_is_verified_per_layer_at_the_strict_defaults(bdnet_portable):
    """The portable target has int8 mode's defaults (no outlier sample, top-1 ≥ 0.9): the
    whole output fails here (4 of 8 samples: one-step roundings that this deep random BNN
    turns into sign flips), and the per-layer diagnosis against the portable clone passes
    with every tensor mapped. Before the converter's truncated tensor names (50 characters:
    ``bdnet_mobilenet_int8_portable/block1_dw_conv_built1``) were read back, 81 tensors
    were unmapped and segments spanning several roundings gave 51,427 mismatches."""
    result = bdnet_portable
    assert result.verified and not result.parity.passed and result.diagnosis is not None
    report = result.diagnosis
    assert report.passed and report.mismatches == 0 and not report.unmapped, str(report)
    assert len(report.segments) > 8 * 26  # every lowered op of the 26 binary units apart


def test_bdnet_portable_runs_in_litert_and_tflite_micro(bdnet_portable, bdnet_images):
    with open(bdnet_portable.path, "rb") as handle:
        flatbuffer = handle.read()
    # LiteRT's optimized int8 kernels and TFLite Micro's reference ones round a few values
    # one step apart (already the stem's CONV_2D: 1-4 elements of every sample, tapped), and
    # this deep BNN with random weights turns such a step into sign flips: half the samples
    # agree exactly (measured: 4 of 8; 6 of 8 before average pools kept their input's range,
    # the same stem differences), top-1 on 6 of 8
    litert = litert_outputs(flatbuffer, bdnet_images, xnnpack=False)
    micro, arena = micro_outputs(flatbuffer, bdnet_images)
    assert np.all(micro == litert, axis=1).mean() >= 0.5
    assert (micro.argmax(1) == litert.argmax(1)).mean() >= 0.75
    assert 10_000 < arena < 300_000  # measured: 172,368 bytes
    np.testing.assert_allclose(litert.sum(1), 1.0, atol=0.05)
    assert litert_outputs(flatbuffer, bdnet_images).shape == litert.shape


def test_portable_rewrite_is_exact_in_keras():
    """The lowered Keras clone computes what the int8 clone computes (signs, sums, folds)."""
    model = build_int8_bnn()
    images = uniform_images((16, 16, 3), n=16)
    clone, _ = int8_model(model, images)
    rewritten, lowered = portable_model(clone)
    assert lowered == ("bconv",)
    assert "bconv_bn" not in [layer.name for layer in rewritten.layers]  # folded into the conv
    np.testing.assert_allclose(
        rewritten.predict(images, verbose=0), clone.predict(images, verbose=0), atol=1e-6
    )


def test_unsupported_layer_is_refused_before_conversion(no_conversion, tmp_path):
    model = build_small_bnn()  # its depth-wise conv computes in float (exact_int8=False)
    with pytest.raises(
        ValueError, match=r"'bdw' \(BinaryDepthwiseConv2D\): a binary depth-wise conv with exact_int8=False"
    ):
        convert(model, tmp_path / "x.tflite", engine="builtin", verify=False)


def test_cli_convert_portable_selects_the_builtin_engine(monkeypatch, tmp_path, capsys):
    calls = []
    monkeypatch.setattr(
        lq_ext.converters, "convert", lambda model, path, **kwargs: calls.append(kwargs) or "converted"
    )
    path = str(tmp_path / "b.tflite")
    assert (
        main(
            [
                "convert",
                "bdnet_mobilenet",
                path,
                "--input-shape",
                "32,32,3",
                "--num-classes",
                "10",
                "--portable",
            ]
        )
        == 0
    )
    assert calls[0]["engine"] == "builtin" and "converted" in capsys.readouterr().out
