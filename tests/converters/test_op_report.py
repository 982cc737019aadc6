import json

import larq as lq
import pytest
import tensorflow as tf

from lq_ext.converters import OpReport, inspect
from lq_ext.converters.engines import to_flatbuffer

STEM, BDW, BCONV, HEAD = 221_184, 73_728, 2_359_296, 320


def test_op_composition(converted_small):
    ops = converted_small.ops
    assert isinstance(ops, OpReport)
    counts = ops.op_counts
    assert counts["LceBconv2d"] == 1  # the binary QuantConv2D
    assert counts["DEPTHWISE_CONV_2D"] == 1  # BinaryDepthwiseConv2D stays float ...
    assert counts["LceQuantize"] == 2  # ... behind LceQuantize → LceDequantize
    assert counts["LceDequantize"] == 1
    assert counts["CONV_2D"] == 1 and counts["FULLY_CONNECTED"] == 1
    dw = [info for info in ops.ops if info.op_type == "DEPTHWISE_CONV_2D"]
    assert dw[0].op_class == "float" and dw[0].unpacked_binary
    assert "bdw" in dw[0].input_name  # named after the binarizer of the layer
    assert ops.quantize_dequantize_pairs == 1


def test_macs_match_hand_computed(converted_small):
    ops = converted_small.ops
    by_type = {row["op_type"]: row["macs"] for row in ops.rows}
    assert by_type["CONV_2D"] == STEM
    assert by_type["DEPTHWISE_CONV_2D"] == BDW
    assert by_type["LceBconv2d"] == BCONV
    assert by_type["FULLY_CONNECTED"] == HEAD
    assert ops.macs_by_class == {"bitpacked": BCONV, "int8": 0, "float": STEM + BDW + HEAD}
    assert ops.total_macs == STEM + BDW + BCONV + HEAD


def test_unpacked_binary_work_and_share(converted_small):
    ops = converted_small.ops
    assert [info.op_type for info in ops.unpacked_binary] == ["DEPTHWISE_CONV_2D"]
    assert ops.unpacked_binary_macs == ops.unpacked_to_float_macs == BDW
    assert ops.bitpacked_share == BCONV / (BCONV + BDW) == 32 / 33
    assert not ops.has_grouped_bconv


def test_inspect_path_and_bytes_agree(converted_small, small_flatbuffer):
    from_path = inspect(converted_small.path)
    from_bytes = inspect(small_flatbuffer)
    assert from_path.source == converted_small.path and from_bytes.source == "<bytes>"
    assert from_path.ops == from_bytes.ops == converted_small.ops.ops
    assert from_path.size_bytes == len(small_flatbuffer) == converted_small.size_bytes


def test_report_text_and_dict(converted_small):
    ops = converted_small.ops
    text = str(ops)
    assert text == ops.format()
    for expected in [
        "LceBconv2d",
        "bitpacked",
        "2,359,296",
        "Binary work unpacked by LceDequantize: 1 op(s), 73,728 MACs (in float ops 73,728, in int8 ops 0)",
        "DEPTHWISE_CONV_2D",
        "Binary MACs run bit-packed: 97.0%",
        "LceQuantize→LceDequantize pairs (binarized, then unpacked): 1",
        "Grouped binary convs: no",
    ]:
        assert expected in text, expected
    as_dict = ops.to_dict()
    json.dumps(as_dict)
    assert as_dict["macs_by_class"]["bitpacked"] == BCONV
    assert as_dict["bitpacked_share"] == pytest.approx(32 / 33)
    assert as_dict["op_counts"]["LceBconv2d"] == 1
    assert len(as_dict["ops"]) == len(ops.ops)


def test_missing_file(tmp_path):
    missing = tmp_path / "nope.tflite"
    with pytest.raises(FileNotFoundError, match=r"nope\.tflite.*does not exist"):
        inspect(missing)


def test_garbage_file(tmp_path):
    garbage = tmp_path / "garbage.tflite"
    garbage.write_bytes(b"this is not a flatbuffer at all" * 10)
    with pytest.raises(ValueError, match=r"garbage\.tflite.*not a TFLite flatbuffer.*TFL3"):
        inspect(garbage)


def test_tiny_and_empty_files(tmp_path):
    empty = tmp_path / "empty.tflite"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match=r"empty\.tflite.*only 0 bytes"):
        inspect(empty)


def test_truncated_file(tmp_path, small_flatbuffer):
    truncated = tmp_path / "truncated.tflite"
    truncated.write_bytes(small_flatbuffer[:200])
    with pytest.raises(ValueError, match=r"truncated\.tflite.*corrupted or truncated"):
        inspect(truncated)


def test_directory_and_wrong_type(tmp_path):
    with pytest.raises(ValueError, match="is a directory"):
        inspect(tmp_path)
    with pytest.raises(TypeError, match="path .* or the flatbuffer bytes"):
        inspect(42)


def test_size_against_the_bit_floor():
    inputs = tf.keras.Input((8, 8, 48))
    outputs = lq.layers.QuantConv2D(
        32, 3, padding="same", pad_values=1.0, use_bias=False,
        input_quantizer="ste_sign", kernel_quantizer="ste_sign", kernel_constraint="weight_clip",
    )(inputs)
    report = inspect(to_flatbuffer(tf.keras.Model(inputs, outputs)).data)
    binary_filter = 32 * 3 * 3 * 48 / 8  # 1 bit per weight; LCE packs 48 channels into 64 bits
    others = report.weight_floor_bytes - binary_filter
    assert 0 <= others < 600  # per-channel float multiplier / bias and shape constants
    assert report.size_over_floor == pytest.approx(report.size_bytes / report.weight_floor_bytes)
    assert "Size vs. bit floor" in report.format()


@pytest.mark.parametrize("pad_values, unpacked", [(0.0, 1), (1.0, 0)])
def test_bconv_output_binarized_again_but_written_unpacked(pad_values, unpacked):
    """Zero-padded 'same' bconvs need float output in LCE, so a chain of them
    re-binarizes float values that could have been bit-packed; one-padding packs them."""
    inputs = tf.keras.Input((8, 8, 32))
    x = inputs
    for name in ("first", "second"):
        x = lq.layers.QuantConv2D(
            32, 3, padding="same", pad_values=pad_values, input_quantizer="ste_sign",
            kernel_quantizer="ste_sign", use_bias=False, name=name,
        )(x)
    ops = inspect(to_flatbuffer(tf.keras.Model(inputs, x)).data)
    assert ops.count("LceBconv2d") == 2
    assert len(ops.unpacked_outputs) == unpacked
    assert ("outputs only binarized again but written unpacked: " + str(unpacked)) in ops.format()
    assert len(ops.to_dict()["unpacked_outputs"]) == unpacked
