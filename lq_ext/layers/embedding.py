r"""BCDNet-B's contextual dynamic embedding, which replaces the static binarization threshold.

Xing et al., "Towards Accurate Binary Neural Networks via Modeling Contextual
Dependencies" (BCDNet), ECCV 2022, arXiv:2209.01404 (architecture figure):

.. code-block:: text

    e = act(W₁ · GAP(A))                  contextual embedding of the block input A
    α = W₂ · e + b₂                       dynamic threshold: Sign(A − α) replaces Sign(A + b)
    y = BN(BinConv(Sign(A − α)) + W₃ · e) W₃ · e is added before the BatchNorm

The hidden size C/r (``reduction``, default 4), the activation after W₁ (default ReLU),
the biases and the zero-initialised W₂, W₃ (BCDNet-B starts as BCDNet-A) are
reconstructions.  The builders are functions of Keras tensors made of standard layers
(float ``Dense`` on ``(batch, 1, 1, C)``), so LCE converts them without custom ops.
The static threshold, :class:`~lq_ext.layers.bias.LearnableBias`, lives in
:mod:`lq_ext.layers.bias` (re-exported here).

Provenance and reconstruction notes: docs/models/bcdnet.md
"""

from __future__ import annotations

import tensorflow as tf

from lq_ext._validate import check_choice, is_int
from lq_ext.layers.bias import LearnableBias  # re-exported: its old home

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


def embedding_units(channels: int, reduction) -> int:
    """Hidden size ``channels // reduction`` of W₁; errors name the bad value."""
    if not is_int(reduction) or reduction < 1:
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


def contextual_embedding(inputs, *, reduction: int = 4, activation="relu", name: str):
    """``e = act(W₁ · GAP(A))``, shape ``(batch, 1, 1, C // reduction)``.

    # Arguments
        inputs: the block input A, ``(batch, H, W, C)``.
        reduction: hidden size C // reduction (reconstruction; default 4).
        activation: after W₁, one of :data:`EMBEDDING_ACTIVATIONS` (default ``"relu"``).
        name: prefix of the layer names (``{name}_pool``, ``{name}_fc``).
    """
    check_choice("activation", activation, EMBEDDING_ACTIVATIONS)
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
