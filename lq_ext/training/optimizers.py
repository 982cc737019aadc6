"""Optimizers of the papers' recipes, with weight decay on the conv/dense kernels only.

ReActNet (``train.py``) splits the parameters into two groups: the conv and linear
weights get ``weight_decay``, everything else (BatchNorm, biases, RPReLU / RSign
parameters) none.  :func:`decayed_variables` is that group, chosen by layer attribute
(``kernel``, ``depthwise_kernel``, ``pointwise_kernel``, ``embeddings``), never by
variable-name substring.

- ``"adam"``: Adam with PyTorch's *coupled* weight decay, i.e. an L2 term
  ``wd/2 · Σ w²`` added to the loss of the decayed group (gradient ``wd · w``), as
  ReActNet's ``torch.optim.Adam(weight_decay=…)`` does.
- ``"adamw"``: decoupled weight decay (Loshchilov & Hutter), Keras' ``AdamW`` with
  every other variable excluded from the decay (BNext, ES-BNN).
"""

from __future__ import annotations

import tensorflow as tf

from lq_ext._validate import check_number

__all__ = ["OPTIMIZERS", "add_l2_decay", "decayed_variables", "make_optimizer"]

OPTIMIZERS = ("adam", "adamw")

_KERNEL_ATTRIBUTES = ("kernel", "depthwise_kernel", "pointwise_kernel", "embeddings")


def decayed_variables(model: tf.keras.Model) -> list:
    """The trainable kernels of ``model``'s conv / dense / embedding layers, once each."""
    found, seen = [], set()
    for layer in model._flatten_layers(include_self=False):
        for attribute in _KERNEL_ATTRIBUTES:
            variable = getattr(layer, attribute, None)
            if isinstance(variable, tf.Variable) and variable.trainable and id(variable) not in seen:
                seen.add(id(variable))
                found.append(variable)
    return found


def add_l2_decay(model: tf.keras.Model, weight_decay: float) -> None:
    """Add ``weight_decay/2 · Σ w²`` over :func:`decayed_variables` to ``model.losses``."""
    variables = decayed_variables(model)
    if weight_decay and variables:
        model.add_loss(
            lambda: 0.5 * weight_decay * tf.add_n([tf.reduce_sum(tf.square(v)) for v in variables])
        )


def make_optimizer(name: str, learning_rate, *, weight_decay: float = 0.0, model=None):
    """``"adam"`` or ``"adamw"`` for ``model``, decaying only its kernels.

    # Arguments
        name: ``"adam"`` (coupled decay: an L2 loss added to ``model``) or ``"adamw"``.
        learning_rate: a float or a schedule (:class:`lq_ext.training.WarmupDecay`).
        weight_decay: ≥ 0; when > 0 ``model`` is required (to find the kernels).
    """
    if name not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {list(OPTIMIZERS)}, got optimizer={name!r}.")
    check_number("weight_decay", weight_decay, low=0)
    if weight_decay and model is None:
        raise ValueError("weight_decay > 0 needs the model whose kernels it decays (model=...).")
    if name == "adam":
        if weight_decay:
            add_l2_decay(model, weight_decay)
        return tf.keras.optimizers.Adam(learning_rate)
    optimizer = tf.keras.optimizers.AdamW(learning_rate, weight_decay=float(weight_decay))
    if weight_decay:
        decayed = {id(v) for v in decayed_variables(model)}
        optimizer.exclude_from_weight_decay(
            var_list=[v for v in model.trainable_variables if id(v) not in decayed]
        )
    return optimizer
