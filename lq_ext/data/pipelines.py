"""``tf.data`` pipelines with the papers' augmentations, for the papers' datasets.

:func:`load_dataset` yields ``(images, labels)`` batches: images float32 NHWC mapped
to [-1, 1] by ``x / 127.5 - 1`` (:func:`lq_ext.data.preprocessing.to_unit_range`),
labels int64. Training pipelines pad-crop-flip (32/64 px) or random-resized-crop-flip
(STL-10, Flowers, ImageNet) (:mod:`lq_ext.data.augment`); evaluation pipelines take the
images as they are or a central crop. A training pipeline's order and augmentation
are a pure function of ``(seed, epoch)`` (:mod:`lq_ext.data.epochs`): pipelines built
alike yield identical batches epoch by epoch, each new iteration (Keras epoch) is the
next epoch, and a trainer can set the epoch to resume a run exactly. Fashion-MNIST is read offline from its IDX files
(:mod:`lq_ext.data.fashion_mnist`), the others from TensorFlow Datasets
(:mod:`lq_ext.data.tfds`).

The datasets, splits, augmentations, determinism and where the data come from:
docs/guides/data.md.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np
import tensorflow as tf

from lq_ext._validate import is_int
from lq_ext.data.augment import (  # noqa: F401  (the constants: lq_ext.data.pipelines.PAD, ...)
    CROP_FRACTION,
    PAD,
    RRC_ATTEMPTS,
    RRC_RATIO,
    RRC_SCALE,
    pad_crop_flip,
    random_resized_crop_flip,
    resize,
    resize_central_crop,
)
from lq_ext.data.datasets import DATASETS, DatasetInfo, DatasetNotAvailableError, dataset_info
from lq_ext.data.epochs import DataEpoch, attach, element_key, epoch_key
from lq_ext.data.fashion_mnist import fashion_mnist_dirs, load_fashion_mnist, to_cifar_shape
from lq_ext.data.options import augment_options
from lq_ext.data.preprocessing import to_unit_range
from lq_ext.data.tfds import tfds_dataset

__all__ = [
    "DATASETS",
    "DatasetInfo",
    "DatasetNotAvailableError",
    "dataset_info",
    "load_dataset",
]

_SPLITS = ("train", "test")

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


# --------------------------------------------------------------------------- arguments


def _is_bool(value) -> bool:
    return isinstance(value, (bool, np.bool_))


def _bad(parameter: str, value, allowed: str):
    return ValueError(f"{parameter}={value!r} is not allowed: {parameter} must be {allowed}.")


def _check_args(name, split, batch_size, image_size, channels, augment, shuffle, seed,
                data_dir, limit, drop_remainder, download, extras):
    info = dataset_info(name)
    if split not in _SPLITS:
        raise _bad("split", split, f"one of {list(_SPLITS)}")
    if not is_int(batch_size) or batch_size <= 0:
        raise _bad("batch_size", batch_size, "a positive int")
    if image_size is None:
        size = info.image_size
    elif is_int(image_size) and image_size > 0:
        size = (int(image_size), int(image_size))
    elif (
        isinstance(image_size, (tuple, list))
        and len(image_size) == 2
        and all(is_int(d) and d > 0 for d in image_size)
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
    elif not is_int(channels) or channels not in allowed_channels:
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
    if seed is not None and (not is_int(seed) or not 0 <= seed < 2**63):
        raise _bad("seed", seed, "None or an int in [0, 2**63)")
    if limit is not None and (not is_int(limit) or limit <= 0):
        raise _bad("limit", limit, "None (the whole split) or a positive int")
    if data_dir is not None and not isinstance(data_dir, (str, os.PathLike)):
        raise _bad("data_dir", data_dir, "None or a directory path (str or os.PathLike)")
    augment = split == "train" if augment is None else bool(augment)
    shuffle = split == "train" if shuffle is None else bool(shuffle)
    options = augment_options(**extras)
    return dict(
        options=options,
        info=info, size=size, channels=int(channels), augment=augment, shuffle=shuffle,
        seed=None if seed is None else int(seed), limit=None if limit is None else int(limit),
        batch_size=int(batch_size), drop_remainder=bool(drop_remainder),
        download=bool(download),
    )


# ----------------------------------------------------------------------------- sources


@functools.lru_cache(maxsize=2)
def _fashion_arrays(root):
    (x_train, y_train), (x_test, y_test) = load_fashion_mnist(root)
    arrays = {"train": (x_train, y_train), "test": (x_test, y_test)}
    for pair in arrays.values():
        for array in pair:
            array.setflags(write=False)
    return arrays


def _fashion_mnist(split, data_dir, channels, limit):
    """The split's images (N, 32, 32, C) uint8 and labels (N,) int64, as arrays."""
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
    return to_cifar_shape(images, channels), labels.astype(np.int64)


# --------------------------------------------------------------------------- pipelines


def _shuffle_keyed(examples, buffer: int, key):
    """``examples.shuffle(buffer)`` whose order depends on the tensor ``key`` alone.

    ``Dataset.shuffle`` combines its op seed with the graph's global seed
    (``tf.random.set_seed``) and compares the pair with ``(0, 0)`` in Python: with a
    global seed of 0 and a tensor op seed that comparison raises
    ``OperatorNotAllowedInGraphError``. The global seed is therefore left out while the
    shuffle is built (the dataset function's graph only), which also keeps the order a
    function of (seed, epoch) whatever global seed the user set.
    """
    graph = tf.compat.v1.get_default_graph()
    saved = graph.seed
    graph.seed = None
    try:
        return examples.shuffle(buffer, seed=key, reshuffle_each_iteration=False)
    finally:
        graph.seed = saved


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
    color_jitter=None,
    color_jitter_epochs=None,
    lighting=None,
    randaugment=None,
    interpolation: str = "bilinear",
    crop_fraction=None,
):
    """A ``tf.data.Dataset`` of ``(images, labels)`` batches of ``name``.

    The datasets, splits, augmentations and determinism: docs/guides/data.md.

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
        seed: seeds shuffling and augmentations (an int ≥ 0): epoch *e* of a training
            pipeline depends only on ``(seed, e)``; without a seed one is drawn from
            TensorFlow's global generator when the pipeline is built.
        data_dir: Fashion-MNIST: the directory with its IDX files (else the default
            places); tfds datasets: the tfds data_dir (default ``$TFDS_DATA_DIR`` or
            ``~/tensorflow_datasets``); imagenet2012 reads its manual download from
            ``data_dir/downloads/manual``.
        limit: use only the first ``limit`` examples of the split (before shuffling).
        drop_remainder: drop the last, smaller batch.
        download: let tfds download and prepare a missing dataset (needs the network;
            imagenet2012 needs its manual download). Ignored for Fashion-MNIST.
        color_jitter, color_jitter_epochs, lighting, randaugment: optional training
            augmentations after the crop and flip (with ``augment``), e.g.
            ``color_jitter=(0.2, 0.2, 0.2, 0.1)`` (BCDNet), ``lighting=0.1`` (ReActNet),
            ``randaugment="rand-m7-mstd0.5-inc1"`` (BNext); see
            :func:`lq_ext.data.options.augment_options`.
        interpolation: ``"bilinear"`` (default) or ``"bicubic"``, of every resize.
        crop_fraction: the evaluation crop of stl10, oxford_flowers102 and imagenet2012:
            the central ``crop_fraction`` of the resized image (None: 0.875).

    # Returns
        ``tf.data.Dataset`` yielding float32 images (B, H, W, C) in [-1, 1] and int64
        labels (B,), prefetched.

    # Raises
        ValueError: a bad argument (checked before any data is read).
        DatasetNotAvailableError: the data are not on this machine (and, with
            ``download=True``, could not be downloaded / prepared).
    """
    extras = dict(color_jitter=color_jitter, color_jitter_epochs=color_jitter_epochs,
                  lighting=lighting, randaugment=randaugment, interpolation=interpolation,
                  crop_fraction=crop_fraction)
    args = _check_args(name, split, batch_size, image_size, channels, augment, shuffle,
                       seed, data_dir, limit, drop_remainder, download, extras)
    family, buffer, encoded = _RECIPES[name]
    examples, native = _examples(name, split, data_dir, args, encoded)
    if not (args["shuffle"] or args["augment"]):
        ds = examples if isinstance(examples, tf.data.Dataset) else (
            tf.data.Dataset.from_tensor_slices(examples))
        return _augment_and_batch(ds, args, family, native, None, None).prefetch(tf.data.AUTOTUNE)

    seed = args["seed"]
    if seed is None:  # drawn from TensorFlow's global generator: tf.random.set_seed applies
        seed = int(tf.random.uniform([], 0, 2**62, dtype=tf.int64))
    clock = DataEpoch(seed)
    if isinstance(examples, tf.data.Dataset):  # a tfds stream: shuffled through a buffer
        count = int(examples.cardinality())

        def ordered(key):
            if not args["shuffle"]:
                return examples
            return _shuffle_keyed(examples, buffer, key)
    else:  # arrays: a stateless permutation of the indices
        images, labels = (tf.convert_to_tensor(a) for a in examples)
        count = len(examples[1])

        def ordered(key):
            if not args["shuffle"]:
                return tf.data.Dataset.from_tensor_slices((images, labels))
            order = tf.random.experimental.stateless_shuffle(
                tf.range(count, dtype=tf.int64), seed=tf.stack([key, tf.constant(-1, tf.int64)])
            )
            return tf.data.Dataset.from_tensor_slices(
                (tf.gather(images, order), tf.gather(labels, order))
            )

    def one_epoch(epoch):
        key = epoch_key(seed, epoch)
        return _augment_and_batch(ordered(key), args, family, native, key, epoch)

    batches = None
    if count >= 0:
        batches = count // args["batch_size"]
        if not args["drop_remainder"] and count % args["batch_size"]:
            batches += 1
    return attach(clock.dataset(one_epoch, batches).prefetch(tf.data.AUTOTUNE), clock)


def _examples(name, split, data_dir, args, encoded):
    """The split's ``(image, label)`` examples (Fashion-MNIST: a pair of arrays; tfds: a
    dataset of single examples) and their stored size."""
    info = args["info"]
    if info.source == "idx":
        return _fashion_mnist(split, data_dir, args["channels"], args["limit"]), (32, 32)
    tfds_split = info.train_split if split == "train" else info.test_split
    ds = tfds_dataset(
        name, tfds_split, data_dir=data_dir,
        shuffle_files=args["shuffle"] and args["limit"] is None,
        seed=args["seed"], download=args["download"], encoded=encoded,
    )
    if args["limit"] is not None:
        ds = ds.take(args["limit"])
    return ds, info.image_size


def _augment_and_batch(ds, args, family, native, key, epoch):
    """Augment (when ``key``, the epoch's key, is given and ``args["augment"]``) and batch."""
    if family == "resized_crop":
        return _crop_then_batch(ds, args, key, epoch)
    return _batch_then_pad_crop(ds, args, native, key, epoch)


def _with_keys(ds, key):
    """Pair each element of ``ds`` with its stateless key, from the epoch's key and the
    element's index."""
    return ds.enumerate().map(lambda index, element: (element, element_key(key, index)))


def _crop_then_batch(ds, args, key, epoch):
    """Per image: random-resized crop + flip and the optional augmentations (augment) or
    the central crop; then batch."""
    size, autotune, options = args["size"], tf.data.AUTOTUNE, args["options"]
    method = options.interpolation
    if args["augment"] and key is not None:

        def crop(xy, element):
            image = random_resized_crop_flip(xy[0], element, size, method)
            return (options.apply(image, element, epoch) if options.any else image), xy[1]

        ds = _with_keys(ds, key).map(crop, num_parallel_calls=autotune)
    else:
        ds = ds.map(
            lambda x, y: (resize_central_crop(x, size, options.crop_fraction, method), y),
            num_parallel_calls=autotune,
        )
    ds = ds.batch(args["batch_size"], drop_remainder=args["drop_remainder"])
    return ds.map(lambda x, y: (to_unit_range(x), tf.cast(y, tf.int64)),
                  num_parallel_calls=autotune)


def _batch_then_pad_crop(ds, args, native, key, epoch):
    """Batch; resize when ``image_size`` is not the stored size; pad-crop-flip and the
    optional augmentations (augment)."""
    size, autotune, options = args["size"], tf.data.AUTOTUNE, args["options"]
    ds = ds.batch(args["batch_size"], drop_remainder=args["drop_remainder"])

    def to_size(x):
        return x if tuple(native) == tuple(size) else resize(x, size, options.interpolation)

    if args["augment"] and key is not None:

        def crop(xy, element):
            images = pad_crop_flip(to_size(xy[0]), element)
            if options.any:
                images = options.apply(tf.cast(images, tf.float32), element, epoch)
            return to_unit_range(images), tf.cast(xy[1], tf.int64)

        return _with_keys(ds, key).map(crop, num_parallel_calls=autotune)
    return ds.map(lambda x, y: (to_unit_range(to_size(x)), tf.cast(y, tf.int64)),
                  num_parallel_calls=autotune)
