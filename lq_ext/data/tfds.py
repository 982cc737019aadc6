"""TensorFlow Datasets as a source of :func:`lq_ext.data.load_dataset`, with errors that
say where tfds looked and how to provide a missing dataset (offline machines, the
ImageNet manual download). See docs/guides/data.md.
"""

from __future__ import annotations

import os

import tensorflow as tf

from lq_ext.data.datasets import DatasetNotAvailableError

__all__ = ["IMAGENET_TARS", "tfds_dataset", "tfds_root"]

#: The manual download tfds needs for ``imagenet2012`` (from image-net.org).
IMAGENET_TARS = ("ILSVRC2012_img_train.tar", "ILSVRC2012_img_val.tar")

# tensorflow_datasets is imported inside the functions below, not at the top: it adds
# about a second to `import lq_ext` (measured after TensorFlow, 2026-12-06) and only
# tfds datasets need it. This is for import cost only: it imports nothing of lq_ext,
# so there is no cycle to dodge.


def tfds_root(data_dir) -> str:
    """The tfds data_dir: ``data_dir``, else ``$TFDS_DATA_DIR``, else tfds' default."""
    if data_dir is not None:
        return os.fspath(data_dir)
    from tensorflow_datasets.core import constants  # import cost only, see above

    return os.path.expanduser(os.environ.get("TFDS_DATA_DIR") or str(constants.DATA_DIR))


def _missing(name, split, root, builder, manual_dir, reason):
    how = (
        f"put {' and '.join(IMAGENET_TARS)} (a manual download from "
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


def tfds_dataset(name, tfds_split, *, data_dir, shuffle_files, seed, download, encoded):
    """The ``(image, label)`` examples of ``name``'s ``tfds_split``, one at a time.

    ``download`` lets tfds download and prepare a missing dataset (``imagenet2012``:
    from the tars in ``<data_dir>/downloads/manual``); ``encoded`` keeps the images as
    encoded strings (decoded by the augmentations). Missing data raise
    :class:`~lq_ext.data.DatasetNotAvailableError`.
    """
    import tensorflow_datasets  # import cost only, see above

    root = tfds_root(data_dir)
    builder = tensorflow_datasets.builder(name, data_dir=root)
    manual_dir = os.path.join(root, "downloads", "manual")
    if download:
        prepared = tf.io.gfile.exists(builder.data_dir)
        if name == "imagenet2012" and not prepared:
            missing = [t for t in IMAGENET_TARS if not os.path.isfile(os.path.join(manual_dir, t))]
            if missing:
                raise _missing(
                    name, tfds_split, root, builder, manual_dir,
                    f"it is not prepared and the manual directory {manual_dir} lacks "
                    f"{', '.join(missing)}",
                )
        try:
            builder.download_and_prepare(
                download_config=tensorflow_datasets.download.DownloadConfig(manual_dir=manual_dir)
            )
        except Exception as error:  # network, manual files, disk: all "not available"
            raise _missing(
                name, tfds_split, root, builder, manual_dir,
                f"downloading and preparing it failed ({type(error).__name__}: {error})",
            ) from error
    try:
        return builder.as_dataset(
            split=tfds_split,
            as_supervised=True,
            shuffle_files=shuffle_files,
            decoders={"image": tensorflow_datasets.decode.SkipDecoding()} if encoded else None,
            read_config=tensorflow_datasets.ReadConfig(shuffle_seed=seed),
        )
    except AssertionError as error:  # tfds' "could not find data in ..."
        if tf.io.gfile.exists(builder.data_dir):
            raise
        reason = "it is not prepared there" + (
            " and download=False was given" if not download else ""
        )
        raise _missing(name, tfds_split, root, builder, manual_dir, reason) from error
