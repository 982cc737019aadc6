"""Deprecated location: the bit widths and precision classes live in :mod:`lq_ext.precision`."""

from lq_ext.precision import *  # noqa: F401,F403
from lq_ext.precision import __all__  # noqa: F401
