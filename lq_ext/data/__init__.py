"""Data for ``lq_ext``: training pipelines and the real sample images shipped with it.

- :func:`load_dataset` / :func:`dataset_info` / :data:`DATASETS`: ``tf.data`` pipelines
  with the papers' augmentations (:mod:`lq_ext.data.pipelines`).
- :func:`load_fashion_mnist`: the full Fashion-MNIST from its IDX files, offline
  (:mod:`lq_ext.data.fashion_mnist`).
- :func:`load_samples` / :func:`preprocess`: 20 real test images per dataset
  (:mod:`lq_ext.data.samples`, ``lq_ext/data/samples/README.md`` for attribution);
  their dataset names are :data:`SAMPLE_DATASETS` (``lq_ext.data.samples.DATASETS``).
"""

from lq_ext.data.fashion_mnist import load_fashion_mnist, to_cifar_shape
from lq_ext.data.pipelines import (
    DATASETS,
    DatasetInfo,
    DatasetNotAvailableError,
    dataset_info,
    load_dataset,
)
from lq_ext.data.samples import DATASETS as SAMPLE_DATASETS
from lq_ext.data.samples import load_samples, preprocess

__all__ = [
    "DATASETS",
    "DatasetInfo",
    "DatasetNotAvailableError",
    "SAMPLE_DATASETS",
    "dataset_info",
    "load_dataset",
    "load_fashion_mnist",
    "load_samples",
    "preprocess",
    "to_cifar_shape",
]
