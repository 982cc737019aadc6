"""BNext's progressive weight binarization: ``clamp(w / T, −1, 1)``, hard ``sign(w)`` once
the temperature T is below 1e-7; T = 0.9^epoch during training.

:class:`ProgressiveSign` is the kernel quantizer (T a non-trainable variable, so a
callback changes it without retracing); :func:`temperature_at` the official schedule;
:func:`hard_sign` the hard-sign state the converter deploys. The callback that anneals T
is :class:`lq_ext.training.ProgressiveBinarization`. Guide: docs/guides/training.md,
"Progressive weight binarization".

What the official code does (``imfinethanks/ESBNN`` @ 972eecd; ``hpi-xnor/BNext`` @
dfcf347 has the same lines in ``src/bnext.py`` and ``src/train_assistant_group_amp.py``
at :89-120 and :174-186, :614, :666):

- T is a buffer initialised to 1 (``src/bnext.py:99``, ``bnext_rep_ops.py:109``).
- Forward: ``sign(w)`` if ``T < 1e-7`` (``bnext.py:107-108``), else
  ``clamp(w / max(T, 1e-8), −1, 1)`` (``bnext.py:110``); no scale (mean|w|) multiplies
  either: the BatchNorm after the conv absorbs it. Evaluation uses the same value
  (``bnext.py:115-116``): a model validated mid-schedule is not binary.
- Backward: the identity (straight-through ``q.detach() − w.detach() + w``,
  ``bnext.py:111,114``): no gradient through the clamp, no |w| mask. The latent weights
  are clamped in place to ±1.5 in every training forward (``bnext.py:102-103``: here the
  ``WeightClip(1.5)`` constraint of the model).
- Schedule: after every epoch the training loop multiplies each ``HardBinaryConv``'s T
  by 0.9 (``train_assistant_group_amp_rep_ops.py:668-670`` → ``adjust_temperature``
  ``:178-190``, the factor at ``:188``), so epoch e (0-based) trains at T = 0.9^e, and
  epoch 153 is the first with hard signs (0.9^152 ≈ 1.11e-7, 0.9^153 ≈ 9.98e-8; also
  with T kept in float32). T is in the checkpoint's ``state_dict`` (``:661``), so a
  resumed run continues the schedule (``:474``).
- The released ES script (``..._rep_ops.py:35,183``) anneals the classes of ``bnext``,
  not of ``bnext_rep_ops``, so the ES-BNext model as released keeps T = 1 (real
  weights ``clamp(w, −1, 1)``): ``docs/models/esbnn.md``.
"""

from __future__ import annotations

import contextlib
import math

import larq as lq
import tensorflow as tf

from lq_ext._model_walk import assigned, built_quantizers, owner_names
from lq_ext._serialization import register
from lq_ext._validate import check_int, check_number

__all__ = [
    "DECAY",
    "HARD_SIGN_BELOW",
    "INITIAL_TEMPERATURE",
    "ProgressiveSign",
    "hard_sign",
    "progressive_quantizers",
    "progressive_sign",
    "temperature_at",
]

#: T at epoch 0 (``bnext.py:99``: ``torch.ones(1)``).
INITIAL_TEMPERATURE = 1.0
#: T's factor per epoch (``train_assistant_group_amp_rep_ops.py:188``).
DECAY = 0.9
#: Below this T the forward pass is the hard ``sign(w)`` (``bnext.py:107``).
HARD_SIGN_BELOW = 1e-7
#: The floor of the divisor (``bnext.py:110``: ``temperature.clamp(min=1e-8)``).
_MIN_DIVISOR = 1e-8


def temperature_at(epoch: int, initial: float = INITIAL_TEMPERATURE, decay: float = DECAY) -> float:
    """T of epoch ``epoch`` (0-based): ``initial · decay^epoch``; BNext: 0.9^epoch, hard
    signs from epoch 153 on."""
    epoch = check_int("epoch", epoch, low=0)
    initial = check_number("initial", initial, low=0, low_inclusive=False)
    decay = check_number("decay", decay, low=0, high=1, low_inclusive=False, high_inclusive=False)
    return initial * math.pow(decay, epoch)


def progressive_sign(w, temperature):
    """``sign(w)`` (+1 at 0) where ``temperature < 1e-7``, else ``clip(w / T, −1, 1)``;
    the gradient is the identity in both regimes (BNext's straight-through)."""

    @tf.custom_gradient
    def _call(w):
        t = tf.cast(temperature, w.dtype)
        soft = tf.clip_by_value(w / tf.maximum(t, _MIN_DIVISOR), -1.0, 1.0)
        value = tf.where(t < HARD_SIGN_BELOW, lq.math.sign(w), soft)

        def grad(dy):
            return dy

        return value, grad

    return _call(tf.convert_to_tensor(w))  # a variable read inside would need grad(variables=)


@register
class ProgressiveSign(lq.quantizers.Quantizer):
    r"""BNext's progressively binarized kernel: ``clamp(w/T, −1, 1)`` → ``sign(w)`` as T → 0.

    \\[ q(w) = \begin{cases} \mathrm{sign}(w) & T < 10^{-7} \\
        \mathrm{clip}(w / T, -1, 1) & \text{else} \end{cases}, \qquad
        \partial q / \partial w = 1 \\]

    T is a non-trainable scalar variable (``temperature``, saved with the weights);
    :class:`lq_ext.training.ProgressiveBinarization` sets it to 0.9^epoch at the start of
    every epoch (recipe field ``weight_temperature_decay``). The default ``temperature=0``
    is the hard-sign state: the inference state, and the only one LCE bit-packs;
    :func:`lq_ext.converters.convert` converts a model in that state whatever its T
    (:func:`hard_sign`). No scale: the BatchNorm after BNext's convs absorbs it.

    # Arguments
        temperature: the initial T ≥ 0 (0: hard sign; BNext trains from 1).

    # References
        - BNext, arXiv:2211.12933; ``hpi-xnor/BNext`` ``src/bnext.py:89-120`` (module docstring)
    """

    precision = 1
    bits = 1

    def __init__(self, temperature: float = 0.0, **kwargs):
        self.initial_temperature = check_number("temperature", temperature, low=0)
        super().__init__(**kwargs)

    def build(self, input_shape):
        self.temperature = self.add_weight(
            name="temperature",
            shape=(),
            initializer=tf.keras.initializers.Constant(self.initial_temperature),
            trainable=False,
        )
        super().build(input_shape)

    def call(self, inputs):
        return progressive_sign(inputs, self.temperature)

    def get_config(self):
        return {**super().get_config(), "temperature": self.initial_temperature}


def progressive_quantizers(model) -> list:
    """Every :class:`ProgressiveSign` in ``model`` (nested models and layers included)."""
    return built_quantizers(model, ProgressiveSign)


@contextlib.contextmanager
def hard_sign(model):
    """Inside the block every :class:`ProgressiveSign` of ``model`` is in its hard-sign
    state (T = 0); the previous temperatures are restored on exit, also after an error.
    Yields the names of the layers whose kernel quantizer was not hard (T ≥ 1e-7) before
    (the quantizer's own name for one that is no layer's ``kernel_quantizer``)."""
    quantizers = progressive_quantizers(model)
    with assigned([q.temperature for q in quantizers], 0.0) as saved:
        yield tuple(name for name, value in zip(owner_names(model, quantizers), saved) if value >= HARD_SIGN_BELOW)
