"""lq_ext.data.load_dataset: shapes, values, augmentations, determinism, errors.

Fashion-MNIST runs on the real IDX files. The tfds datasets run on
``tensorflow_datasets``' ``mock_data`` (random examples built from each dataset's
feature spec in tfds' code; no metadata files, no network). No test downloads.
"""

import dataclasses
import os

import numpy as np
import pytest
import tensorflow as tf

import lq_ext.data as data
from lq_ext.data import (
    DATASETS,
    DatasetNotAvailableError,
    dataset_info,
    load_dataset,
)
from lq_ext.data import pipelines


def _scaled(pixels):
    return pixels.astype(np.float32) / np.float32(127.5) - np.float32(1.0)


def _collect(ds):
    images, labels = zip(*((x.numpy(), y.numpy()) for x, y in ds))
    return np.concatenate(images), np.concatenate(labels)


# ------------------------------------------------------------------------------ names


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


@pytest.mark.parametrize(
    "kwargs, parameter, allowed",
    [
        (dict(split="validation"), "split", "'train', 'test'"),
        (dict(batch_size=0), "batch_size", "positive int"),
        (dict(batch_size=-3), "batch_size", "positive int"),
        (dict(batch_size=2.0), "batch_size", "positive int"),
        (dict(batch_size=True), "batch_size", "positive int"),
        (dict(channels=2), "channels", "[1, 3]"),
        (dict(name="cifar10", channels=1), "channels", "[3]"),
        (dict(image_size=0), "image_size", "positive int"),
        (dict(image_size=(32,)), "image_size", "(height, width)"),
        (dict(image_size=(32, -1)), "image_size", "(height, width)"),
        (dict(image_size="32"), "image_size", "positive int"),
        (dict(limit=0), "limit", "positive int"),
        (dict(limit=-10), "limit", "positive int"),
        (dict(seed=-1), "seed", "[0, 2**63)"),
        (dict(seed="1"), "seed", "[0, 2**63)"),
        (dict(augment="yes"), "augment", "bool"),
        (dict(shuffle=1), "shuffle", "bool"),
        (dict(drop_remainder=None), "drop_remainder", "bool"),
        (dict(download="no"), "download", "bool"),
        (dict(data_dir=3), "data_dir", "directory path"),
    ],
)
def test_bad_arguments_fail_before_any_data_work(monkeypatch, kwargs, parameter, allowed):
    def no_data(*args, **kw):
        raise AssertionError("data were read before the arguments were checked")

    monkeypatch.setattr(pipelines, "_fashion_mnist", no_data)
    monkeypatch.setattr(pipelines, "_tfds_dataset", no_data)
    kwargs = dict(kwargs)
    name = kwargs.pop("name", "fashion_mnist")
    value = next(iter(kwargs.values()))
    with pytest.raises(ValueError) as info:
        load_dataset(name, **kwargs)
    message = str(info.value)
    assert f"{parameter}={value!r}" in message
    assert allowed in message


# ---------------------------------------------------------------------- Fashion-MNIST


def test_fashion_mnist_test_split_values(fashion):
    (_, _), (x_test, y_test) = fashion
    ds = load_dataset("fashion_mnist", "test", batch_size=4, limit=10)
    batches = list(ds)
    assert [tuple(x.shape) for x, _ in batches] == [(4, 32, 32, 1)] * 2 + [(2, 32, 32, 1)]
    assert all(x.dtype == tf.float32 and y.dtype == tf.int64 for x, y in batches)
    images, labels = _collect(ds)
    # test split: no augmentation, no shuffling, by default
    np.testing.assert_array_equal(labels, y_test[:10])
    np.testing.assert_array_equal(images[:, 2:30, 2:30, 0], _scaled(x_test[:10]))
    border = np.ones((32, 32), bool)
    border[2:30, 2:30] = False
    assert (images[:, border, :] == -1.0).all()
    assert images.min() >= -1.0 and images.max() <= 1.0


def test_fashion_mnist_three_channels_and_train_split(fashion):
    (x_train, y_train), (_, _) = fashion
    ds = load_dataset(
        "fashion_mnist", "train", batch_size=8, channels=3, limit=8, augment=False,
        shuffle=False, drop_remainder=True,
    )
    images, labels = _collect(ds)
    assert images.shape == (8, 32, 32, 3)
    for channel in range(3):
        np.testing.assert_array_equal(images[:, 2:30, 2:30, channel], _scaled(x_train[:8]))
    np.testing.assert_array_equal(labels, y_train[:8])


def test_fashion_mnist_drop_remainder_and_cardinality():
    ds = load_dataset("fashion_mnist", "test", batch_size=4, limit=10, drop_remainder=True)
    assert int(ds.cardinality()) == 2
    assert int(load_dataset("fashion_mnist", "test", batch_size=4, limit=10).cardinality()) == 3


def test_fashion_mnist_image_size_resizes(fashion):
    ds = load_dataset("fashion_mnist", "test", batch_size=5, limit=5, image_size=(16, 24))
    images, _ = _collect(ds)
    assert images.shape == (5, 16, 24, 1)
    assert images.min() >= -1.0 and images.max() <= 1.0


def _pad_crop_candidates(image, pad=4):
    """All 81 crops × 2 flips of ``image`` (H, W, C) zero-padded by ``pad``."""
    height, width = image.shape[:2]
    padded = np.pad(image, ((pad, pad), (pad, pad), (0, 0)))
    for top in range(2 * pad + 1):
        for left in range(2 * pad + 1):
            crop = padded[top : top + height, left : left + width]
            yield (top, left, False), crop
            yield (top, left, True), crop[:, ::-1]


def test_fashion_mnist_augmentation_is_pad_crop_flip(fashion):
    (x_train, y_train), (_, _) = fashion
    n = 48
    ds = load_dataset("fashion_mnist", "train", batch_size=16, limit=n, shuffle=False, seed=3)
    images, labels = _collect(ds)
    np.testing.assert_array_equal(labels, y_train[:n])
    raw = np.pad(x_train[:n], ((0, 0), (2, 2), (2, 2)))[..., None]
    changed, flips, offsets = 0, 0, set()
    for image, original in zip(images, raw):
        matches = [m for m, crop in _pad_crop_candidates(original) if
                   np.array_equal(image, _scaled(crop))]
        assert matches, "an augmented image is not a pad-4 crop (+ flip) of its original"
        changed += not np.array_equal(image, _scaled(original))
        if all(flip for _, _, flip in matches):
            flips += 1
        if len(matches) == 1:
            offsets.add(matches[0][:2])
    assert changed > n // 2
    assert 0.2 * n < flips < 0.8 * n
    assert len(offsets) > 5


def test_fashion_mnist_determinism(fashion):
    def pipeline(seed):
        return load_dataset("fashion_mnist", "train", batch_size=32, limit=128, seed=seed)

    a, b, c = pipeline(7), pipeline(7), pipeline(8)
    a1, a2 = _collect(a), _collect(a)
    b1, b2 = _collect(b), _collect(b)
    c1 = _collect(c)
    for first, second in ((a1, b1), (a2, b2)):  # epoch by epoch, same seed: identical
        np.testing.assert_array_equal(first[0], second[0])
        np.testing.assert_array_equal(first[1], second[1])
    # each epoch of one pipeline is reshuffled and re-augmented
    assert not np.array_equal(a1[1], a2[1]) and not np.array_equal(a1[0], a2[0])
    # another seed gives other batches
    assert not np.array_equal(a1[1], c1[1]) and not np.array_equal(a1[0], c1[0])
    # shuffling keeps the examples: limit is applied before shuffling
    (x_train, y_train), (_, _) = fashion
    assert sorted(a1[1].tolist()) == sorted(y_train[:128].tolist())
    unaugmented = _collect(load_dataset(
        "fashion_mnist", "train", batch_size=32, limit=128, seed=7, augment=False))
    order = [int(np.flatnonzero((_scaled(x_train[:128]) == img[2:30, 2:30, 0]).all(axis=(1, 2)))[0])
             for img in unaugmented[0]]
    assert sorted(order) == list(range(128))


def test_fashion_mnist_without_seed_differs():
    first = _collect(load_dataset("fashion_mnist", "train", batch_size=64, limit=64))
    second = _collect(load_dataset("fashion_mnist", "train", batch_size=64, limit=64))
    assert not np.array_equal(first[0], second[0])


def test_fashion_mnist_missing_data_message(tmp_path):
    with pytest.raises(DatasetNotAvailableError) as info:
        load_dataset("fashion_mnist", data_dir=tmp_path)
    assert isinstance(info.value, FileNotFoundError)
    message = str(info.value)
    assert str(tmp_path) in message
    assert "apt-get install dataset-fashion-mnist" in message and "data_dir=DIR" in message
    assert "t10k-images-idx3-ubyte" in message


# ------------------------------------------------------------------------------- tfds


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


# ----------------------------------------------------------- per-image crops (private)


def _coordinate_image(height, width):
    rows = np.broadcast_to(np.arange(height)[:, None], (height, width))
    cols = np.broadcast_to(np.arange(width)[None, :], (height, width))
    return np.stack([rows, cols, np.zeros_like(rows)], axis=-1).astype(np.uint8)


def test_random_resized_crop_area_ratio_and_flip():
    image = tf.constant(_coordinate_image(200, 200))
    flips, areas = 0, []
    for key in range(40):
        out = pipelines._random_resized_crop_flip(image, tf.constant(key, tf.int64), (50, 50))
        out = out.numpy()
        assert out.shape == (50, 50, 3)
        rows, cols = out[..., 0], out[..., 1]
        height = rows[-1].mean() - rows[0].mean()
        width = abs(cols[:, -1].mean() - cols[:, 0].mean())
        # the crop spans about (height + its last pixel) rows: allow 2 px of blur
        height, width = height * 50 / 49 + 1, width * 50 / 49 + 1
        area = height * width / 200**2
        areas.append(area)
        assert 0.08 * 0.85 <= area <= 1.0 + 0.03
        if min(height, width) > 30:  # ratio only meaningful with enough pixels
            assert 0.75 * 0.9 <= width / height <= 4 / 3 * 1.1
        flips += cols[:, -1].mean() < cols[:, 0].mean()
    assert 8 <= flips <= 32
    assert min(areas) < 0.5 < max(areas)  # the scale range is used, not one size
    again = pipelines._random_resized_crop_flip(image, tf.constant(3, tf.int64), (50, 50))
    same = pipelines._random_resized_crop_flip(image, tf.constant(3, tf.int64), (50, 50))
    np.testing.assert_array_equal(again.numpy(), same.numpy())


def test_resize_central_crop_keeps_the_central_0875():
    image = tf.constant(_coordinate_image(200, 250))
    out = pipelines._resize_central_crop(image, (56, 56)).numpy()
    assert out.shape == (56, 56, 3)
    # shorter side 200 -> 64, crop 56 of 64: rows 12.5 .. 187.5 of the original
    assert abs(out[0, :, 0].mean() - 12.5) < 2.5 and abs(out[-1, :, 0].mean() - 187.5) < 2.5
    # width 250 -> 80, crop 56 of 80 centred: cols 37.5 .. 212.5
    assert abs(out[:, 0, 1].mean() - 37.5) < 3.5 and abs(out[:, -1, 1].mean() - 212.5) < 3.5
