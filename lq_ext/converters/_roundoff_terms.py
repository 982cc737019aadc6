"""Round-off bounds of the per-layer diagnosis: what the round-off of a segment's sums follows
(a mean's input, a float ``Dense``'s or a conv's summed terms, a BatchNorm's affine terms).
The long story: docs/guides/parity.md, "Per-layer diagnosis"."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

#: Layers whose output is a mean over many inputs: their round-off is bounded relative to the input.
_REDUCTIONS = (
    tf.keras.layers.GlobalAveragePooling1D, tf.keras.layers.GlobalAveragePooling2D, tf.keras.layers.GlobalAveragePooling3D,
    tf.keras.layers.AveragePooling1D, tf.keras.layers.AveragePooling2D, tf.keras.layers.AveragePooling3D,
)


def _conv_terms(layer, x):
    """An upper bound of Σ|w|·|x| (+|b|) per output channel of a (quantized) 2-D or depth-wise
    conv without groups: max|q(x)| of the sample times Σ|q(w)| of the channel (exact for a
    binarized input away from the borders); shape (n, 1, 1, channels), tiled as the outputs of
    ES-BNN's conv are (``replicas``). None for another layout or a layer whose outputs are
    not the conv's channels."""
    if layer.data_format != "channels_last" or getattr(layer, "groups", 1) != 1:
        return None
    depthwise = isinstance(layer, tf.keras.layers.DepthwiseConv2D)
    kernel = tf.convert_to_tensor(layer.depthwise_kernel if depthwise else layer.kernel)
    kernel_quantizer = getattr(layer, "depthwise_quantizer" if depthwise else "kernel_quantizer", None)
    input_quantizer = getattr(layer, "input_quantizer", None)
    x = tf.cast(x, tf.float32)
    x, kernel = (input_quantizer(x) if input_quantizer else x), (kernel_quantizer(kernel) if kernel_quantizer else kernel)
    per_channel = tf.reduce_sum(tf.abs(kernel), axis=(0, 1) if depthwise else (0, 1, 2))
    per_channel = tf.reshape(per_channel, [-1])  # depth-wise: channel-major, as its outputs
    replicas = getattr(layer, "replicas", 1)  # ES-BNN's conv: its output tiled τ²·g times
    if per_channel.shape[0] * replicas != layer.compute_output_shape(x.shape)[-1]:
        return None  # a subclass that changes the channels after the conv otherwise
    largest = tf.reduce_max(tf.abs(tf.reshape(x, (tf.shape(x)[0], -1))), axis=1)
    terms = largest[:, None, None, None] * per_channel[None, None, None, :]
    if layer.use_bias:
        terms += tf.abs(layer.bias)
    return tf.tile(terms, [1, 1, 1, replicas])


def _batchnorm_terms(layer, x, terms_in):
    """|s|·(the input's terms) + |μ·s| + |β| (s = γ/√(var + ε)) of an inference BatchNorm over
    the last axis: the size of what its affine sums, whose output may be a small difference
    of large terms; the input's terms are its own summed terms (a conv's) if known, else |x|."""
    if tuple(layer.axis) != (len(x.shape) - 1,):
        return None
    s = tf.math.rsqrt(layer.moving_variance + layer.epsilon)
    if layer.scale:
        s *= layer.gamma
    beta = tf.abs(layer.beta) if layer.center else 0.0
    if terms_in is None or len(terms_in.shape) != len(x.shape) or terms_in.shape[-1] not in (1, x.shape[-1]):
        terms_in = tf.abs(tf.cast(x, tf.float32))
    return tf.abs(s) * terms_in + tf.abs(layer.moving_mean * s) + beta


#: float32's unit round-off u.
UNIT_ROUNDOFF = 2.0**-24


def mean_terms(layer, x, rtol):
    """|x|, scaled so that ``rtol`` times it bounds a mean of n values summed in float32:
    each of the two sides (Keras' ``reduce_mean``, TFLite's ``MEAN``) may be off by up to
    (n − 1)·u·mean|x| (the first-order bound of a sum added one term after another); the two
    together, 2·n·u, exceed ``rtol`` for n > ``rtol``/(2u) (84 values at 1e-5). Measured on ES-BNext-T's first SE
    pool at 224 px (112 × 112 = 12,544 values, max|x| 88.9): TFLite 5.6e-4 and Keras
    3.9e-4 from the exact mean, together beyond 1e-5·max|x| = 8.9e-4."""
    x = tf.cast(x, tf.float32)
    if isinstance(layer, (tf.keras.layers.GlobalAveragePooling1D, tf.keras.layers.GlobalAveragePooling2D,
                          tf.keras.layers.GlobalAveragePooling3D)):
        count = int(np.prod(x.shape[2:] if layer.data_format == "channels_first" else x.shape[1:-1]))
    else:
        count = int(np.prod(layer.pool_size))
    return tf.abs(x) * max(1.0, 2 * count * UNIT_ROUNDOFF / rtol)


def summed_terms(layer, x, terms_in=None, *, rtol):
    """What the round-off of ``layer``'s sums follows, or None: the input of a mean
    (:data:`_REDUCTIONS`), scaled up for a mean of many values beyond the segment's ``rtol``
    (:func:`mean_terms`);
    Σ|w|·|x| (+|b|) per output of a float ``Dense``, whose
    output may be far smaller than its terms (they cancel) and which the activation after
    it (ReLU, sigmoid, tanh: at most 1-Lipschitz) cannot magnify; the same bound per
    channel for a conv (:func:`_conv_terms`: the float reference sums K terms); the terms
    of a BatchNorm's affine, carried from the conv before it (:func:`_batchnorm_terms`)."""
    if isinstance(layer, _REDUCTIONS):
        return mean_terms(layer, x, rtol)
    if type(layer) is tf.keras.layers.Dense:
        terms = tf.tensordot(tf.abs(tf.cast(x, tf.float32)), tf.abs(layer.kernel), axes=1)
        return terms + tf.abs(layer.bias) if layer.use_bias else terms
    if isinstance(layer, tf.keras.layers.Conv2D | tf.keras.layers.DepthwiseConv2D) and len(x.shape) == 4:
        return _conv_terms(layer, x)
    if isinstance(layer, tf.keras.layers.BatchNormalization):
        return _batchnorm_terms(layer, x, terms_in)
    return None
