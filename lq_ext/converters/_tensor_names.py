"""Layer names in truncated TFLite tensor names.

The converter cuts every tensor name to 50 characters and appends a digit where two
cut names collide: in ``bdnet_mobilenet_int8_portable/block1_dw_conv_built1`` the layer
``block1_dw_conv_builtin`` is cut, and ``..._act_shift_`` / ``..._act_shift_1`` are the
outputs of ``act_shift_in`` and ``act_shift_out``. The per-layer diagnosis finds a tensor's
layer by name (:func:`~lq_ext.converters._quantized_boundaries.layer_name`), so
:func:`untruncated` gives such tensors their layer's full name back first.
"""

from __future__ import annotations

import dataclasses

from lq_ext.converters._flatbuffer import Graph
from lq_ext.converters._quantized_boundaries import ROUNDING, layer_name

__all__ = ["NAME_LIMIT", "untruncated"]

#: The length TFLite's converter cuts tensor names to (before the digit it may append).
NAME_LIMIT = 50


def untruncated(graph: Graph, model) -> Graph:
    """``graph`` with the cut names of subgraph 0's op outputs replaced by
    ``"<model>/<layer>"`` where the layer is certain: the cut names that share a prefix
    are matched, in execution order, with the model's layers (in topological order) whose
    names start with it, when both are as many; failing that, with those layers less the
    int8 ranges (:data:`~lq_ext.converters._quantized_boundaries.ROUNDING`), which name
    no tensor of their own."""
    known = {layer.name for layer in model.layers}
    tensors = list(graph.tensors[0])
    groups: dict[str, list[int]] = {}
    for op in graph.operators:
        for index in op.outputs if op.subgraph == 0 else ():
            name = tensors[index].name if index >= 0 else ""
            if len(name) < NAME_LIMIT or layer_name(name, model.name) in known:
                continue
            prefix = layer_name(name[:NAME_LIMIT], model.name)
            if prefix and index not in groups.get(prefix, []):
                groups.setdefault(prefix, []).append(index)
    for prefix, indices in groups.items():
        candidates = [layer.name for layer in model.layers if layer.name.startswith(prefix)]
        if len(candidates) != len(indices):
            # an int8 range names no tensor: TFLite names its rounded output after the layer before
            candidates = [layer.name for layer in model.layers
                          if layer.name.startswith(prefix) and not isinstance(layer, ROUNDING)]
        if len(candidates) != len(indices):
            continue  # not certain: left unmapped (the diagnosis lists it)
        for index, layer in zip(indices, candidates):
            tensors[index] = dataclasses.replace(tensors[index], name=f"{model.name}/{layer}")
    return dataclasses.replace(graph, tensors=(tuple(tensors), *graph.tensors[1:]))
