"""Rewrite a TFLite flatbuffer: more subgraph outputs (taps), one constant buffer changed, or
one custom op's FlexBuffer options or one tensor's quantization scales changed.

Uses the object API of TensorFlow's generated schema (``schema_py_generated.ModelT``), unpack →
edit → pack. The ops, their options and their tensors stay as they are, so the interpreter runs
the same kernels on the same data; :func:`with_outputs` only makes it keep (and return) more
tensors. Used by :mod:`lq_ext.converters.diagnose` (docs/guides/parity.md, "Per-layer
diagnosis").
"""

from __future__ import annotations

import flatbuffers
import numpy as np
from flatbuffers import flexbuffers
from tensorflow.lite.python import schema_py_generated as schema

from lq_ext.converters._flatbuffer import FILE_IDENTIFIER, NUMPY_TYPES

__all__ = ["edit_constant", "edit_custom_options", "edit_quantization", "with_outputs"]


def _pack(model) -> bytes:
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=FILE_IDENTIFIER)
    return bytes(builder.Output())


def with_outputs(flatbuffer: bytes, tensor_indices) -> bytes:
    """``flatbuffer`` whose first subgraph also outputs ``tensor_indices`` (after its own outputs,
    in the given order, without repeating one it already outputs)."""
    model = schema.ModelT.InitFromPackedBuf(bytearray(flatbuffer), 0)
    subgraph = model.subgraphs[0]
    outputs = [int(i) for i in subgraph.outputs]
    outputs += [int(i) for i in tensor_indices if int(i) not in outputs]
    subgraph.outputs = np.asarray(outputs, dtype=np.int32)
    return _pack(model)


def edit_constant(flatbuffer: bytes, tensor_index: int, change) -> bytes:
    """``flatbuffer`` with the constant tensor ``tensor_index`` (first subgraph) replaced by
    ``change(values)``; ``values`` is a writable copy shaped and typed as the tensor."""
    model = schema.ModelT.InitFromPackedBuf(bytearray(flatbuffer), 0)
    tensor = model.subgraphs[0].tensors[tensor_index]
    buffer = model.buffers[tensor.buffer]
    if buffer.data is None or len(buffer.data) == 0:
        raise ValueError(f"tensor_index={tensor_index} is not a constant with data in this flatbuffer.")
    if tensor.type not in NUMPY_TYPES:
        raise ValueError(f"tensor_index={tensor_index} has TensorType {tensor.type}; only {sorted(NUMPY_TYPES)} are edited.")
    values = np.frombuffer(np.asarray(buffer.data, np.uint8).tobytes(), NUMPY_TYPES[tensor.type]).reshape(tensor.shape).copy()
    changed = np.asarray(change(values), dtype=values.dtype)
    if changed.shape != values.shape:
        raise ValueError(f"change must keep the shape {values.shape}, got {changed.shape}.")
    buffer.data = np.frombuffer(changed.tobytes(), np.uint8).copy()
    return _pack(model)


def edit_custom_options(flatbuffer: bytes, op_index: int, change) -> bytes:
    """``flatbuffer`` with the FlexBuffer options of custom op ``op_index`` (first subgraph)
    replaced by ``change(options)``; ``options`` is the decoded dict (e.g. an ``LceBconv2d``'s
    ``pad_values``, ``padding``, strides)."""
    model = schema.ModelT.InitFromPackedBuf(bytearray(flatbuffer), 0)
    operators = model.subgraphs[0].operators
    if not 0 <= op_index < len(operators) or operators[op_index].customOptions is None:
        raise ValueError(f"op_index={op_index} is not a custom op with options in this flatbuffer.")
    op = operators[op_index]
    options = flexbuffers.Loads(bytes(np.asarray(op.customOptions, np.uint8)))
    op.customOptions = np.frombuffer(flexbuffers.Dumps(change(dict(options))), np.uint8).copy()
    return _pack(model)


def edit_quantization(flatbuffer: bytes, tensor_index: int, change) -> bytes:
    """``flatbuffer`` with the quantization scales of tensor ``tensor_index`` (first subgraph)
    replaced by ``change(scales)``; ``scales`` is a writable float32 copy (one per tensor or one
    per channel)."""
    model = schema.ModelT.InitFromPackedBuf(bytearray(flatbuffer), 0)
    quantization = model.subgraphs[0].tensors[tensor_index].quantization
    if quantization is None or quantization.scale is None or len(quantization.scale) == 0:
        raise ValueError(f"tensor_index={tensor_index} has no quantization scale in this flatbuffer.")
    scales = np.asarray(quantization.scale, np.float32).copy()
    changed = np.asarray(change(scales), np.float32)
    if changed.shape != scales.shape:
        raise ValueError(f"change must keep the shape {scales.shape}, got {changed.shape}.")
    quantization.scale = changed
    return _pack(model)
