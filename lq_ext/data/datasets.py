"""The datasets :func:`lq_ext.data.load_dataset` knows: names, classes, input sizes, splits.

Datasets, splits and where their data come from: docs/guides/data.md.
"""

from __future__ import annotations

import dataclasses

__all__ = ["DATASETS", "DatasetInfo", "DatasetNotAvailableError", "dataset_info"]


class DatasetNotAvailableError(FileNotFoundError):
    """The data of a dataset are not on this machine (the message says where it looked
    and how to provide them)."""


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    """What :func:`load_dataset` yields for a dataset by default.

    ``image_size`` is the (height, width) of the model input, ``channels`` its default
    channel count, ``train_split`` / ``test_split`` the splits read for ``"train"`` /
    ``"test"`` (tfds split names, or the IDX files' for Fashion-MNIST), ``source``
    ``"idx"`` or ``"tfds"``.
    """

    name: str
    num_classes: int
    image_size: tuple
    channels: int
    train_split: str
    test_split: str
    source: str


_INFOS = {
    info.name: info
    for info in (
        DatasetInfo("fashion_mnist", 10, (32, 32), 1, "train", "test", "idx"),
        DatasetInfo("cifar10", 10, (32, 32), 3, "train", "test", "tfds"),
        DatasetInfo("cifar100", 100, (32, 32), 3, "train", "test", "tfds"),
        DatasetInfo("stl10", 10, (96, 96), 3, "train", "test", "tfds"),
        DatasetInfo(
            "oxford_flowers102", 102, (224, 224), 3, "train+validation", "test", "tfds"
        ),
        DatasetInfo("imagenet2012", 1000, (224, 224), 3, "train", "validation", "tfds"),
        DatasetInfo(
            "imagenet_resized/64x64", 1000, (64, 64), 3, "train", "validation", "tfds"
        ),
    )
}

#: Names accepted by :func:`load_dataset` and :func:`dataset_info`.
DATASETS = tuple(_INFOS)


def dataset_info(name: str) -> DatasetInfo:
    """The :class:`DatasetInfo` of ``name`` (one of :data:`DATASETS`)."""
    if not isinstance(name, str) or name not in _INFOS:
        raise ValueError(f"Unknown dataset name={name!r}; expected one of {list(DATASETS)}.")
    return _INFOS[name]
