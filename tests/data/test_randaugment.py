"""lq_ext.data.randaugment: timm's RandAugment config string, magnitude rules and each op
against PIL's ImageOps / ImageEnhance / Image.transform (the functions timm calls)."""

import math

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image, ImageEnhance, ImageOps

from lq_ext.data import randaugment as ra

RNG = np.random.default_rng(0)
NOISE = RNG.integers(20, 230, (16, 20, 3), dtype=np.uint8)
_Y, _X = np.mgrid[0:16, 0:20]
RAMP = np.stack([_X * 10 + 20, _Y * 12 + 10, (_X + _Y) * 5 + 30], -1).astype(np.uint8)
FILL = (124, 116, 104)  # timm's img_mean for ImageNet's mean


def test_parse_bnexts_config():
    config = ra.parse_randaugment("rand-m7-mstd0.5-inc1")
    assert config == ra.RandAugmentConfig(magnitude=7, num_layers=2, magnitude_std=0.5,
                                          magnitude_max=10, increasing=True)
    assert config.ops == ra.INCREASING_OPS and len(config.ops) == 15
    assert ra.parse_randaugment("rand-m9-n3-mstd101-mmax12") == ra.RandAugmentConfig(
        magnitude=9, num_layers=3, magnitude_std=math.inf, magnitude_max=12, increasing=False)
    assert ra.parse_randaugment("rand").ops == ra.OPS


@pytest.mark.parametrize("bad", ["rand-w0", "rand-m7-x3", "augmix-m3", "rand-m7.5", "rand-n0", 7, "rand-mstd"])
def test_bad_configs_are_refused(bad):
    with pytest.raises(ValueError, match="randaugment"):
        ra.parse_randaugment(bad)


@pytest.mark.parametrize(
    "name, negate, expected",
    [("Rotate", False, 21.0), ("Rotate", True, -21.0), ("PosterizeIncreasing", False, 2.0),
     ("Posterize", False, 2.0), ("SolarizeIncreasing", False, 77.0), ("Solarize", False, 179.0),
     ("SolarizeAdd", False, 77.0), ("ColorIncreasing", False, 1.63), ("ContrastIncreasing", True, 0.37),
     ("Brightness", True, 1.36), ("ShearX", True, -0.21), ("TranslateYRel", False, 0.315)],
)
def test_magnitude_7_arguments_as_timm(name, negate, expected):
    """timm's LEVEL_TO_ARG at m = 7, by hand: 30·0.7, 4 − int(2.8), 256 − int(179.2),
    int(77), 1 ± 0.9·0.7, 1.8·0.7 + 0.1, 0.3·0.7, 0.45·0.7."""
    value = float(ra.op_arguments(name, 7.0, tf.constant(negate)))
    assert value == pytest.approx(expected, abs=1e-5)


def test_increasing_enhance_factor_is_at_least_0_1():
    assert float(ra.op_arguments("SharpnessIncreasing", 10.0, tf.constant(True))) == pytest.approx(0.1)


PIL_POINT_OPS = [
    ("autocontrast", lambda x: ra.auto_contrast(x), lambda p: ImageOps.autocontrast(p)),
    ("equalize", lambda x: ra.equalize(x), lambda p: ImageOps.equalize(p)),
    ("invert", lambda x: ra.invert(x), lambda p: ImageOps.invert(p)),
    ("posterize", lambda x: ra.posterize(x, 2.0), lambda p: ImageOps.posterize(p, 2)),
    ("solarize", lambda x: ra.solarize(x, 100.0), lambda p: ImageOps.solarize(p, 100)),
    ("color", lambda x: ra.enhance_color(x, 0.37), lambda p: ImageEnhance.Color(p).enhance(0.37)),
    ("contrast", lambda x: ra.enhance_contrast(x, 1.63), lambda p: ImageEnhance.Contrast(p).enhance(1.63)),
    ("brightness", lambda x: ra.enhance_brightness(x, 1.63), lambda p: ImageEnhance.Brightness(p).enhance(1.63)),
    ("sharpness", lambda x: ra.enhance_sharpness(x, 0.37), lambda p: ImageEnhance.Sharpness(p).enhance(0.37)),
    ("sharpness_up", lambda x: ra.enhance_sharpness(x, 1.9), lambda p: ImageEnhance.Sharpness(p).enhance(1.9)),
]


@pytest.mark.parametrize("name, ours, pil", PIL_POINT_OPS, ids=[op[0] for op in PIL_POINT_OPS])
def test_pixel_ops_equal_pil(name, ours, pil):
    out = ours(tf.constant(NOISE, tf.float32)).numpy()
    np.testing.assert_array_equal(out, np.asarray(pil(Image.fromarray(NOISE)), np.float32))


def test_solarize_add_is_timms_lut():
    lut = [min(255, i + 77) if i < 128 else i for i in range(256)]
    out = ra.solarize_add(tf.constant(NOISE, tf.float32), 77.0).numpy()
    np.testing.assert_array_equal(out, np.array(lut)[NOISE])


RESAMPLE = {"bilinear": Image.BILINEAR, "bicubic": Image.BICUBIC}


def _pil_affine(image, matrix, interpolation):
    return Image.fromarray(image).transform(
        (20, 16), Image.AFFINE, matrix, resample=RESAMPLE[interpolation], fillcolor=FILL)


GEOMETRIC_OPS = [
    ("rotate", lambda x, i: ra.rotate(x, 17.0, i),
     lambda p, i: Image.fromarray(p).rotate(17.0, resample=RESAMPLE[i], fillcolor=FILL)),
    ("shear_x", lambda x, i: ra.shear_x(x, 0.21, i), lambda p, i: _pil_affine(p, (1, 0.21, 0, 0, 1, 0), i)),
    ("shear_y", lambda x, i: ra.shear_y(x, -0.21, i), lambda p, i: _pil_affine(p, (1, 0, 0, -0.21, 1, 0), i)),
    ("translate_x", lambda x, i: ra.translate_x(x, 0.315 * 20, i),
     lambda p, i: _pil_affine(p, (1, 0, 0.315 * 20, 0, 1, 0), i)),
    ("translate_y", lambda x, i: ra.translate_y(x, -0.315 * 16, i),
     lambda p, i: _pil_affine(p, (1, 0, 0, 0, 1, -0.315 * 16), i)),
]


@pytest.mark.parametrize("interpolation", ["bilinear", "bicubic"])
@pytest.mark.parametrize("name, ours, pil", GEOMETRIC_OPS, ids=[op[0] for op in GEOMETRIC_OPS])
def test_geometric_ops_equal_pil(name, ours, pil, interpolation):
    """timm's calls (BNext: resample=BICUBIC), fill = timm's img_mean, on a ramp and on
    noise (where bicubic overshoots and PIL clips)."""
    for image in (RAMP, NOISE):
        out = ours(tf.constant(image, tf.float32), interpolation).numpy()
        np.testing.assert_array_equal(out, np.asarray(pil(image, interpolation), np.float32))
        assert (out == np.array(FILL, np.float32)).all(-1).any()  # the fill is visible


def test_rand_augment_is_a_function_of_the_key():
    config = ra.parse_randaugment("rand-m7-mstd0.5-inc1")
    images = tf.constant(np.stack([NOISE] * 16), tf.float32)
    a = ra.rand_augment_batch(images, tf.constant(5, tf.int64), config).numpy()
    b = ra.rand_augment_batch(images, tf.constant(5, tf.int64), config).numpy()
    c = ra.rand_augment_batch(images, tf.constant(6, tf.int64), config).numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert (a == np.round(a)).all() and a.min() >= 0 and a.max() <= 255
    unchanged = np.mean([np.array_equal(a[i], NOISE) for i in range(16)])
    assert 0.05 <= unchanged <= 0.6  # both ops skipped with probability 1/4
    single = ra.rand_augment(images[0], tf.constant(9, tf.int64), "rand-m7-mstd0.5-inc1")
    np.testing.assert_array_equal(single, ra.rand_augment(images[0], tf.constant(9, tf.int64), config))
    bicubic = ra.rand_augment_batch(images, tf.constant(5, tf.int64), config, "bicubic").numpy()
    assert not np.array_equal(a, bicubic)  # the same draws, resampled bicubic
    geometric = [i for i in range(16) if not np.array_equal(a[i], bicubic[i])]
    assert 0 < len(geometric) < 16
