"""lq_ext.data.color: torchvision's ColorJitter and AlexNet / ReActNet lighting, against
hand-computed values and NumPy formulas."""

import colorsys
import itertools

import numpy as np
import pytest
import tensorflow as tf

from lq_ext.data import color

KEY = tf.constant(1234, tf.int64)


def test_brightness_scales_a_constant_image_and_clips():
    image = np.full((4, 5, 3), 100.0, np.float32)
    np.testing.assert_allclose(color.adjust_brightness(image, 1.3), np.full((4, 5, 3), 130.0), rtol=1e-6)
    np.testing.assert_allclose(color.adjust_brightness(image, 3.0), np.full((4, 5, 3), 255.0))


def test_contrast_blends_with_the_mean_grey_level():
    image = np.zeros((2, 2, 3), np.float32)
    image[0, 0] = (200, 100, 0)  # grey 0.299·200 + 0.587·100 = 118.5; mean over 4 pixels 29.625
    mean = (0.299 * 200 + 0.587 * 100) / 4
    expected = np.clip(mean + 0.5 * (image - mean), 0, 255)
    np.testing.assert_allclose(color.adjust_contrast(image, 0.5), expected, rtol=1e-5)


def test_saturation_zero_is_grey_with_the_601_weights():
    image = np.array([[[10.0, 200.0, 50.0], [255.0, 0.0, 0.0]]], np.float32)
    grey = np.array([0.299 * 10 + 0.587 * 200 + 0.114 * 50, 0.299 * 255])
    out = color.adjust_saturation(image, 0.0).numpy()
    np.testing.assert_allclose(out[0], np.repeat(grey[:, None], 3, axis=1), rtol=1e-5)
    np.testing.assert_allclose(color.adjust_saturation(image, 1.0), image)


@pytest.mark.parametrize(
    "pixel, delta, expected",
    [((255, 0, 0), 1 / 3, (0, 255, 0)), ((255, 0, 0), 1 / 6, (255, 255, 0)),
     ((255, 0, 0), -1 / 3, (0, 0, 255)), ((0, 255, 0), 0.5, (255, 0, 255))],
)
def test_hue_shift_of_pure_colours(pixel, delta, expected):
    image = np.full((2, 2, 3), pixel, np.float32)
    np.testing.assert_allclose(color.adjust_hue(image, delta), np.full((2, 2, 3), expected), atol=1e-3)


def test_grey_images_keep_their_saturation_and_hue():
    image = np.random.default_rng(0).uniform(0, 255, (3, 4, 4, 1)).astype(np.float32)
    np.testing.assert_allclose(color.adjust_saturation(image, 0.2), image)
    np.testing.assert_allclose(color.adjust_hue(image, [0.1, 0.2, 0.3]), image)


def _numpy_jitter(image, factors, order):
    """torchvision's four adjustments in NumPy (float, the 601 grey weights)."""
    grey_weights = np.array([0.299, 0.587, 0.114])
    for op in order:
        f = factors[op]
        if op == 0:
            image = np.clip(image * f, 0, 255)
        elif op == 1:
            mean = (image @ grey_weights).mean()
            image = np.clip(mean + f * (image - mean), 0, 255)
        elif op == 2:
            grey = (image @ grey_weights)[..., None]
            image = np.clip(grey + f * (image - grey), 0, 255)
        else:  # hue: through HSV (colorsys), shift mod 1
            flat = image.reshape(-1, 3) / 255.0
            hsv = [colorsys.rgb_to_hsv(*p) for p in flat]
            image = np.array([colorsys.hsv_to_rgb((h + f) % 1.0, s, v) for h, s, v in hsv]).reshape(image.shape) * 255
    return image


def test_color_jitter_matches_the_numpy_composition_in_the_drawn_order():
    images = np.random.default_rng(1).uniform(0, 255, (6, 5, 5, 3)).astype(np.float32)
    out = color.color_jitter(images, KEY, 0.2, 0.2, 0.2, 0.1).numpy()
    draws, order = (t.numpy() for t in color.jitter_parameters(KEY, 6, 0.2, 0.2, 0.2, 0.1))
    for i in range(6):
        expected = _numpy_jitter(images[i].astype(np.float64), draws[i], order[i])
        np.testing.assert_allclose(out[i], expected, atol=0.05)


def test_jitter_draws_cover_torchvision_ranges_and_every_order():
    draws, order = (t.numpy() for t in color.jitter_parameters(KEY, 4000, 0.2, 0.4, 0.0, 0.1))
    for column, (lo, hi) in enumerate([(0.8, 1.2), (0.6, 1.4), (1.0, 1.0), (-0.1, 0.1)]):
        assert lo <= draws[:, column].min() and draws[:, column].max() <= hi
        assert draws[:, column].min() < lo + 0.01 and draws[:, column].max() > hi - 0.01 or lo == hi
    permutations = {tuple(row) for row in order}
    assert permutations == set(itertools.permutations(range(4)))  # all 24 orders occur
    counts = np.bincount(order[:, 0], minlength=4)
    assert counts.min() > 850  # first op uniform: 1000 each expected


def test_color_jitter_is_a_function_of_the_key():
    images = np.random.default_rng(2).uniform(0, 255, (3, 4, 4, 3)).astype(np.float32)
    a = color.color_jitter(images, KEY, 0.2, 0.2, 0.2, 0.1)
    b = color.color_jitter(images, KEY, 0.2, 0.2, 0.2, 0.1)
    c = color.color_jitter(images, KEY + 1, 0.2, 0.2, 0.2, 0.1)
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).max() > 1
    np.testing.assert_array_equal(color.color_jitter(images, KEY), images)  # all ranges empty


def test_lighting_adds_the_pca_increment():
    eigval = np.array([0.2175, 0.0188, 0.0045])
    eigvec = np.array([[-0.5675, 0.7192, 0.4009], [-0.5808, -0.0045, -0.8140], [-0.5836, -0.6948, 0.4203]])
    alpha = np.array([0.05, -0.2, 0.1])
    image = np.full((3, 3, 3), 128.0, np.float32)
    expected = image + 255 * eigvec @ (alpha * eigval)
    np.testing.assert_allclose(color.apply_lighting(image, alpha), expected, rtol=1e-5)


def test_released_lighting_is_reactnets_uint8_arithmetic():
    """ReActNet's utils.Lighting: np.add(uint8 image, increment), clip, astype(uint8)."""
    eigval = np.array([0.2175, 0.0188, 0.0045])
    eigvec = np.array([[-0.5675, 0.7192, 0.4009], [-0.5808, -0.0045, -0.8140], [-0.5836, -0.6948, 0.4203]])
    image = np.random.default_rng(3).integers(0, 256, (4, 4, 3)).astype(np.uint8)
    for alpha in ([0.1, 0.0, 0.0], [-0.1, 0.0, 0.0], [0.03, -0.15, 0.2]):
        official = np.clip(np.add(image, eigvec @ (np.array(alpha) * eigval)), 0, 255).astype(np.uint8)
        ours = color.apply_lighting(image.astype(np.float32), alpha, released=True).numpy()
        np.testing.assert_array_equal(ours, official)


def test_lighting_draws_alpha_with_the_given_std():
    images = np.full((3000, 1, 1, 3), 128.0, np.float32)
    out = color.lighting(images, KEY, 0.1).numpy()[:, 0, 0, :] - 128.0
    eigval = np.array([0.2175, 0.0188, 0.0045])
    eigvec = np.array([[-0.5675, 0.7192, 0.4009], [-0.5808, -0.0045, -0.8140], [-0.5836, -0.6948, 0.4203]])
    alpha = np.linalg.solve(eigvec, out.T / 255.0).T / eigval
    assert abs(alpha.std() - 0.1) < 0.005 and abs(alpha.mean()) < 0.005
    np.testing.assert_array_equal(out + 128.0, color.lighting(images, KEY, 0.1).numpy()[:, 0, 0, :])


def test_grey_lighting_takes_the_grey_level_of_the_increment():
    alpha = np.array([0.05, -0.2, 0.1])
    rgb = color.apply_lighting(np.full((2, 2, 3), 100.0, np.float32), alpha).numpy()
    grey = color.apply_lighting(np.full((2, 2, 1), 100.0, np.float32), alpha).numpy()
    np.testing.assert_allclose(grey[..., 0], rgb @ np.array([0.299, 0.587, 0.114]), rtol=1e-5)
