"""The papers' augmentations and evaluation crops, on ``tf.data`` images in [0, 255].

- :func:`pad_crop_flip`: ResNet's CIFAR recipe (He et al. 2016, arXiv:1512.03385) on a
  batch: zero-pad 4 px, random crop back, random horizontal flip.
- :func:`random_resized_crop_flip` / :func:`resize_central_crop`: ReActNet's ImageNet
  training crop and evaluation crop (Liu et al. 2020, arXiv:2003.03488), per image.

Randomness is stateless, seeded by a ``key`` per batch or image. Provenance and the
differences from torchvision: docs/guides/data.md.
"""

from __future__ import annotations

import tensorflow as tf

__all__ = [
    "CROP_FRACTION",
    "PAD",
    "RRC_ATTEMPTS",
    "RRC_RATIO",
    "RRC_SCALE",
    "pad_crop_flip",
    "random_resized_crop_flip",
    "resize",
    "resize_central_crop",
]

#: Zero padding (pixels, each side) before the random crop of the 32/64-px datasets.
PAD = 4
#: Evaluation crop: the central ``CROP_FRACTION`` of the resized image (224 of 256).
CROP_FRACTION = 0.875
#: Random-resized crop: area fraction and aspect ratio (width / height) ranges.
RRC_SCALE = (0.08, 1.0)
RRC_RATIO = (3.0 / 4.0, 4.0 / 3.0)
RRC_ATTEMPTS = 10


def _seed_pair(key, index: int):
    return tf.stack([tf.cast(key, tf.int64), tf.constant(index, tf.int64)])


def resize(images, size, method: str = "bilinear"):
    """Bilinear (or ``method="bicubic"``), antialiased resize (as PIL's in torchvision),
    clipped to [0, 255]."""
    resized = tf.image.resize(images, size, method=method, antialias=True)
    return tf.clip_by_value(resized, 0.0, 255.0)  # antialiasing can overshoot slightly


def pad_crop_flip(images, key, pad: int = PAD):
    """Per image of a batch: zero-pad ``pad`` px, random crop back to H×W, random flip.

    Exact pixel copies (gathers), stateless randomness seeded by ``key``.
    """
    height, width = images.shape[1], images.shape[2]
    batch = tf.shape(images)[0]
    padded = tf.pad(images, [[0, 0], [pad, pad], [pad, pad], [0, 0]])
    top = tf.random.stateless_uniform(
        [batch], _seed_pair(key, 0), minval=0, maxval=2 * pad + 1, dtype=tf.int32
    )
    left = tf.random.stateless_uniform(
        [batch], _seed_pair(key, 1), minval=0, maxval=2 * pad + 1, dtype=tf.int32
    )
    flip = tf.random.stateless_uniform([batch], _seed_pair(key, 2)) < 0.5
    rows = top[:, None] + tf.range(height)[None, :]
    cols = left[:, None] + tf.range(width)[None, :]
    cols = tf.where(flip[:, None], tf.reverse(cols, axis=[1]), cols)
    out = tf.gather(padded, rows, axis=1, batch_dims=1)
    return tf.gather(out, cols, axis=2, batch_dims=1)


def _decode(image):
    if image.dtype == tf.string:
        image = tf.io.decode_image(image, channels=3, expand_animations=False)
        image.set_shape([None, None, 3])
    return image


def random_resized_crop_flip(image, key, size, method: str = "bilinear"):
    """ReActNet / Bi-Real Net ImageNet training crop of one image, then a random flip.

    A crop of area fraction :data:`RRC_SCALE` and aspect ratio :data:`RRC_RATIO`
    (TensorFlow's ``stateless_sample_distorted_bounding_box``; the whole image after
    :data:`RRC_ATTEMPTS` failed attempts), resized to ``size`` (``method``: "bilinear" or
    "bicubic"). ``image`` may be an encoded string (decoded to RGB first).
    """
    image = _decode(image)
    begin, crop_size, _ = tf.image.stateless_sample_distorted_bounding_box(
        tf.shape(image),
        bounding_boxes=tf.constant([[[0.0, 0.0, 1.0, 1.0]]]),
        seed=_seed_pair(key, 0),
        min_object_covered=0.0,
        aspect_ratio_range=RRC_RATIO,
        area_range=RRC_SCALE,
        max_attempts=RRC_ATTEMPTS,
        use_image_if_no_bounding_boxes=True,
    )
    crop = tf.slice(image, begin, crop_size)
    out = resize(crop, size, method)
    flip = tf.random.stateless_uniform([], _seed_pair(key, 1)) < 0.5
    out = tf.where(flip, tf.reverse(out, axis=[1]), out)
    out.set_shape([size[0], size[1], 3])
    return out


def resize_central_crop(image, size, crop_fraction: float = CROP_FRACTION, method: str = "bilinear"):
    """Evaluation: resize (``method``) so that ``size`` is ``crop_fraction`` of it, central crop."""
    image = _decode(image)
    shape = tf.cast(tf.shape(image)[:2], tf.float32)
    target = tf.constant(size, tf.float32) / crop_fraction
    scale = tf.reduce_max(target / shape)
    new = tf.maximum(tf.cast(tf.round(shape * scale), tf.int32), tf.constant(size, tf.int32))
    out = resize(image, new, method)
    top = (new[0] - size[0]) // 2
    left = (new[1] - size[1]) // 2
    out = out[top : top + size[0], left : left + size[1], :]
    out.set_shape([size[0], size[1], 3])
    return out
