"""timm's RandAugment (Cubuk et al. 2020, arXiv:1909.13719) in TensorFlow, stateless.

:func:`parse_randaugment` reads timm's config string (BNext / ES-BNN:
``"rand-m7-mstd0.5-inc1"``); :func:`rand_augment` applies it to one image in [0, 255]:
``num_layers`` ops drawn uniformly with replacement from timm's 15 ops, each applied with
probability 0.5 at a magnitude ~ N(m, mstd²) clipped to [0, mmax], with timm's
magnitude-to-argument rules. Pixels are integers between ops, as in PIL, and every op
computes what PIL computes (the geometric ops bilinear or bicubic). What is reproduced and
what is not: docs/guides/data.md.
"""

from __future__ import annotations

import dataclasses
import math
import re

import tensorflow as tf

from lq_ext.data.color import GREY_WEIGHTS, blend, grey

__all__ = [
    "FILL",
    "INCREASING_OPS",
    "INTERPOLATIONS",
    "OPS",
    "RandAugmentConfig",
    "op_arguments",
    "parse_randaugment",
    "rand_augment",
    "rand_augment_batch",
]

#: timm's op lists: ``_RAND_TRANSFORMS`` and, with ``inc1``, ``_RAND_INCREASING_TRANSFORMS``.
OPS = (
    "AutoContrast", "Equalize", "Invert", "Rotate", "Posterize", "Solarize", "SolarizeAdd",
    "Color", "Contrast", "Brightness", "Sharpness", "ShearX", "ShearY", "TranslateXRel",
    "TranslateYRel",
)
INCREASING_OPS = (
    "AutoContrast", "Equalize", "Invert", "Rotate", "PosterizeIncreasing", "SolarizeIncreasing",
    "SolarizeAdd", "ColorIncreasing", "ContrastIncreasing", "BrightnessIncreasing",
    "SharpnessIncreasing", "ShearX", "ShearY", "TranslateXRel", "TranslateYRel",
)
#: Fill of the geometric ops: timm's ``img_mean``, ``round(255 · ImageNet mean)``.
FILL = (124, 116, 104)
_LEVEL_DENOM = 10.0
_SIGNED = {"Rotate", "ShearX", "ShearY", "TranslateXRel", "TranslateYRel", "ColorIncreasing",
           "ContrastIncreasing", "BrightnessIncreasing", "SharpnessIncreasing"}


@dataclasses.dataclass(frozen=True)
class RandAugmentConfig:
    """A parsed timm RandAugment string: magnitude ``m``, ops per image ``n``, magnitude
    noise ``mstd`` (inf: uniform in [0, m]), upper bound ``mmax``, the increasing op set."""

    magnitude: int = 10
    num_layers: int = 2
    magnitude_std: float = 0.0
    magnitude_max: int = 10
    increasing: bool = False

    @property
    def ops(self) -> tuple:
        return INCREASING_OPS if self.increasing else OPS


def parse_randaugment(config: str) -> RandAugmentConfig:
    """timm's ``rand_augment_transform`` config string → :class:`RandAugmentConfig`.

    ``"rand"`` followed by ``-`` sections ``m<int>``, ``n<int>``, ``mstd<float>`` (> 100:
    uniform), ``mmax<int>``, ``inc<0|1>``. timm's ``w<int>`` (weighted op choice) is refused,
    as is any unknown or valueless section (timm skips those silently).
    """
    if not isinstance(config, str) or not config.split("-")[0] == "rand":
        raise ValueError(
            f"randaugment={config!r} is not allowed: randaugment must be a timm RandAugment string "
            f"'rand-…', e.g. 'rand-m7-mstd0.5-inc1' (BNext)."
        )
    values = {}
    for section in config.split("-")[1:]:
        match = re.fullmatch(r"(mstd|mmax|inc|m|n)(\d+(?:\.\d*)?)", section)
        if match is None:
            raise ValueError(
                f"randaugment={config!r}: section {section!r} is not allowed; sections are m<int>, "
                f"n<int>, mstd<float>, mmax<int>, inc<0|1> (timm's weighted choice w<int> is not supported)."
            )
        key, text = match.groups()
        if key != "mstd" and "." in text:
            raise ValueError(f"randaugment={config!r}: {key} must be an integer, got {text!r}.")
        values[key] = text
    std = float(values.get("mstd", 0.0))
    parsed = RandAugmentConfig(
        magnitude=int(values.get("m", 10)), num_layers=int(values.get("n", 2)),
        magnitude_std=math.inf if std > 100 else std, magnitude_max=int(values.get("mmax", 10)),
        increasing=int(values.get("inc", 0)) != 0,
    )
    if parsed.num_layers < 1:
        raise ValueError(f"randaugment={config!r}: n must be ≥ 1, got n={parsed.num_layers}.")
    return parsed


# ------------------------------------------------------------------------- the ops


def _round(x):
    return tf.clip_by_value(tf.round(x), 0.0, 255.0)


def _blend_uint8(degenerate, image, factor):
    """PIL's ``Image.blend`` on uint8 images: the blend truncated to an integer."""
    return tf.floor(blend(degenerate, image, factor))


def _grey_uint8(image):
    return _round(grey(image[None])[0])


def _per_channel(image, fn):
    return tf.stack([fn(image[..., c]) for c in range(image.shape[-1])], axis=-1)


def auto_contrast(image):
    """Per channel: ``[min, max]`` stretched to [0, 255] (PIL ``ImageOps.autocontrast``)."""
    def channel(x):
        lo, hi = tf.reduce_min(x), tf.reduce_max(x)
        scale = 255.0 / tf.cast(tf.maximum(hi - lo, 1.0), tf.float64)  # as PIL, in double
        out = tf.floor(tf.cast(x, tf.float64) * scale - tf.cast(lo, tf.float64) * scale)
        return tf.where(hi > lo, tf.cast(tf.clip_by_value(out, 0.0, 255.0), tf.float32), x)
    return _per_channel(image, channel)


def equalize(image):
    """Per channel histogram equalization (PIL ``ImageOps.equalize``)."""
    def channel(x):
        index = tf.cast(x, tf.int32)
        hist = tf.math.bincount(tf.reshape(index, [-1]), minlength=256, maxlength=256)
        nonzero = tf.boolean_mask(hist, hist > 0)
        step = (tf.reduce_sum(nonzero) - nonzero[-1]) // 255
        safe = tf.maximum(step, 1)
        lut = (step // 2 + tf.cumsum(hist, exclusive=True)) // safe
        out = tf.cast(tf.minimum(tf.gather(lut, index), 255), tf.float32)
        return tf.where((tf.size(nonzero) > 1) & (step > 0), out, x)
    return _per_channel(image, channel)


def invert(image):
    return 255.0 - image


def posterize(image, bits):
    """Keep the ``bits`` most significant bits (8 or more: unchanged)."""
    quantum = tf.pow(2.0, 8.0 - tf.cast(tf.minimum(bits, 8), tf.float32))
    return tf.floor(image / quantum) * quantum


def solarize(image, threshold):
    """Invert the pixels ≥ ``threshold``."""
    return tf.where(image >= tf.cast(threshold, tf.float32), 255.0 - image, image)


def solarize_add(image, add, threshold=128):
    """Add ``add`` to the pixels < ``threshold``, clipped at 255."""
    return tf.where(image < threshold, tf.minimum(image + tf.cast(add, tf.float32), 255.0), image)


def enhance_color(image, factor):
    """PIL ``ImageEnhance.Color``: a blend with the (uint8) grey image."""
    return _blend_uint8(_grey_uint8(image), image, factor)


def enhance_contrast(image, factor):
    """PIL ``ImageEnhance.Contrast``: a blend with the rounded mean grey level."""
    mean = tf.floor(tf.reduce_mean(_grey_uint8(image)) + 0.5)
    return _blend_uint8(mean, image, factor)


def enhance_brightness(image, factor):
    """PIL ``ImageEnhance.Brightness``: a blend with black."""
    return _blend_uint8(tf.zeros_like(image), image, factor)


def enhance_sharpness(image, factor):
    """PIL ``ImageEnhance.Sharpness``: a blend with the image smoothed by PIL's SMOOTH
    kernel ``[[1, 1, 1], [1, 5, 1], [1, 1, 1]] / 13`` (rounded; border pixels kept)."""
    kernel = tf.constant([[1.0, 1.0, 1.0], [1.0, 5.0, 1.0], [1.0, 1.0, 1.0]]) / 13.0
    channels = image.shape[-1]
    kernel = tf.tile(kernel[:, :, None, None], [1, 1, channels, 1])
    smooth = tf.round(tf.nn.depthwise_conv2d(image[None], kernel, [1, 1, 1, 1], "VALID")[0])
    padded = tf.pad(smooth - image[1:-1, 1:-1], [[1, 1], [1, 1], [0, 0]])
    return _blend_uint8(image + padded, image, factor)


def _fill(channels):
    if channels == 1:
        return tf.constant([round(sum(w * f for w, f in zip(GREY_WEIGHTS, FILL)))], tf.float32)
    return tf.constant(FILL, tf.float32)


#: Resampling of the geometric ops (timm: the pipeline's interpolation; BNext: bicubic).
INTERPOLATIONS = ("bilinear", "bicubic")


def _cubic(v1, v2, v3, v4, d):
    """PIL's cubic convolution (a = −1) through v2 (d = 0) and v3 (d = 1)."""
    return v2 + d * ((v3 - v1) + d * ((2.0 * (v1 - v2) + v3 - v4) + d * (v2 - v1 + v4 - v3)))


def _f64(value):
    """float64 without a detour through float32 for Python numbers (PIL computes in double)."""
    return tf.cast(value, tf.float64) if tf.is_tensor(value) else tf.constant(value, tf.float64)


def _affine(image, matrix, interpolation="bilinear"):
    """PIL's ``Image.transform(size, AFFINE, matrix, resample, fillcolor=FILL)``: output
    pixel (x, y) samples the input at ``matrix · (x + ½, y + ½, 1)`` (continuous
    coordinates) from 2×2 (bilinear) or 4×4 (bicubic, PIL's a = −1 kernel) neighbours
    clamped at the border, in double precision as PIL; :data:`FILL` where that point lies
    outside the image; the result clipped and truncated to an integer."""
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"interpolation must be one of {list(INTERPOLATIONS)}, got {interpolation!r}.")
    matrix = tf.reshape(tf.stack([_f64(value) for value in matrix]), [2, 3])
    size = tf.shape(image)[:2]
    ys, xs = tf.meshgrid(tf.range(size[0], dtype=tf.float64), tf.range(size[1], dtype=tf.float64), indexing="ij")
    source_x = matrix[0, 0] * (xs + 0.5) + matrix[0, 1] * (ys + 0.5) + matrix[0, 2]
    source_y = matrix[1, 0] * (xs + 0.5) + matrix[1, 1] * (ys + 0.5) + matrix[1, 2]
    height, width = (tf.cast(d, tf.float64) for d in (size[0], size[1]))
    inside = (source_x >= 0.0) & (source_x < width) & (source_y >= 0.0) & (source_y < height)
    source_x, source_y = source_x - 0.5, source_y - 0.5  # pixel indices
    x0, y0 = tf.floor(source_x), tf.floor(source_y)
    dx, dy = (source_x - x0)[..., None], (source_y - y0)[..., None]
    pixels = tf.cast(image, tf.float64)

    def row(j, offsets):
        rows = tf.clip_by_value(tf.cast(y0, tf.int32) + j, 0, size[0] - 1)
        return [
            tf.gather_nd(pixels, tf.stack([rows, tf.clip_by_value(tf.cast(x0, tf.int32) + i, 0, size[1] - 1)], -1))
            for i in offsets
        ]

    if interpolation == "bilinear":
        top, bottom = ((a + (b - a) * dx) for a, b in (row(0, (0, 1)), row(1, (0, 1))))
        out = top + (bottom - top) * dy
    else:
        out = _cubic(*(_cubic(*row(j, (-1, 0, 1, 2)), dx) for j in (-1, 0, 1, 2)), dy)
    out = tf.cast(tf.floor(tf.clip_by_value(out, 0.0, 255.0)), tf.float32)
    return tf.where(inside[..., None], out, _fill(image.shape[-1]))


def rotate(image, degrees, interpolation="bilinear"):
    """PIL ``Image.rotate(degrees)``: counter-clockwise about the centre."""
    height, width = (tf.cast(d, tf.float64) for d in (tf.shape(image)[0], tf.shape(image)[1]))
    theta = -_f64(degrees) * math.pi / 180.0
    cos, sin = tf.cos(theta), tf.sin(theta)
    cx, cy = width / 2.0, height / 2.0
    return _affine(image, [cos, sin, cos * -cx + sin * -cy + cx, -sin, cos, -sin * -cx + cos * -cy + cy], interpolation)


def shear_x(image, factor, interpolation="bilinear"):
    """PIL's affine ``(1, factor, 0, 0, 1, 0)``."""
    factor = _f64(factor)
    return _affine(image, [1.0, factor, 0.0, 0.0, 1.0, 0.0], interpolation)


def shear_y(image, factor, interpolation="bilinear"):
    """PIL's affine ``(1, 0, 0, factor, 1, 0)``."""
    factor = _f64(factor)
    return _affine(image, [1.0, 0.0, 0.0, factor, 1.0, 0.0], interpolation)


def translate_x(image, pixels, interpolation="bilinear"):
    """PIL's affine ``(1, 0, pixels, 0, 1, 0)``: the image moves left by ``pixels``."""
    return _affine(image, [1.0, 0.0, pixels, 0.0, 1.0, 0.0], interpolation)


def translate_y(image, pixels, interpolation="bilinear"):
    """PIL's affine ``(1, 0, 0, 0, 1, pixels)``."""
    return _affine(image, [1.0, 0.0, 0.0, 0.0, 1.0, pixels], interpolation)


def op_arguments(name, magnitude, negate):
    """timm's ``LEVEL_TO_ARG`` for op ``name`` at ``magnitude`` (in [0, mmax]); ``negate``
    (a bool tensor) is timm's ``_randomly_negate`` draw, used by the signed ops."""
    if name in ("AutoContrast", "Equalize", "Invert"):
        return tf.constant(0.0)  # no argument
    level = tf.cast(magnitude, tf.float32) / _LEVEL_DENOM
    sign = tf.where(negate, -1.0, 1.0)
    integer = {"Posterize": 4.0, "PosterizeIncreasing": 4.0, "Solarize": 256.0,
               "SolarizeIncreasing": 256.0, "SolarizeAdd": 110.0}
    if name in integer:
        value = tf.floor(level * integer[name])
        return {"PosterizeIncreasing": 4.0 - value, "SolarizeIncreasing": 256.0 - value}.get(name, value)
    if name in ("Color", "Contrast", "Brightness", "Sharpness"):
        return level * 1.8 + 0.1
    if name.endswith("Increasing"):
        return tf.maximum(0.1, 1.0 + sign * level * 0.9)
    scale = {"Rotate": 30.0, "ShearX": 0.3, "ShearY": 0.3, "TranslateXRel": 0.45, "TranslateYRel": 0.45}
    return sign * level * scale[name]


def _apply(name, image, argument, interpolation):
    base = name.replace("Increasing", "")
    if base in ("AutoContrast", "Equalize", "Invert"):
        return {"AutoContrast": auto_contrast, "Equalize": equalize, "Invert": invert}[base](image)
    if base == "TranslateXRel":
        return translate_x(image, _f64(argument) * _f64(tf.shape(image)[1]), interpolation)
    if base == "TranslateYRel":
        return translate_y(image, _f64(argument) * _f64(tf.shape(image)[0]), interpolation)
    ops = {"Rotate": rotate, "Posterize": posterize, "Solarize": solarize, "SolarizeAdd": solarize_add,
           "Color": enhance_color, "Contrast": enhance_contrast, "Brightness": enhance_brightness,
           "Sharpness": enhance_sharpness, "ShearX": shear_x, "ShearY": shear_y}
    if base in ("Rotate", "ShearX", "ShearY"):
        return ops[base](image, argument, interpolation)
    return ops[base](image, argument)


def rand_augment(image, key, config: RandAugmentConfig, interpolation: str = "bilinear"):
    """timm's ``RandAugment`` on one (H, W, C) image in [0, 255] (rounded to integers
    first), from the int64 ``key`` (stateless), the geometric ops resampled with
    ``interpolation`` (``"bilinear"`` or ``"bicubic"``). Returns integer-valued float32."""
    if isinstance(config, str):
        config = parse_randaugment(config)
    image = _round(tf.convert_to_tensor(image, tf.float32))
    shape, ops = image.shape, config.ops

    def layer(index, image):  # one op: a loop body, so the graph holds the 15 ops once
        seeds = [tf.stack([tf.cast(key, tf.int64), 4 * tf.cast(index, tf.int64) + i]) for i in range(4)]
        choice = tf.random.stateless_uniform([], seeds[0], minval=0, maxval=len(ops), dtype=tf.int32)
        apply, negate = tf.unstack(tf.random.stateless_uniform([2], seeds[1]) < 0.5)
        magnitude = tf.constant(float(config.magnitude))
        if math.isinf(config.magnitude_std):
            magnitude = tf.random.stateless_uniform([], seeds[2], 0.0, magnitude)
        elif config.magnitude_std > 0:
            magnitude = magnitude + config.magnitude_std * tf.random.stateless_normal([], seeds[2])
        magnitude = tf.clip_by_value(magnitude, 0.0, float(config.magnitude_max))
        branches = [
            (lambda name=name: _apply(name, image, op_arguments(name, magnitude, negate), interpolation))
            for name in ops
        ]
        out = tf.cond(apply, lambda: tf.switch_case(choice, branches), lambda: image)
        out.set_shape(shape)
        return index + 1, out

    _, image = tf.while_loop(
        lambda index, _: index < config.num_layers, layer, (tf.constant(0), image),
        shape_invariants=(tf.TensorShape([]), shape),
    )
    return image


def rand_augment_batch(images, key, config: RandAugmentConfig, interpolation: str = "bilinear"):
    """:func:`rand_augment` on each image of a (B, H, W, C) batch, image *i* keyed by
    ``(key, i)``."""
    images = tf.convert_to_tensor(images, tf.float32)
    count = tf.shape(images)[0]
    keys = tf.map_fn(
        lambda i: tf.random.stateless_uniform(
            [], tf.stack([tf.cast(key, tf.int64), i]), minval=None, maxval=None, dtype=tf.int64),
        tf.range(tf.cast(count, tf.int64)),
    )
    return tf.map_fn(
        lambda pair: rand_augment(pair[0], pair[1], config, interpolation), (images, keys),
        fn_output_signature=tf.TensorSpec(images.shape[1:], tf.float32),
    )
