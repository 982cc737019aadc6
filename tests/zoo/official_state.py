"""Deterministic, official-like ReActNet-A / BCDNet-A weights in NumPy (no torch, no TensorFlow).

The golden script (tools/golden/reactnet_a.py) loads these arrays into the official
PyTorch model and records its outputs; the tests regenerate the same arrays and load
them into lq_ext. Every array depends only on its key, its shape and the seed (not on
the order of the keys), so both sides agree as long as they agree on the key list.

BN statistics are non-trivial and matched to the preceding conv: running_var ≈ the
conv's output variance for ±1 inputs (fan_in · mean|W|²) times U(0.5, 2), running_mean
≈ N(0, 0.3²) times its standard deviation.
"""

from __future__ import annotations

import pickle
import zipfile
import zlib

import numpy as np

SEED = 2026


def _rng(key, seed):
    return np.random.default_rng([seed, zlib.crc32(key.encode())])


def _conv_of_bn(key, shapes):
    """The conv key whose output the BN at ``key`` normalises, and how many such convs are
    summed before it (ReActNet-A / BCDNet-A naming)."""
    prefix, bn, _ = key.rsplit(".", 2)
    if prefix == "feature.0":
        return "feature.0.conv1.weight", 1
    convs = {"bn1": ("binary_3x3", "binary_conv"), "bn2": ("binary_pw",),
             "bn2_1": ("binary_pw_down1",), "bn2_2": ("binary_pw_down2",)}[bn]
    for conv in convs:
        for suffix in ("weights", "weight"):
            if f"{prefix}.{conv}.{suffix}" in shapes:
                summed = 3 if f"{prefix}.binary_conv1.weight" in shapes else 1  # BCDNet's shift block
                return f"{prefix}.{conv}.{suffix}", summed
    raise KeyError(f"no conv for {key!r}")


def _value(key, shape, seed, state, shapes):
    rng = _rng(key, seed)
    n = int(np.prod(shape)) if shape else 1
    if key.endswith(".weights") or (".binary" in key and key.endswith(".weight")):  # binary conv
        return rng.normal(0.0, 0.05, shape)
    if key == "feature.0.conv1.weight":
        return rng.normal(0.0, 0.2, shape)
    if key.endswith("num_batches_tracked"):
        return np.asarray(1000, dtype=np.int64)
    last = key.rsplit(".", 1)[1]
    if ".bn" in key:
        conv_key, summed = _conv_of_bn(key, shapes)
        weight = state.get(conv_key)
        if weight is None:
            weight = state[conv_key] = _value(conv_key, shapes[conv_key], seed, state, shapes)
        channels = shape[0]
        if ".binary" in conv_key:
            fan_in = weight.size // channels
            mean_abs = np.abs(weight.reshape(channels, -1)).mean(axis=1)
            std = mean_abs * np.sqrt(fan_in * summed)
        else:  # the float stem on inputs of unit scale
            std = np.sqrt((weight.reshape(channels, -1) ** 2).sum(axis=1))
        if last == "weight":
            return rng.uniform(0.5, 1.5, shape)
        if last == "bias":
            return rng.normal(0.0, 0.2, shape)
        if last == "running_mean":
            return rng.normal(0.0, 0.3, shape) * std
        if last == "running_var":
            return rng.uniform(0.5, 2.0, shape) * std**2
    if ".move" in key:
        return rng.normal(0.0, 0.1, shape)
    if ".prelu" in key:
        return rng.uniform(0.05, 0.4, shape)
    if key in ("fc.weight", "fc_dist.weight"):
        return rng.normal(0.0, 1.0 / np.sqrt(shape[1]), shape) * 2.0
    if key in ("fc.bias", "fc_dist.bias"):
        return rng.normal(0.0, 0.1, shape)
    raise KeyError(f"no rule for {key!r} (shape {shape}, {n} values)")


def official_like_state(shapes, seed=SEED):
    """``{key: float32 array}`` for ``shapes`` (``{key: shape}``; integer keys stay int64)."""
    state = {}
    for key, shape in shapes.items():
        if key not in state:
            state[key] = _value(key, tuple(shape), seed, state, shapes)
    return {
        k: (v.astype(np.float32) if v.dtype.kind == "f" else v) for k, v in state.items() if k in shapes
    }


_STORAGES = {np.dtype(np.float32): "FloatStorage", np.dtype(np.int64): "LongStorage"}


def _piece(obj):
    """``obj`` as pickle opcodes without PROTO / STOP (strings, ints, tuples of them)."""
    return pickle.dumps(obj, protocol=2)[2:-1]


def write_torch_zip(path, obj):
    """Write ``{key: array}`` (``obj``, or nested one level: ``{"state_dict": {...}, ...}``)
    in ``torch.save``'s zip format, without torch: the opcodes torch's pickler emits for
    an OrderedDict of contiguous tensors (``torch._utils._rebuild_tensor_v2`` with a
    ``("storage", torch.FloatStorage, key, "cpu", numel)`` persistent id)."""
    records = {}

    def tensor(array):
        array = np.require(array, requirements="C")
        key = str(len(records))
        records[key] = array.tobytes()
        stride = tuple(int(s // array.itemsize) for s in array.strides)
        return (
            b"ctorch._utils\n_rebuild_tensor_v2\n("
            + b"(" + _piece("storage") + b"ctorch\n" + _STORAGES[array.dtype].encode() + b"\n"
            + _piece(key) + _piece("cpu") + _piece(int(array.size)) + b"tQ"
            + _piece(0) + _piece(tuple(int(d) for d in array.shape)) + _piece(stride)
            + b"\x89" + b"ccollections\nOrderedDict\n)R" + b"tR"
        )

    def value(v):
        if isinstance(v, np.ndarray):
            return tensor(v)
        if isinstance(v, dict):
            body = b"".join(_piece(str(k)) + value(x) + b"s" for k, x in v.items())
            return b"ccollections\nOrderedDict\n)R" + body
        return _piece(v)

    data = b"\x80\x02" + value(obj) + b"."
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("archive/data.pkl", data)
        archive.writestr("archive/byteorder", "little")
        for key, raw in records.items():
            archive.writestr(f"archive/data/{key}", raw)
        archive.writestr("archive/version", "3\n")


def load_golden(path):
    """Every array of a golden ``.npz`` (tools/golden/), read into memory."""
    with np.load(path) as data:
        return {k: data[k] for k in data.files}


def relative_error(ours, official):
    """max |ours − official| / max |official|: the golden tests' measure (per tensor or image)."""
    return float(np.abs(ours - official).max() / np.abs(official).max())


# --- BNext-T / ES-BNext-T (hpi-xnor/BNext ``bnext.py``, imfinethanks/ESBNN ``bnext_rep_ops.py``) ---

#: The temperature a BNext training run ends with (T × 0.9 per epoch, 512 epochs): the
#: official ``HardBinaryConv`` then uses ``sign(w)``.
BNEXT_FINAL_TEMPERATURE = 0.9**511


def bnext_bn_arrays(key, channels, mean, std, seed=SEED):
    """BN ``{weight, bias, running_mean, running_var}`` of BN ``key`` whose input has
    (over the calibration images) mean ``mean`` and standard deviation ``std``."""
    rng = _rng(key, seed)
    return {
        "weight": rng.uniform(0.5, 1.5, channels),
        "bias": rng.normal(0.0, 0.2, channels),
        "running_mean": mean + rng.normal(0.0, 0.3, channels) * std,
        "running_var": rng.uniform(0.5, 2.0, channels) * std**2,
    }


def bnext_like_state(shapes, bn_stats, *, temperature=BNEXT_FINAL_TEMPERATURE, seed=SEED):
    """``{key: array}`` for a BNext / ES-BNext ``state_dict`` with ``shapes``.

    ``bn_stats`` maps every BN prefix (``feature.3.FFN.norm1``) to the ``(mean, std)`` of
    its input, measured by the golden script on the 20 sample images (BN by BN, in
    forward order: see tools/golden/bnext_t.py); ``temperature`` goes into every
    ``temperature`` buffer. Binary weights are N(0, 0.5²) clamped to ±1.5 (latent
    weights of a run whose temperature never decayed use ``clamp(w, −1, 1)``)."""
    state = {}
    for key, shape in shapes.items():
        prefix, last = key.rsplit(".", 1)
        if prefix in bn_stats:
            if last == "num_batches_tracked":
                state[key] = np.asarray(1000, dtype=np.int64)
            else:
                state[key] = bnext_bn_arrays(prefix, shape[0], *bn_stats[prefix], seed)[last]
            continue
        rng = _rng(key, seed)
        if last == "temperature":
            state[key] = np.full(shape, temperature)
        elif key.endswith("binary_conv.weight"):
            state[key] = np.clip(rng.normal(0.0, 0.5, shape), -1.5, 1.5)
        elif key == "feature.0.conv1.weight":
            state[key] = rng.normal(0.0, 0.2, shape)
        elif last == "scale":
            state[key] = rng.uniform(0.0, 1.0, shape)
        elif ".move." in key:
            state[key] = rng.normal(0.0, 0.1, shape)
        elif "activation" in key or "prelu" in key:
            state[key] = rng.uniform(0.05, 0.4, shape)
        elif ".se.se." in key and last == "weight":
            state[key] = rng.normal(0.0, 1.0 / np.sqrt(shape[1]), shape)
        elif ".se.se." in key:
            state[key] = rng.normal(0.0, 0.1, shape)
        elif key == "fc.weight":
            state[key] = rng.normal(0.0, 2.0 / np.sqrt(shape[1]), shape)
        elif key == "fc.bias":
            state[key] = rng.normal(0.0, 0.1, shape)
        else:
            raise KeyError(f"no rule for {key!r} (shape {shape})")
    return {k: (v.astype(np.float32) if v.dtype.kind == "f" else v) for k, v in state.items()}
