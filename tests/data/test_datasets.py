"""lq_ext.data.datasets: the dataset registry (names, classes, sizes, splits, source)."""

import dataclasses

import pytest

import lq_ext.data as data
from lq_ext.data import DATASETS, dataset_info, load_dataset


def test_dataset_names_and_info():
    assert DATASETS == (
        "fashion_mnist", "cifar10", "cifar100", "stl10", "oxford_flowers102",
        "imagenet2012", "imagenet_resized/64x64",
    )
    expected = {  # name: (classes, size, channels, train split, test split, source)
        "fashion_mnist": (10, (32, 32), 1, "train", "test", "idx"),
        "cifar10": (10, (32, 32), 3, "train", "test", "tfds"),
        "cifar100": (100, (32, 32), 3, "train", "test", "tfds"),
        "stl10": (10, (96, 96), 3, "train", "test", "tfds"),
        "oxford_flowers102": (102, (224, 224), 3, "train+validation", "test", "tfds"),
        "imagenet2012": (1000, (224, 224), 3, "train", "validation", "tfds"),
        "imagenet_resized/64x64": (1000, (64, 64), 3, "train", "validation", "tfds"),
    }
    for name, values in expected.items():
        info = dataset_info(name)
        assert info.name == name
        assert (info.num_classes, info.image_size, info.channels, info.train_split,
                info.test_split, info.source) == values
    with pytest.raises(dataclasses.FrozenInstanceError):
        dataset_info("cifar10").num_classes = 3
    assert data.SAMPLE_DATASETS == data.samples.DATASETS


@pytest.mark.parametrize("call", [dataset_info, load_dataset])
def test_unknown_dataset_lists_the_allowed_names(call):
    with pytest.raises(ValueError) as info:
        call("tiny_imagenet")
    message = str(info.value)
    assert "'tiny_imagenet'" in message
    for name in DATASETS:
        assert repr(name) in message
