"""Element-wise float work in ``inspect``: per-op element counts on a hand-built model."""

import json
import re

import larq as lq
import numpy as np
import pytest
import tensorflow as tf

from lq_ext.converters import inspect
from lq_ext.converters._flatbuffer import Graph, Operator, Tensor
from lq_ext.converters._op_work import elementwise
from lq_ext.converters.engines import to_flatbuffer
from lq_ext.layers import BinaryDepthwiseConv2D

# 4×4×8 input; every count below is an element count worked out by hand.
HW, C = 4, 8
FLAT = HW * HW * C  # 128: MUL, ADD, PRELU outputs; LceQuantize input; LceDequantize output
PADDED = (HW + 2) * (HW + 2) * C  # 288: PAD output (1 pixel each side)
CONCAT = 2 * PADDED  # 576: CONCATENATION output = the second LceQuantize's float input
BCONV_OUT = HW * HW * 32  # 512: valid 3×3 bconv on 6×6 → 4×4×32, the MEAN's input
EXPECTED = [
    ("MUL", FLAT),
    ("ADD", FLAT),
    ("PRELU", FLAT),
    ("LceQuantize", FLAT),
    ("LceDequantize", FLAT),
    ("DEPTHWISE_CONV_2D", 0),  # a MAC op: counted in MACs
    ("PAD", PADDED),
    ("CONCATENATION", CONCAT),
    ("LceQuantize", CONCAT),  # its float input, not the packed int32 words
    ("LceBconv2d", 0),
    ("MEAN", BCONV_OUT),
    ("RESHAPE", 0),  # shape-only
]
TOTAL = 5 * FLAT + PADDED + 2 * CONCAT + BCONV_OUT  # 2,592


@pytest.fixture(scope="module")
def report():
    tf.keras.utils.set_random_seed(0)
    x = inputs = tf.keras.Input((HW, HW, C), batch_size=1)
    x = tf.keras.layers.Lambda(lambda t: t * tf.constant(np.arange(1, C + 1, dtype=np.float32)))(x)
    x = tf.keras.layers.Lambda(lambda t: t + tf.constant(np.arange(C, dtype=np.float32)))(x)
    x = tf.keras.layers.PReLU(shared_axes=[1, 2], alpha_initializer=tf.keras.initializers.Constant(0.25))(x)
    x = BinaryDepthwiseConv2D(3, padding="same")(x)
    x = tf.keras.layers.ZeroPadding2D(1)(x)
    x = tf.keras.layers.Concatenate()([x, x])
    x = lq.layers.QuantConv2D(
        32, 3, input_quantizer="ste_sign", kernel_quantizer="ste_sign", kernel_constraint="weight_clip", use_bias=False
    )(x)
    x = tf.keras.layers.GlobalAveragePooling2D()(x)
    x = tf.keras.layers.Reshape((4, 8))(x)
    return inspect(to_flatbuffer(tf.keras.Model(inputs, x)).data)


def test_per_op_elements_match_hand_count(report):
    assert [(info.op_type, info.elementwise) for info in report.ops] == EXPECTED
    assert report.elementwise_float_work == TOTAL == 2_592


def test_per_type_totals_and_counts(report):
    assert report.elementwise_by_type == {
        "LceQuantize": FLAT + CONCAT, "CONCATENATION": CONCAT, "MEAN": BCONV_OUT, "PAD": PADDED,
        "MUL": FLAT, "ADD": FLAT, "PRELU": FLAT, "LceDequantize": FLAT,
    }
    assert list(report.elementwise_by_type.values()) == sorted(report.elementwise_by_type.values(), reverse=True)
    rows = {row["op_type"]: row for row in report.rows}
    assert rows["LceQuantize"]["count"] == 2 and rows["LceQuantize"]["elementwise"] == FLAT + CONCAT
    assert rows["LceBconv2d"]["elementwise"] == 0 and rows["LceBconv2d"]["macs"] == BCONV_OUT * 3 * 3 * 2 * C


def test_format_and_dict_carry_the_work(report):
    text = report.format()
    assert "float elements" in text
    assert "Element-wise float work (non-MAC ops, per image): 2,592 elements" in text
    assert re.search(r"\n  CONCATENATION +float +1 +0 +576\n", text)
    as_dict = json.loads(json.dumps(report.to_dict()))
    assert as_dict["elementwise_float_work"] == TOTAL
    assert as_dict["op_count"] == len(EXPECTED)
    assert as_dict["op_counts"] == {"MUL": 1, "ADD": 1, "PRELU": 1, "LceQuantize": 2, "LceDequantize": 1,
                                    "DEPTHWISE_CONV_2D": 1, "PAD": 1, "CONCATENATION": 1, "LceBconv2d": 1,
                                    "MEAN": 1, "RESHAPE": 1}
    assert as_dict["ops"][7]["elementwise"] == CONCAT


def _one_op(op_type, inputs, outputs):
    """A one-op Graph: ``inputs`` / ``outputs`` are (shape, dtype, constant) triples."""
    specs = [*inputs, *outputs]
    tensors = tuple(Tensor(i, f"t{i}", shape, dtype, constant) for i, (shape, dtype, constant) in enumerate(specs))
    op = Operator(0, 0, op_type, False, tuple(range(len(inputs))), tuple(range(len(inputs), len(specs))), None)
    return Graph("<test>", 0, (tensors,), (op,)), op


@pytest.mark.parametrize("op_type, inputs, outputs, expected", [
    ("DEQUANTIZE", [((1, 7, 7, 64), "int8", False)], [((1, 7, 7, 64), "float32", False)], 7 * 7 * 64),
    ("QUANTIZE", [((1, 5, 5, 8), "float32", False)], [((1, 5, 5, 8), "int8", False)], 200),
    ("SHAPE", [((1, 7, 7, 64), "float32", False)], [((4,), "int32", False)], 0),
    ("ADD", [((1, 3, 3, 4), "int8", False), ((4,), "int8", True)], [((1, 3, 3, 4), "int8", False)], 0),
    # a constant operand larger than the activation does not count (broadcast of weights)
    ("MUL", [((1, 1, 1, 4), "float32", False), ((1, 6, 6, 4), "float32", True)], [((1, 1, 1, 4), "float32", False)], 4),
    ("FULLY_CONNECTED", [((1, 64), "float32", False), ((10, 64), "float32", True)], [((1, 10), "float32", False)], 0),
])
def test_elementwise_of_single_ops(op_type, inputs, outputs, expected):
    graph, op = _one_op(op_type, inputs, outputs)
    assert elementwise(graph, op) == expected
