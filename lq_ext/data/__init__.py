"""Data for ``lq_ext``: training pipelines and the real sample images shipped with it.

- :func:`load_dataset` (:mod:`~lq_ext.data.pipelines`): ``tf.data`` pipelines with the
  papers' augmentations (:mod:`~lq_ext.data.augment`; optional colour jitter and lighting,
  :mod:`~lq_ext.data.color`, RandAugment, :mod:`~lq_ext.data.randaugment`, checked in
  :mod:`~lq_ext.data.options`) for the datasets of
  :data:`DATASETS` / :func:`dataset_info` (:mod:`~lq_ext.data.datasets`), read from
  TensorFlow Datasets (:mod:`~lq_ext.data.tfds`) or, for Fashion-MNIST, offline from its
  IDX files (:func:`load_fashion_mnist`, :mod:`~lq_ext.data.fashion_mnist`).
- :func:`load_samples`: 20 real test images per dataset (:mod:`~lq_ext.data.samples`,
  ``lq_ext/data/samples/README.md`` for attribution); their dataset names are
  :data:`SAMPLE_DATASETS` (``lq_ext.data.samples.DATASETS``).
- :func:`preprocess` / :func:`to_unit_range` (:mod:`~lq_ext.data.preprocessing`): the
  models' input convention, pixels in [0, 255] → [-1, 1] by ``x / 127.5 - 1``.

Guide: docs/guides/data.md.
"""

from lq_ext.data.datasets import DATASETS, DatasetInfo, DatasetNotAvailableError, dataset_info
from lq_ext.data.fashion_mnist import load_fashion_mnist, to_cifar_shape
from lq_ext.data.pipelines import load_dataset
from lq_ext.data.preprocessing import preprocess, to_unit_range
from lq_ext.data.samples import DATASETS as SAMPLE_DATASETS
from lq_ext.data.samples import load_samples

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
    "to_unit_range",
]
