"""Training recipes: the hyper-parameters of one run, validated in one place.

The papers' recipes (:data:`RECIPES`) and where each value comes from:
docs/guides/training.md.
"""

from __future__ import annotations

import dataclasses

from lq_ext._validate import is_int, is_number
from lq_ext.training.optimizers import OPTIMIZERS
from lq_ext.training.schedules import DECAYS

__all__ = ["RECIPES", "Recipe"]

_INT_FIELDS = ("epochs", "warmup_epochs", "weight_binarization_epoch")
_NUMBER_FIELDS = (
    "learning_rate", "weight_decay", "step2_weight_decay", "kd_temperature", "kd_label_weight",
)


@dataclasses.dataclass(frozen=True)
class Recipe:
    """How to train: epochs, optimizer, schedule, two-step, distillation, weight schedule.

    # Fields
        epochs: epochs of each step (two-step training runs ``2 × epochs``).
        optimizer: ``"adam"`` (PyTorch-style coupled weight decay) or ``"adamw"``.
        learning_rate: peak learning rate (> 0).
        schedule: ``"cosine"``, ``"linear"`` (decay to 0) or ``"constant"``.
        warmup_epochs: epochs of linear warm-up at the start of each step.
        weight_decay: on conv/dense kernels only; in step 1 when ``two_step``.
        two_step: ReActNet's two steps: real weights + binary activations first,
            then binary weights initialised from step 1.
        step2_weight_decay: weight decay of step 2 (ReActNet: 0).
        kd_temperature: distillation temperature (used with a teacher).
        kd_label_weight: weight of the label cross-entropy next to the distillation
            loss (ReActNet: 0, distribution loss only).
        weight_binarization_epoch: PokeBNN's delayed weight binarization: the
            ``MaxAbsSign`` kernels stay real until this epoch (None: not used).
    """

    epochs: int = 10
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    schedule: str = "cosine"
    warmup_epochs: int = 0
    weight_decay: float = 0.0
    two_step: bool = False
    step2_weight_decay: float = 0.0
    kd_temperature: float = 1.0
    kd_label_weight: float = 0.0
    weight_binarization_epoch: int | None = None

    def __post_init__(self):
        def fail(field, allowed):
            raise ValueError(f"{field} must be {allowed}, got {field}={getattr(self, field)!r}.")

        if not is_int(self.epochs) or self.epochs <= 0:
            fail("epochs", "an int > 0")
        if self.optimizer not in OPTIMIZERS:
            fail("optimizer", f"one of {list(OPTIMIZERS)}")
        if not is_number(self.learning_rate) or self.learning_rate <= 0:
            fail("learning_rate", "a number > 0")
        if self.schedule not in DECAYS:
            fail("schedule", f"one of {list(DECAYS)}")
        if not is_int(self.warmup_epochs) or not 0 <= self.warmup_epochs < self.epochs:
            fail("warmup_epochs", f"an int in [0, epochs={self.epochs})")
        for field in ("weight_decay", "step2_weight_decay", "kd_label_weight"):
            if not is_number(getattr(self, field)) or getattr(self, field) < 0:
                fail(field, "a number ≥ 0")
        if not isinstance(self.two_step, bool):
            fail("two_step", "True or False")
        if not is_number(self.kd_temperature) or self.kd_temperature <= 0:
            fail("kd_temperature", "a number > 0")
        epoch = self.weight_binarization_epoch
        if epoch is not None and (not is_int(epoch) or epoch < 0):
            fail("weight_binarization_epoch", "None or an int ≥ 0")
        # NumPy scalars pass the guards; store Python numbers (recipe.json is JSON).
        for field in _INT_FIELDS:
            if getattr(self, field) is not None:
                object.__setattr__(self, field, int(getattr(self, field)))
        for field in _NUMBER_FIELDS:
            value = getattr(self, field)
            if not isinstance(value, (int, float)):
                object.__setattr__(self, field, float(value))

    def replace(self, **changes) -> Recipe:
        """A copy with ``changes`` applied (and validated)."""
        return dataclasses.replace(self, **changes)


#: The papers' recipes at their published hyper-parameters (epochs are per step; scale
#: them to your budget with ``RECIPES[name].replace(epochs=…)``).
RECIPES = {
    # ReActNet (liuzechun/ReActNet, mobilenet/*/run.sh): Adam, lr 5e-4 for 256 epochs,
    # linear decay to 0, weight decay 1e-5 then 0, distribution loss only.
    "reactnet": Recipe(
        epochs=256, optimizer="adam", learning_rate=5e-4, schedule="linear",
        weight_decay=1e-5, two_step=True, step2_weight_decay=0.0, kd_label_weight=0.0,
    ),
    # PokeBNN (google/aqt pokebnn config): Adam, lr 2e-5·8192/256 = 6.4e-4 decaying
    # linearly to 0 at epoch 750 (the official run adds 50 epochs at lr 0), coupled L2 5e-5
    # on kernels, kernels binary from epoch 50. (Official Adam β2 = 0.99; Keras' 0.999 here.)
    "pokebnn": Recipe(
        epochs=750, optimizer="adam", learning_rate=6.4e-4, schedule="linear",
        weight_decay=5e-5, weight_binarization_epoch=50,
    ),
    # BNext / ES-BNN (imfinethanks/ESBNN scripts): AdamW lr 1e-3, cosine over 512 epochs
    # with 5 warm-up epochs. (Their two decay groups, 1e-8 on kernels and 1e-3 on the
    # rest, are not reproduced: here the kernels get 1e-8 and the rest none.)
    "bnext": Recipe(
        epochs=512, optimizer="adamw", learning_rate=1e-3, schedule="cosine",
        warmup_epochs=5, weight_decay=1e-8,
    ),
    # A single-step recipe for quick runs on small data: Adam, cosine decay, labels only.
    "quick": Recipe(epochs=10, optimizer="adam", learning_rate=2e-3, schedule="cosine"),
}
