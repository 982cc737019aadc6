"""Per-layer, teacher-forced parity (lq_ext.converters.diagnose) on larq-zoo's QuickNetSmall at
32 px with random weights and BatchNorm statistics: the correct conversion passes with zero mismatches, and
flatbuffers corrupted on purpose (one channel's bias, one kernel sign bit, two swapped output
channels) are caught at the layer whose op was corrupted, with the count of elements that the
corruption touches (one channel × H × W × samples)."""

import larq as lq
import larq_zoo
import numpy as np
import pytest
import tensorflow as tf

import lq_ext.converters.conversion as conversion_module
from lq_ext.cli import main
from lq_ext.converters import ParityError, convert, diagnose
from lq_ext.converters._flatbuffer import constant, parse, quantization
from lq_ext.converters._flatbuffer_edit import edit_constant, with_outputs
from lq_ext.converters.engines import Flatbuffer
from lq_ext.converters.parity import run_interpreter
from lq_ext.converters.verify import parity_inputs
from lq_ext.testing import randomize_weights
from lq_ext.zoo import BDNetMobileNet

N_SAMPLES = 8


def _quicknet_small(seed=5):
    model = larq_zoo.sota.QuickNetSmall(input_shape=(32, 32, 3), weights=None)
    randomize_weights(model, seed=seed)
    return model


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """convert() with a whole-output check tight enough (rtol 1e-5, no outlier allowed) that
    a round-off flip fails it: samples #0 and #7 differ by up to 1.3e-4 (softmax; seeds 0-3
    give <= 2.7e-6 everywhere)."""
    model = _quicknet_small()
    path = tmp_path_factory.mktemp("diagnose") / "quicknet_small.tflite"
    return model, convert(model, path, rtol=1e-5, max_outlier_fraction=0.0)


@pytest.fixture(scope="module")
def quicknet(converted):
    model, result = converted
    with open(result.path, "rb") as handle:
        flatbuffer = handle.read()
    inputs, _ = parity_inputs(model, None)
    return model, flatbuffer, inputs[:N_SAMPLES]


def test_convert_passes_a_flip_by_the_diagnosis(converted):
    model, result = converted
    assert not result.parity.passed and len(result.parity.outliers) >= 1  # the whole-output figures kept
    assert result.diagnosis is not None and result.diagnosis.passed
    assert result.verified  # checked and agrees: by the diagnosis, the whole output failed
    assert result.diagnosis.mismatches == 0 and result.diagnosis.n_samples == 20
    assert "per-layer diagnosis explains every difference" in str(result)


def test_a_constant_reads_back_what_edit_constant_wrote(quicknet):
    _, flatbuffer, _ = quicknet
    op, _ = _producer(flatbuffer, "CONV_2D", "batch_normalization_7")
    bias = constant(flatbuffer, op.inputs[2])
    assert bias.dtype == np.float32 and bias.ndim == 1 and len(bias) > 1
    edited = edit_constant(flatbuffer, op.inputs[2], lambda values: 2 * values + 1)
    np.testing.assert_array_equal(constant(edited, op.inputs[2]), 2 * bias + 1)
    assert constant(flatbuffer, op.inputs[0]) is None  # computed by an op: no data
    assert quantization(flatbuffer, op.inputs[2]) is None  # a float model


def test_convert_refuses_a_corrupted_flatbuffer(quicknet, tmp_path, monkeypatch):
    model, flatbuffer, _ = quicknet
    op, _ = _producer(flatbuffer, "CONV_2D", "batch_normalization_7")
    corrupted = edit_constant(flatbuffer, op.inputs[2], lambda bias: bias + np.eye(1, len(bias), 5, dtype=bias.dtype)[0])
    # convert() gets the corrupted bytes in place of a conversion (the model converts to `flatbuffer`)
    monkeypatch.setattr(conversion_module, "to_flatbuffer", lambda *a, **k: Flatbuffer(data=corrupted, via="graphdef"))
    with pytest.raises(ParityError, match="first divergence: batch_normalization_7") as caught:
        convert(model, tmp_path / "bad.tflite", rtol=1e-5, max_outlier_fraction=0.0)
    assert caught.value.diagnosis.first_divergence.layer == "batch_normalization_7"
    assert not (tmp_path / "bad.tflite").exists()


def _producer(flatbuffer, op_type, layer):
    """The op of ``op_type`` whose output tensor is named after ``layer``, and the graph."""
    graph = parse(flatbuffer)
    for op in graph.operators:
        name = graph.tensors[0][op.outputs[0]].name
        if op.op_type == op_type and name.split(";")[0].split("/")[1] == layer:
            return op, graph
    raise AssertionError(f"no {op_type} makes {layer}")


def test_taps_do_not_change_outputs(quicknet):
    model, flatbuffer, inputs = quicknet
    graph = parse(flatbuffer)
    taps = [t for op in graph.operators for t in op.outputs]
    plain = run_interpreter(flatbuffer, inputs)
    tapped = run_interpreter(with_outputs(flatbuffer, taps), inputs)
    assert len(tapped) == 1 + len(set(taps)) - 1  # the graph output is tapped already
    np.testing.assert_array_equal(tapped[0], plain)


def test_correct_conversion_has_no_mismatch(quicknet):
    model, flatbuffer, inputs = quicknet
    report = diagnose(model, flatbuffer, inputs)
    assert report.passed and report.taps_exact
    assert report.mismatches == 0 and report.first_divergence is None
    layers = [s.layer for s in report.segments]
    # every residual add and every binary conv (with its BatchNorm) is a compared segment
    assert "tf.__operators__.add" in layers and "batch_normalization_13" in layers
    assert layers[-1] == model.layers[-1].name and len(layers) >= 40
    assert "passed" in str(report) and "batch_normalization_13" in str(report)


def _expect_first(report, layer, elements):
    first = report.first_divergence
    assert not report.passed and first is not None, str(report)
    assert first.layer == layer, str(report)
    assert first.mismatches == elements, str(report)


def _bias_shifted(flatbuffer):
    """The flatbuffer with channel 5 of ``batch_normalization_7``'s conv bias raised by 1."""
    op, _ = _producer(flatbuffer, "CONV_2D", "batch_normalization_7")

    def shift(bias):
        bias[5] += 1.0
        return bias

    return edit_constant(flatbuffer, op.inputs[2], shift)


def test_changed_bias_is_caught(quicknet):
    model, flatbuffer, inputs = quicknet
    report = diagnose(model, _bias_shifted(flatbuffer), inputs)
    _expect_first(report, "batch_normalization_7", N_SAMPLES * 4 * 4)
    assert report.first_divergence.op == "CONV_2D"
    assert report.first_divergence.max_abs_diff == pytest.approx(1.0, rel=1e-3)


def test_flipped_kernel_sign_is_caught(quicknet):
    model, flatbuffer, inputs = quicknet
    op, graph = _producer(flatbuffer, "LceBconv2d", "batch_normalization_13")

    def flip(packed):
        packed[3, 1, 1, 0] ^= 1  # one weight of output channel 3 changes sign
        return packed

    report = diagnose(model, edit_constant(flatbuffer, op.inputs[1], flip), inputs)
    first = report.first_divergence
    assert first is not None and first.layer == "batch_normalization_13" and first.op == "LceBconv2d", str(report)
    # only channel 3 can differ: at most samples × H × W elements (2 × 2 at this depth)
    assert 0 < first.mismatches <= N_SAMPLES * 2 * 2


def test_swapped_channels_are_caught(quicknet):
    model, flatbuffer, inputs = quicknet
    op, graph = _producer(flatbuffer, "CONV_2D", "batch_normalization_2")

    def swap(kernel):
        kernel[[0, 1]] = kernel[[1, 0]]
        return kernel

    report = diagnose(model, edit_constant(flatbuffer, op.inputs[1], swap), inputs)
    first = report.first_divergence
    assert first is not None and first.layer == "batch_normalization_2", str(report)
    # two channels × 8 × 8 × samples, less the few elements where both channels agree
    assert 0.95 * 2 * N_SAMPLES * 8 * 8 <= first.mismatches <= 2 * N_SAMPLES * 8 * 8


def test_cli_diagnose_prints_the_table(small_bnn, converted_small, tmp_path, capsys):
    saved = str(tmp_path / "small_bnn.h5")
    small_bnn.save(saved)
    assert main(["diagnose", saved, converted_small.path]) == 0
    out = capsys.readouterr().out
    assert "Per-layer parity (teacher-forced" in out and ": passed" in out
    assert "bconv_bn" in out and "first divergence: none" in out
    assert main(["diagnose", saved, str(tmp_path / "missing.tflite")]) == 1
    assert "lq-ext diagnose: error:" in capsys.readouterr().err


def test_bdnet_float_mode_exact_int8_depthwise_is_compared_after_its_scale(tmp_path):
    """BD-Net's ternary depth-wise conv runs as exact int8 in float mode: LceDequantize → int8
    DEPTHWISE_CONV_2D → DEQUANTIZE (the integer sum) → MUL (mean|w|). The DEQUANTIZE output is
    not the layer's output; compared as one, every depth-wise segment was off by its scale
    (4.4 M mismatched elements, the quickstart notebook's ParityError)."""
    tf.keras.utils.set_random_seed(0)
    model = BDNetMobileNet(input_shape=(32, 32, 3), num_classes=10)
    result = convert(model, tmp_path / "bdnet.tflite", verify=False)
    report = diagnose(model, result.path)
    assert report.passed and report.mismatches == 0, str(report)
    dw = [s for s in report.segments if s.layer.endswith("_dw_conv")]
    assert len(dw) == 13 and all(s.op != "DEQUANTIZE" for s in dw), [(s.layer, s.op) for s in dw]


def test_a_segment_holds_its_own_branchs_layers(tmp_path):
    """Two branches walked side by side, each a conv whose output the file fuses away (a
    BatchNorm folded in, a ReLU fused): each segment names its own conv, not the other
    branch's (the walk once gave ('conv_b', 'conv_a', 'bn_a') and ('relu_b',)). The
    diagnosis asks these layers whether a float bias rounded into a conv's int32 bias."""
    inputs = tf.keras.Input((8, 8, 4))
    a = tf.keras.layers.Conv2D(8, 3, padding="same", use_bias=False, name="conv_a")(inputs)
    b = tf.keras.layers.Conv2D(8, 3, padding="same", name="conv_b")(inputs)
    a = tf.keras.layers.BatchNormalization(name="bn_a")(a)
    b = tf.keras.layers.ReLU(name="relu_b")(b)
    model = tf.keras.Model(inputs, tf.keras.layers.Add(name="add")([a, b]))
    randomize_weights(model, seed=0)
    images = np.random.default_rng(0).uniform(-1, 1, (4, 8, 8, 4)).astype("float32")
    result = convert(model, tmp_path / "branches.tflite", samples=images, verify=False)
    report = diagnose(model, result.path, images)
    assert [s.layers for s in report.segments] == [("conv_a", "bn_a"), ("conv_b", "relu_b"), ("add",)], str(report)
    assert report.passed


def test_a_float_input_quantizers_steps_are_inside_its_layer(tmp_path):
    """larq's DoReFa input quantizer runs as float MINIMUM → RELU → MUL → ROUND, named after
    the conv, the 1/3 of round(3·clip(x))/3 moved into the conv's kernel: the ROUND holds
    3× the Keras quantizer's output. With the conv's output fused into its BatchNorm and of
    the input's shape, that ROUND was taken for the conv's output (larq-zoo DoReFaNet: every
    element of the layer after it a mismatch); it is a step inside the layer."""
    inputs = tf.keras.Input((6, 6, 8))
    x = lq.layers.QuantConv2D(8, 3, padding="same", input_quantizer=lq.quantizers.DoReFa(k_bit=2),
                              kernel_quantizer="magnitude_aware_sign", use_bias=False, name="conv")(inputs)
    x = tf.keras.layers.BatchNormalization(name="bn")(x)
    model = tf.keras.Model(inputs, tf.keras.layers.Conv2D(4, 1, name="head")(x))
    randomize_weights(model, seed=1)
    images = np.random.default_rng(1).uniform(-0.5, 1.5, (4, 6, 6, 8)).astype("float32")
    result = convert(model, tmp_path / "dorefa.tflite", engine="tflite", samples=images, verify=False)
    assert result.ops.count("ROUND") == 1
    report = diagnose(model, result.path, images)
    assert [s.layers for s in report.segments] == [("conv", "bn"), ("head",)], str(report)
    assert report.passed and not report.unmapped, str(report)


def test_batches_of_images_give_the_same_counts(quicknet):
    """A corrupted bias, compared 3 images at a time (3 + 3 + 2) and all 8 at once."""
    model, flatbuffer, inputs = quicknet
    corrupted = _bias_shifted(flatbuffer)
    whole = diagnose(model, corrupted, inputs, batch_size=len(inputs))
    batched = diagnose(model, corrupted, inputs, batch_size=3)
    assert batched.n_samples == whole.n_samples == N_SAMPLES
    assert whole.mismatches == N_SAMPLES * 4 * 4 and batched.first_divergence == whole.first_divergence

    def counts(report):
        return [(s.tensor, s.layers, s.elements, s.ties, s.mismatches, s.steps) for s in report.segments]

    assert counts(batched) == counts(whole)
    for a, b in zip(batched.segments, whole.segments):
        assert a.max_abs_diff == pytest.approx(b.max_abs_diff, rel=1e-6, abs=1e-9)


def test_images_per_batch_follows_the_layer_outputs():
    from lq_ext.converters.diagnose import images_per_batch

    inputs = tf.keras.Input((4, 4, 2))
    conv = tf.keras.layers.Conv2D(3, 1)(inputs)
    model = tf.keras.Model(inputs, tf.keras.layers.ReLU()(conv))
    per_image = 16 * (4 * 4 * 2 + 4 * 4 * 3 + 4 * 4 * 3)  # 4 float32 copies of every output
    assert images_per_batch(model, memory=5 * per_image + 100) == 5
    assert images_per_batch(model, memory=10) == 1


@pytest.mark.parametrize("batch_size", [0, -2, True, 2.5, "all"])
def test_diagnose_rejects_a_bad_batch_size(quicknet, batch_size):
    model, flatbuffer, inputs = quicknet
    with pytest.raises(ValueError, match=r"batch_size must be a positive int or 'auto', got batch_size="):
        diagnose(model, flatbuffer, inputs, batch_size=batch_size)
