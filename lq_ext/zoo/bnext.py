"""Deprecated module name: ES-BNext-Tiny lives in :mod:`lq_ext.zoo.es_bnext` (it is the ES paper's BNext)."""

import warnings

from lq_ext.zoo.es_bnext import *  # noqa: F401,F403
from lq_ext.zoo.es_bnext import __all__  # noqa: F401

warnings.warn(
    "lq_ext.zoo.bnext is deprecated: import from lq_ext.zoo.es_bnext.", DeprecationWarning, stacklevel=2
)
