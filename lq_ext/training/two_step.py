"""Two-step training (ReActNet): real weights first, then binary weights, weights carried over.

Step 1 trains the network with binary activations and **real-valued** weights; step 2
starts from step 1's weights and binarizes the weights too (Liu et al., ReActNet,
ECCV 2020, §4; Martinez et al., Real-to-Binary, ICLR 2020).  :func:`with_real_weights`
derives the step-1 network from any model built of Larq quantized layers, so every zoo
entry can be trained this way without a second definition; :func:`real_valued_twin`
also drops the activation binarizers — the float network of the same layout, the
upper bound a binary network is compared with.
"""

from __future__ import annotations

import larq as lq
import numpy as np
import tensorflow as tf

from lq_ext.graph import map_layers
from lq_ext.layers import BinaryDepthwiseConv2D
from lq_ext.precision import is_binary_or_ternary

__all__ = ["BINARY_MAX_PRECISION", "real_valued_twin", "transfer_weights", "with_real_weights"]

#: Deprecated, kept for old imports: two-step training relaxes the kernel quantizers
#: :func:`lq_ext.precision.is_binary_or_ternary` accepts (1-bit and 1.58-bit ternary,
#: which Larq reports as precision 2); 4-/8-bit weight quantizers (PokeBNN's) stay in step 1.
BINARY_MAX_PRECISION = 2

_KERNEL_KEYS = ("kernel_quantizer", "depthwise_quantizer", "pointwise_quantizer")
_ACTIVATION_KEYS = ("input_quantizer",)


def _relaxed(layer, *, activations: bool):
    """``(cls, config)`` of ``layer`` without its binary / ternary kernel (and input)
    quantizers, or None when it has none."""
    config = layer.get_config()
    if isinstance(layer, BinaryDepthwiseConv2D):
        # Its kernel quantizer follows from kernel_bits: rebuild it as the plain Larq layer.
        for key in ("kernel_bits", "threshold", "clip_value", "scale_kernel", "exact_int8"):
            config.pop(key)
        config["depthwise_quantizer"] = None
        if activations:
            config["input_quantizer"] = None
        return lq.layers.QuantDepthwiseConv2D, config
    keys = _KERNEL_KEYS + (_ACTIVATION_KEYS if activations else ())
    relaxed = [
        key
        for key in keys
        if config.get(key) is not None and (key in _ACTIVATION_KEYS or is_binary_or_ternary(config[key]))
    ]
    if not relaxed:
        return None
    return type(layer), {**config, **{key: None for key in relaxed}}


def _clone(model, *, activations: bool, name_suffix: str):
    """A freshly initialised copy of ``model`` with its layers relaxed (:func:`_relaxed`),
    nested models' layers included."""
    clone, _ = map_layers(
        model, lambda layer: _relaxed(layer, activations=activations), weights="fresh", name_suffix=name_suffix
    )
    return clone


def with_real_weights(model: tf.keras.Model) -> tf.keras.Model:
    """Step 1 of two-step training: ``model`` with real-valued weights, binary activations.

    Every binary (≤ 1.58-bit) kernel quantizer of a Larq quantized layer is removed;
    activation binarizers, weight constraints, 4-/8-bit quantizers and every other layer
    stay.  The result has the same layers and variables as ``model`` (freshly
    initialised), so :func:`transfer_weights` carries step 1's weights into ``model``.
    """
    return _clone(model, activations=False, name_suffix="real_weights")


def real_valued_twin(model: tf.keras.Model) -> tf.keras.Model:
    """The float network of the same layout: every binary kernel quantizer and every
    input (activation) quantizer removed, all else unchanged (freshly initialised)."""
    return _clone(model, activations=True, name_suffix="float")


def transfer_weights(source: tf.keras.Model, target: tf.keras.Model) -> None:
    """Copy every layer's weights from ``source`` to the layer of the same name in ``target``.

    For step 1 → step 2: the two models must have the same layer names, and each pair
    of layers the same number and shapes of weights (a quantizer that owns variables,
    such as PokeBNN's ``MaxAbsSign`` switch, makes them differ: such models binarize
    their weights with :class:`lq_ext.callbacks.WeightBinarization` instead).
    """
    source_layers = {layer.name: layer for layer in source.layers}
    target_layers = [layer for layer in target.layers if layer.weights]
    missing = [layer.name for layer in target_layers if layer.name not in source_layers]
    if missing:
        raise ValueError(
            f"transfer_weights: {source.name!r} has no layer named {missing[:5]} of "
            f"{target.name!r}; the two models must share the architecture."
        )
    for layer in target_layers:
        values = source_layers[layer.name].get_weights()
        expected = [tuple(w.shape) for w in layer.weights]
        found = [tuple(np.shape(v)) for v in values]
        if expected != found:
            raise ValueError(
                f"transfer_weights: layer {layer.name!r} has weights of shapes {expected} in "
                f"{target.name!r} but {found} in {source.name!r}."
            )
        layer.set_weights(values)
