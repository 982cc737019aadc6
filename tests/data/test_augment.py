"""lq_ext.data.augment: the per-image crops (the batch pad-crop-flip is checked through
the pipelines in test_pipelines.py, pixel by pixel)."""

import numpy as np
import tensorflow as tf

from lq_ext.data import augment


def _coordinate_image(height, width):
    rows = np.broadcast_to(np.arange(height)[:, None], (height, width))
    cols = np.broadcast_to(np.arange(width)[None, :], (height, width))
    return np.stack([rows, cols, np.zeros_like(rows)], axis=-1).astype(np.uint8)


def test_random_resized_crop_area_ratio_and_flip():
    image = tf.constant(_coordinate_image(200, 200))
    flips, areas = 0, []
    for key in range(40):
        out = augment.random_resized_crop_flip(image, tf.constant(key, tf.int64), (50, 50))
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
    again = augment.random_resized_crop_flip(image, tf.constant(3, tf.int64), (50, 50))
    same = augment.random_resized_crop_flip(image, tf.constant(3, tf.int64), (50, 50))
    np.testing.assert_array_equal(again.numpy(), same.numpy())


def test_resize_central_crop_keeps_the_central_0875():
    image = tf.constant(_coordinate_image(200, 250))
    out = augment.resize_central_crop(image, (56, 56)).numpy()
    assert out.shape == (56, 56, 3)
    # shorter side 200 -> 64, crop 56 of 64: rows 12.5 .. 187.5 of the original
    assert abs(out[0, :, 0].mean() - 12.5) < 2.5 and abs(out[-1, :, 0].mean() - 187.5) < 2.5
    # width 250 -> 80, crop 56 of 80 centred: cols 37.5 .. 212.5
    assert abs(out[:, 0, 1].mean() - 37.5) < 3.5 and abs(out[:, -1, 1].mean() - 212.5) < 3.5
