"""Keras callbacks for training schedules of the papers' quantizers, and for resuming.

:class:`WeightBinarization`: PokeBNN's delayed weight binarization (Zhang et al. 2022,
arXiv:2112.00133). :class:`ProgressiveBinarization`: BNext's temperature schedule
(arXiv:2211.12933). :class:`DataEpochSync`: the training data's epoch follows the run's,
also after a resume. Guide: docs/guides/training.md.
"""

from __future__ import annotations

import tensorflow as tf

from lq_ext._validate import check_number, is_int
from lq_ext.data.epochs import DataEpoch
from lq_ext.progressive import DECAY, INITIAL_TEMPERATURE, progressive_quantizers, temperature_at
from lq_ext.weight_phases import weight_switches

__all__ = ["DataEpochSync", "ProgressiveBinarization", "WeightBinarization", "resumed_epoch", "weight_switches"]


class WeightBinarization(tf.keras.callbacks.Callback):
    """Train with real-valued kernels until ``start_epoch``, quantized ones from then on.

    PokeBNN's schedule (``weight_quant_start_step=50``, compared with the epoch): the
    activations of its convs are quantized from the first step, the kernels only from
    epoch 50 — the binary ones and the 8-/4-bit ones of PokeInit and the SE gate
    (:mod:`lq_ext.weight_phases`).  At the start of every epoch this callback sets every
    switch of the model (:func:`~lq_ext.weight_phases.weight_switches`: each
    :class:`~lq_ext.quantizers.MaxAbsSign`, each
    :class:`~lq_ext.fake_quant.IntWeightQuantizer` built with ``quantized=``) to
    ``epoch >= start_epoch``, so a resumed run (``initial_epoch``) gets the right state too.

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
                f"WeightBinarization: model {self.model.name!r} has no kernel quantizer with a "
                f"switch to set (MaxAbsSign, or IntWeightQuantizer(quantized=...))."
            )

    def on_epoch_begin(self, epoch, logs=None):
        value = 1.0 if epoch >= self.start_epoch else 0.0
        for switch in weight_switches(self.model):
            switch.assign(value)


class ProgressiveBinarization(tf.keras.callbacks.Callback):
    """BNext's progressive weight binarization: at the start of epoch e (0-based, as Keras
    counts) every :class:`~lq_ext.progressive.ProgressiveSign` of the model gets the
    temperature ``initial · decay^e`` (:func:`~lq_ext.progressive.temperature_at`).

    Official (``hpi-xnor/BNext`` / ``imfinethanks/ESBNN``, file:line in
    :mod:`lq_ext.progressive`): T = 1 at epoch 0, × 0.9 after every epoch, hard ``sign``
    from epoch 153 (T < 1e-7). T is a function of the epoch alone, so a resumed run
    (``initial_epoch``, or Keras' ``BackupAndRestore``, which also restores the variables)
    trains epoch e at the same T as an uninterrupted one. T is left at the last epoch's
    value when training ends (the official model is validated at that T too);
    :func:`lq_ext.converters.convert` deploys the hard-sign state.

    # Arguments
        initial: T at epoch 0 (> 0; BNext: 1).
        decay: T's factor per epoch (in (0, 1); BNext: 0.9).
    """

    def __init__(self, initial: float = INITIAL_TEMPERATURE, decay: float = DECAY):
        super().__init__()
        self.initial = check_number("initial", initial, low=0, low_inclusive=False)
        self.decay = check_number("decay", decay, low=0, high=1, low_inclusive=False, high_inclusive=False)

    def on_train_begin(self, logs=None):
        if not progressive_quantizers(self.model):
            raise ValueError(
                f"ProgressiveBinarization: model {self.model.name!r} has no ProgressiveSign kernel "
                f"quantizer to anneal (build it with one, e.g. "
                f"ESBNextTiny(kernel_quantizer='progressive'))."
            )

    def on_epoch_begin(self, epoch, logs=None):
        value = temperature_at(epoch, self.initial, self.decay)
        for quantizer in progressive_quantizers(self.model):
            quantizer.temperature.assign(value)


def resumed_epoch(model) -> int:
    """The epoch ``fit`` starts at after Keras' ``BackupAndRestore`` (``save_freq="epoch"``)
    restored ``model`` in ``on_train_begin``: the one after the last backed-up epoch; 0
    without a backup."""
    state = getattr(model, "_training_state", None)  # set by BackupAndRestore.on_train_begin
    if state is None:
        return 0
    saved = int(state._ckpt_saved_epoch.numpy())  # -1: nothing saved yet
    return saved + 1 if saved >= 0 else 0


class DataEpochSync(tf.keras.callbacks.Callback):
    """Pin the training pipeline's :class:`~lq_ext.data.epochs.DataEpoch` to the run's
    epoch (plus ``offset``) before each epoch's data are read.

    Keras creates an epoch's iterator before ``on_epoch_begin``, so the epoch is set in
    ``on_train_begin`` (to the epoch a resumed run starts at, :func:`resumed_epoch`; put
    this callback after ``BackupAndRestore``) and in ``on_epoch_end`` (to the next one).
    Then epoch *e* sees the batches of ``(seed, offset + e)`` whether or not the process
    was restarted.
    """

    def __init__(self, clock: DataEpoch, offset: int = 0):
        super().__init__()
        if not isinstance(clock, DataEpoch):
            raise TypeError(f"clock must be an lq_ext.data.epochs.DataEpoch, got {type(clock).__name__}.")
        if not is_int(offset) or offset < 0:
            raise ValueError(f"offset must be an int >= 0, got offset={offset!r}.")
        self.clock, self.offset = clock, int(offset)

    def on_train_begin(self, logs=None):
        self.clock.pin(self.offset + resumed_epoch(self.model))

    def on_epoch_end(self, epoch, logs=None):
        self.clock.pin(self.offset + epoch + 1)

    def on_train_end(self, logs=None):
        self.clock.release()
