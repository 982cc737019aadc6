"""Pre-conversion rewrites: Keras layers LCE would run in float, replaced by equivalent
layers it runs bit-packed, with the same weights and the same Keras outputs.

:func:`binary_dense_as_bconv` replaces every binary ``lq.layers.QuantDense`` (±1 input
binarizer, ±α kernel) by :class:`lq_ext.layers.BinaryDense` — the same layer computed
as a 1×1 conv on a (N, 1, P, C) view — in a *clone* of the model
(:func:`lq_ext.graph.map_layers`); the model passed in is never modified. LCE 0.16 turns
the first into ``LceQuantize → LceDequantize → FULLY_CONNECTED`` in float (measured),
the second into one ``LceBconv2d``.
"""

from __future__ import annotations

import tensorflow as tf

from lq_ext.graph import all_layers, map_layers
from lq_ext.layers.dense import BinaryDense, is_binary_dense

__all__ = ["BINARY_DENSE_MODES", "all_layers", "binary_dense_as_bconv", "replace_layers", "rewritable_dense_layers"]

#: ``convert(binary_dense=...)``: ``"bconv"`` rewrites binary QuantDense layers to 1×1
#: ``LceBconv2d``; ``"float"`` leaves them to LCE (float ``FULLY_CONNECTED``).
BINARY_DENSE_MODES = ("bconv", "float")


def rewritable_dense_layers(model) -> list:
    """The binary ``QuantDense`` layers of ``model`` that are not yet ``BinaryDense``."""
    return [
        layer
        for layer in all_layers(model)
        if is_binary_dense(layer) and not isinstance(layer, BinaryDense)
    ]


def replace_layers(model, replacement) -> tuple[tf.keras.Model, tuple[str, ...]]:
    """A clone of ``model`` in which ``replacement(layer)`` decides each layer's rebuild.

    ``replacement(layer)`` returns ``(cls, config)`` to rebuild that layer as
    ``cls.from_config(config)``, or None to rebuild it as it is. Every layer, nested
    functional / Sequential models' layers included, is rebuilt from its config and
    gets the original's weights layer by layer (quantizer state such as RSign thresholds
    included), so a replacement must keep the layer's weights
    (:func:`lq_ext.graph.map_layers` with ``weights="copy"``). ``model`` itself is never
    modified.

    # Returns
        ``(model, ())`` — the same object — when ``replacement`` returns None for every
        layer, else ``(clone, names of the replaced layers)``.

    # Raises
        Whatever the rebuild raises: a subclassed model or shared layers
        (:class:`lq_ext.graph.RebuildError`), or a layer whose ``get_config`` does not
        rebuild it.
    """
    chosen = {id(layer): replacement(layer) for layer in all_layers(model)}
    if all(choice is None for choice in chosen.values()):
        return model, ()
    return map_layers(model, lambda layer: chosen.get(id(layer)))


def binary_dense_as_bconv(model) -> tuple[tf.keras.Model, tuple[str, ...]]:
    """A clone of ``model`` with its binary ``QuantDense`` layers as ``BinaryDense``.

    # Returns
        ``(model, ())`` — the same object — when there is nothing to rewrite, else
        ``(clone, names)`` with the names of the rewritten layers; the clone has the
        original's weights (:func:`replace_layers`).

    # Raises
        ValueError: the model cannot be rebuilt (a subclassed model, shared layers, or
            a layer whose ``get_config`` does not rebuild it); the message names the
            layers and the two ways out (build with ``lq_ext.layers.BinaryDense``, or
            ``convert(..., binary_dense="float")``).
    """
    targets = {id(layer) for layer in rewritable_dense_layers(model)}
    if not targets:
        return model, ()
    try:
        return replace_layers(
            model, lambda layer: (BinaryDense, layer.get_config()) if id(layer) in targets else None
        )
    except Exception as error:  # noqa: BLE001 - any failure means: cannot rebuild
        names = [layer.name for layer in rewritable_dense_layers(model)]
        reason = " ".join(str(error).split())
        reason = reason if len(reason) <= 300 else reason[:297] + "..."
        raise ValueError(
            f"binary_dense='bconv' needs to rebuild the model with its binary QuantDense "
            f"layer(s) {', '.join(map(repr, names))} as lq_ext.layers.BinaryDense, and "
            f"cloning it failed ({type(error).__name__}: {reason}). Build the model with "
            f"lq_ext.layers.BinaryDense instead of QuantDense (same arguments and weights), "
            f"or pass binary_dense='float' to keep LCE's float FULLY_CONNECTED."
        ) from error
