import os

import larq as lq
import pytest
import tensorflow as tf
from converter_models import build_grouped_bnn, build_small_bnn

import lq_ext.converters.conversion as conversion_module
import lq_ext.converters.parity as parity_module
from lq_ext.converters import ConversionResult, ParityError, convert
from lq_ext.converters.engines import Flatbuffer
from lq_ext.lce_rules import grouped_bconv_error


# ------------------------------------------------------------------ successful conversion
def test_result_fields_and_file(converted_small, small_flatbuffer):
    result = converted_small
    assert isinstance(result, ConversionResult)
    assert os.path.isfile(result.path) and result.path.endswith("small.tflite")
    assert result.size_bytes == os.path.getsize(result.path) == len(small_flatbuffer)
    assert small_flatbuffer[4:8] == b"TFL3"
    assert result.engine == "lce" and result.target == "arm"
    assert result.parity is not None and result.parity.kernel == "optimized"
    # no temporary files left next to the result
    assert os.listdir(os.path.dirname(result.path)) == ["small.tflite"]


def test_result_str_is_readable(converted_small):
    text = str(converted_small)
    assert "Converted with lce (target=arm, via graphdef)" in text
    assert f"{converted_small.size_bytes:,} bytes" in text
    assert "LceBconv2d" in text and "Parity Keras vs TFLite" in text and "passed" in text


def test_tflite_engine_float_reference(tmp_path):
    model = tf.keras.applications.MobileNet(
        input_shape=(32, 32, 3), alpha=0.25, weights=None, classes=10
    )
    result = convert(model, tmp_path / "mobilenet.tflite", engine="tflite", rtol=1e-4, min_top1_agreement=1.0)
    assert result.engine == "tflite" and "Converted with tflite ->" in str(result)
    counts = result.ops.op_counts
    assert not any(op.startswith("Lce") for op in counts)
    assert counts["DEPTHWISE_CONV_2D"] == 13 and counts["CONV_2D"] == 15
    assert result.ops.bitpacked_share is None
    assert result.parity.passed and result.parity.max_rel_error < 1e-4


def test_grouped_binary_conv_with_rsign(tmp_path):
    model = build_grouped_bnn(channels_per_group=64, groups=2)
    result = convert(model, tmp_path / "grouped.tflite")
    ops = result.ops
    bconvs = [info for info in ops.ops if info.op_type == "LceBconv2d"]
    assert len(bconvs) == 1 and bconvs[0].groups == 2 and ops.has_grouped_bconv
    # 16·16 positions · 64 filters · 3·3 · 64 channels per group
    assert bconvs[0].macs == 16 * 16 * 64 * 9 * 64
    assert ops.bitpacked_share == 1.0
    # the default kernel refuses grouped bconvs, so parity ran with indirect BGEMM
    assert result.parity.kernel == "indirect_bgemm" and result.parity.passed
    assert "Grouped binary convs: yes" in str(result)


# ------------------------------------------------------------------ parity failures
def test_parity_error_for_a_different_model(tmp_path, small_flatbuffer, monkeypatch):
    """Keras model B against the flatbuffer of model A (same architecture, other weights)."""
    other = build_small_bnn(seed=1)
    monkeypatch.setattr(conversion_module, "to_flatbuffer", lambda *a, **k: Flatbuffer(small_flatbuffer, "graphdef"))
    path = tmp_path / "other.tflite"
    expected = r"(?s)does not match Keras.*FAILED: 20 of 20 samples exceed rtol.*relative error max"
    with pytest.raises(ParityError, match=expected) as info:
        convert(other, path)
    assert not path.exists()  # nothing written
    assert os.listdir(tmp_path) == []
    assert info.value.report.max_rel_error > 1e-2
    assert info.value.flatbuffer == small_flatbuffer
    assert isinstance(info.value, AssertionError)


def test_parity_error_hints_at_untrained_batchnorm(tmp_path, small_flatbuffer, monkeypatch):
    fresh = build_small_bnn(seed=0, random_batchnorm=False)
    monkeypatch.setattr(conversion_module, "to_flatbuffer", lambda *a, **k: Flatbuffer(small_flatbuffer, "graphdef"))
    with pytest.raises(ParityError, match=r"Hint: 3 BatchNormalization layer\(s\) still have their initial"):
        convert(fresh, tmp_path / "fresh.tflite")


def test_parity_error_for_perturbed_interpreter_output(tmp_path, small_bnn, small_flatbuffer, monkeypatch):
    real = parity_module.run_interpreter

    def perturbed(flatbuffer, inputs, *, kernel="optimized"):
        out = real(flatbuffer, inputs, kernel=kernel)
        out[5] = out[5][::-1]  # sample 5 predicts another class
        return out

    monkeypatch.setattr(conversion_module, "to_flatbuffer", lambda *a, **k: Flatbuffer(small_flatbuffer, "graphdef"))
    monkeypatch.setattr(parity_module, "run_interpreter", perturbed)
    with pytest.raises(ParityError) as info:
        convert(small_bnn, tmp_path / "x.tflite", min_top1_agreement=1.0)
    report = info.value.report
    assert report.worst_sample == 5 and report.top1_agreement == 0.95
    assert "top-1 agreement 95.0% < min_top1_agreement=100.0%" in str(info.value)
    assert len(str(info.value).splitlines()) >= 4


# ------------------------------------------------------------------ overwrite protection
def test_refuses_to_overwrite(tmp_path, small_bnn, monkeypatch):
    path = tmp_path / "keep.tflite"
    path.write_bytes(b"precious")
    monkeypatch.setattr(conversion_module, "to_flatbuffer", lambda *a, **k: pytest.fail("converted anyway"))
    with pytest.raises(FileExistsError, match=r"keep\.tflite.*already exists.*overwrite=True"):
        convert(small_bnn, path)
    assert path.read_bytes() == b"precious"


def test_overwrite_true_replaces_atomically(tmp_path, small_bnn, small_flatbuffer, monkeypatch):
    path = tmp_path / "replace.tflite"
    path.write_bytes(b"old")
    monkeypatch.setattr(conversion_module, "to_flatbuffer", lambda *a, **k: Flatbuffer(small_flatbuffer, "graphdef"))
    result = convert(small_bnn, path, overwrite=True, verify=False)
    assert path.read_bytes() == small_flatbuffer and result.parity is None
    assert "not checked" in str(result)
    assert os.listdir(tmp_path) == ["replace.tflite"]


# ------------------------------------------------------------------ what is converted
def test_grouped_float_conv_is_converted(tmp_path, small_flatbuffer, monkeypatch):
    """groups=2 with 16 input channels per group is refused for a binary conv, but a
    grouped conv without a binary input quantizer is not a binary grouped conv: convert
    goes on and hands the model itself to the converter."""
    inputs = tf.keras.Input((8, 8, 32))
    outputs = lq.layers.QuantConv2D(32, 3, groups=2, name="float_grouped")(inputs)
    model = tf.keras.Model(inputs, outputs)
    assert grouped_bconv_error("float_grouped", "QuantConv2D", 2, 16, 32) is not None  # if it were binary
    converted = []
    monkeypatch.setattr(conversion_module, "to_flatbuffer", lambda m, **k: converted.append(m) or Flatbuffer(small_flatbuffer, "graphdef"))
    result = convert(model, tmp_path / "grouped_float.tflite", verify=False)
    assert converted == [model]
    assert (tmp_path / "grouped_float.tflite").read_bytes() == small_flatbuffer
    assert result.parity is None and result.int8_plan is None
