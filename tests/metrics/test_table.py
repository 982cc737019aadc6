"""lq_ext.metrics.summary prints what profile counts."""

import larq as lq
import pytest
import tensorflow as tf

from lq_ext.layers import BinaryDepthwiseConv2D
from lq_ext.metrics import profile, summary
from lq_ext.metrics.table import CONVENTIONS, readable

L = tf.keras.layers


@pytest.fixture(scope="module")
def model():
    x = inputs = tf.keras.Input((8, 8, 3))
    x = L.Conv2D(16, 3, padding="same", name="stem_conv")(x)
    x = lq.layers.QuantConv2D(
        16, 3, input_quantizer="ste_sign", kernel_quantizer="ste_sign", name="binary_conv"
    )(x)
    x = BinaryDepthwiseConv2D(3, name="ternary_dw")(x)
    x = L.Embedding(4, 2, name="odd_one")(L.Flatten()(x))
    return tf.keras.Model(inputs, x, name="tiny")


def test_summary_prints_table_and_returns_the_profile(model):
    printed = []
    cost = summary(model, print_fn=printed.append)
    assert cost == profile(model)
    (text,) = printed
    for name in ("tiny", "stem_conv", "binary_conv", "ternary_dw", "Total", "OPs", "ACE"):
        assert name in text
    assert "MACs" in text and "1.58-bit" in text and "Memory" in text
    assert "odd_one *" in text and "odd_one: unknown layer type" in text
    assert text.splitlines()[-1] == CONVENTIONS
    assert "OPs = BOPs/64 + FLOPs" in CONVENTIONS and "1.58-bit MAC = 2 BOPs" in CONVENTIONS
    assert "16x16" in CONVENTIONS
    ops_line = next(line for line in text.splitlines() if line.strip().startswith("OPs"))
    assert readable(cost.ops) in ops_line
    # Fixed width: every layer row is as wide as the header (trailing spaces stripped).
    lines = text.splitlines()
    assert len(lines[1]) >= max(len(line.rstrip(" *")) for line in lines[4:8])


def test_print_fn_none_prints_nothing(model, capsys):
    cost = summary(model, print_fn=None)
    assert capsys.readouterr().out == ""
    assert cost.macs_total > 0


def test_default_print_fn_is_print(model, capsys):
    summary(model)
    assert "binary_conv" in capsys.readouterr().out


@pytest.mark.parametrize(
    "value, text",
    [(0, "0"), (832, "832"), (557.4e6, "557.4 M"), (1_156_055_040, "1.156 G"), (34e6, "34.00 M"),
     (12_345, "12.35 k"), (2.5, "2.5")],
)
def test_readable(value, text):
    assert readable(value) == text
