"""Read PyTorch checkpoints (``torch.save``) into NumPy without PyTorch installed.

Both formats: the zip archive (PyTorch ≥ 1.6) and the legacy pickle stream. The pickle
is read with a restricted unpickler that only rebuilds tensors, storages, ordered dicts
and NumPy scalars; any other global is refused, so no pickled code ever runs.
:func:`load_state_dict` returns ``{name: numpy array}`` (unwrapping ``state_dict`` /
``model`` and the ``module.`` prefix of ``nn.DataParallel``). Guide:
docs/guides/pretrained_weights.md.
"""

from __future__ import annotations

import collections
import io
import os
import pickle
import struct
import zipfile

import numpy as np

__all__ = [
    "CheckpointError",
    "is_torch_checkpoint",
    "load",
    "load_state_dict",
    "unwrap_state_dict",
]

#: Magic number at the start of a legacy ``torch.save`` stream (the first pickled object).
LEGACY_MAGIC = 0x1950A86A20F9469CFC6C

#: Legacy storage classes → NumPy dtype ("bfloat16" is widened to float32 on reading).
STORAGE_DTYPES = {
    "DoubleStorage": np.float64,
    "FloatStorage": np.float32,
    "HalfStorage": np.float16,
    "BFloat16Storage": "bfloat16",
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
    "UntypedStorage": np.uint8,
}

_TENSOR_REBUILDERS = ("_rebuild_tensor", "_rebuild_tensor_v2", "_rebuild_tensor_v3", "_rebuild_parameter",
                      "_rebuild_parameter_with_state")


class CheckpointError(ValueError):
    """The file is not a readable PyTorch checkpoint (the message says why)."""


class _StorageType:
    """Stands for ``torch.FloatStorage`` & co. while unpickling."""

    def __init__(self, name):
        self.name = name
        self.dtype = STORAGE_DTYPES[name]


class _Storage:
    """A typed view on a storage's bytes (``numel`` elements of ``dtype``)."""

    def __init__(self, raw: bytes, dtype, byteorder="little"):
        if dtype == "bfloat16":
            half = np.frombuffer(raw, dtype="<u2" if byteorder == "little" else ">u2")
            self.array = (half.astype(np.uint32) << 16).view(np.float32)
        else:
            dt = np.dtype(dtype)
            if dt.itemsize > 1:
                dt = dt.newbyteorder("<" if byteorder == "little" else ">")
            if len(raw) % dt.itemsize:
                raise CheckpointError(f"storage of {len(raw)} bytes is not a whole number of {dt.name} elements.")
            self.array = np.frombuffer(raw, dtype=dt)


def _dtype_of(storage_type):
    if isinstance(storage_type, _StorageType):
        return storage_type.dtype
    if isinstance(storage_type, np.dtype):
        return storage_type
    raise CheckpointError(f"unknown storage type {storage_type!r} in the checkpoint.")


def _view(storage, offset, size, stride):
    """The tensor ``storage[offset]`` with ``size`` and ``stride`` (in elements), as a copy."""
    if not isinstance(storage, _Storage):
        raise CheckpointError(f"a tensor refers to {type(storage).__name__}, not to a storage.")
    size, stride = tuple(int(s) for s in size), tuple(int(s) for s in stride)
    data = storage.array
    if len(size) != len(stride) or offset < 0 or any(s < 0 for s in size) or any(s < 0 for s in stride):
        raise CheckpointError(f"malformed tensor: size {size}, stride {stride}, offset {offset}.")
    if 0 in size:
        return np.zeros(size, dtype=data.dtype)
    last = offset + sum((n - 1) * s for n, s in zip(size, stride))
    if last >= data.size:
        raise CheckpointError(
            f"tensor of size {size}, stride {stride}, offset {offset} reads past its storage "
            f"of {data.size} elements."
        )
    item = data.itemsize
    view = np.lib.stride_tricks.as_strided(
        data[offset:], shape=size, strides=tuple(s * item for s in stride), writeable=False
    )
    return np.array(view).astype(view.dtype.newbyteorder("="), copy=False)


def _rebuild_tensor(storage, offset, size, stride, *_ignored):
    return _view(storage, offset, size, stride)


def _rebuild_parameter(data, *_ignored):
    return data


def _numpy_scalar(dtype, raw=None):
    return np.frombuffer(raw, dtype=dtype)[0] if raw is not None else dtype.type()


class _Unpickler(pickle.Unpickler):
    """Resolves only the globals a checkpoint of tensors needs; refuses everything else."""

    def __init__(self, file, load_storage, rebuild_tensor=None):
        super().__init__(file, encoding="utf-8")
        self._load_storage = load_storage
        self._rebuild_tensor = rebuild_tensor or _rebuild_tensor

    def find_class(self, module, name):
        if module == "torch._utils" and name in _TENSOR_REBUILDERS:
            return _rebuild_parameter if name.startswith("_rebuild_parameter") else self._rebuild_tensor
        if module in ("torch", "torch.storage") and name in STORAGE_DTYPES:
            return _StorageType(name)
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        if module in ("numpy.core.multiarray", "numpy._core.multiarray") and name == "scalar":
            return _numpy_scalar
        if module == "numpy" and name == "dtype":
            return np.dtype
        raise pickle.UnpicklingError(
            f"refusing to load global {module}.{name}: a checkpoint of tensors does not need it, "
            f"and unpickling it could run arbitrary code."
        )

    def persistent_load(self, pid):
        if not isinstance(pid, tuple) or not pid or pid[0] != "storage":
            raise CheckpointError(f"unsupported persistent id {pid!r} (expected a tensor storage).")
        return self._load_storage(pid[1:])


def _load_zip(archive: zipfile.ZipFile):
    names = archive.namelist()
    pickles = [n for n in names if n.endswith("data.pkl") and n.count("/") == 1]
    if not pickles:
        raise CheckpointError("zip archive without a '<name>/data.pkl' record: not a torch.save file.")
    prefix = pickles[0][: -len("data.pkl")]
    byteorder = "little"
    if prefix + "byteorder" in names:
        byteorder = archive.read(prefix + "byteorder").decode().strip()
    cache = {}

    def load_storage(info):
        storage_type, key, _location, *_rest = info
        if key not in cache:
            record = f"{prefix}data/{key}"
            if record not in names:
                raise CheckpointError(f"storage {key!r} is missing from the archive (no {record!r}).")
            cache[key] = _Storage(archive.read(record), _dtype_of(storage_type), byteorder)
        return cache[key]

    return _Unpickler(io.BytesIO(archive.read(pickles[0])), load_storage).load()


def _load_legacy(file):
    def no_storage(info):
        raise CheckpointError("storage outside the checkpoint's object.")

    def header():
        return _Unpickler(file, no_storage).load()

    if header() != LEGACY_MAGIC:
        raise CheckpointError("legacy stream without torch.save's magic number.")
    protocol = header()
    if protocol != 1001:
        raise CheckpointError(f"unsupported legacy protocol version {protocol!r} (expected 1001).")
    sys_info = header()
    little = not isinstance(sys_info, dict) or sys_info.get("little_endian", True)
    pending = {}  # storage key → dtype, filled while unpickling the object

    class _Pending:
        def __init__(self, key, dtype, offset=0, numel=None):
            self.key, self.dtype, self.offset, self.numel = key, dtype, offset, numel

    def load_storage(info):
        storage_type, key, _location, numel, view = (list(info) + [None] * 5)[:5]
        dtype = _dtype_of(storage_type)
        pending.setdefault(key, dtype)
        if view is not None:
            _view_key, offset, view_numel = view
            return _Pending(key, dtype, offset, view_numel)
        return _Pending(key, dtype, 0, numel)

    # Tensors are rebuilt before their bytes are known: record them, fill in afterwards.
    deferred = []

    def rebuild(storage, offset, size, stride, *_ignored):
        placeholder = [storage, offset, size, stride]
        deferred.append(placeholder)
        return placeholder

    obj = _Unpickler(file, load_storage, rebuild).load()
    keys = _Unpickler(file, no_storage).load()
    if not isinstance(keys, list):
        raise CheckpointError("legacy stream without the list of storage keys.")
    storages = {}
    for key in keys:
        if key not in pending:
            raise CheckpointError(f"storage {key!r} listed but never referenced.")
        dtype = pending[key]
        itemsize = 2 if dtype == "bfloat16" else np.dtype(dtype).itemsize
        head = file.read(8)
        if len(head) != 8:
            raise CheckpointError(f"legacy stream ends before the bytes of storage {key!r}.")
        (numel,) = struct.unpack("<q" if little else ">q", head)
        raw = file.read(numel * itemsize)
        if len(raw) != numel * itemsize:
            raise CheckpointError(f"legacy stream ends inside storage {key!r}.")
        storages[key] = _Storage(raw, dtype, "little" if little else "big")
    arrays = {}
    for placeholder in deferred:
        pend, offset, size, stride = placeholder
        if not isinstance(pend, _Pending) or pend.key not in storages:
            raise CheckpointError("a tensor refers to a storage that the stream does not hold.")
        arrays[id(placeholder)] = _view(storages[pend.key], pend.offset + offset, size, stride)
    return _replace(obj, arrays)


def _replace(obj, arrays):
    """Swap the legacy placeholders in ``obj`` for their arrays (containers rebuilt)."""
    if isinstance(obj, list) and id(obj) in arrays:
        return arrays[id(obj)]
    if isinstance(obj, dict):
        out = type(obj)() if isinstance(obj, collections.OrderedDict) else {}
        for key, value in obj.items():
            out[key] = _replace(value, arrays)
        return out
    if isinstance(obj, list):
        return [_replace(v, arrays) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_replace(v, arrays) for v in obj)
    return obj


def is_torch_checkpoint(path) -> bool:
    """True when ``path`` starts like a ``torch.save`` file (zip with ``data.pkl``, or a
    pickle stream); cheap: reads the first bytes and the zip directory only."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        return False
    with open(path, "rb") as f:
        head = f.read(4)
    if head.startswith(b"PK"):
        try:
            with zipfile.ZipFile(path) as archive:
                return any(n.endswith("/data.pkl") for n in archive.namelist())
        except zipfile.BadZipFile:
            return False
    return len(head) >= 2 and head[0] == 0x80 and head[1] in (2, 3, 4, 5)


def load(path):
    """Everything ``torch.save`` wrote to ``path``, tensors as NumPy arrays.

    # Raises
        CheckpointError: the file is not a PyTorch checkpoint, is truncated, or holds
            a global other than tensors, storages, ordered dicts and NumPy scalars.
    """
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            head = f.read(4)
            f.seek(0)
            if head.startswith(b"PK"):
                with zipfile.ZipFile(f) as archive:
                    return _load_zip(archive)
            if len(head) >= 2 and head[0] == 0x80:
                return _load_legacy(f)
    except CheckpointError as error:
        raise CheckpointError(f"{path!r}: {error}") from None
    except (pickle.UnpicklingError, zipfile.BadZipFile, EOFError, struct.error, TypeError, KeyError,
            AttributeError, IndexError, UnicodeDecodeError) as error:
        raise CheckpointError(f"{path!r} is not a readable PyTorch checkpoint: {error}") from error
    raise CheckpointError(
        f"{path!r} is not a PyTorch checkpoint (neither a torch.save zip archive nor a pickle "
        f"stream; first bytes {head!r})."
    )


def unwrap_state_dict(obj, *, source="checkpoint"):
    """The ``{name: array}`` of ``obj``: itself, or under ``state_dict`` / ``model``;
    the ``module.`` prefix (``nn.DataParallel``) removed when every key has it."""
    for _ in range(2):
        if isinstance(obj, dict) and not _is_state_dict(obj):
            for key in ("state_dict", "model", "model_state_dict", "net"):
                if key in obj and isinstance(obj[key], dict):
                    obj = obj[key]
                    break
    if not isinstance(obj, dict) or not _is_state_dict(obj):
        keys = sorted(map(str, obj))[:8] if isinstance(obj, dict) else type(obj).__name__
        raise CheckpointError(
            f"{source} holds no state_dict (a dict of tensors, bare or under 'state_dict' / "
            f"'model'); found {keys}."
        )
    state = {str(k): v for k, v in obj.items() if isinstance(v, np.ndarray)}
    if state and all(k.startswith("module.") for k in state):
        state = {k[len("module."):]: v for k, v in state.items()}
    return state


def _is_state_dict(obj):
    return bool(obj) and any(isinstance(v, np.ndarray) for v in obj.values())


def load_state_dict(path):
    """``{name: numpy array}`` of the model in the checkpoint at ``path`` (see
    :func:`unwrap_state_dict`); errors are :class:`CheckpointError`."""
    return unwrap_state_dict(load(path), source=repr(os.fspath(path)))
