"""Argument guards shared by every public entry point, with the messages users see.

Each guard names the parameter, echoes the value and says what is allowed, and raises
before TensorFlow or LCE could throw something cryptic.  ``bool`` (and NumPy's) is never
accepted as a number.  The guards return the value, normalised where noted, so callers
can write ``self.shift = check_int("shift", shift, low=1)``.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable

import numpy as np

__all__ = ["ArgumentTypeError", "check_bool", "check_choice", "check_int", "check_number", "is_int", "is_number"]


class ArgumentTypeError(TypeError, ValueError):
    """An argument of the wrong type.  It is a ``TypeError``, and a ``ValueError`` too:
    before the guards were shared, some entry points raised one and some the other for
    the same mistake, and callers that caught either keep working."""


def is_int(value) -> bool:
    """An integer (Python or NumPy), not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def is_number(value) -> bool:
    """A real number (Python or NumPy int / float), not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def check_bool(name: str, value) -> bool:
    """``value`` must be ``True`` or ``False``."""
    if not isinstance(value, (bool, np.bool_)):
        raise ArgumentTypeError(f"{name} must be True or False, got {name}={value!r}.")
    return bool(value)


def _bound_text(low, high, low_inclusive, high_inclusive) -> str:
    parts = []
    if low is not None:
        parts.append(f"{'≥' if low_inclusive else '>'} {low}")
    if high is not None:
        parts.append(f"{'≤' if high_inclusive else '<'} {high}")
    return " and ".join(parts)


def _in_bounds(value, low, high, low_inclusive, high_inclusive) -> bool:
    if low is not None and not (value >= low if low_inclusive else value > low):
        return False
    if high is not None and not (value <= high if high_inclusive else value < high):
        return False
    return True


def check_number(
    name: str,
    value,
    *,
    low=None,
    high=None,
    low_inclusive: bool = True,
    high_inclusive: bool = True,
) -> float:
    """``value`` must be a real number within the given bounds; returns ``float(value)``."""
    if not is_number(value) or not _in_bounds(value, low, high, low_inclusive, high_inclusive):
        bound = _bound_text(low, high, low_inclusive, high_inclusive)
        raise ValueError(f"{name} must be a number{' ' + bound if bound else ''}, got {name}={value!r}.")
    return float(value)


def check_int(name: str, value, *, low=None, high=None) -> int:
    """``value`` must be an integer in ``[low, high]``; returns ``int(value)``."""
    if not is_int(value) or not _in_bounds(value, low, high, True, True):
        bound = _bound_text(low, high, True, True)
        raise ValueError(f"{name} must be an integer{' ' + bound if bound else ''}, got {name}={value!r}.")
    return int(value)


def check_choice(name: str, value, allowed: Iterable):
    """``value`` must be one of ``allowed`` (compared with ``==``)."""
    allowed = list(allowed)
    try:
        ok = value in allowed
    except (TypeError, ValueError):  # e.g. an array, whose truth value is ambiguous
        ok = False
    if not ok:
        raise ValueError(f"{name} must be one of {allowed}, got {name}={value!r}.")
    return value
