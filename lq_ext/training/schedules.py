"""Learning-rate schedules of the papers' recipes: linear or cosine decay after a warm-up."""

from __future__ import annotations

import math

import tensorflow as tf

from lq_ext._serialization import register
from lq_ext._validate import check_number, is_int, is_number

__all__ = ["DECAYS", "WarmupDecay"]

DECAYS = ("cosine", "linear", "constant")


@register
class WarmupDecay(tf.keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up from ``initial_lr`` to ``peak_lr``, then cosine, linear or no decay to
    ``final_lr``.

    ``lr(step) = initial_lr + (peak_lr − initial_lr) · (step + 1) / warmup_steps`` while
    ``step < warmup_steps``;
    then, with ``t = (step − warmup_steps) / (total_steps − warmup_steps)`` clipped to
    [0, 1]: cosine ``final + (peak − final)·(1 + cos πt)/2``, linear
    ``peak + (final − peak)·t``, or constant ``peak``.  ReActNet trains with linear decay
    to 0 and no warm-up; BNext and ES-BNN with cosine decay after a warm-up from 0;
    BCDNet's step 1 warms up from 1e-3 to 4e-3 (``initial_lr=1e-3``).

    # Arguments
        peak_lr: the learning rate after the warm-up (> 0).
        total_steps: optimizer steps of the whole run, warm-up included (> 0).
        warmup_steps: steps of linear warm-up (0 ≤ warmup_steps < total_steps).
        decay: ``"cosine"``, ``"linear"`` or ``"constant"``.
        final_lr: the learning rate at ``total_steps`` (0 ≤ final_lr ≤ peak_lr).
        initial_lr: where the warm-up starts (0 ≤ initial_lr ≤ peak_lr; default 0).
    """

    def __init__(self, peak_lr, total_steps, warmup_steps=0, decay="cosine", final_lr=0.0, initial_lr=0.0):
        super().__init__()
        check_number("peak_lr", peak_lr, low=0, low_inclusive=False)
        if not is_int(total_steps) or total_steps <= 0:
            raise ValueError(f"total_steps must be an int > 0, got total_steps={total_steps!r}.")
        if not is_int(warmup_steps) or not 0 <= warmup_steps < total_steps:
            raise ValueError(
                f"warmup_steps must be an int in [0, total_steps={total_steps}), got "
                f"warmup_steps={warmup_steps!r}."
            )
        if decay not in DECAYS:
            raise ValueError(f"decay must be one of {list(DECAYS)}, got decay={decay!r}.")
        if not is_number(final_lr) or not 0 <= final_lr <= peak_lr:
            raise ValueError(
                f"final_lr must be a number in [0, peak_lr={peak_lr}], got final_lr={final_lr!r}."
            )
        if not is_number(initial_lr) or not 0 <= initial_lr <= peak_lr:
            raise ValueError(
                f"initial_lr must be a number in [0, peak_lr={peak_lr}], got initial_lr={initial_lr!r}."
            )
        self.peak_lr = float(peak_lr)
        self.total_steps = int(total_steps)
        self.warmup_steps = int(warmup_steps)
        self.decay = decay
        self.final_lr = float(final_lr)
        self.initial_lr = float(initial_lr)

    def __call__(self, step):
        step = tf.cast(step, tf.float32)
        peak, final = self.peak_lr, self.final_lr
        t = (step - self.warmup_steps) / float(self.total_steps - self.warmup_steps)
        t = tf.clip_by_value(t, 0.0, 1.0)
        if self.decay == "cosine":
            decayed = final + (peak - final) * 0.5 * (1.0 + tf.cos(math.pi * t))
        elif self.decay == "linear":
            decayed = peak + (final - peak) * t
        else:
            decayed = tf.constant(peak) + 0.0 * t
        if self.warmup_steps == 0:
            return decayed
        start = self.initial_lr
        warm = start + (peak - start) * (step + 1.0) / float(self.warmup_steps)
        return tf.where(step < self.warmup_steps, warm, decayed)

    def get_config(self):
        return {
            "peak_lr": self.peak_lr,
            "total_steps": self.total_steps,
            "warmup_steps": self.warmup_steps,
            "decay": self.decay,
            "final_lr": self.final_lr,
            "initial_lr": self.initial_lr,
        }
