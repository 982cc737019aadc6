"""Bit widths of quantizers and variables, and the precision classes built on them.

Every counter in :mod:`lq_ext.metrics`, the converters and two-step training read bit
widths through this module only.  It imports nothing of lq_ext, so layers, the zoo, the
converters and training can all depend on it.

* :func:`quantizer_bits` — the bit width one quantizer produces: ``q.bits`` (lq_ext's,
  may be fractional, e.g. ``Ternary.bits = 1.58``), else ``q.precision`` (Larq's
  integer, e.g. ``NoOp(precision=8)`` → 8), else 32.  ``None`` (no quantizer) → 32.
  Larq's ``SteTern`` (``precision = 2``) is ternary and counts as 1.58 bits.
* :func:`mac_class` — the class of one multiply-accumulate from its two bit widths.
* :func:`param_class` — the class of one stored parameter.
* :func:`storage_bits` / :func:`ace_bits` — bits per stored value / per ACE operand.
* :func:`is_one_bit` / :func:`is_binary_or_ternary` — the two named predicates on a
  quantizer that the rest of lq_ext uses.  They differ on purpose: LCE bit-packs only a
  1-bit input quantizer (``is_one_bit``), while two-step training relaxes every kernel of
  at most ternary precision (``is_binary_or_ternary``).

A bit width above 8 counts as float (32-bit) everywhere.
"""

from __future__ import annotations

import math

import larq as lq

__all__ = [
    "BINARY",
    "FLOAT",
    "MAC_CLASSES",
    "PARAM_CLASSES",
    "TERNARY",
    "ace_bits",
    "is_binary_or_ternary",
    "is_one_bit",
    "mac_ace",
    "mac_class",
    "param_class",
    "quantizer_bits",
    "storage_bits",
    "variable_bits",
]

FLOAT = 32
BINARY = 1
#: "1.58-bit" = log2(3): the information content of one ternary value.
TERNARY = 1.58
#: The largest bit width that is still "low precision" (the 8-bit / int8 class).
LOW_BIT_MAX = 8
#: ACE charges a float MAC as a bf16 × bf16 multiply: 16 × 16 = 256 (PokeBNN).
ACE_FLOAT_BITS = 16

#: Parameter classes, in table order.
PARAM_CLASSES = ("1-bit", "1.58-bit", "8-bit", "32-bit")
#: MAC classes, in table order.
MAC_CLASSES = ("1-bit", "1.58-bit", "8-bit", "float")

# log2(3) = 1.585 rounds to 1.58 or 1.59 depending on who writes it down.
_TERNARY_MAX = 1.59


def _is_binary(bits: float) -> bool:
    return bits <= BINARY


def _is_ternary(bits: float) -> bool:
    return BINARY < bits <= _TERNARY_MAX


def _is_float(bits: float) -> bool:
    return bits > LOW_BIT_MAX


def _declared_bits(quantizer) -> float | None:
    bits = getattr(quantizer, "bits", None)
    if bits is not None:
        return float(bits)
    # Larq's ternary quantizer declares precision 2 (the integer storage width); its
    # values are {-1, 0, 1}, i.e. as ternary as lq_ext's Ternary.
    if isinstance(quantizer, lq.quantizers.SteTern):
        return TERNARY
    precision = getattr(quantizer, "precision", None)
    if precision is not None:
        return float(precision)
    return None


def quantizer_bits(quantizer) -> float:
    """The bit width that ``quantizer`` outputs.

    Reads ``quantizer.bits`` first, then ``quantizer.precision``; ``None`` (no
    quantizer) and quantizers that declare neither count as 32 bits.  Strings and
    config dicts are resolved with ``larq.quantizers.get`` (``"ste_sign"`` → 1).  A
    plain function without a declared precision is looked up by its ``__name__``
    the same way, so Larq's functional ``lq.quantizers.ste_sign`` counts as 1 bit;
    Larq's ``SteTern`` / ``ste_tern`` (precision 2) counts as ternary, 1.58 bits.
    """
    if quantizer is None:
        return float(FLOAT)
    if isinstance(quantizer, (str, dict)):
        quantizer = lq.quantizers.get(quantizer)
    bits = _declared_bits(quantizer)
    if bits is None and callable(quantizer) and hasattr(quantizer, "__name__"):
        try:
            resolved = lq.quantizers.get(quantizer.__name__)
        except (ValueError, TypeError):
            resolved = None
        if resolved is not None and resolved is not quantizer:
            bits = _declared_bits(resolved)
    return float(FLOAT) if bits is None else bits


def variable_bits(variable) -> float:
    """Bit width of a stored variable: its Larq quantizer's, else its ``precision``, else 32."""
    quantizer = getattr(variable, "quantizer", None)
    if quantizer is not None:
        return quantizer_bits(quantizer)
    precision = getattr(variable, "precision", None)
    return float(FLOAT) if precision is None else float(precision)


def param_class(bits: float) -> str:
    """``"1-bit"``, ``"1.58-bit"`` (ternary), ``"8-bit"`` (2–8 bits) or ``"32-bit"`` (> 8)."""
    if _is_binary(bits):
        return "1-bit"
    if _is_ternary(bits):
        return "1.58-bit"
    if not _is_float(bits):
        return "8-bit"
    return "32-bit"


def mac_class(weight_bits: float, activation_bits: float) -> str:
    """Class of one MAC between a weight and an activation.

    - ``"float"``: either side above 8 bits;
    - ``"1-bit"``: binary × binary (XNOR-popcount);
    - ``"1.58-bit"``: ternary × binary or binary × ternary (two XNOR-popcounts);
    - ``"8-bit"``: every other combination with both sides ≤ 8 bits.
    """
    if _is_float(weight_bits) or _is_float(activation_bits):
        return "float"
    if _is_binary(weight_bits) and _is_binary(activation_bits):
        return "1-bit"
    if (_is_ternary(weight_bits) and _is_binary(activation_bits)) or (
        _is_binary(weight_bits) and _is_ternary(activation_bits)
    ):
        return "1.58-bit"
    return "8-bit"


def storage_bits(bits: float) -> int:
    """Bits needed to store one value: ⌈bits⌉ up to 8 (ternary → 2), else 32."""
    return FLOAT if _is_float(bits) else math.ceil(bits)


def ace_bits(bits: float) -> int:
    """Bits of one ACE operand: ⌈bits⌉ up to 8 (ternary → 2, dual-binary), else 16."""
    return ACE_FLOAT_BITS if _is_float(bits) else math.ceil(bits)


def mac_ace(weight_bits: float, activation_bits: float) -> int:
    """ACE of one MAC: ``ace_bits(w) · ace_bits(a)``, and 16 × 16 = 256 for any float MAC."""
    if mac_class(weight_bits, activation_bits) == "float":
        return ACE_FLOAT_BITS * ACE_FLOAT_BITS
    return ace_bits(weight_bits) * ace_bits(activation_bits)


def is_one_bit(quantizer) -> bool:
    """Whether ``quantizer`` outputs exactly 1 bit (what LCE bit-packs: ``LceBconv2d``'s
    input and weights).  ``None`` (no quantizer) is not."""
    return quantizer is not None and quantizer_bits(quantizer) == BINARY


def is_binary_or_ternary(quantizer) -> bool:
    """Whether ``quantizer`` outputs at most ternary precision (1 or 1.58 bits, Larq's
    ``SteTern`` included): the kernels two-step training keeps real-valued in step 1.
    4-/8-bit quantizers (PokeBNN's) are not.  ``None`` (no quantizer) is not."""
    if quantizer is None:
        return False
    bits = quantizer_bits(quantizer)
    return _is_binary(bits) or _is_ternary(bits)
