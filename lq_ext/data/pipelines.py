"""``tf.data`` pipelines with the papers' augmentations, for the papers' datasets.

:func:`load_dataset` yields ``(images, labels)`` batches: images float32 NHWC mapped
to [-1, 1] by ``x / 127.5 - 1`` (the convention of :func:`lq_ext.data.preprocess` and
:func:`lq_ext.zoo.preprocess_input`), labels int64.

Datasets (:data:`DATASETS`, :func:`dataset_info`):

============================  =======  =========  ==================  ====================  ======
name                          classes  input      train split         test split            source
============================  =======  =========  ==================  ====================  ======
``fashion_mnist``             10       32×32×1    train (60,000)      test (10,000)         IDX
``cifar10``                   10       32×32×3    train (50,000)      test (10,000)         tfds
``cifar100``                  100      32×32×3    train (50,000)      test (10,000)         tfds
``stl10``                     10       96×96×3    train (5,000)       test (8,000)          tfds
``oxford_flowers102``         102      224×224×3  train+validation    test (6,149)          tfds
                                                  (2,040)
``imagenet2012``              1000     224×224×3  train (1,281,167)   validation (50,000)   tfds
``imagenet_resized/64x64``    1000     64×64×3    train (1,281,167)   validation (50,000)   tfds
============================  =======  =========  ==================  ====================  ======

``split="test"`` is the tfds split in the last column: ImageNet has no labelled test
set, so its validation set is the test set (as BNN papers report); Oxford Flowers 102
trains on train+validation (1,020 + 1,020) and tests on its 6,149-image test split, the
usual protocol of transfer/small-data papers. ``imagenet_resized/64x64`` (Chrabaszcz et
al. 2017, ImageNet down-sampled to 64×64) stands in for the Tiny-ImageNet setting
(64×64 inputs); it has 1000 classes, not Tiny ImageNet's 200.

Augmentations (``augment=True``, the default for ``split="train"``) and evaluation
preprocessing (``augment=False``):

- fashion_mnist, cifar10, cifar100 (32×32): train: zero-pad 4 px, random 32×32 crop,
  random horizontal flip (p = 0.5). Eval: the images as they are (Fashion-MNIST's
  28×28 images are always zero-padded 2 px each side to 32×32 first).
- imagenet_resized/64x64 (64×64): train: zero-pad 4 px, random 64×64 crop, flip.
  Eval: as they are.
- stl10, oxford_flowers102, imagenet2012: train: random-resized crop (area 0.08–1 of
  the image, aspect ratio 3/4–4/3) resized to ``image_size``, flip. Eval: resize so
  that ``image_size`` is the central 0.875 of the image (shorter side 256 for 224,
  110 for STL-10's 96), central crop of ``image_size``.

Provenance: the 32-px recipe is ResNet's CIFAR augmentation (He et al. 2016), as in the
BNN CIFAR code, e.g. IR-Net's ``CIFAR-10/ResNet20/1w1a/trainer.py``
(``RandomHorizontalFlip(), RandomCrop(32, 4)``; test images unchanged); the 64-px set
gets the same pad-and-crop at 64 px. The ImageNet recipe is ReActNet's
``resnet/1_step1/train.py`` (``RandomResizedCrop(224, scale=(0.08, 1.0))``,
``RandomHorizontalFlip()``; ``Resize(256)``, ``CenterCrop(224)`` for evaluation),
without its PCA ``Lighting(0.1)`` noise; STL-10 and Flowers use it at their own
``image_size``. The random-resized crop is TensorFlow's
``sample_distorted_bounding_box`` (as in TF's ImageNet ResNet pipelines): aspect ratio
sampled uniformly (torchvision: log-uniformly), and after 10 failed attempts the whole
image is used (torchvision: a central crop). Resizes are bilinear with antialiasing
(like PIL's in torchvision). Zero padding is black (pixel 0, i.e. -1 after scaling), as
torchvision pads before normalising.
A non-default ``image_size`` for the pad-and-crop datasets resizes the images first
(bilinear, antialiased) and then pads 4 px.

Shuffling and determinism: training pipelines are shuffled (``shuffle`` defaults to
``split == "train"``; Fashion-MNIST, CIFAR, STL-10 and Flowers with a buffer holding
the whole split). Randomness comes from ``Dataset.shuffle(seed=seed,
reshuffle_each_iteration=True)`` and from ``Dataset.random(seed=seed,
rerandomize_each_iteration=True)``, whose values seed TensorFlow's *stateless* random
ops (crop offsets, flips, crop boxes). Hence, with a ``seed``, two pipelines built with
the same arguments yield identical batches epoch by epoch (epoch *k* of one equals epoch
*k* of the other), while each new iteration of one pipeline (each Keras epoch) is
reshuffled and re-augmented, as training needs. Without a seed, runs differ. A
TensorFlow global seed (``tf.random.set_seed``) set *before* the pipeline is built is
combined with ``seed``; set it the same way to reproduce a run. For tfds datasets the
file order is shuffled too (``shuffle_files``, seeded by ``seed``) unless ``limit`` is
given.

Where the data come from:

- ``fashion_mnist``: the four official IDX files, read by
  :func:`lq_ext.data.fashion_mnist.load_fashion_mnist` from ``data_dir`` or from its
  default places (``$LQ_EXT_FASHION_MNIST_DIR``, Debian's ``dataset-fashion-mnist``
  package, ``shared/data/fashion-mnist`` beside the checkout). Works offline.
- the others: TensorFlow Datasets 4.8.3 in ``data_dir`` (default ``$TFDS_DATA_DIR`` or
  ``~/tensorflow_datasets``). ``download=True`` (the default) lets tfds download and
  prepare a missing dataset, which needs network access; on an offline machine, run
  ``tfds build NAME --data_dir DIR`` where the network is reachable and copy ``DIR``.
  ``imagenet2012`` cannot be downloaded by tfds: put ``ILSVRC2012_img_train.tar`` and
  ``ILSVRC2012_img_val.tar`` (from image-net.org) in ``DATA_DIR/downloads/manual/``
  (tfds' manual directory, passed as ``tfds.download.DownloadConfig(manual_dir=...)``),
  and ``download=True`` then extracts and prepares them without network access.

Missing data raise :class:`DatasetNotAvailableError` (a ``FileNotFoundError``) saying
where it looked and how to provide the data.
"""

from __future__ import annotations

import dataclasses
import functools
import numbers
import os
from pathlib import Path

import numpy as np
import tensorflow as tf

from lq_ext.data.fashion_mnist import fashion_mnist_dirs, load_fashion_mnist, to_cifar_shape

__all__ = [
    "DATASETS",
    "DatasetInfo",
    "DatasetNotAvailableError",
    "dataset_info",
    "load_dataset",
]

#: Zero padding (pixels, each side) before the random crop of the 32/64-px datasets.
PAD = 4
#: Evaluation crop: the central ``CROP_FRACTION`` of the resized image (224 of 256).
CROP_FRACTION = 0.875
#: Random-resized crop: area fraction and aspect ratio (width / height) ranges.
RRC_SCALE = (0.08, 1.0)
RRC_RATIO = (3.0 / 4.0, 4.0 / 3.0)
RRC_ATTEMPTS = 10

_SPLITS = ("train", "test")


class DatasetNotAvailableError(FileNotFoundError):
    """The data of a dataset are not on this machine (the message says where it looked
    and how to provide them)."""


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    """What :func:`load_dataset` yields for a dataset by default.

    ``image_size`` is the (height, width) of the model input, ``channels`` its default
    channel count, ``train_split`` / ``test_split`` the splits read for ``"train"`` /
    ``"test"`` (tfds split names, or the IDX files' for Fashion-MNIST), ``source``
    ``"idx"`` or ``"tfds"``.
    """

    name: str
    num_classes: int
    image_size: tuple
    channels: int
    train_split: str
    test_split: str
    source: str


_INFOS = {
    info.name: info
    for info in (
        DatasetInfo("fashion_mnist", 10, (32, 32), 1, "train", "test", "idx"),
        DatasetInfo("cifar10", 10, (32, 32), 3, "train", "test", "tfds"),
        DatasetInfo("cifar100", 100, (32, 32), 3, "train", "test", "tfds"),
        DatasetInfo("stl10", 10, (96, 96), 3, "train", "test", "tfds"),
        DatasetInfo(
            "oxford_flowers102", 102, (224, 224), 3, "train+validation", "test", "tfds"
        ),
        DatasetInfo("imagenet2012", 1000, (224, 224), 3, "train", "validation", "tfds"),
        DatasetInfo(
            "imagenet_resized/64x64", 1000, (64, 64), 3, "train", "validation", "tfds"
        ),
    )
}

#: Names accepted by :func:`load_dataset` and :func:`dataset_info`.
DATASETS = tuple(_INFOS)

#: name -> (augmentation family, shuffle buffer, images stored encoded in tfds).
#: "pad_crop": pad + random crop + flip on whole batches; "resized_crop": per image.
_RECIPES = {
    "fashion_mnist": ("pad_crop", 60000, False),
    "cifar10": ("pad_crop", 50000, False),
    "cifar100": ("pad_crop", 50000, False),
    "stl10": ("resized_crop", 5000, False),
    "oxford_flowers102": ("resized_crop", 2040, True),
    "imagenet2012": ("resized_crop", 4096, True),
    "imagenet_resized/64x64": ("pad_crop", 10000, False),
}

_IMAGENET_TARS = ("ILSVRC2012_img_train.tar", "ILSVRC2012_img_val.tar")


# --------------------------------------------------------------------------- arguments


def _check_name(name) -> str:
    if not isinstance(name, str) or name not in _INFOS:
        raise ValueError(f"Unknown dataset name={name!r}; expected one of {list(DATASETS)}.")
    return name


def dataset_info(name: str) -> DatasetInfo:
    """The :class:`DatasetInfo` of ``name`` (one of :data:`DATASETS`)."""
    return _INFOS[_check_name(name)]


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def _is_bool(value) -> bool:
    return isinstance(value, (bool, np.bool_))


def _bad(parameter: str, value, allowed: str):
    return ValueError(f"{parameter}={value!r} is not allowed: {parameter} must be {allowed}.")


def _check_args(name, split, batch_size, image_size, channels, augment, shuffle, seed,
                data_dir, limit, drop_remainder, download):
    info = dataset_info(name)
    if split not in _SPLITS:
        raise _bad("split", split, f"one of {list(_SPLITS)}")
    if not _is_int(batch_size) or batch_size <= 0:
        raise _bad("batch_size", batch_size, "a positive int")
    if image_size is None:
        size = info.image_size
    elif _is_int(image_size) and image_size > 0:
        size = (int(image_size), int(image_size))
    elif (
        isinstance(image_size, (tuple, list))
        and len(image_size) == 2
        and all(_is_int(d) and d > 0 for d in image_size)
    ):
        size = tuple(int(d) for d in image_size)
    else:
        raise _bad(
            "image_size", image_size,
            "None (the dataset's default), a positive int or a (height, width) pair of "
            "positive ints",
        )
    allowed_channels = (1, 3) if name == "fashion_mnist" else (3,)
    if channels is None:
        channels = info.channels
    elif not _is_int(channels) or channels not in allowed_channels:
        raise _bad(
            "channels", channels,
            f"None or one of {list(allowed_channels)} for {name}"
            + (" (1 = grey, 3 = the grey channel repeated)" if name == "fashion_mnist" else ""),
        )
    for parameter, value in (("augment", augment), ("shuffle", shuffle)):
        if value is not None and not _is_bool(value):
            raise _bad(parameter, value, "None (True for split='train', else False) or a bool")
    for parameter, value in (("drop_remainder", drop_remainder), ("download", download)):
        if not _is_bool(value):
            raise _bad(parameter, value, "a bool")
    if seed is not None and (not _is_int(seed) or not 0 <= seed < 2**63):
        raise _bad("seed", seed, "None or an int in [0, 2**63)")
    if limit is not None and (not _is_int(limit) or limit <= 0):
        raise _bad("limit", limit, "None (the whole split) or a positive int")
    if data_dir is not None and not isinstance(data_dir, (str, os.PathLike)):
        raise _bad("data_dir", data_dir, "None or a directory path (str or os.PathLike)")
    augment = split == "train" if augment is None else bool(augment)
    shuffle = split == "train" if shuffle is None else bool(shuffle)
    return dict(
        info=info, size=size, channels=int(channels), augment=augment, shuffle=shuffle,
        seed=None if seed is None else int(seed), limit=None if limit is None else int(limit),
        batch_size=int(batch_size), drop_remainder=bool(drop_remainder),
        download=bool(download),
    )


# ----------------------------------------------------------------------- augmentations


def _seed_pair(key, index: int):
    return tf.stack([tf.cast(key, tf.int64), tf.constant(index, tf.int64)])


def _to_unit_range(images):
    """[0, 255] → float32 [-1, 1] (``x / 127.5 - 1``)."""
    return tf.cast(images, tf.float32) / 127.5 - 1.0


def _resize(images, size):
    resized = tf.image.resize(images, size, method="bilinear", antialias=True)
    return tf.clip_by_value(resized, 0.0, 255.0)  # antialiasing can overshoot slightly


def _pad_crop_flip(images, key, pad: int = PAD):
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


def _random_resized_crop_flip(image, key, size):
    """ReActNet / Bi-Real Net ImageNet training crop (see the module docstring)."""
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
    out = _resize(crop, size)
    flip = tf.random.stateless_uniform([], _seed_pair(key, 1)) < 0.5
    out = tf.where(flip, tf.reverse(out, axis=[1]), out)
    out.set_shape([size[0], size[1], 3])
    return out


def _resize_central_crop(image, size, crop_fraction: float = CROP_FRACTION):
    """Evaluation: resize so that ``size`` is ``crop_fraction`` of it, central crop."""
    image = _decode(image)
    shape = tf.cast(tf.shape(image)[:2], tf.float32)
    target = tf.constant(size, tf.float32) / crop_fraction
    scale = tf.reduce_max(target / shape)
    new = tf.maximum(tf.cast(tf.round(shape * scale), tf.int32), tf.constant(size, tf.int32))
    out = _resize(image, new)
    top = (new[0] - size[0]) // 2
    left = (new[1] - size[1]) // 2
    out = out[top : top + size[0], left : left + size[1], :]
    out.set_shape([size[0], size[1], 3])
    return out


# --------------------------------------------------------------------------- pipelines


@functools.lru_cache(maxsize=2)
def _fashion_arrays(root):
    (x_train, y_train), (x_test, y_test) = load_fashion_mnist(root)
    arrays = {"train": (x_train, y_train), "test": (x_test, y_test)}
    for pair in arrays.values():
        for array in pair:
            array.setflags(write=False)
    return arrays


def _fashion_mnist(split, data_dir, channels, limit):
    root = None if data_dir is None else str(Path(data_dir))
    try:
        images, labels = _fashion_arrays(root)[split]
    except FileNotFoundError as error:
        looked = "\n".join(f"  - {d}" for d in fashion_mnist_dirs(root))
        raise DatasetNotAvailableError(
            "Dataset 'fashion_mnist' is not available: no directory holds its four IDX "
            "files (train-images-idx3-ubyte, train-labels-idx1-ubyte, "
            "t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte; .gz or not). Looked in:\n"
            f"{looked}\nProvide them: `apt-get install dataset-fashion-mnist` (Debian, "
            "installs /usr/share/datasets/fashion-mnist), or copy the files from "
            "https://github.com/zalandoresearch/fashion-mnist into a directory and pass "
            "data_dir=DIR (or set LQ_EXT_FASHION_MNIST_DIR=DIR)."
        ) from error
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    images = to_cifar_shape(images, channels)
    return tf.data.Dataset.from_tensor_slices((images, labels.astype(np.int64)))


def _tfds_root(data_dir) -> str:
    if data_dir is not None:
        return os.fspath(data_dir)
    from tensorflow_datasets.core import constants

    return os.path.expanduser(os.environ.get("TFDS_DATA_DIR") or str(constants.DATA_DIR))


def _tfds_missing(name, split, root, builder, manual_dir, reason):
    how = (
        f"put {' and '.join(_IMAGENET_TARS)} (a manual download from "
        f"https://image-net.org) in the tfds manual directory {manual_dir} and call "
        f"load_dataset('{name}', ..., data_dir={root!r}, download=True): tfds extracts and "
        f"prepares them without network access (hours, ~300 GB)"
        if name == "imagenet2012"
        else f"on a machine with network access run `tfds build {name} --data_dir DIR` "
        f"(or load_dataset('{name}', download=True) there) and copy DIR (by default "
        f"~/tensorflow_datasets) to this machine, then pass data_dir=DIR (or set "
        f"TFDS_DATA_DIR=DIR); or call load_dataset(..., download=True) where the network "
        f"is reachable"
    )
    return DatasetNotAvailableError(
        f"Dataset {name!r} (split {split!r}) is not available: {reason}. TensorFlow "
        f"Datasets looked in the data_dir {root} for the prepared dataset "
        f"{builder.data_dir}.\nProvide it: {how}."
    )


def _tfds_dataset(name, tfds_split, *, data_dir, shuffle_files, seed, download, encoded):
    import tensorflow_datasets as tfds

    root = _tfds_root(data_dir)
    builder = tfds.builder(name, data_dir=root)
    manual_dir = os.path.join(root, "downloads", "manual")
    if download:
        prepared = tf.io.gfile.exists(builder.data_dir)
        if name == "imagenet2012" and not prepared:
            missing = [t for t in _IMAGENET_TARS if not os.path.isfile(os.path.join(manual_dir, t))]
            if missing:
                raise _tfds_missing(
                    name, tfds_split, root, builder, manual_dir,
                    f"it is not prepared and the manual directory {manual_dir} lacks "
                    f"{', '.join(missing)}",
                )
        try:
            builder.download_and_prepare(
                download_config=tfds.download.DownloadConfig(manual_dir=manual_dir)
            )
        except Exception as error:  # network, manual files, disk: all "not available"
            raise _tfds_missing(
                name, tfds_split, root, builder, manual_dir,
                f"downloading and preparing it failed ({type(error).__name__}: {error})",
            ) from error
    try:
        return builder.as_dataset(
            split=tfds_split,
            as_supervised=True,
            shuffle_files=shuffle_files,
            decoders={"image": tfds.decode.SkipDecoding()} if encoded else None,
            read_config=tfds.ReadConfig(shuffle_seed=seed),
        )
    except AssertionError as error:  # tfds' "could not find data in ..."
        if tf.io.gfile.exists(builder.data_dir):
            raise
        reason = "it is not prepared there" + (
            " and download=False was given" if not download else ""
        )
        raise _tfds_missing(name, tfds_split, root, builder, manual_dir, reason) from error


def load_dataset(
    name: str,
    split: str = "train",
    *,
    batch_size: int = 128,
    image_size=None,
    channels=None,
    augment=None,
    shuffle=None,
    seed=None,
    data_dir=None,
    limit=None,
    drop_remainder: bool = False,
    download: bool = True,
):
    """A ``tf.data.Dataset`` of ``(images, labels)`` batches of ``name``.

    See the module docstring for the datasets, splits, augmentations and determinism.

    # Arguments
        name: one of :data:`DATASETS`.
        split: ``"train"`` or ``"test"`` (the tfds split used is
            ``dataset_info(name).test_split``: ImageNet's validation set, Flowers'
            test set; Flowers trains on train+validation).
        batch_size: images per batch (the last one may be smaller unless
            ``drop_remainder``).
        image_size: model input size, an int or (height, width); default
            ``dataset_info(name).image_size`` (32; 64 for imagenet_resized/64x64; 96
            for stl10; 224 for oxford_flowers102 and imagenet2012).
        channels: Fashion-MNIST 1 (default) or 3 (the grey channel repeated); the
            others 3.
        augment: the training augmentations; default ``split == "train"``.
        shuffle: shuffle the examples; default ``split == "train"``.
        seed: seeds shuffling and augmentations (an int ≥ 0); with a seed, pipelines
            built alike yield identical batches.
        data_dir: Fashion-MNIST: the directory with its IDX files (else the default
            places); tfds datasets: the tfds data_dir (default ``$TFDS_DATA_DIR`` or
            ``~/tensorflow_datasets``); imagenet2012 reads its manual download from
            ``data_dir/downloads/manual``.
        limit: use only the first ``limit`` examples of the split (before shuffling).
        drop_remainder: drop the last, smaller batch.
        download: let tfds download and prepare a missing dataset (needs the network;
            imagenet2012 needs its manual download). Ignored for Fashion-MNIST.

    # Returns
        ``tf.data.Dataset`` yielding float32 images (B, H, W, C) in [-1, 1] and int64
        labels (B,), prefetched.

    # Raises
        ValueError: a bad argument (checked before any data is read).
        DatasetNotAvailableError: the data are not on this machine (and, with
            ``download=True``, could not be downloaded / prepared).
    """
    args = _check_args(name, split, batch_size, image_size, channels, augment, shuffle,
                       seed, data_dir, limit, drop_remainder, download)
    info, size, seed = args["info"], args["size"], args["seed"]
    family, buffer, encoded = _RECIPES[name]
    autotune = tf.data.AUTOTUNE

    if info.source == "idx":
        ds = _fashion_mnist(split, data_dir, args["channels"], args["limit"])
        native = (32, 32)
    else:
        tfds_split = info.train_split if split == "train" else info.test_split
        ds = _tfds_dataset(
            name, tfds_split, data_dir=data_dir,
            shuffle_files=args["shuffle"] and args["limit"] is None,
            seed=seed, download=args["download"], encoded=encoded,
        )
        if args["limit"] is not None:
            ds = ds.take(args["limit"])
        native = info.image_size

    if args["shuffle"]:
        ds = ds.shuffle(buffer, seed=seed, reshuffle_each_iteration=True)

    def with_keys(dataset):
        keys = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)
        return tf.data.Dataset.zip((dataset, keys))

    if family == "resized_crop":
        if args["augment"]:
            ds = with_keys(ds).map(
                lambda xy, key: (_random_resized_crop_flip(xy[0], key, size), xy[1]),
                num_parallel_calls=autotune,
            )
        else:
            ds = ds.map(
                lambda x, y: (_resize_central_crop(x, size), y), num_parallel_calls=autotune
            )
        ds = ds.batch(args["batch_size"], drop_remainder=args["drop_remainder"])
        ds = ds.map(lambda x, y: (_to_unit_range(x), tf.cast(y, tf.int64)),
                    num_parallel_calls=autotune)
    else:
        ds = ds.batch(args["batch_size"], drop_remainder=args["drop_remainder"])

        def resize(x):
            return x if tuple(native) == tuple(size) else _resize(x, size)

        if args["augment"]:
            ds = with_keys(ds).map(
                lambda xy, key: (
                    _to_unit_range(_pad_crop_flip(resize(xy[0]), key)),
                    tf.cast(xy[1], tf.int64),
                ),
                num_parallel_calls=autotune,
            )
        else:
            ds = ds.map(lambda x, y: (_to_unit_range(resize(x)), tf.cast(y, tf.int64)),
                        num_parallel_calls=autotune)
    return ds.prefetch(autotune)
