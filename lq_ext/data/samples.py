"""Twenty real test images per dataset, shipped with ``lq_ext`` as test fixtures.

The images come from the foolbox 3.3.4 wheel (MIT packaging) and belong to their
datasets: CIFAR-10/100 (Krizhevsky 2009), ImageNet (Deng et al. 2009, ImageNet terms
of access), MNIST (LeCun et al.) and Fashion-MNIST (Zalando, MIT).  See
``lq_ext/data/samples/README.md``.  Twenty images are enough to check that a
converted model computes what the Keras model computes on real pixels; they are far
too few for any accuracy claim.

Input convention of ``lq_ext`` models (the zoo and the converters' parity check):
RGB pixels in [0, 255] mapped to float32 in [-1, 1] by :func:`preprocess`
(``x / 127.5 - 1``, :mod:`lq_ext.data.preprocessing`; re-exported here).
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import tensorflow as tf

from lq_ext._validate import is_int
from lq_ext.data.preprocessing import preprocess

__all__ = ["DATASETS", "load_samples", "preprocess"]

SAMPLES_DIR = Path(__file__).resolve().parent / "samples"

#: dataset name -> (archive file, images key, labels key)
_ARCHIVES = {
    "cifar10": ("real_samples_20each.npz", "cifar10_x", "cifar10_y"),
    "cifar100": ("real_samples_20each.npz", "cifar100_x", "cifar100_y"),
    "mnist": ("real_samples_20each.npz", "mnist_x", "mnist_y"),
    "fashion_mnist": ("real_samples_20each.npz", "fashionMNIST_x", "fashionMNIST_y"),
    "imagenet": ("imagenet_samples_224.npz", "imagenet_x", "imagenet_y"),
}

#: Names accepted by :func:`load_samples` besides ``"auto"``.
DATASETS = tuple(_ARCHIVES)

#: ``dataset="auto"`` picks ImageNet photos for inputs larger than this (in pixels,
#: height or width) and CIFAR-10 otherwise: a 32×32 CIFAR image blown up to 224×224
#: is mostly interpolation, a 224×224 photo shrunk to 32×32 keeps little detail.
AUTO_IMAGENET_ABOVE_PX = 64


@functools.cache
def _load_raw(dataset: str) -> tuple[np.ndarray, np.ndarray]:
    file_name, x_key, y_key = _ARCHIVES[dataset]
    path = SAMPLES_DIR / file_name
    if not path.is_file():
        raise FileNotFoundError(
            f"The sample archive {path} is missing: the lq_ext installation is "
            f"incomplete (it ships lq_ext/data/samples/*.npz as package data)."
        )
    with np.load(path, allow_pickle=False) as archive:
        images, labels = archive[x_key], archive[y_key]
    if images.ndim == 3:  # MNIST / Fashion-MNIST are stored without a channel axis
        images = images[..., np.newaxis]
    images.setflags(write=False)
    labels.setflags(write=False)
    return images, labels


def _check_input_shape(input_shape) -> tuple[int, int, int]:
    problem = None
    if isinstance(input_shape, (str, bytes)) or not hasattr(input_shape, "__len__"):
        problem = "it is not a sequence"
    elif len(input_shape) != 3:
        problem = f"it has {len(input_shape)} entries"
    elif any(not is_int(d) or d <= 0 for d in input_shape):
        problem = "every entry must be a positive int (no None: give the size explicitly)"
    elif input_shape[2] not in (1, 3):
        problem = f"C={input_shape[2]} channels is not supported (1 = gray, 3 = RGB)"
    if problem:
        raise ValueError(
            f"input_shape must be (height, width, channels) with positive ints and "
            f"channels 1 or 3, e.g. (32, 32, 3); got input_shape={input_shape!r}: "
            f"{problem}."
        )
    return tuple(int(d) for d in input_shape)


def _resolve_dataset(dataset, shape) -> str:
    if dataset == "auto":
        if shape is not None and max(shape[0], shape[1]) > AUTO_IMAGENET_ABOVE_PX:
            return "imagenet"
        return "cifar10"
    if dataset not in _ARCHIVES:
        raise ValueError(
            f"Unknown dataset={dataset!r}; expected one of "
            f"{['auto', *DATASETS]}."
        )
    return dataset


def load_samples(dataset: str = "auto", *, input_shape=None) -> tuple[np.ndarray, np.ndarray]:
    """Return the 20 real sample images of ``dataset`` and their labels.

    # Arguments
        dataset: ``"cifar10"``, ``"cifar100"``, ``"imagenet"``, ``"mnist"``,
            ``"fashion_mnist"`` or ``"auto"`` (default): ImageNet photos when
            ``input_shape`` is larger than 64 pixels in height or width, else CIFAR-10.
        input_shape: ``None`` (default) for the images as stored, or
            ``(height, width, channels)`` with channels 1 or 3. The images are then
            resized with ``tf.image.resize(method="bilinear", antialias=True)`` (not
            when the size already matches) and brought to the channel count: RGB → gray
            by the mean of R, G and B, gray → RGB by repeating the channel.

    # Returns
        ``(images, labels)``. ``images`` has shape (20, H, W, C) (the gray datasets get
        a channel axis of size 1): uint8 in [0, 255] without ``input_shape``, float32
        in [0, 255] with it. ``labels`` is int64 of shape (20,), the datasets' class
        indices (ImageNet: 0-based, 1000 classes; CIFAR-100: fine labels). Feed the
        images to an ``lq_ext`` model through :func:`preprocess`.

    # Raises
        ValueError: unknown ``dataset`` or malformed ``input_shape``.
    """
    shape = None if input_shape is None else _check_input_shape(input_shape)
    name = _resolve_dataset(dataset, shape)
    images, labels = _load_raw(name)
    labels = labels.copy()
    if shape is None:
        return images.copy(), labels

    height, width, channels = shape
    out = images.astype(np.float32)
    if out.shape[1:3] != (height, width):
        out = tf.image.resize(out, (height, width), method="bilinear", antialias=True)
        out = np.clip(out.numpy(), 0.0, 255.0)  # antialiasing can overshoot slightly
    if out.shape[-1] == 3 and channels == 1:
        out = out.mean(axis=-1, keepdims=True)
    elif out.shape[-1] == 1 and channels == 3:
        out = np.repeat(out, 3, axis=-1)
    return out.astype(np.float32, copy=False), labels
