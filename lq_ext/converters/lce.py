"""Deprecated location: :func:`~lq_ext.converters.convert` was split by concern.

- :mod:`lq_ext.converters.conversion`: ``convert``, ``ConversionResult``;
- :mod:`lq_ext.converters.validation`: the guards, ``ENGINES``, ``TARGETS``;
- :mod:`lq_ext.converters.verify`: the parity step and the ``DEFAULT_*`` tolerances;
- :mod:`lq_ext.converters.options`: ``Int8Options``;
- :mod:`lq_ext.lce_rules`: ``grouped_bconv_error``, ``is_binary_quantizer``, ``valid_groups``.

Import from ``lq_ext.converters`` (or those modules) instead.
"""

import warnings

from lq_ext.converters.conversion import ConversionResult, convert
from lq_ext.converters.options import Int8Options
from lq_ext.converters.rewrite import BINARY_DENSE_MODES
from lq_ext.converters.validation import ENGINES, TARGETS
from lq_ext.converters.validation import check_grouped_binary_convs as _check_grouped_binary_convs  # noqa: F401
from lq_ext.converters.verify import (
    DEFAULT_MAX_OUTLIER_FRACTION,
    DEFAULT_MIN_TOP1_AGREEMENT,
    DEFAULT_MIN_TOP1_AGREEMENT_INT8,
    DEFAULT_RTOL,
)
from lq_ext.lce_rules import grouped_bconv_error, is_binary_quantizer, valid_groups

# the old private names of the LCE rules
_is_binary_quantizer = is_binary_quantizer
_valid_groups = valid_groups

__all__ = [
    "BINARY_DENSE_MODES",
    "DEFAULT_MAX_OUTLIER_FRACTION",
    "DEFAULT_MIN_TOP1_AGREEMENT",
    "DEFAULT_MIN_TOP1_AGREEMENT_INT8",
    "DEFAULT_RTOL",
    "ENGINES",
    "TARGETS",
    "ConversionResult",
    "Int8Options",
    "convert",
    "grouped_bconv_error",
]

warnings.warn(
    "lq_ext.converters.lce is deprecated; import from lq_ext.converters (convert, "
    "ConversionResult, Int8Options) or lq_ext.lce_rules (grouped_bconv_error).",
    DeprecationWarning,
    stacklevel=2,
)
