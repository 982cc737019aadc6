"""Colour augmentations on images in [0, 255]: torchvision's ``ColorJitter`` and AlexNet's
PCA ``Lighting`` noise, with stateless randomness.

- :func:`color_jitter`: brightness, contrast and saturation factors uniform in
  ``[max(0, 1 − x), 1 + x]``, a hue shift uniform in ``[−h, h]`` (fractions of the hue
  circle), the four applied in a random order per image (BCDNet's step 1:
  ``ColorJitter(0.2, 0.2, 0.2, 0.1)``).
- :func:`lighting`: ``image + eigvec · (α · eigval)``, α ~ N(0, std²) per image (ReActNet's
  ``Lighting(0.1)``; ``released=True`` is what its released code computes).

Images are float (H, W, C) or a batch (B, H, W, C), C = 3 (RGB) or 1 (grey: saturation and
hue leave it unchanged, as torchvision does for a grey PIL image). The formulas, the
sources and what differs from torchvision: docs/guides/data.md.
"""

from __future__ import annotations

import tensorflow as tf

__all__ = [
    "GREY_WEIGHTS",
    "IMAGENET_EIGVAL",
    "IMAGENET_EIGVEC",
    "adjust_brightness",
    "adjust_contrast",
    "adjust_hue",
    "adjust_saturation",
    "apply_lighting",
    "blend",
    "color_jitter",
    "grey",
    "jitter_parameters",
    "jitter_ranges",
    "lighting",
    "lighting_increment",
]

#: ITU-R 601-2 luma weights (R, G, B), torchvision's ``rgb_to_grayscale`` and PIL's "L".
GREY_WEIGHTS = (0.299, 0.587, 0.114)
#: ImageNet's RGB PCA (pixels in [0, 1]): eigenvalues and eigenvectors (columns), as in
#: AlexNet's lighting noise and ReActNet's ``utils/utils.py`` ``imagenet_pca``.
IMAGENET_EIGVAL = (0.2175, 0.0188, 0.0045)
IMAGENET_EIGVEC = (
    (-0.5675, 0.7192, 0.4009),
    (-0.5808, -0.0045, -0.8140),
    (-0.5836, -0.6948, 0.4203),
)


def _seed_pair(key, index: int):
    return tf.stack([tf.cast(key, tf.int64), tf.constant(index, tf.int64)])


def _as_batch(images):
    """``(batch, single)``: the images as a rank-4 batch, and whether one image was given."""
    images = tf.convert_to_tensor(images, tf.float32)
    if images.shape.rank == 3:
        return images[None], True
    if images.shape.rank == 4:
        return images, False
    raise ValueError(f"images must be (H, W, C) or (B, H, W, C), got shape {images.shape}.")


def _per_image(factor):
    """A scalar or (B,) factor, broadcastable against (B, H, W, C)."""
    factor = tf.cast(factor, tf.float32)
    return tf.reshape(factor, [-1, 1, 1, 1]) if factor.shape.rank else factor


def grey(images):
    """The grey level of rank-4 images, ``0.299 R + 0.587 G + 0.114 B`` (B, H, W, 1); a grey
    (1-channel) image is its own grey level."""
    if images.shape[-1] == 1:
        return images
    return tf.reduce_sum(images * tf.constant(GREY_WEIGHTS, tf.float32), axis=-1, keepdims=True)


def blend(degenerate, images, factor):
    """``degenerate + factor · (images − degenerate)``, clipped to [0, 255] (PIL's
    ``ImageEnhance`` blend, unrounded)."""
    return tf.clip_by_value(degenerate + factor * (images - degenerate), 0.0, 255.0)


def adjust_brightness(images, factor):
    """``factor · image`` clipped to [0, 255] (a blend with black)."""
    batch, single = _as_batch(images)
    out = blend(tf.zeros_like(batch), batch, _per_image(factor))
    return out[0] if single else out


def adjust_contrast(images, factor):
    """A blend with the image's mean grey level (one value per image)."""
    batch, single = _as_batch(images)
    mean = tf.reduce_mean(grey(batch), axis=[1, 2, 3], keepdims=True)
    out = blend(mean, batch, _per_image(factor))
    return out[0] if single else out


def adjust_saturation(images, factor):
    """A blend with the image's grey version (0 → grey, 1 → unchanged); grey images
    are unchanged."""
    batch, single = _as_batch(images)
    out = blend(grey(batch), batch, _per_image(factor))
    return out[0] if single else out


def adjust_hue(images, delta):
    """Rotate the hue by ``delta`` (a fraction of the circle, per image or one value) in
    HSV; grey images are unchanged."""
    batch, single = _as_batch(images)
    if batch.shape[-1] == 1:
        return images if single else batch
    hsv = tf.image.rgb_to_hsv(batch / 255.0)
    shift = tf.reshape(tf.cast(delta, tf.float32), [-1, 1, 1])
    hue = tf.math.floormod(hsv[..., 0] + shift, 1.0)
    out = tf.image.hsv_to_rgb(tf.stack([hue, hsv[..., 1], hsv[..., 2]], axis=-1)) * 255.0
    out = tf.clip_by_value(out, 0.0, 255.0)
    return out[0] if single else out


def jitter_ranges(brightness, contrast, saturation, hue):
    """The sampling ranges ``((lo, hi) × 3, (−hue, hue))`` of torchvision's ``ColorJitter``."""
    return (
        (max(0.0, 1.0 - brightness), 1.0 + brightness),
        (max(0.0, 1.0 - contrast), 1.0 + contrast),
        (max(0.0, 1.0 - saturation), 1.0 + saturation),
        (-hue, hue),
    )


def jitter_parameters(key, count, brightness=0.0, contrast=0.0, saturation=0.0, hue=0.0):
    """The draws of :func:`color_jitter` for ``count`` images from ``key``: a (count, 4)
    tensor of (brightness, contrast, saturation factors, hue shift) and a (count, 4) order
    (a uniform random permutation of 0–3 per image: 0 brightness, 1 contrast,
    2 saturation, 3 hue)."""
    ranges = jitter_ranges(float(brightness), float(contrast), float(saturation), float(hue))
    draws = tf.stack([
        tf.random.stateless_uniform([count], _seed_pair(key, i), minval=lo, maxval=hi)
        for i, (lo, hi) in enumerate(ranges)
    ], axis=1)
    # a uniform permutation per image: the argsort of four uniform draws
    order = tf.argsort(tf.random.stateless_uniform([count, 4], _seed_pair(key, 4)), axis=1)
    return draws, order


def color_jitter(images, key, brightness=0.0, contrast=0.0, saturation=0.0, hue=0.0):
    """torchvision's ``ColorJitter(brightness, contrast, saturation, hue)`` per image.

    Each image draws its three factors uniformly in ``[max(0, 1 − x), 1 + x]``, its hue
    shift in ``[−hue, hue]`` and an order of the four adjustments (a uniform random
    permutation), all from the int64 ``key`` (stateless; :func:`jitter_parameters`). An
    adjustment whose range has zero width is skipped, as in torchvision.
    """
    batch, single = _as_batch(images)
    draws, order = jitter_parameters(key, tf.shape(batch)[0], brightness, contrast, saturation, hue)
    ranges = jitter_ranges(float(brightness), float(contrast), float(saturation), float(hue))
    ops = (adjust_brightness, adjust_contrast, adjust_saturation, adjust_hue)
    out = batch
    for position in range(4):
        chosen = order[:, position][:, None, None, None]
        result = out
        for index, op in enumerate(ops):
            if ranges[index][0] != ranges[index][1]:
                result = tf.where(chosen == index, op(out, draws[:, index]), result)
        out = result
    return out[0] if single else out


def lighting_increment(alpha):
    """``eigvec · (alpha · eigval)`` for (…, 3) ``alpha``: the PCA lighting increment on
    the [0, 1] pixel scale (ImageNet's :data:`IMAGENET_EIGVAL` / :data:`IMAGENET_EIGVEC`)."""
    alpha = tf.convert_to_tensor(alpha, tf.float32)
    weighted = alpha * tf.constant(IMAGENET_EIGVAL, tf.float32)
    return tf.linalg.matvec(tf.constant(IMAGENET_EIGVEC, tf.float32), weighted)


def apply_lighting(images, alpha, released: bool = False):
    """Add the lighting increment of ``alpha`` ((3,) or (B, 3)) to images in [0, 255].

    ``released=False`` (AlexNet): ``clip(image + 255 · increment)``. ``released=True``
    (ReActNet's released ``Lighting``, which adds the [0, 1]-scale increment to uint8
    pixels and truncates back to uint8): ``clip(image + floor(increment))``, each channel
    unchanged or one grey level darker. A grey (1-channel) image takes the increment's
    grey level (:data:`GREY_WEIGHTS`).
    """
    batch, single = _as_batch(images)
    increment = tf.reshape(lighting_increment(alpha), [-1, 3])
    if batch.shape[-1] == 1:
        increment = tf.reduce_sum(increment * tf.constant(GREY_WEIGHTS, tf.float32), -1, keepdims=True)
    increment = tf.floor(increment) if released else 255.0 * increment
    out = tf.clip_by_value(batch + increment[:, None, None, :], 0.0, 255.0)
    return out[0] if single else out


def lighting(images, key, std=0.1, released: bool = False):
    """AlexNet's PCA lighting noise per image: :func:`apply_lighting` with
    ``alpha ~ N(0, std²)`` (3 values per image) drawn from the int64 ``key`` (stateless)."""
    batch, single = _as_batch(images)
    alpha = tf.random.stateless_normal([tf.shape(batch)[0], 3], _seed_pair(key, 0)) * std
    out = apply_lighting(batch, alpha, released)
    return out[0] if single else out
