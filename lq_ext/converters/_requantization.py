"""How far an int8 conv of a flatbuffer may round away from the exact value of its inputs.

TFLite scales an int8 ``CONV_2D`` / ``DEPTHWISE_CONV_2D`` / ``FULLY_CONNECTED`` accumulator
to the output grid with the fixed-point multiplier M = s_in·s_w/s_out = M₀·2^e (M₀ in [½, 1),
per output channel): it rounds ``acc·M₀`` to an integer, then divides by 2^−e and rounds
again. For e < 0 the first rounding moves the result by up to 2^(e−1) output steps. Its int32
bias is rounded to the grid s_in·s_w: up to ½·M steps more, unless the float bias was exact
zeros (what the converter adds to a conv without one). A bias of zeros in the file does not tell
which: a float bias smaller than half the grid rounds to zeros too, so the caller, who knows the
float model, says (:meth:`Requantization.slack`). A float clone that rounds its exact value once
may therefore differ by one step where that value lies within 2^(e−1)·[e < 0] + ½·M·[bias]
steps of the midpoint between the two grid values, and nowhere else (measured:
experiments/tflite_requantization.py; docs/guides/parity.md, "Two causes of one-step
differences").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from tensorflow.lite.python import schema_py_generated as schema

from lq_ext.converters._flatbuffer import constant, quantization

__all__ = ["INT8_ACCUMULATING_OPS", "Requantization", "requantizations", "requantization_slack"]

#: The int8 ops whose output is a requantized int32 accumulator.
INT8_ACCUMULATING_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")

_CODES = {getattr(schema.BuiltinOperator, name) for name in INT8_ACCUMULATING_OPS}


def requantization_slack(multiplier, bias: bool) -> np.ndarray:
    """Per output channel, in output steps: how far from the midpoint between two grid values
    the exact value may lie where TFLite rounds it to the other one (module docstring)."""
    multiplier = np.asarray(multiplier, np.float64)
    exponent = np.frexp(multiplier)[1]
    slack = np.where(exponent < 0, np.ldexp(0.5, exponent), 0.0)
    return slack + (0.5 * multiplier if bias else 0.0)


@dataclass(frozen=True)
class Requantization:
    """How one int8 accumulating op of a flatbuffer scales its accumulator to its output."""

    multiplier: np.ndarray  # M = s_in·s_w/s_out, per output channel
    bias_grid: np.ndarray  # s_in·s_w, per output channel: the step of the int32 bias
    bias_in_file: bool  # whether the file's int32 bias has a nonzero element

    def slack(self, float_bias: bool = False) -> np.ndarray:
        """:func:`requantization_slack` per output channel; ``float_bias``: the float model
        adds a nonzero bias here (it may have rounded to the file's zeros)."""
        return requantization_slack(self.multiplier, self.bias_in_file or float_bias)


def _int8_scales(buf: bytes, subgraph, tensor_index: int) -> np.ndarray | None:
    if subgraph.Tensors(int(tensor_index)).Type() != schema.TensorType.INT8:
        return None
    params = quantization(buf, tensor_index)
    return None if params is None else params[0]


def _nonzero(buf: bytes, tensor_index: int) -> bool:
    values = constant(buf, tensor_index)
    return values is None or bool(values.any())  # a computed bias: taken as nonzero


def requantizations(buf: bytes) -> dict[int, Requantization]:
    """{output tensor index: :class:`Requantization`} of every int8 accumulating op of
    subgraph 0 (int8 input, kernel and output); a ``DEQUANTIZE`` of such an output gets the
    same."""
    model = schema.Model.GetRootAs(buf, 0)
    subgraph = model.Subgraphs(0)
    found = {}
    for position in range(subgraph.OperatorsLength()):
        op = subgraph.Operators(position)
        code = model.OperatorCodes(op.OpcodeIndex())
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        inputs, outputs = op.InputsAsNumpy(), op.OutputsAsNumpy()
        if builtin == schema.BuiltinOperator.DEQUANTIZE and inputs[0] in found:
            found[int(outputs[0])] = found[int(inputs[0])]
        if builtin not in _CODES or len(inputs) < 2:
            continue
        x, w, y = (_int8_scales(buf, subgraph, i) for i in (inputs[0], inputs[1], outputs[0]))
        if x is None or w is None or y is None or len(x) != 1 or len(y) != 1:
            continue
        bias = len(inputs) > 2 and inputs[2] >= 0 and _nonzero(buf, inputs[2])
        found[int(outputs[0])] = Requantization(x[0] * w / y[0], x[0] * w, bool(bias))
    return found
