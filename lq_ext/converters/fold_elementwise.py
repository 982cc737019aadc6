"""Pre-conversion fold: a BatchNormalization that only feeds an ``RSign`` binarizer
becomes that binarizer's per-channel threshold.

With y = γ(x − μ)/σ + β (σ = √(var + ε)) and RSign's threshold t,

    sign(y − t) = sign(γ) · sign(x − t'),   t' = μ + (t − β)·σ/γ,

so the BatchNorm disappears, the binarizer reads x with threshold t', and the sign of
γ < 0 moves into the next binary kernel: its input channel c is negated (an odd kernel
quantizer — sign, scaled sign, ternary — gives −q(W) for −W, checked on the weights).
In the flatbuffer a ``MUL`` and an ``ADD`` per folded BatchNorm disappear. Exact up
to float round-off of t', and at the measure-zero ties x = t' (sign(0) = +1).

Folded: a ``BatchNormalization`` over the last axis whose output is read only by one
``QuantConv2D`` / ``QuantDepthwiseConv2D`` (``BinaryDepthwiseConv2D`` included) with an
:class:`~lq_ext.quantizers.RSign` input quantizer, no groups, and zero padding, a 1×1
kernel or ``"valid"`` padding (a flipped channel must pad with 0 as before); not
folded: a channel with γ = 0 or σ = 0. Guide: docs/guides/conversion.md
"""

from __future__ import annotations

import larq as lq
import numpy as np
import tensorflow as tf

from lq_ext.graph import all_layers, consumers, rebuild
from lq_ext.quantizers import RSign

__all__ = ["fold_batchnorm_thresholds", "foldable_batchnorms"]

#: How far q(−W) may stray from −q(W) (float round-off only).
_ODD_RTOL = 1e-6


def _kernel_and_quantizer(conv):
    """(kernel variable, its quantizer) of a binary conv (depth-wise or not)."""
    if isinstance(conv, lq.layers.QuantDepthwiseConv2D):
        return conv.depthwise_kernel, conv.depthwise_quantizer
    return conv.kernel, conv.kernel_quantizer


def _latent(variable) -> np.ndarray:
    return np.asarray(getattr(variable, "latent_variable", variable).numpy())


def _flip_is_exact(conv) -> bool:
    """The conv reads sign-flipped input channels exactly when its kernel's input
    channels are flipped: odd quantizer, no groups, padding with zeros (or none)."""
    if getattr(conv, "groups", 1) != 1:
        return False
    kernel, quantizer = _kernel_and_quantizer(conv)
    spatial = tuple(kernel.shape[:2])
    if conv.padding != "valid" and spatial != (1, 1) and getattr(conv, "pad_values", 0.0) != 0.0:
        return False
    if quantizer is None:
        return True
    latent = _latent(kernel)
    q = np.asarray(quantizer(tf.constant(latent)))
    q_neg = np.asarray(quantizer(tf.constant(-latent)))
    return bool(np.allclose(q_neg, -q, rtol=_ODD_RTOL, atol=0.0))


def _bn_params(bn):
    """(γ, β, μ, σ) of a BatchNormalization as float64 arrays."""
    variance = bn.moving_variance.numpy().astype(np.float64)
    sigma = np.sqrt(variance + bn.epsilon)
    gamma = bn.gamma.numpy().astype(np.float64) if bn.gamma is not None else np.ones_like(sigma)
    beta = bn.beta.numpy().astype(np.float64) if bn.beta is not None else np.zeros_like(sigma)
    return gamma, beta, bn.moving_mean.numpy().astype(np.float64), sigma


def _foldable_pair(bn, readers) -> bool:
    if type(bn) is not tf.keras.layers.BatchNormalization or len(readers) != 1:
        return False
    conv = readers[0]
    if not isinstance(conv, (lq.layers.QuantConv2D, lq.layers.QuantDepthwiseConv2D)):
        return False
    if not isinstance(conv.input_quantizer, RSign):
        return False
    axis = list(bn.axis)
    if len(axis) != 1 or axis[0] not in (-1, len(bn.input_shape) - 1):
        return False
    gamma, _, _, sigma = _bn_params(bn)
    if np.any(gamma == 0) or np.any(sigma == 0):
        return False
    return _flip_is_exact(conv)


def foldable_batchnorms(model) -> list[tuple]:
    """``[(batch_norm, conv)]``: the pairs of ``model``'s top-level graph
    :func:`fold_batchnorm_thresholds` folds (see the module docstring)."""
    readers = consumers(model)
    layers = {layer.name: layer for layer in all_layers(model)}
    pairs = []
    for name, after in readers.items():
        layer = layers.get(name)
        if layer is not None and _foldable_pair(layer, after):
            pairs.append((layer, after[0]))
    return pairs


def _folded_weights(bn, conv) -> list[np.ndarray]:
    """The conv's weights with threshold t' and input channels flipped where γ < 0."""
    gamma, beta, mean, sigma = _bn_params(bn)
    threshold = conv.input_quantizer.threshold
    t = threshold.numpy().astype(np.float64)
    new_threshold = (mean + (t - beta) * sigma / gamma).astype(np.float32)
    kernel, _ = _kernel_and_quantizer(conv)
    latent = getattr(kernel, "latent_variable", kernel)
    flip = np.where(gamma < 0, -1.0, 1.0).astype(np.float32)
    flipped = _latent(kernel) * flip.reshape(1, 1, -1, 1)
    replaced = {id(threshold): new_threshold, id(latent): flipped, id(kernel): flipped}
    return [replaced.get(id(w), w.numpy()) for w in conv.weights]


def fold_batchnorm_thresholds(model) -> tuple[tf.keras.Model, tuple[str, ...]]:
    """A clone of ``model`` in which every foldable BatchNormalization (see the module
    docstring) is gone and its binary conv's ``RSign`` has the folded threshold (and
    its kernel flipped input channels where γ < 0). ``model`` is never modified.

    # Returns
        ``(model, ())`` — the same object — when nothing is foldable, else
        ``(clone, names of the folded BatchNormalization layers)``.

    # Raises
        Whatever :func:`lq_ext.graph.rebuild` raises (subclassed models, shared layers).
    """
    pairs = foldable_batchnorms(model)
    if not pairs:
        return model, ()
    bns = {id(bn) for bn, _ in pairs}
    convs = {id(conv): bn for bn, conv in pairs}

    def rule(call):
        if id(call.layer) in bns:
            return call.args[0]  # the BatchNorm's input, unchanged
        bn = convs.get(id(call.layer))
        return None if bn is None else call.keep(weights=_folded_weights(bn, call.layer))

    return rebuild(model, rule), tuple(bn.name for bn, _ in pairs)
