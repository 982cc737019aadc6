"""Optimizers of the papers' recipes, with weight decay per parameter group.

The official scripts split the parameters into a decayed group and the rest
(:data:`DECAY_GROUPS`), chosen by layer attribute (``kernel``, ``depthwise_kernel``,
``pointwise_kernel``, ``embeddings``) and rank, never by variable-name substring:

- ``"kernels"``: the conv / dense / embedding kernels (PokeBNN's ``ndim > 1`` parameters);
- ``"conv_kernels"``: the conv kernels only (rank ≥ 3), the dense kernels join the rest
  (ReActNet ``train.py``: 4-D weights 1e-5, the rest 0; BNext / ES-BNN: 1e-8 and 1e-3);
- ``"all"``: every trainable variable (BCDNet: torch AdamW's default 0.01 on all).

``weight_decay`` applies to the group, ``other_weight_decay`` to the rest.

- ``"adam"``: Adam with PyTorch's *coupled* weight decay, an L2 term ``wd/2 · Σ w²``
  per group added to the loss (gradient ``wd · w``), as ``torch.optim.Adam(weight_decay=…)``.
- ``"adamw"``: decoupled weight decay ``w ← w − lr · wd · w`` (Loshchilov & Hutter), as
  ``torch.optim.AdamW``; :class:`GroupedAdamW` when the two groups decay differently.

``clipnorm`` clips the **global** gradient norm (``torch.nn.utils.clip_grad_norm_``).
Guide: docs/guides/training.md.
"""

from __future__ import annotations

import tensorflow as tf

from lq_ext._serialization import register
from lq_ext._validate import check_choice, check_number

__all__ = ["DECAY_GROUPS", "OPTIMIZERS", "GroupedAdamW", "add_l2_decay", "decayed_variables", "make_optimizer"]

OPTIMIZERS = ("adam", "adamw")
DECAY_GROUPS = ("kernels", "conv_kernels", "all")

_KERNEL_ATTRIBUTES = ("kernel", "depthwise_kernel", "pointwise_kernel", "embeddings")


def decayed_variables(model: tf.keras.Model, on: str = "kernels") -> list:
    """The trainable variables of ``model``'s decay group ``on`` (:data:`DECAY_GROUPS`), once each."""
    check_choice("decay_on", on, DECAY_GROUPS)
    if on == "all":
        return list(model.trainable_variables)
    found, seen = [], set()
    for layer in model._flatten_layers(include_self=False):
        for attribute in _KERNEL_ATTRIBUTES:
            variable = getattr(layer, attribute, None)
            if not isinstance(variable, tf.Variable) or not variable.trainable or id(variable) in seen:
                continue
            if on == "conv_kernels" and len(variable.shape) < 3:
                continue
            seen.add(id(variable))
            found.append(variable)
    return found


def _other_variables(model, group) -> list:
    ids = {id(v) for v in group}
    return [v for v in model.trainable_variables if id(v) not in ids]


def add_l2_decay(model: tf.keras.Model, weight_decay: float, variables=None) -> None:
    """Add ``weight_decay/2 · Σ w²`` over ``variables`` (default: :func:`decayed_variables`)
    to ``model.losses``."""
    variables = decayed_variables(model) if variables is None else list(variables)
    if weight_decay and variables:
        model.add_loss(
            lambda: 0.5 * weight_decay * tf.add_n([tf.reduce_sum(tf.square(v)) for v in variables])
        )


@register
class GroupedAdamW(tf.keras.optimizers.AdamW):
    """``AdamW`` with two decoupled decay rates: ``weight_decay`` for the variables not
    excluded (:meth:`exclude_from_weight_decay`), ``other_weight_decay`` for the excluded.

    Each step, before the Adam update: ``w ← w − lr · rate · w`` (as ``torch.optim.AdamW``
    with two parameter groups; BNext: 1e-8 on conv kernels, 1e-3 on the rest).
    """

    def __init__(self, *args, other_weight_decay=0.0, **kwargs):
        super().__init__(*args, **kwargs)
        self.other_weight_decay = check_number("other_weight_decay", other_weight_decay, low=0)

    def _apply_weight_decay(self, variables):
        groups = [
            (self.weight_decay, [v for v in variables if self._use_weight_decay(v)]),
            (self.other_weight_decay, [v for v in variables if not self._use_weight_decay(v)]),
        ]

        def apply(distribution, groups):
            for rate, group in groups:
                if not rate:
                    continue

                def decay(variable, rate=rate):
                    lr = tf.cast(self.learning_rate, variable.dtype)
                    variable.assign_sub(variable * tf.cast(rate, variable.dtype) * lr)

                for variable in group:
                    distribution.extended.update(variable, decay, group=False)

        tf.__internal__.distribute.interim.maybe_merge_call(apply, self._distribution_strategy, groups)

    def get_config(self):
        return {**super().get_config(), "other_weight_decay": self.other_weight_decay}


def make_optimizer(
    name: str, learning_rate, *, weight_decay: float = 0.0, model=None, decay_on: str = "kernels",
    other_weight_decay: float = 0.0, beta_2: float = 0.999, clipnorm: float | None = None,
):
    """``"adam"`` or ``"adamw"`` for ``model``, decaying its parameter groups.

    # Arguments
        name: ``"adam"`` (coupled decay: L2 losses added to ``model``) or ``"adamw"``.
        learning_rate: a float or a schedule (:class:`lq_ext.training.WarmupDecay`).
        weight_decay: ≥ 0, on the group ``decay_on`` (:data:`DECAY_GROUPS`).
        model: the model whose variables decay; required when a decay is > 0.
        other_weight_decay: ≥ 0, on every trainable variable outside the group
            (must be 0 with ``decay_on="all"``).
        beta_2: Adam's second-moment decay, in (0, 1) (PokeBNN: 0.99).
        clipnorm: clip the global gradient norm to this (> 0; BNext: 5), or None.
    """
    check_choice("optimizer", name, OPTIMIZERS)
    check_choice("decay_on", decay_on, DECAY_GROUPS)
    weight_decay = check_number("weight_decay", weight_decay, low=0)
    other_weight_decay = check_number("other_weight_decay", other_weight_decay, low=0)
    beta_2 = check_number("beta_2", beta_2, low=0, high=1, low_inclusive=False, high_inclusive=False)
    if clipnorm is not None:
        clipnorm = check_number("clipnorm", clipnorm, low=0, low_inclusive=False)
    if decay_on == "all" and other_weight_decay:
        raise ValueError(
            f"other_weight_decay must be 0 with decay_on='all' (no variable is left outside the "
            f"group), got other_weight_decay={other_weight_decay!r}."
        )
    if (weight_decay or other_weight_decay) and model is None:
        raise ValueError("weight_decay > 0 needs the model whose kernels it decays (model=...).")
    options = dict(beta_2=beta_2, global_clipnorm=clipnorm)
    group = decayed_variables(model, decay_on) if model is not None else []
    others = _other_variables(model, group) if model is not None else []
    if name == "adam":
        add_l2_decay(model, weight_decay, group)
        add_l2_decay(model, other_weight_decay, others)
        return tf.keras.optimizers.Adam(learning_rate, **options)
    if other_weight_decay and other_weight_decay != weight_decay:
        optimizer = GroupedAdamW(learning_rate, weight_decay=weight_decay, other_weight_decay=other_weight_decay, **options)
    else:
        optimizer = tf.keras.optimizers.AdamW(learning_rate, weight_decay=weight_decay, **options)
        if other_weight_decay:  # the same rate on both groups: nothing is excluded
            return optimizer
    if weight_decay or other_weight_decay:
        optimizer.exclude_from_weight_decay(var_list=others)
    return optimizer
