"""lq_ext.data.fashion_mnist: the full Fashion-MNIST from its IDX files.

Expected values are facts of the official files (arXiv:1708.07747 and the files'
sha256): labels, pixel mean, class balance, and the 20 test images shipped in
``lq_ext/data/samples`` (decoded from foolbox's PNGs, an independent copy).
"""

import gzip
import hashlib
import shutil

import numpy as np
import pytest

from lq_ext.data import load_fashion_mnist, load_samples, to_cifar_shape
from lq_ext.data.fashion_mnist import ENV_VAR, FILES, SHA256, fashion_mnist_dirs


def _source_dir():
    for directory in fashion_mnist_dirs():
        if all((directory / f"{stem}.gz").is_file() for pair in FILES.values() for stem in pair):
            return directory
    raise AssertionError(f"no Fashion-MNIST .gz files in {fashion_mnist_dirs()}: .ci/run provides them")


def test_shapes_and_dtypes(fashion):
    (x_train, y_train), (x_test, y_test) = fashion
    assert x_train.shape == (60000, 28, 28) and x_test.shape == (10000, 28, 28)
    assert y_train.shape == (60000,) and y_test.shape == (10000,)
    for array in (x_train, y_train, x_test, y_test):
        assert array.dtype == np.uint8


def test_first_labels(fashion):
    (_, y_train), (_, y_test) = fashion
    assert y_train[:10].tolist() == [9, 0, 0, 3, 0, 2, 7, 2, 5, 5]
    assert y_test[:20].tolist() == [9, 2, 1, 1, 6, 1, 4, 6, 5, 7, 4, 5, 7, 3, 4, 1, 2, 4, 8, 0]


def test_pixel_mean_and_class_counts(fashion):
    (x_train, y_train), (_, y_test) = fashion
    assert abs(x_train.mean(dtype=np.float64) / 255.0 - 0.2860) < 0.0005
    assert np.bincount(y_train, minlength=10).tolist() == [6000] * 10
    assert np.bincount(y_test, minlength=10).tolist() == [1000] * 10


def test_first_test_images_equal_the_shipped_samples(fashion):
    (_, _), (x_test, y_test) = fashion
    images, labels = load_samples("fashion_mnist")  # (20, 28, 28, 1) uint8, (20,) int64
    assert images.shape == (20, 28, 28, 1) and images.dtype == np.uint8
    np.testing.assert_array_equal(x_test[:20], images[..., 0])
    np.testing.assert_array_equal(y_test[:20], labels)


def test_verify_passes_on_the_official_files(fashion):
    directory = _source_dir()
    for stem in SHA256:  # the recorded digests are those of the files on disk
        with gzip.open(directory / f"{stem}.gz", "rb") as file:
            assert hashlib.sha256(file.read()).hexdigest() == SHA256[stem]
    verified = load_fashion_mnist(directory, verify=True)
    (x_train, y_train), (x_test, y_test) = verified
    assert x_train.shape == (60000, 28, 28) and y_test.shape == (10000,)
    for got, expected in zip((x_train, y_train, x_test, y_test), (a for pair in fashion for a in pair)):
        np.testing.assert_array_equal(got, expected)  # the same arrays as without verify
    assert y_train[:10].tolist() == [9, 0, 0, 3, 0, 2, 7, 2, 5, 5]
    assert y_test[:20].tolist() == [9, 2, 1, 1, 6, 1, 4, 6, 5, 7, 4, 5, 7, 3, 4, 1, 2, 4, 8, 0]


@pytest.fixture
def copy_dir(tmp_path):
    directory = _source_dir()
    for path in directory.glob("*.gz"):
        shutil.copy(path, tmp_path / path.name)
    return tmp_path


def _rewrite(path, edit):
    with gzip.open(path, "rb") as file:
        data = bytearray(file.read())
    edit(data)
    with gzip.open(path, "wb") as file:
        file.write(bytes(data))


def test_corrupted_magic_number_raises(copy_dir):
    _rewrite(copy_dir / "t10k-labels-idx1-ubyte.gz", lambda d: d.__setitem__(3, 0x03))
    with pytest.raises(ValueError, match="magic 0x00000803, expected 0x00000801"):
        load_fashion_mnist(copy_dir)


def test_changed_label_fails_verify_only(copy_dir):
    _rewrite(copy_dir / "t10k-labels-idx1-ubyte.gz", lambda d: d.__setitem__(8, (d[8] + 1) % 10))
    (_, _), (_, y_test) = load_fashion_mnist(copy_dir)  # still a valid IDX file
    assert y_test[0] == 0  # was 9
    with pytest.raises(ValueError, match="sha256"):
        load_fashion_mnist(copy_dir, verify=True)


def test_missing_files_say_where_it_looked(tmp_path):
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(b"")  # one of four is not enough
    with pytest.raises(FileNotFoundError) as info:
        load_fashion_mnist(tmp_path)
    message = str(info.value)
    assert str(tmp_path) in message
    assert "dataset-fashion-mnist" in message and "t10k-labels-idx1-ubyte" in message


def test_search_order(monkeypatch, tmp_path):
    monkeypatch.setenv(ENV_VAR, str(tmp_path))
    dirs = fashion_mnist_dirs()
    assert dirs[0] == tmp_path
    assert str(dirs[1]) == "/usr/share/datasets/fashion-mnist"
    assert dirs[2].parts[-3:] == ("shared", "data", "fashion-mnist")
    assert fashion_mnist_dirs(tmp_path / "x") == [tmp_path / "x"]


def test_to_cifar_shape():
    images = np.arange(2 * 28 * 28, dtype=np.int64).reshape(2, 28, 28) % 251 + 1
    images = images.astype(np.uint8)
    grey = to_cifar_shape(images)
    assert grey.shape == (2, 32, 32, 1) and grey.dtype == np.uint8
    np.testing.assert_array_equal(grey[:, 2:30, 2:30, 0], images)
    border = np.ones((32, 32), bool)
    border[2:30, 2:30] = False
    assert not grey[:, border].any()
    rgb = to_cifar_shape(images, 3)
    assert rgb.shape == (2, 32, 32, 3)
    for channel in range(3):
        np.testing.assert_array_equal(rgb[..., channel], grey[..., 0])
    with pytest.raises(ValueError, match="channels"):
        to_cifar_shape(images, 2)
    with pytest.raises(ValueError, match=r"\(N, 28, 28\)"):
        to_cifar_shape(images[:, :27])
