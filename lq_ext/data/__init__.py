"""Data helpers for ``lq_ext``: real sample images shipped with the package.

See :mod:`lq_ext.data.samples` and ``lq_ext/data/samples/README.md`` (attribution).
"""

from lq_ext.data.samples import DATASETS, load_samples, preprocess

__all__ = ["DATASETS", "load_samples", "preprocess"]
