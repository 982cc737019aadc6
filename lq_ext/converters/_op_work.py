"""Work counted per op of a TFLite flatbuffer: MACs, element-wise float work, weight bits.

The conventions are documented in :mod:`lq_ext.converters.op_report` (guide:
docs/guides/conversion.md); this module only computes them.
"""

from __future__ import annotations

import math

from lq_ext.converters._flatbuffer import Graph, Operator

BCONV = "LceBconv2d"
BITS_PER_WORD = 32

#: Position of the activation input of each MAC op.
ACTIVATION_INPUT = {"CONV_2D": 0, "DEPTHWISE_CONV_2D": 0, "FULLY_CONNECTED": 0, "TRANSPOSE_CONV": 2}
#: Ops with a multiply-accumulate core: their work is counted in MACs, not elements.
MAC_OPS = {BCONV, *ACTIVATION_INPUT}
#: Ops that only relabel or read a tensor's shape: no element-wise work.
SHAPE_ONLY = {"RESHAPE", "SQUEEZE", "EXPAND_DIMS", "SHAPE"}
FLOAT_TYPES = {"float32", "float16", "float64"}


def numel(shape) -> int:
    return math.prod(max(int(d), 1) for d in shape)


def bconv_groups(graph: Graph, op: Operator) -> tuple[int, int]:
    """(channels_in, groups) of an LceBconv2d from its options and packed filter."""
    filt = graph.tensor(op, 1)
    options = op.custom_options or {}
    packed_words = filt.shape[3] if filt is not None and len(filt.shape) == 4 else 0
    channels_in = int(options.get("channels_in", packed_words * BITS_PER_WORD))
    # A grouped bconv has a multiple of 32 channels per group, so its filter holds
    # exactly channels_in / groups / 32 words; an ungrouped one ⌈channels_in / 32⌉.
    per_group_max = packed_words * BITS_PER_WORD
    if per_group_max and channels_in > per_group_max and channels_in % per_group_max == 0:
        return channels_in, channels_in // per_group_max
    return channels_in, 1


def elementwise(graph: Graph, op: Operator) -> int:
    """Element count of the largest float activation tensor of a non-MAC op (0 for MAC,
    shape-only and non-float ops)."""
    if op.op_type in MAC_OPS or op.op_type in SHAPE_ONLY:
        return 0
    tensors = [graph.tensor(op, i) for i in range(len(op.inputs))]
    tensors = [t for t in tensors if t is not None and not t.constant]
    tensors += [graph.tensor(op, i, outputs=True) for i in range(len(op.outputs))]
    return max((numel(t.shape) for t in tensors if t is not None and t.dtype in FLOAT_TYPES), default=0)


def macs(graph: Graph, op: Operator) -> tuple[int, int]:
    """(MACs, groups) of ``op``; 0 MACs for ops without a multiply-accumulate core."""
    out = graph.tensor(op, 0, outputs=True)
    filt = graph.tensor(op, 1)
    if out is None:
        return 0, 1
    if op.op_type == BCONV and filt is not None and len(filt.shape) == 4:
        channels_in, groups = bconv_groups(graph, op)
        c_out, kh, kw = filt.shape[:3]
        return numel(out.shape[:-1]) * c_out * kh * kw * channels_in // groups, groups
    if op.op_type == "CONV_2D" and filt is not None and len(filt.shape) == 4:
        c_out, kh, kw, cin_per_group = filt.shape
        inp = graph.tensor(op, 0)
        groups = inp.shape[-1] // cin_per_group if inp is not None and inp.shape and cin_per_group else 1
        return numel(out.shape[:-1]) * c_out * kh * kw * cin_per_group, max(groups, 1)
    if op.op_type == "DEPTHWISE_CONV_2D" and filt is not None and len(filt.shape) == 4:
        _, kh, kw, _ = filt.shape
        return numel(out.shape) * kh * kw, 1
    if op.op_type == "FULLY_CONNECTED" and filt is not None and len(filt.shape) == 2:
        return numel(out.shape) * filt.shape[1], 1
    if op.op_type == "TRANSPOSE_CONV":
        weights, inp = graph.tensor(op, 1), graph.tensor(op, 2)
        if weights is not None and inp is not None and len(weights.shape) == 4:
            c_out, kh, kw, _ = weights.shape
            return numel(inp.shape) * kh * kw * c_out, 1
    return 0, 1


#: Bits per value of constant tensors at their storage width.
DTYPE_BITS = {"float32": 32, "int32": 32, "int64": 64, "float16": 16, "int16": 16, "int8": 8, "uint8": 8, "bool": 8}


def weight_floor_bits(graph: Graph) -> int:
    """Bits the model's constants need at their information width.

    An ``LceBconv2d`` filter is binary: 1 bit per weight (its int32 packing rounds the
    input channels up to a multiple of 32); every other constant (int8 weights, float
    weights, biases, multipliers, shapes) counts at its dtype's width.
    """
    seen, bits = set(), 0
    for op in graph.operators:
        for position, index in enumerate(op.inputs):
            tensor = graph.tensor(op, position)
            if tensor is None or not tensor.constant or (op.subgraph, index) in seen:
                continue
            seen.add((op.subgraph, index))
            if op.op_type == BCONV and position == 1 and len(tensor.shape) == 4:
                channels_in, groups = bconv_groups(graph, op)
                c_out, kh, kw = tensor.shape[:3]
                bits += c_out * kh * kw * (channels_in // groups)
            else:
                bits += numel(tensor.shape) * DTYPE_BITS.get(tensor.dtype, 32)
    return bits
