"""Keras callbacks for training schedules of the papers' quantizers.

:class:`WeightBinarization`: PokeBNN's delayed weight binarization (Zhang et al. 2022,
arXiv:2112.00133). Guide: docs/guides/training.md.
"""

from __future__ import annotations

import tensorflow as tf

from lq_ext._validate import is_int
from lq_ext.quantizers import MaxAbsSign

__all__ = ["WeightBinarization", "weight_switches"]


def weight_switches(model) -> list:
    """The ``binarized`` switch variables of every :class:`MaxAbsSign` in ``model``."""
    switches = []
    for layer in model._flatten_layers(include_self=False):
        if isinstance(layer, MaxAbsSign):
            if not layer.built:
                raise ValueError(
                    f"The MaxAbsSign quantizer {layer.name!r} is not built yet: build the "
                    f"model (call it once, or give it an input shape) before training."
                )
            switches.append(layer.switch)
    return switches


class WeightBinarization(tf.keras.callbacks.Callback):
    """Train with real-valued kernels until ``start_epoch``, binary ones from then on.

    PokeBNN's schedule (``weight_quant_start_step=50``, compared with the epoch): the
    activations of its binary convs are binary from the first step, the kernels only
    from epoch 50.  At the start of every epoch this callback sets each
    :class:`~lq_ext.quantizers.MaxAbsSign` switch of the model to ``epoch >=
    start_epoch``, so a resumed run (``initial_epoch``) gets the right state too.

    # Arguments
        start_epoch: first epoch (0-based, as Keras counts) with binary kernels
            (PokeBNN: 50).
    """

    def __init__(self, start_epoch: int = 50):
        super().__init__()
        if not is_int(start_epoch) or start_epoch < 0:
            raise ValueError(
                f"start_epoch must be a non-negative int (PokeBNN: 50), got "
                f"start_epoch={start_epoch!r}."
            )
        self.start_epoch = int(start_epoch)

    def on_train_begin(self, logs=None):
        if not weight_switches(self.model):
            raise ValueError(
                f"WeightBinarization: model {self.model.name!r} has no MaxAbsSign kernel "
                f"quantizer to switch."
            )

    def on_epoch_begin(self, epoch, logs=None):
        value = 1.0 if epoch >= self.start_epoch else 0.0
        for switch in weight_switches(self.model):
            switch.assign(value)
