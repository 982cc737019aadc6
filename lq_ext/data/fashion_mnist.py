"""Fashion-MNIST from its IDX files: the full real dataset that works offline.

Xiao, Rasul, Vollgraf, "Fashion-MNIST: a Novel Image Dataset for Benchmarking Machine
Learning Algorithms", arXiv:1708.07747 (Zalando, MIT licence). 60,000 training and
10,000 test images, 28×28 grey, 10 classes.

tensorflow-datasets downloads its data, which is impossible offline, so ``lq_ext``
reads the four official IDX files (gzip or not) from the first directory that holds
them (:func:`fashion_mnist_dirs`):

1. ``root``, when given (then nowhere else);
2. ``$LQ_EXT_FASHION_MNIST_DIR``;
3. ``/usr/share/datasets/fashion-mnist`` (Debian: ``apt-get install dataset-fashion-mnist``);
4. a development copy for a source checkout: ``shared/data/fashion-mnist``
   (:data:`DEV_COPY_PARTS`) under the directory that contains the checkout (for an
   installed package that directory normally does not exist).

Guide: docs/guides/data.md.
"""

from __future__ import annotations

import gzip
import hashlib
import os
from pathlib import Path

import numpy as np

__all__ = ["FILES", "SHA256", "fashion_mnist_dirs", "load_fashion_mnist", "to_cifar_shape"]

#: split -> (images file, labels file), without the ``.gz`` suffix.
FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

#: sha256 of the *decompressed* IDX files (the same for Debian's and upstream's .gz).
SHA256 = {
    "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}

_SIZES = {"train": 60000, "test": 10000}
_IMAGES_MAGIC, _LABELS_MAGIC = 0x00000803, 0x00000801

ENV_VAR = "LQ_EXT_FASHION_MNIST_DIR"
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
#: The development copy: this relative path, taken from the directory holding the checkout.
DEV_COPY_PARTS = ("shared", "data", "fashion-mnist")


def fashion_mnist_dirs(root=None) -> list[Path]:
    """The directories searched for the IDX files, in order (see the module docstring)."""
    if root is not None:
        return [Path(root)]
    dirs = []
    if os.environ.get(ENV_VAR):
        dirs.append(Path(os.environ[ENV_VAR]))
    dirs.append(DEBIAN_DIR)
    beside_checkout = Path(__file__).resolve().parents[3]  # lq_ext/data/ -> lq_ext/ -> repo -> its parent
    dirs.append(beside_checkout.joinpath(*DEV_COPY_PARTS))
    return dirs


def _find(directory: Path, stem: str):
    for name in (stem + ".gz", stem):
        if (directory / name).is_file():
            return directory / name
    return None


def _read(path: Path) -> bytes:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as file:
        return file.read()


def _parse_idx(data: bytes, *, magic: int, count: int, path: Path) -> np.ndarray:
    header = 16 if magic == _IMAGES_MAGIC else 8
    if len(data) < header:
        raise ValueError(f"{path} is not an IDX file: {len(data)} bytes.")
    found = int.from_bytes(data[:4], "big")
    if found != magic:
        raise ValueError(f"{path} has IDX magic {found:#010x}, expected {magic:#010x}.")
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range((header - 4) // 4)]
    expected = [count, 28, 28] if magic == _IMAGES_MAGIC else [count]
    if dims != expected:
        raise ValueError(f"{path} holds an array of shape {tuple(dims)}, expected {tuple(expected)}.")
    values = np.frombuffer(data, dtype=np.uint8, offset=header)
    if values.size != int(np.prod(dims)):
        raise ValueError(f"{path} is truncated: {values.size} values for shape {tuple(dims)}.")
    return values.reshape(dims)


def load_fashion_mnist(root=None, *, verify: bool = False):
    """``(x_train, y_train), (x_test, y_test)`` as uint8 arrays, (N, 28, 28) and (N,).

    # Arguments
        root: a directory holding the four IDX files (``.gz`` or decompressed);
            default: search the places listed in the module docstring.
        verify: also check the sha256 of every decompressed file.

    # Raises
        FileNotFoundError: no searched directory holds the files; the message lists
            where it looked and how to provide them.
        ValueError: a file is not the Fashion-MNIST IDX file it is named after.
    """
    dirs = fashion_mnist_dirs(root)
    for directory in dirs:
        stems = [stem for pair in FILES.values() for stem in pair]
        paths = {stem: _find(directory, stem) for stem in stems}
        if all(paths.values()):
            break
    else:
        looked = "\n".join(f"  - {d}" for d in dirs)
        raise FileNotFoundError(
            "Fashion-MNIST not found: no directory holds the four IDX files "
            f"({', '.join(s + '[.gz]' for pair in FILES.values() for s in pair)}). Looked in:\n"
            f"{looked}\nProvide them with `apt-get install dataset-fashion-mnist` (Debian), or "
            f"download them from https://github.com/zalandoresearch/fashion-mnist and pass "
            f"root=DIR (or set {ENV_VAR}=DIR)."
        )
    splits = []
    for split, (images_stem, labels_stem) in FILES.items():
        arrays = []
        for stem, magic in ((images_stem, _IMAGES_MAGIC), (labels_stem, _LABELS_MAGIC)):
            data = _read(paths[stem])
            if verify and hashlib.sha256(data).hexdigest() != SHA256[stem]:
                raise ValueError(
                    f"{paths[stem]}: sha256 differs from the official Fashion-MNIST file {stem}."
                )
            arrays.append(_parse_idx(data, magic=magic, count=_SIZES[split], path=paths[stem]))
        splits.append(tuple(arrays))
    return tuple(splits)


def to_cifar_shape(images: np.ndarray, channels: int = 1) -> np.ndarray:
    """28×28 grey images → 32×32 (2 px of zero padding each side), ``channels`` copies.

    The CIFAR-shaped input of the papers' small-input networks; the images stay grey.
    """
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got channels={channels!r}.")
    images = np.asarray(images)
    if images.ndim != 3 or images.shape[1:] != (28, 28):
        raise ValueError(f"expected images of shape (N, 28, 28), got {images.shape}.")
    padded = np.pad(images, ((0, 0), (2, 2), (2, 2)))[..., np.newaxis]
    return np.repeat(padded, channels, axis=-1) if channels > 1 else padded
