"""Pre-conversion rewrites: Keras layers LCE would run in float, replaced by equivalent
layers it runs bit-packed, with the same weights and the same Keras outputs.

:func:`binary_dense_as_bconv` replaces every binary ``lq.layers.QuantDense`` (±1 input
binarizer, ±α kernel) by :class:`lq_ext.layers.BinaryDense` — the same layer computed
as a 1×1 conv on a (N, 1, P, C) view — in a *clone* of the model; the model passed in
is never modified. LCE 0.16 turns the first into ``LceQuantize → LceDequantize →
FULLY_CONNECTED`` in float (measured), the second into one ``LceBconv2d``.
"""

from __future__ import annotations

import tensorflow as tf

__all__ = ["BINARY_DENSE_MODES", "all_layers", "binary_dense_as_bconv", "replace_layers", "rewritable_dense_layers"]

#: ``convert(binary_dense=...)``: ``"bconv"`` rewrites binary QuantDense layers to 1×1
#: ``LceBconv2d``; ``"float"`` leaves them to LCE (float ``FULLY_CONNECTED``).
BINARY_DENSE_MODES = ("bconv", "float")


def all_layers(model):
    """Every layer of ``model``, nested models' layers included, each once."""
    seen, stack = set(), list(model.layers)
    while stack:
        layer = stack.pop(0)
        if id(layer) in seen:
            continue
        seen.add(id(layer))
        yield layer
        stack.extend(getattr(layer, "layers", []) or [])


def rewritable_dense_layers(model) -> list:
    """The binary ``QuantDense`` layers of ``model`` that are not yet ``BinaryDense``."""
    from lq_ext.layers.dense import BinaryDense, is_binary_dense

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
    included), so a replacement must keep the layer's weights. ``model`` itself is never
    modified.

    # Returns
        ``(model, ())`` — the same object — when ``replacement`` returns None for every
        layer, else ``(clone, names of the replaced layers)``.

    # Raises
        Whatever cloning raises: a subclassed model, or a layer whose ``get_config``
        does not rebuild it.
    """
    chosen = {id(layer): replacement(layer) for layer in all_layers(model)}
    names = tuple(layer.name for layer in all_layers(model) if chosen[id(layer)] is not None)
    if not names:
        return model, ()
    pairs = []

    def clone_layer(layer):
        if isinstance(layer, tf.keras.Model) and getattr(layer, "_is_graph_network", False):
            return tf.keras.models.clone_model(layer, clone_function=clone_layer)
        cls, config = chosen.get(id(layer)) or (layer.__class__, layer.get_config())
        new = cls.from_config(config)
        pairs.append((layer, new))
        return new

    clone = tf.keras.models.clone_model(model, clone_function=clone_layer)
    for old, new in pairs:
        new.set_weights(old.get_weights())
    return clone, names


def binary_dense_as_bconv(model) -> tuple[tf.keras.Model, tuple[str, ...]]:
    """A clone of ``model`` with its binary ``QuantDense`` layers as ``BinaryDense``.

    # Returns
        ``(model, ())`` — the same object — when there is nothing to rewrite, else
        ``(clone, names)`` with the names of the rewritten layers; the clone has the
        original's weights (:func:`replace_layers`).

    # Raises
        ValueError: the model cannot be cloned (a subclassed model, or a layer whose
            ``get_config`` does not rebuild it); the message names the layers and the
            two ways out (build with ``lq_ext.layers.BinaryDense``, or
            ``convert(..., binary_dense="float")``).
    """
    from lq_ext.layers.dense import BinaryDense

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
