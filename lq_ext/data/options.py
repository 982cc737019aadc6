"""The optional training augmentations of :func:`lq_ext.data.load_dataset`, checked in one
place, and their application after the crop and flip.

``color_jitter`` (BCDNet, :func:`lq_ext.data.color.color_jitter`), ``color_jitter_epochs``
(jitter only in the first epochs: BCDNet's step 1), ``lighting`` (ReActNet,
:func:`lq_ext.data.color.lighting`), ``randaugment`` (BNext, :mod:`lq_ext.data.randaugment`)
``interpolation`` (``"bicubic"``: BNext, PokeBNN) and the evaluation ``crop_fraction`` (BNext:
0.95). Applied in this order after the crop and flip: RandAugment, colour jitter, lighting.
Guide: docs/guides/data.md.
"""

from __future__ import annotations

import dataclasses

import tensorflow as tf

from lq_ext._validate import is_int, is_number
from lq_ext.data.augment import CROP_FRACTION
from lq_ext.data.color import color_jitter, lighting
from lq_ext.data.epochs import element_key
from lq_ext.data.randaugment import (
    INTERPOLATIONS,
    RandAugmentConfig,
    parse_randaugment,
    rand_augment,
    rand_augment_batch,
)

__all__ = ["AUGMENT_KEYWORDS", "INTERPOLATIONS", "LIGHTING_RELEASED", "AugmentOptions", "augment_options"]

#: The keywords of :func:`lq_ext.data.load_dataset` this module checks.
AUGMENT_KEYWORDS = (
    "color_jitter", "color_jitter_epochs", "lighting", "randaugment", "interpolation", "crop_fraction",
)
#: ``lighting=LIGHTING_RELEASED``: ReActNet's released ``Lighting(0.1)`` (see :func:`lighting`).
LIGHTING_RELEASED = "reactnet"


@dataclasses.dataclass(frozen=True)
class AugmentOptions:
    """The checked optional augmentations (see :func:`augment_options`)."""

    color_jitter: tuple | None = None
    color_jitter_epochs: int | None = None
    lighting: float | str | None = None
    randaugment: RandAugmentConfig | None = None
    interpolation: str = "bilinear"
    crop_fraction: float = CROP_FRACTION

    @property
    def any(self) -> bool:
        """Whether anything is applied after the crop and flip."""
        return any(v is not None for v in (self.color_jitter, self.lighting, self.randaugment))

    def apply(self, images, key, epoch):
        """The augmentations on ``images`` (one (H, W, C) image or a (B, H, W, C) batch)
        in [0, 255], from the element's int64 ``key``; ``epoch`` (a tensor) gates the jitter."""
        batched = images.shape.rank == 4
        if self.randaugment is not None:
            augment = rand_augment_batch if batched else rand_augment
            images = augment(images, element_key(key, 1), self.randaugment, self.interpolation)
        if self.color_jitter is not None:
            jittered = lambda: color_jitter(images, element_key(key, 2), *self.color_jitter)  # noqa: E731
            if self.color_jitter_epochs is None:
                images = jittered()
            else:
                images = tf.cond(epoch < self.color_jitter_epochs, jittered, lambda: images)
        if self.lighting is not None:
            released = self.lighting == LIGHTING_RELEASED
            std = 0.1 if released else self.lighting
            images = lighting(images, element_key(key, 3), std, released=released)
        return images


def _bad(parameter, value, allowed):
    return ValueError(f"{parameter}={value!r} is not allowed: {parameter} must be {allowed}.")


def augment_options(color_jitter=None, color_jitter_epochs=None, lighting=None, randaugment=None,
                    interpolation="bilinear", crop_fraction=None) -> AugmentOptions:
    """Check the optional augmentation keywords of ``load_dataset``; a ``ValueError`` names
    the bad one.

    # Arguments
        color_jitter: None or ``(brightness, contrast, saturation[, hue])``, numbers ≥ 0,
            hue ≤ 0.5 (torchvision's ``ColorJitter``; BCDNet: ``(0.2, 0.2, 0.2, 0.1)``).
        color_jitter_epochs: None (every epoch) or an int > 0: jitter only epochs
            ``< color_jitter_epochs`` (BCDNet: step 1's epochs); needs ``color_jitter``.
        lighting: None, the std of AlexNet's PCA noise (a number ≥ 0; ReActNet: 0.1), or
            ``"reactnet"``: ReActNet's released code (std 0.1 at 1/255 of the scale).
        randaugment: None or timm's RandAugment string (BNext: ``"rand-m7-mstd0.5-inc1"``).
        interpolation: of every resize (crops, the evaluation crop, a changed
            ``image_size``): ``"bilinear"`` or ``"bicubic"`` (BNext, PokeBNN).
        crop_fraction: the evaluation crop of the random-resized-crop datasets, a number
            in (0, 1]: the central ``crop_fraction`` of the resized image (None: 0.875,
            224 of 256; BNext's timm evaluation: 0.95).
    """
    jitter = None
    if color_jitter is not None:
        if (
            not isinstance(color_jitter, (tuple, list))
            or len(color_jitter) not in (3, 4)
            or not all(is_number(v) and v >= 0 for v in color_jitter)
            or (len(color_jitter) == 4 and color_jitter[3] > 0.5)
        ):
            raise _bad(
                "color_jitter", color_jitter,
                "None or (brightness, contrast, saturation[, hue]): numbers ≥ 0, hue ≤ 0.5",
            )
        jitter = tuple(float(v) for v in color_jitter) + (0.0,) * (4 - len(color_jitter))
    if color_jitter_epochs is not None:
        if not is_int(color_jitter_epochs) or color_jitter_epochs <= 0:
            raise _bad("color_jitter_epochs", color_jitter_epochs, "None or an int > 0")
        if jitter is None:
            raise ValueError(
                f"color_jitter_epochs={color_jitter_epochs!r} needs color_jitter (got color_jitter=None)."
            )
    if lighting is not None and lighting != LIGHTING_RELEASED and (
        isinstance(lighting, bool) or not is_number(lighting) or lighting < 0
    ):
        raise _bad("lighting", lighting, f"None, a number ≥ 0 (the noise's std) or {LIGHTING_RELEASED!r}")
    config = None if randaugment is None else parse_randaugment(randaugment)
    if interpolation not in INTERPOLATIONS:
        raise _bad("interpolation", interpolation, f"one of {list(INTERPOLATIONS)}")
    if crop_fraction is not None and (
        isinstance(crop_fraction, bool) or not is_number(crop_fraction) or not 0 < crop_fraction <= 1
    ):
        raise _bad("crop_fraction", crop_fraction, "None (0.875) or a number in (0, 1]")
    return AugmentOptions(
        color_jitter=jitter,
        color_jitter_epochs=None if color_jitter_epochs is None else int(color_jitter_epochs),
        lighting=lighting if lighting in (None, LIGHTING_RELEASED) else float(lighting),
        randaugment=config,
        interpolation=interpolation,
        crop_fraction=CROP_FRACTION if crop_fraction is None else float(crop_fraction),
    )
