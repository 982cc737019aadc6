"""lq_ext.data.load_dataset: shapes, values, augmentations, determinism, errors.

Fashion-MNIST runs on the real IDX files; the tfds datasets are in test_tfds.py.
"""

import numpy as np
import pytest
import tensorflow as tf

from lq_ext.data import DatasetNotAvailableError, load_dataset, pipelines


def _scaled(pixels):
    return pixels.astype(np.float32) / np.float32(127.5) - np.float32(1.0)


def _collect(ds):
    images, labels = zip(*((x.numpy(), y.numpy()) for x, y in ds))
    return np.concatenate(images), np.concatenate(labels)


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
    monkeypatch.setattr(pipelines, "tfds_dataset", no_data)
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
