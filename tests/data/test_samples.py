import numpy as np
import pytest

from lq_ext.data.samples import DATASETS, load_samples


@pytest.mark.parametrize(
    "dataset, shape, first_labels",
    [
        ("cifar10", (20, 32, 32, 3), [3, 8, 8, 0, 6]),
        ("cifar100", (20, 32, 32, 3), [49, 33, 72, 51, 71]),
        ("imagenet", (20, 224, 224, 3), [243, 559, 438]),
        ("mnist", (20, 28, 28, 1), [7, 2, 1, 0, 4]),
        ("fashion_mnist", (20, 28, 28, 1), [9, 2, 1, 1, 6]),
    ],
)
def test_raw_samples(dataset, shape, first_labels):
    images, labels = load_samples(dataset)
    assert images.shape == shape and images.dtype == np.uint8
    assert labels.shape == (20,) and labels.dtype == np.int64
    assert labels[: len(first_labels)].tolist() == first_labels
    assert images.max() > 200 and images.min() < 30  # real pixels, not blank


def test_datasets_constant():
    assert set(DATASETS) == {"cifar10", "cifar100", "imagenet", "mnist", "fashion_mnist"}


def test_returned_arrays_are_private_copies():
    images, labels = load_samples("cifar10")
    images[:] = 0
    labels[:] = -1
    again, again_labels = load_samples("cifar10")
    assert again.max() > 0 and again_labels[0] == 3


@pytest.mark.parametrize(
    "input_shape, first_label",
    [((224, 224, 3), 243), ((96, 96, 3), 243), ((65, 32, 3), 243), ((64, 64, 3), 3), ((32, 32, 3), 3)],
)
def test_auto_picks_imagenet_above_64_px(input_shape, first_label):
    images, labels = load_samples("auto", input_shape=input_shape)
    assert images.shape == (20, *input_shape) and images.dtype == np.float32
    assert labels[0] == first_label


def test_auto_without_shape_is_cifar10():
    images, labels = load_samples()
    assert images.shape == (20, 32, 32, 3) and labels[:5].tolist() == [3, 8, 8, 0, 6]


def test_same_size_keeps_pixels_exactly():
    raw, _ = load_samples("cifar10")
    same, _ = load_samples("cifar10", input_shape=(32, 32, 3))
    assert same.dtype == np.float32
    np.testing.assert_array_equal(same, raw.astype(np.float32))


def test_resize_is_antialiased_bilinear():
    import tensorflow as tf

    raw, _ = load_samples("imagenet")
    small, _ = load_samples("imagenet", input_shape=(32, 32, 3))
    expected = tf.image.resize(raw.astype(np.float32), (32, 32), method="bilinear", antialias=True)
    np.testing.assert_allclose(small, np.clip(expected.numpy(), 0, 255), atol=1e-4)
    assert 0.0 <= small.min() and small.max() <= 255.0


def test_rgb_to_gray_is_channel_mean():
    raw, _ = load_samples("cifar10")
    gray, _ = load_samples("cifar10", input_shape=(32, 32, 1))
    assert gray.shape == (20, 32, 32, 1)
    np.testing.assert_allclose(gray[..., 0], raw.astype(np.float32).mean(axis=-1), rtol=1e-6)
    # first pixel of the first image, by hand
    r, g, b = raw[0, 0, 0].astype(np.float64)
    assert gray[0, 0, 0, 0] == pytest.approx((r + g + b) / 3, rel=1e-6)


def test_gray_to_rgb_repeats_the_channel():
    raw, _ = load_samples("mnist")
    rgb, _ = load_samples("mnist", input_shape=(28, 28, 3))
    assert rgb.shape == (20, 28, 28, 3)
    for c in range(3):
        np.testing.assert_array_equal(rgb[..., c], raw[..., 0].astype(np.float32))


def test_gray_resized_and_repeated():
    rgb, labels = load_samples("fashion_mnist", input_shape=(32, 32, 3))
    assert rgb.shape == (20, 32, 32, 3) and labels[0] == 9
    np.testing.assert_array_equal(rgb[..., 0], rgb[..., 2])


def test_unknown_dataset():
    with pytest.raises(ValueError, match=r"Unknown dataset='cifar'.*'cifar10'.*'fashion_mnist'"):
        load_samples("cifar")


@pytest.mark.parametrize(
    "bad, reason",
    [
        ((32, 32), "it has 2 entries"),
        ((None, None, 3), "positive int"),
        ((32, 0, 3), "positive int"),
        ((32, 32, 2), "C=2 channels"),
        ((32.0, 32, 3), "positive int"),
        ("32x32", "not a sequence"),
        (32, "not a sequence"),
    ],
)
def test_bad_input_shape(bad, reason):
    with pytest.raises(ValueError, match=r"input_shape must be \(height, width, channels\)") as info:
        load_samples("cifar10", input_shape=bad)
    assert reason in str(info.value)
