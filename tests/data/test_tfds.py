"""lq_ext.data.tfds through load_dataset: the tfds datasets' pipelines and the errors
for missing data.

They run on ``tensorflow_datasets``' ``mock_data`` (random examples built from each
dataset's feature spec in tfds' code; no metadata files, no network). No test downloads.
"""

import os

import numpy as np
import pytest
import tensorflow as tf

from lq_ext.data import DatasetNotAvailableError, dataset_info, load_dataset


def _collect(ds):
    images, labels = zip(*((x.numpy(), y.numpy()) for x, y in ds))
    return np.concatenate(images), np.concatenate(labels)


def mock_tfds(num_examples):
    """tfds' own offline mock: examples generated from each dataset's feature spec."""
    from tensorflow_datasets.testing import mock_data  # needs dill (the tests extra)

    return mock_data(num_examples=num_examples)


TFDS_SIZES = {  # name: (default size, a small size to test image_size)
    "cifar10": ((32, 32), (24, 24)),
    "cifar100": ((32, 32), (40, 40)),
    "stl10": ((96, 96), (64, 48)),
    "oxford_flowers102": ((224, 224), (64, 64)),
    "imagenet2012": ((224, 224), (48, 64)),
    "imagenet_resized/64x64": ((64, 64), (32, 32)),
}


@pytest.mark.parametrize("name", list(TFDS_SIZES))
def test_tfds_pipelines_on_mock_data(name):
    default, small = TFDS_SIZES[name]
    classes = dataset_info(name).num_classes
    with mock_tfds(num_examples=6):
        for split, image_size, size in (("train", None, default), ("test", None, default),
                                        ("train", small, small)):
            ds = load_dataset(name, split, batch_size=4, image_size=image_size, seed=1,
                              download=False)
            batches = list(ds)
            assert [tuple(x.shape) for x, _ in batches] == [(4, *size, 3), (2, *size, 3)]
            for images, labels in batches:
                assert images.dtype == tf.float32 and labels.dtype == tf.int64
                assert -1.0 <= float(tf.reduce_min(images)) <= float(tf.reduce_max(images)) <= 1.0
                assert ((labels >= 0) & (labels < classes)).numpy().all()
        again = load_dataset(name, "train", batch_size=4, seed=1, download=False)
        first, second = _collect(again), _collect(again)
        np.testing.assert_array_equal(first[0], _collect(
            load_dataset(name, "train", batch_size=4, seed=1, download=False))[0])
        assert not np.array_equal(first[0], second[0])  # next epoch: re-augmented


@pytest.mark.parametrize("global_seed", [0, 5])
def test_tfds_order_ignores_the_global_seed(global_seed):
    """A stream's shuffle is keyed by (seed, epoch) alone: a global seed of 0 used to make
    Dataset.shuffle compare a symbolic seed with 0 (OperatorNotAllowedInGraphError), and
    another global seed must not change the order."""
    with mock_tfds(num_examples=6):
        reference = _collect(load_dataset("cifar10", "train", batch_size=6, seed=3, download=False))
        tf.random.set_seed(global_seed)
        try:
            seeded = _collect(load_dataset("cifar10", "train", batch_size=6, seed=3, download=False))
        finally:
            tf.random.set_seed(None)
    np.testing.assert_array_equal(seeded[1], reference[1])
    np.testing.assert_array_equal(seeded[0], reference[0])


def test_tfds_limit_and_unaugmented_small_images():
    with mock_tfds(num_examples=6):
        plain = _collect(load_dataset("cifar10", "test", batch_size=8, download=False))
        limited = _collect(load_dataset("cifar10", "test", batch_size=8, limit=3, download=False))
        shuffled = _collect(load_dataset("cifar10", "train", batch_size=8, limit=3, seed=0,
                                         download=False))
    assert plain[0].shape == (6, 32, 32, 3)
    np.testing.assert_array_equal(limited[0], plain[0][:3])
    np.testing.assert_array_equal(limited[1], plain[1][:3])
    assert sorted(shuffled[1].tolist()) == sorted(plain[1][:3].tolist())
    # unaugmented 32-px images are the pixels scaled: values on the 1/127.5 grid
    pixels = (plain[0] + 1.0) * 127.5
    np.testing.assert_allclose(pixels, np.round(pixels), atol=1e-3)


def test_tfds_download_true_uses_download_and_prepare(monkeypatch):
    import tensorflow_datasets as tfds

    calls = []
    with mock_tfds(num_examples=3):  # mock_data makes download_and_prepare a no-op
        mocked = tfds.core.DatasetBuilder.download_and_prepare

        def record(self, *args, **kwargs):
            calls.append((self.name, kwargs["download_config"].manual_dir))
            return mocked(self, *args, **kwargs)

        monkeypatch.setattr(tfds.core.DatasetBuilder, "download_and_prepare", record)
        images, labels = _collect(load_dataset("cifar10", "test", data_dir="/nonexistent/tfds"))
    assert images.shape == (3, 32, 32, 3) and labels.shape == (3,)
    assert calls == [("cifar10", os.path.join("/nonexistent/tfds", "downloads", "manual"))]


def test_tfds_missing_data_message(tmp_path):
    with pytest.raises(DatasetNotAvailableError) as info:
        load_dataset("cifar10", data_dir=tmp_path, download=False)
    assert isinstance(info.value, FileNotFoundError)
    message = str(info.value)
    assert str(tmp_path) in message and str(tmp_path / "cifar10") in message
    assert "download=False" in message and "tfds build cifar10 --data_dir DIR" in message


def test_imagenet_missing_manual_download_message(tmp_path):
    # download=True, but nothing to download from: the manual directory is checked first
    with pytest.raises(DatasetNotAvailableError) as info:
        load_dataset("imagenet2012", data_dir=tmp_path, download=True)
    message = str(info.value)
    manual = str(tmp_path / "downloads" / "manual")
    assert manual in message
    assert "ILSVRC2012_img_train.tar" in message and "ILSVRC2012_img_val.tar" in message


def test_failed_download_is_reported(monkeypatch, tmp_path):
    import tensorflow_datasets as tfds

    def offline(self, *args, **kwargs):
        raise ConnectionError("no route to host")

    monkeypatch.setattr(tfds.core.DatasetBuilder, "download_and_prepare", offline)
    with pytest.raises(DatasetNotAvailableError) as info:
        load_dataset("cifar100", "test", data_dir=tmp_path, download=True)
    message = str(info.value)
    assert "ConnectionError: no route to host" in message and str(tmp_path) in message
    assert isinstance(info.value.__cause__, ConnectionError)
