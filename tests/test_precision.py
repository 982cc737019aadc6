"""Bit widths of quantizers and the precision classes (lq_ext.precision)."""

import larq as lq
import larq_zoo as lqz
import pytest

from lq_ext.precision import (
    mac_ace,
    mac_class,
    param_class,
    quantizer_bits,
    storage_bits,
)
from lq_ext.quantizers import RSign, Ternary


class _BitsAndPrecision:
    bits = 4
    precision = 8


def _unknown_function(x):
    return x


@pytest.mark.parametrize(
    "quantizer, bits",
    [
        (None, 32),  # no quantizer: float
        ("ste_sign", 1),  # string resolved with larq.quantizers.get
        ({"class_name": "SteSign", "config": {}}, 1),  # legacy config dict
        (lq.quantizers.SteSign(), 1),
        (lq.quantizers.ste_sign, 1),  # Larq's function carries no precision: found by name
        (lqz.literature.xnornet.xnor_weight_scale, 1),  # @lq.utils.set_precision(1)
        (lq.quantizers.NoOp(precision=8), 8),
        (lq.quantizers.NoOp(precision=4), 4),
        (lq.quantizers.DoReFa(k_bit=2), 2),
        (Ternary(), 1.58),  # lq_ext: bits = 1.58 is read before precision = 2
        (lq.quantizers.SteTern(), 1.58),  # Larq's ternary (precision 2) is ternary too
        ("ste_tern", 1.58),
        (RSign(), 1),
        (_BitsAndPrecision(), 4),  # bits first
        (_unknown_function, 32),  # declares nothing, unknown to larq
    ],
)
def test_quantizer_bits(quantizer, bits):
    assert quantizer_bits(quantizer) == pytest.approx(bits)


@pytest.mark.parametrize(
    "weight_bits, activation_bits, expected",
    [
        (1, 1, "1-bit"),
        (1.58, 1, "1.58-bit"),
        (1, 1.58, "1.58-bit"),
        (1.58, 1.58, "8-bit"),  # ternary x ternary: a low-bit MAC, not dual-binary
        (8, 8, "8-bit"),
        (1, 8, "8-bit"),
        (4, 2, "8-bit"),
        (32, 1, "float"),
        (1, 32, "float"),
        (16, 8, "float"),
        (32, 32, "float"),
    ],
)
def test_mac_class(weight_bits, activation_bits, expected):
    assert mac_class(weight_bits, activation_bits) == expected


def test_param_class_and_storage():
    assert [param_class(b) for b in (1, 1.58, 2, 8, 16, 32)] == [
        "1-bit", "1.58-bit", "8-bit", "8-bit", "32-bit", "32-bit"
    ]
    assert [storage_bits(b) for b in (1, 1.58, 4, 8, 16, 32)] == [1, 2, 4, 8, 32, 32]


def test_mac_ace():
    assert mac_ace(1, 1) == 1
    assert mac_ace(1.58, 1) == 2  # ternary weight = 2 bits (dual-binary)
    assert mac_ace(8, 8) == 64
    assert mac_ace(4, 4) == 16  # PokeBNN's 4-bit SE convs
    assert mac_ace(32, 32) == 16 * 16
    assert mac_ace(32, 1) == 16 * 16  # any float side: a float MAC
