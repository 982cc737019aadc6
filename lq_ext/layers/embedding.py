r"""Binarization thresholds of ReActNet / BCDNet blocks: static (learnable bias) or contextual.

* :class:`LearnableBias` — ``x + b`` with one learnable ``b`` per channel, initialised
  to 0: ReActNet's ``LearnableBias`` (``move0`` / ``move11`` / ``move21`` in BCDNet's
  released code) placed before ``ApproxSign``. As a layer rather than inside a
  quantizer (:class:`lq_ext.quantizers.RSign`) it can feed *several* binary convs with
  one threshold: BCDNet's shift block binarizes once for three convs, ReActNet-A's
  channel-doubling block once for two [code].
* :func:`contextual_embedding`, :func:`dynamic_threshold`, :func:`dynamic_bias` — BCDNet-B's
  contextual dynamic embedding, which replaces the static bias [paper figure]:

  .. code-block:: text

      e = act(W₁ · GAP(A))                  contextual embedding of the block input A
      α = W₂ · e + b₂                       dynamic threshold: Sign(A − α) replaces Sign(A + b)
      y = BN(BinConv(Sign(A − α)) + W₃ · e) W₃ · e is added before the BatchNorm

  Only the architecture figure shows this (e = W₁·GAP(A), α = W₂·e, ⊕ W₃·e before BN);
  the paper's equation and sizes were not available, so the following are
  **reconstructions**, each behind an argument: the hidden size C/r of W₁ (``reduction``,
  default 4, chosen so BCDNet-B adds ≈ 2 M FLOPs at 224×224 like the poster's
  0.12 → 0.14 ×10⁸), the activation after W₁ (``activation``, default ReLU),
  α and W₃·e per channel and per sample (broadcast over H, W), a bias on W₁ and W₂ (W₂'s
  bias is the static threshold, so ``W₂ = 0`` gives back BCDNet-A's block), none on W₃
  (the BatchNorm's β absorbs it), and zero-initialised W₂, W₃ so that BCDNet-B starts as
  BCDNet-A. Everything is float (``Dense`` layers on ``(batch, 1, 1, C)`` tensors, which
  convert to ``MEAN`` and ``FULLY_CONNECTED`` builtins).

The builders are functions of Keras tensors made of standard layers, so
:func:`lq_ext.profile` counts their MACs as float and LCE converts them without custom
ops.
"""

from __future__ import annotations

import numbers

import tensorflow as tf

from lq_ext._serialization import register

__all__ = [
    "EMBEDDING_ACTIVATIONS",
    "LearnableBias",
    "contextual_embedding",
    "dynamic_bias",
    "dynamic_threshold",
    "embedding_units",
]

#: Allowed ``activation`` values of :func:`contextual_embedding` (None = linear).
EMBEDDING_ACTIVATIONS = (None, "relu", "gelu", "swish", "sigmoid", "tanh", "linear")


@register
class LearnableBias(tf.keras.layers.Layer):
    """Per-channel learnable shift ``x + b`` (b initialised to 0), ReActNet's ``LearnableBias``.

    Placed before an ``ApproxSign`` binarizer it is the learnable threshold of
    ReActNet's RSign (``sign(x + b)``; :class:`lq_ext.quantizers.RSign` writes
    ``sign(x − β)``, i.e. β = −b).

    # References
        - ReActNet, arXiv:2003.03488, Section 3.2
    """

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is None:
            raise ValueError(f"LearnableBias {self.name!r} needs a known channel dimension (last axis).")
        self.bias = self.add_weight(name="bias", shape=(channels,), initializer="zeros")
        super().build(input_shape)

    def call(self, inputs):
        return inputs + self.bias

    def compute_output_shape(self, input_shape):
        return tf.TensorShape(input_shape)


def embedding_units(channels: int, reduction) -> int:
    """Hidden size ``channels // reduction`` of W₁; errors name the bad value."""
    if isinstance(reduction, bool) or not isinstance(reduction, numbers.Integral) or reduction < 1:
        raise ValueError(
            f"reduction must be a positive int (hidden size = channels // reduction), got "
            f"reduction={reduction!r}."
        )
    if channels // reduction < 1:
        raise ValueError(
            f"reduction={reduction!r} leaves no hidden units for a {channels}-channel input "
            f"(channels // reduction = 0); allowed: 1 <= reduction <= {channels}."
        )
    return channels // reduction


def _check_activation(activation):
    if activation not in EMBEDDING_ACTIVATIONS:
        raise ValueError(
            f"activation must be one of {list(EMBEDDING_ACTIVATIONS)}, got activation={activation!r}."
        )


def contextual_embedding(inputs, *, reduction: int = 4, activation="relu", name: str):
    """``e = act(W₁ · GAP(A))``, shape ``(batch, 1, 1, C // reduction)``.

    # Arguments
        inputs: the block input A, ``(batch, H, W, C)``.
        reduction: hidden size C // reduction (reconstruction; default 4).
        activation: after W₁, one of :data:`EMBEDDING_ACTIVATIONS` (default ``"relu"``).
        name: prefix of the layer names (``{name}_pool``, ``{name}_fc``).
    """
    _check_activation(activation)
    units = embedding_units(inputs.shape[-1], reduction)
    pooled = tf.keras.layers.GlobalAveragePooling2D(keepdims=True, name=f"{name}_pool")(inputs)
    return tf.keras.layers.Dense(units, activation=activation, name=f"{name}_fc")(pooled)


def dynamic_threshold(inputs, embedding, *, name: str):
    """``A − α`` with ``α = W₂ · e + b₂`` per channel and sample (W₂ zero-initialised).

    The result goes to the binarizer: ``Sign(A − α)``. Layers ``{name}_fc`` (W₂, b₂) and
    ``{name}`` (the subtraction).
    """
    alpha = tf.keras.layers.Dense(
        inputs.shape[-1], kernel_initializer="zeros", name=f"{name}_fc"
    )(embedding)
    return tf.keras.layers.Subtract(name=name)([inputs, alpha])


def dynamic_bias(outputs, embedding, *, name: str):
    """``y + W₃ · e`` per channel and sample (W₃ zero-initialised, no bias): added before BN.

    Layers ``{name}_fc`` (W₃) and ``{name}`` (the addition).
    """
    beta = tf.keras.layers.Dense(
        outputs.shape[-1], use_bias=False, kernel_initializer="zeros", name=f"{name}_fc"
    )(embedding)
    return tf.keras.layers.Add(name=name)([outputs, beta])
