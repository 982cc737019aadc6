"""Read-only view of a TFLite flatbuffer: tensors, operators and LCE custom options.

Uses TensorFlow's generated schema (``tensorflow.lite.python.schema_py_generated``,
the schema of the TensorFlow the LCE 0.16 wheel was built from, 2.16) and
``flatbuffers.flexbuffers`` for the FlexBuffer options of LCE's custom ops.
:func:`read_model` is the single entry point that turns a path or bytes into a
:class:`Graph`; it raises ``FileNotFoundError`` / ``ValueError`` naming the path for
missing, unreadable or non-TFLite files, and :mod:`lq_ext.bench` reuses it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
from flatbuffers import flexbuffers
from tensorflow.lite.python import schema_py_generated as schema

__all__ = [
    "FILE_IDENTIFIER", "Graph", "Operator", "Tensor", "constant", "load_bytes", "parse", "quantization", "read_model",
]

#: Bytes 4..8 of every TFLite flatbuffer.
FILE_IDENTIFIER = b"TFL3"

_BUILTIN_NAMES = {
    value: name
    for name, value in vars(schema.BuiltinOperator).items()
    if not name.startswith("_") and isinstance(value, int)
}
#: The numpy dtype of each TFLite tensor type a constant of ours is stored in.
NUMPY_TYPES = {
    schema.TensorType.FLOAT32: np.float32, schema.TensorType.INT32: np.int32, schema.TensorType.INT8: np.int8,
    schema.TensorType.UINT8: np.uint8, schema.TensorType.INT16: np.int16, schema.TensorType.INT64: np.int64,
}
_TYPE_NAMES = {
    value: name.lower()
    for name, value in vars(schema.TensorType).items()
    if not name.startswith("_") and isinstance(value, int)
}


@dataclass(frozen=True)
class Tensor:
    """One tensor of a subgraph; ``constant`` means no op and no graph input makes it."""

    index: int
    name: str
    shape: tuple[int, ...]
    dtype: str  # "float32", "int8", "int32", ...
    constant: bool


@dataclass(frozen=True)
class Operator:
    """One operator; ``inputs``/``outputs`` are tensor indices (-1 = optional, absent)."""

    index: int
    subgraph: int
    op_type: str  # builtin name ("CONV_2D") or custom code ("LceBconv2d")
    custom: bool
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    custom_options: dict | None


@dataclass(frozen=True)
class Graph:
    """Every subgraph's tensors and operators, in execution order."""

    source: str
    size_bytes: int
    tensors: tuple[tuple[Tensor, ...], ...]  # per subgraph
    operators: tuple[Operator, ...]  # all subgraphs, subgraph 0 first

    def tensor(self, op: Operator, position: int, *, outputs: bool = False) -> Tensor | None:
        """The tensor at ``position`` of ``op``'s inputs (or outputs), None if absent."""
        indices = op.outputs if outputs else op.inputs
        if position >= len(indices) or indices[position] < 0:
            return None
        return self.tensors[op.subgraph][indices[position]]

    def structure(self) -> tuple:
        """Every operator in order: its type, custom options and the (shape, dtype,
        constant) of its tensors, without tensor names; equal for two files that differ
        only in names (constant values are not compared)."""

        def describe(op, indices):
            tensors = self.tensors[op.subgraph]
            return tuple((tensors[i].shape, tensors[i].dtype, tensors[i].constant) if i >= 0 else None for i in indices)

        return tuple(
            (op.subgraph, op.op_type, describe(op, op.inputs), describe(op, op.outputs), op.custom_options)
            for op in self.operators
        )


def _describe(source) -> str:
    return f"{os.fspath(source)!r}" if not isinstance(source, (bytes, bytearray, memoryview)) else "<bytes>"


def load_bytes(path_or_bytes) -> tuple[bytes, str]:
    """Return ``(flatbuffer bytes, source description)`` after checking the file identifier.

    Raises ``FileNotFoundError`` for a missing file, ``TypeError`` for an argument that
    is neither a path nor bytes, and ``ValueError`` for anything that is not a TFLite
    flatbuffer (identifier ``TFL3`` missing), in every case naming the path.
    """
    if isinstance(path_or_bytes, (bytes, bytearray, memoryview)):
        buf, source = bytes(path_or_bytes), "<bytes>"
    elif isinstance(path_or_bytes, (str, os.PathLike)):
        path = os.fspath(path_or_bytes)
        source = path
        if not os.path.exists(path):
            raise FileNotFoundError(f"No TFLite model at path={path!r}: the file does not exist.")
        if os.path.isdir(path):
            raise ValueError(f"path={path!r} is a directory, expected a .tflite file.")
        with open(path, "rb") as handle:
            buf = handle.read()
    else:
        raise TypeError(
            f"Expected a path (str or os.PathLike) or the flatbuffer bytes, got "
            f"{type(path_or_bytes).__name__}: {path_or_bytes!r:.80}."
        )
    if len(buf) < 8 or buf[4:8] != FILE_IDENTIFIER:
        found = buf[4:8] if len(buf) >= 8 else f"only {len(buf)} bytes"
        raise ValueError(
            f"{_describe(path_or_bytes)} is not a TFLite flatbuffer: bytes 4..8 must be the "
            f"file identifier {FILE_IDENTIFIER!r}, found {found!r}. The file is corrupted, "
            f"truncated or of another format."
        )
    return buf, source


def _custom_options(op) -> dict | None:
    if op.CustomOptionsLength() == 0:
        return None
    raw = op.CustomOptionsAsNumpy().tobytes()
    try:
        options = flexbuffers.Loads(raw)
    except Exception:  # noqa: BLE001 - not a FlexBuffer: keep the raw bytes
        return {"_raw": raw}
    return options if isinstance(options, dict) else {"_value": options}


def parse(buf: bytes, source: str = "<bytes>") -> Graph:
    """Parse flatbuffer bytes (identifier already checked) into a :class:`Graph`."""
    try:
        model = schema.Model.GetRootAs(buf, 0)
        opcodes = []
        for i in range(model.OperatorCodesLength()):
            code = model.OperatorCodes(i)
            # Codes > 127 live in BuiltinCode; older files only fill DeprecatedBuiltinCode.
            builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
            if builtin == schema.BuiltinOperator.CUSTOM:
                opcodes.append((code.CustomCode().decode("utf-8", "replace"), True))
            else:
                opcodes.append((_BUILTIN_NAMES.get(builtin, f"BUILTIN_{builtin}"), False))

        all_tensors, all_ops = [], []
        for s in range(model.SubgraphsLength()):
            subgraph = model.Subgraphs(s)
            raw_ops = [subgraph.Operators(i) for i in range(subgraph.OperatorsLength())]
            produced = {int(t) for op in raw_ops for t in (op.OutputsAsNumpy() if op.OutputsLength() else ())}
            graph_inputs = set(subgraph.InputsAsNumpy().tolist()) if subgraph.InputsLength() else set()
            tensors = []
            for t in range(subgraph.TensorsLength()):
                tensor = subgraph.Tensors(t)
                shape = tuple(int(d) for d in tensor.ShapeAsNumpy()) if tensor.ShapeLength() else ()
                tensors.append(
                    Tensor(
                        index=t,
                        name=(tensor.Name() or b"").decode("utf-8", "replace"),
                        shape=shape,
                        dtype=_TYPE_NAMES.get(tensor.Type(), f"type_{tensor.Type()}"),
                        constant=t not in produced and t not in graph_inputs,
                    )
                )
            all_tensors.append(tuple(tensors))
            for i, op in enumerate(raw_ops):
                op_type, custom = opcodes[op.OpcodeIndex()]
                all_ops.append(
                    Operator(
                        index=i,
                        subgraph=s,
                        op_type=op_type,
                        custom=custom,
                        inputs=tuple(int(t) for t in op.InputsAsNumpy()) if op.InputsLength() else (),
                        outputs=tuple(int(t) for t in op.OutputsAsNumpy()) if op.OutputsLength() else (),
                        custom_options=_custom_options(op) if custom else None,
                    )
                )
    except Exception as error:  # noqa: BLE001 - any decoding failure means a corrupt file
        raise ValueError(
            f"{source if source == '<bytes>' else repr(source)} has the TFLite identifier "
            f"but could not be parsed ({type(error).__name__}: {error}); the file is "
            f"corrupted or truncated."
        ) from error
    return Graph(source, len(buf), tuple(all_tensors), tuple(all_ops))


def read_model(path_or_bytes) -> tuple[bytes, Graph]:
    """:func:`load_bytes` then :func:`parse`: the flatbuffer bytes and their :class:`Graph`."""
    buf, source = load_bytes(path_or_bytes)
    return buf, parse(buf, source)


def constant(buf: bytes, tensor_index: int) -> np.ndarray | None:
    """The stored values of constant tensor ``tensor_index`` of subgraph 0, shaped and typed as
    the tensor (the integers of a quantized one: see :func:`quantization`); ``None`` for a
    tensor without data."""
    model = schema.Model.GetRootAs(buf, 0)
    tensor = model.Subgraphs(0).Tensors(int(tensor_index))
    buffer = model.Buffers(tensor.Buffer())
    if buffer is None or not buffer.DataLength():
        return None
    if tensor.Type() not in NUMPY_TYPES:
        raise ValueError(f"tensor_index={tensor_index} has TensorType {tensor.Type()}; "
                         f"{sorted(_TYPE_NAMES[t] for t in NUMPY_TYPES)} are read.")
    return buffer.DataAsNumpy().view(NUMPY_TYPES[tensor.Type()]).reshape(tensor.ShapeAsNumpy())


def quantization(buf: bytes, tensor_index: int) -> tuple[np.ndarray, np.ndarray] | None:
    """(scales, zero points) of tensor ``tensor_index`` of subgraph 0, one per channel of a
    per-channel tensor; ``None`` for a tensor without them."""
    params = schema.Model.GetRootAs(buf, 0).Subgraphs(0).Tensors(int(tensor_index)).Quantization()
    if params is None or not params.ScaleLength():
        return None
    return params.ScaleAsNumpy().astype(np.float64), params.ZeroPointAsNumpy().astype(np.int64)
