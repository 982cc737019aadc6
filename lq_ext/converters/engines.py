"""Keras model → flatbuffer bytes, by engine: LCE (two front ends) or stock TFLite.

LCE 0.16's ``convert_keras_model`` writes the model as a SavedModel, reads it back and
converts that; only when this throws does it freeze a concrete function instead (its
"graph-def" path). Writing the SavedModel is most of the time: BDNetMobileNet at 32 px
took 68 s that way and 11 s through the graph-def path, with the same ops and bit-identical
outputs (docs/results/conversion.md has the table per model). :func:`to_flatbuffer`
therefore takes the graph-def path first (``via="graphdef"``), through the same LCE
functions ``convert_keras_model`` uses for it, and falls back to the SavedModel path,
with a warning that says why, where tracing the model fails.

What differs between the two front ends' files, and what this module restores:

- the SavedModel path records a ``serving_default`` signature (inputs and outputs named
  after the model's input layers and output layers); the graph-def path records none, so
  :func:`with_signature` adds the same one: LiteRT's signature runners work on either file;
- tensor names: the SavedModel path's I/O tensors are called ``serving_default_<input>:0``
  and ``StatefulPartitionedCall:0``, the graph-def path's ``<input>`` and ``Identity``.
  Interpreters address them by index, so they are left as they are.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import flatbuffers
import larq_compute_engine as lce
import tensorflow as tf
from larq_compute_engine.mlir._tf_tfl_flatbuffer import convert_graphdef_to_tflite_flatbuffer
from larq_compute_engine.mlir.python.converter import (
    _contains_training_quant_op,
    concrete_function_from_keras_model,
)
from tensorflow.core.framework.types_pb2 import DataType
from tensorflow.lite.python import schema_py_generated as schema
from tensorflow.lite.python.util import get_tensor_name
from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

from lq_ext._validate import check_choice
from lq_ext.fake_quant import deployed_kernels

__all__ = ["FRONT_ENDS", "SIGNATURE_KEY", "Flatbuffer", "to_flatbuffer", "with_signature"]

#: How a Keras model reaches LCE's MLIR converter: a frozen concrete function
#: ("graphdef", fast) or a SavedModel written to a temporary directory ("saved_model",
#: what ``lce.convert_keras_model`` does).
FRONT_ENDS = ("graphdef", "saved_model")

#: The signature the SavedModel path records, added to graph-def files too.
SIGNATURE_KEY = "serving_default"


@dataclass(frozen=True)
class Flatbuffer:
    """The converted bytes and how they were made.

    # Attributes
        data: the flatbuffer.
        via: the front end that made it, one of :data:`FRONT_ENDS` (``"tflite"`` for the
            stock TFLite converter).
        fallback_reason: why the graph-def path was not used when it was asked for
            (the exception it raised), else None.
    """

    data: bytes
    via: str
    fallback_reason: str | None = None


def to_flatbuffer(model, *, engine: str = "lce", target: str = "arm", via: str = "graphdef") -> Flatbuffer:
    """Convert ``model`` with ``engine`` ("lce" or "tflite") through front end ``via``.

    ``engine="builtin"`` (the portable target) uses LCE's converter as well: its model
    has no binary op left, so the file has builtin ops only.

    ``via`` applies to ``engine="lce"``; the stock TFLite converter traces a concrete
    function itself. A graph-def failure falls back to the SavedModel path with a
    ``UserWarning`` naming the error; the reason is kept on the result.

    The model is traced without the switches of delayed 8-/4-bit kernels
    (:func:`lq_ext.fake_quant.deployed_kernels`): the file always has quantized kernels
    (:func:`~lq_ext.converters.convert` also sets the switches, so that Keras agrees).
    """
    check_choice("via", via, FRONT_ENDS)
    with deployed_kernels():
        return _to_flatbuffer(model, engine, target, via)


def _to_flatbuffer(model, engine, target, via) -> Flatbuffer:
    if engine == "tflite":
        return Flatbuffer(tf.lite.TFLiteConverter.from_keras_model(model).convert(), "tflite")
    if via == "saved_model":
        return Flatbuffer(lce.convert_keras_model(model, target=target), "saved_model")
    try:
        data = _lce_from_graphdef(model, target)
    except Exception as error:  # noqa: BLE001 - any tracing / MLIR failure: use LCE's own path
        reason = f"{type(error).__name__}: {error}".strip()
        warnings.warn(
            f"LCE's graph-def conversion of {model.name!r} failed ({reason.splitlines()[0][:300]}); "
            "converting through a SavedModel instead (slower, same converter).",
            stacklevel=2,
        )
        return Flatbuffer(lce.convert_keras_model(model, target=target), "saved_model", reason)
    return Flatbuffer(with_signature(data, model.input_names, model.output_names), "graphdef")


def _lce_from_graphdef(model, target: str) -> bytes:
    """LCE's graph-def conversion, as ``convert_keras_model`` runs it when its SavedModel fails."""
    function = concrete_function_from_keras_model(model)
    frozen = convert_variables_to_constants_v2(function, lower_control_flow=False)
    inputs = [t for t in frozen.inputs if t.dtype != tf.dtypes.resource]
    graph_def = frozen.graph.as_graph_def()
    shapes = []
    for tensor in inputs:
        shape = tensor.shape.as_list()
        if shape and shape[0] is None:
            shape[0] = 1  # as LCE does: the batch dimension becomes 1
        shapes.append(shape)
    return convert_graphdef_to_tflite_flatbuffer(
        graph_def.SerializeToString(),
        [get_tensor_name(t) for t in inputs],
        [DataType.Name(t.dtype.as_datatype_enum) for t in inputs],
        shapes,
        [get_tensor_name(t) for t in frozen.outputs],
        _contains_training_quant_op(graph_def),  # fake-quant ops: quantize, as LCE decides
        target,
        None,
    )


def with_signature(data: bytes, input_names, output_names, key: str = SIGNATURE_KEY) -> bytes:
    """``data`` with one signature ``key`` over subgraph 0: its inputs and outputs, in order,
    named ``input_names`` / ``output_names`` (an existing signature list is replaced)."""
    model = schema.ModelT.InitFromPackedBuf(bytearray(data), 0)
    subgraph = model.subgraphs[0]
    if len(subgraph.inputs) != len(input_names) or len(subgraph.outputs) != len(output_names):
        raise ValueError(
            f"the flatbuffer has {len(subgraph.inputs)} input(s) and {len(subgraph.outputs)} output(s); "
            f"got {len(input_names)} input name(s) and {len(output_names)} output name(s)"
        )
    signature = schema.SignatureDefT()
    signature.signatureKey = key
    signature.subgraphIndex = 0
    signature.inputs = [_tensor_map(n, int(i)) for n, i in zip(input_names, subgraph.inputs)]
    signature.outputs = [_tensor_map(n, int(i)) for n, i in zip(output_names, subgraph.outputs)]
    model.signatureDefs = [signature]
    builder = flatbuffers.Builder(len(data) + 1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def _tensor_map(name: str, index: int):
    entry = schema.TensorMapT()
    entry.name = name
    entry.tensorIndex = index
    return entry
