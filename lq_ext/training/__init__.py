"""Training for ``lq_ext`` models: the papers' recipes on Keras ``fit``.

- :func:`train`: checkpoints every epoch, resume after a kill, CSV/TensorBoard logs,
  ``tf.distribute`` strategies, the final model saved and converted to ``.tflite``.
- :class:`Recipe` / :data:`RECIPES`: the hyper-parameters (two-step, distillation,
  optimizer, schedule, weight decay per parameter group, delayed weight binarization).
- :func:`with_real_weights`, :func:`real_valued_twin`, :func:`transfer_weights`:
  two-step training and the float network of the same layout.
- :class:`DistillationModel`, :func:`distribution_loss`: knowledge distillation (one teacher,
  BCDNet's dual head); :class:`MultiTeacherDistillationModel`: BNext's several teachers.
- :class:`WarmupDecay`, :func:`make_optimizer`, :class:`GroupedAdamW`: schedules and
  optimizers (decay groups, β₂, global-norm clipping).
- :class:`WeightBinarization`: PokeBNN's delayed weight binarization (a Keras callback).
- :class:`ProgressiveBinarization`: BNext's progressive weight binarization, the
  temperature of :class:`lq_ext.progressive.ProgressiveSign` per epoch (a Keras callback).

Guide: docs/guides/training.md.
"""

from lq_ext.training.callbacks import ProgressiveBinarization, WeightBinarization, weight_switches
from lq_ext.training.distillation import DistillationModel, MultiTeacherDistillationModel, distribution_loss
from lq_ext.training.optimizers import (
    DECAY_GROUPS,
    OPTIMIZERS,
    GroupedAdamW,
    decayed_variables,
    make_optimizer,
)
from lq_ext.training.recipe import RECIPES, STEP_FIELDS, Recipe
from lq_ext.training.schedules import DECAYS, WarmupDecay
from lq_ext.training.trainer import STRATEGIES, TrainResult, resolve_strategy, train
from lq_ext.training.two_step import real_valued_twin, transfer_weights, with_real_weights

__all__ = [
    "DECAYS",
    "DECAY_GROUPS",
    "DistillationModel",
    "GroupedAdamW",
    "MultiTeacherDistillationModel",
    "OPTIMIZERS",
    "ProgressiveBinarization",
    "RECIPES",
    "Recipe",
    "STEP_FIELDS",
    "STRATEGIES",
    "TrainResult",
    "WarmupDecay",
    "WeightBinarization",
    "decayed_variables",
    "distribution_loss",
    "make_optimizer",
    "real_valued_twin",
    "resolve_strategy",
    "train",
    "transfer_weights",
    "weight_switches",
    "with_real_weights",
]
