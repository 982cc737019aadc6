"""Find a model's quantizers of one kind (nested models and layers included).

Shared by the schedules that change quantizer state during training
(:mod:`lq_ext.progressive`, :mod:`lq_ext.weight_phases`).
"""

from __future__ import annotations

import contextlib

__all__ = ["assigned", "built_quantizers", "owner_names"]


def built_quantizers(model, kind) -> list:
    """Every ``kind`` instance among ``model``'s layers and their sub-layers, each once.

    Raises ``ValueError`` for one that is not built yet: its state variables do not exist
    until the model has been called or given an input shape.
    """
    found = []
    for layer in model._flatten_layers(include_self=False):
        if isinstance(layer, kind):
            if not layer.built:
                raise ValueError(
                    f"The {type(layer).__name__} quantizer {layer.name!r} is not built yet: build "
                    f"the model (call it once, or give it an input shape) first."
                )
            found.append(layer)
    return found


def owner_names(model, quantizers) -> tuple[str, ...]:
    """For each quantizer, the name of the layer of ``model`` whose ``kernel_quantizer`` it
    is (its own name for one that is no layer's kernel quantizer)."""
    owners = {}
    for layer in model._flatten_layers(include_self=False):
        owners.setdefault(id(getattr(layer, "kernel_quantizer", None)), layer.name)
    return tuple(owners.get(id(q), q.name) for q in quantizers)


@contextlib.contextmanager
def assigned(variables, value: float):
    """Inside the block every scalar variable of ``variables`` holds ``value``; their
    previous values are restored on exit, also after an error. Yields the previous values."""
    saved = [float(variable.numpy()) for variable in variables]
    try:
        for variable in variables:
            variable.assign(value)
        yield saved
    finally:
        for variable, previous in zip(variables, saved):
            variable.assign(previous)
