"""Training recipes: the hyper-parameters of one run, validated in one place.

The papers' recipes (:data:`RECIPES`) and where each value comes from:
docs/guides/training.md.
"""

from __future__ import annotations

import dataclasses

from lq_ext._validate import is_int, is_number
from lq_ext.data.options import AUGMENT_KEYWORDS, augment_options
from lq_ext.distillation import KD_REDUCTIONS
from lq_ext.training.optimizers import DECAY_GROUPS, OPTIMIZERS
from lq_ext.training.schedules import DECAYS

__all__ = ["RECIPES", "RECIPE_AUGMENTATIONS", "STEP_FIELDS", "Recipe"]

_INT_FIELDS = ("epochs", "warmup_epochs", "weight_binarization_epoch", "reference_batch")
_NUMBER_FIELDS = (
    "learning_rate", "warmup_lr", "final_lr", "weight_decay", "other_weight_decay", "step2_weight_decay",
    "beta_2", "clipnorm", "label_smoothing", "kd_temperature", "kd_label_weight", "weight_temperature_decay",
)
#: The fields a two-step recipe may set differently for step 2 (``Recipe.step2``).
STEP_FIELDS = (
    "epochs", "optimizer", "learning_rate", "schedule", "warmup_epochs", "warmup_lr", "final_lr",
    "weight_decay", "decay_on", "other_weight_decay", "beta_2", "clipnorm", "label_smoothing",
    "augmentation",
)
#: The ``augmentation`` keys: :func:`lq_ext.data.load_dataset`'s optional augmentations.
RECIPE_AUGMENTATIONS = tuple(key for key in AUGMENT_KEYWORDS if key != "color_jitter_epochs")


@dataclasses.dataclass(frozen=True)
class Recipe:
    """How to train: epochs, optimizer, schedule, two-step, distillation, weight schedule.

    # Fields
        epochs: epochs of each step (two-step training runs ``2 × epochs`` unless
            ``step2`` sets its own).
        optimizer: ``"adam"`` (PyTorch-style coupled weight decay) or ``"adamw"``.
        learning_rate: peak learning rate (> 0); per ``reference_batch`` images when set.
        schedule: ``"cosine"``, ``"linear"`` (decay to 0) or ``"constant"``.
        warmup_epochs: epochs of linear warm-up at the start of each step.
        warmup_lr: where the warm-up starts (BCDNet: 1e-3 → 4e-3; default 0).
        final_lr: where the decay ends (BNext: timm's ``lr_min`` 1e-7; default 0).
        weight_decay: on the parameter group ``decay_on``; in step 1 when ``two_step``.
        decay_on: the decayed group: ``"kernels"`` (conv / dense kernels), ``"conv_kernels"``
            or ``"all"`` (:data:`lq_ext.training.optimizers.DECAY_GROUPS`).
        other_weight_decay: on every trainable variable outside ``decay_on`` (BN, PReLU,
            biases…; BNext: 1e-3). Must be 0 with ``decay_on="all"``.
        beta_2: Adam's β₂ (PokeBNN: 0.99).
        clipnorm: clip the global gradient norm to this (BNext: 5), or None.
        label_smoothing: ε of the label cross-entropy, targets ``(1−ε)·onehot + ε/K``.
        reference_batch: when set, the learning rates are per this many images: the
            trainer multiplies them by ``batch / reference_batch`` (PokeBNN: 2e-5 per 256).
        two_step: ReActNet's two steps: real weights + binary activations first,
            then binary weights initialised from step 1.
        step2_weight_decay: weight decay of step 2 (ReActNet: 0).
        step2: step 2's own settings, a dict of :data:`STEP_FIELDS` overriding this
            recipe's (BCDNet: ``{"epochs": 120, "learning_rate": 5e-4, …}``); needs
            ``two_step``. :meth:`for_step` gives the recipe of either step.
        kd_temperature: distillation temperature (used with a teacher).
        kd_label_weight: weight of the label cross-entropy next to the distillation
            loss (ReActNet: 0, distribution loss only).
        distillation_head: BCDNet's dual head: with a teacher, ``lq-ext train`` builds a
            model that has a ``distillation_head`` argument with ``distillation_head=True``
            (``fc`` + ``fc_dist``, the dual-head loss of
            :class:`~lq_ext.distillation.DistillationModel`); :func:`train` picks that loss
            for any two-output model it is given. A one-head student takes both terms.
        kd_reduction: with several teachers (BNext), how each teacher's loss is reduced:
            ``"per_sample"`` (the intended reading) or ``"released"`` (the released
            script's batch mean; :func:`lq_ext.distillation.multi_teacher_loss`).
        weight_binarization_epoch: PokeBNN's delayed weight binarization: the
            ``MaxAbsSign`` kernels stay real until this epoch (None: not used).
        weight_temperature_decay: BNext's progressive weight binarization: the
            ``ProgressiveSign`` kernels are ``clamp(w/T, −1, 1)`` with T = decay^epoch,
            hard ``sign`` once T < 1e-7 (BNext: 0.9, hard from epoch 153;
            :class:`~lq_ext.training.ProgressiveBinarization`). None: not used.
        augmentation: the training data's optional augmentations, a dict of
            :data:`RECIPE_AUGMENTATIONS` keywords of :func:`lq_ext.data.load_dataset`
            (BNext: ``{"randaugment": "rand-m7-mstd0.5-inc1", "interpolation": "bicubic",
            "crop_fraction": 0.95}``);
            None: the pipeline's default. ``step2`` may drop ``color_jitter`` (BCDNet), the
            one change a pipeline built once for both steps can make (it jitters only the
            epochs of step 1). :meth:`data_options` gives ``load_dataset``'s keywords.
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
    warmup_lr: float = 0.0
    decay_on: str = "kernels"
    other_weight_decay: float = 0.0
    beta_2: float = 0.999
    clipnorm: float | None = None
    label_smoothing: float = 0.0
    reference_batch: int | None = None
    step2: dict | None = None
    final_lr: float = 0.0
    weight_temperature_decay: float | None = None
    kd_reduction: str = "per_sample"
    distillation_head: bool = False
    augmentation: dict | None = None

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
        if not is_number(self.warmup_lr) or not 0 <= self.warmup_lr <= self.learning_rate:
            fail("warmup_lr", f"a number in [0, learning_rate={self.learning_rate}]")
        if not is_number(self.final_lr) or not 0 <= self.final_lr <= self.learning_rate:
            fail("final_lr", f"a number in [0, learning_rate={self.learning_rate}]")
        for field in ("weight_decay", "step2_weight_decay", "other_weight_decay", "kd_label_weight"):
            if not is_number(getattr(self, field)) or getattr(self, field) < 0:
                fail(field, "a number ≥ 0")
        if self.decay_on not in DECAY_GROUPS:
            fail("decay_on", f"one of {list(DECAY_GROUPS)}")
        if self.decay_on == "all" and self.other_weight_decay:
            fail("other_weight_decay", "0 with decay_on='all' (no variable is outside the group)")
        if not is_number(self.beta_2) or not 0 < self.beta_2 < 1:
            fail("beta_2", "a number in (0, 1)")
        if self.clipnorm is not None and (not is_number(self.clipnorm) or self.clipnorm <= 0):
            fail("clipnorm", "None or a number > 0")
        if not is_number(self.label_smoothing) or not 0 <= self.label_smoothing < 1:
            fail("label_smoothing", "a number in [0, 1)")
        if self.reference_batch is not None and (not is_int(self.reference_batch) or self.reference_batch <= 0):
            fail("reference_batch", "None or an int > 0")
        for field in ("two_step", "distillation_head"):
            if not isinstance(getattr(self, field), bool):
                fail(field, "True or False")
        if not is_number(self.kd_temperature) or self.kd_temperature <= 0:
            fail("kd_temperature", "a number > 0")
        if self.kd_reduction not in KD_REDUCTIONS:
            fail("kd_reduction", f"one of {list(KD_REDUCTIONS)}")
        epoch = self.weight_binarization_epoch
        if epoch is not None and (not is_int(epoch) or epoch < 0):
            fail("weight_binarization_epoch", "None or an int ≥ 0")
        decay = self.weight_temperature_decay
        if decay is not None and (not is_number(decay) or not 0 < decay < 1):
            fail("weight_temperature_decay", "None or a number in (0, 1)")
        # NumPy scalars pass the guards; store Python numbers (recipe.json is JSON).
        for field in _INT_FIELDS:
            if getattr(self, field) is not None:
                object.__setattr__(self, field, int(getattr(self, field)))
        for field in _NUMBER_FIELDS:
            value = getattr(self, field)
            if value is not None and not isinstance(value, (int, float)):
                object.__setattr__(self, field, float(value))
        object.__setattr__(self, "augmentation", self._checked_augmentation(self.augmentation, "augmentation"))
        if self.step2 is not None:
            self._check_step2()
        self.data_options()  # step 2's augmentation must be one the pipeline can make

    @staticmethod
    def _checked_augmentation(augmentation, field):
        """``augmentation`` checked, as a new dict with ``color_jitter`` a list (recipe.json
        round-trips)."""
        if augmentation is None:
            return None
        if not isinstance(augmentation, dict) or not set(augmentation) <= set(RECIPE_AUGMENTATIONS):
            raise ValueError(
                f"{field} must be None or a dict with keys among {list(RECIPE_AUGMENTATIONS)}, "
                f"got {field}={augmentation!r}."
            )
        try:
            augment_options(**augmentation)
        except ValueError as error:
            raise ValueError(f"{field}: {error}") from None
        augmentation = dict(augmentation)
        if augmentation.get("color_jitter") is not None:
            augmentation["color_jitter"] = [float(v) for v in augmentation["color_jitter"]]
        return augmentation

    def data_options(self, split: str = "train") -> dict:
        """The keywords of :func:`lq_ext.data.load_dataset` for this recipe's ``split``
        pipeline: the training augmentations of :attr:`augmentation`, with
        ``color_jitter_epochs=epochs`` when step 2 drops the colour jitter; for
        ``"test"`` only ``interpolation`` and ``crop_fraction`` (the evaluation crop)."""
        if split not in ("train", "test"):
            raise ValueError(f"split must be 'train' or 'test', got split={split!r}.")
        first = dict(self.augmentation or {})
        if split == "test":
            return {key: first[key] for key in ("interpolation", "crop_fraction") if key in first}
        if self.two_step and self.step2 and "augmentation" in self.step2:
            second = dict(self.step2["augmentation"] or {})
            without_jitter = {key: value for key, value in first.items() if key != "color_jitter"}
            if first.get("color_jitter") is not None and second == without_jitter:
                first["color_jitter_epochs"] = self.epochs
            elif second != first:
                raise ValueError(
                    f"step2['augmentation']={second!r} is not allowed with augmentation={first!r}: the "
                    f"data pipeline is built once for both steps, so step 2 may only drop color_jitter "
                    f"(it is then applied in step 1's epochs only)."
                )
        return first

    def _check_step2(self):
        step2 = self.step2
        if not isinstance(step2, dict):
            raise ValueError(f"step2 must be None or a dict of step-2 settings, got step2={step2!r}.")
        if not self.two_step:
            raise ValueError(f"step2 needs two_step=True, got two_step=False and step2={step2!r}.")
        unknown = sorted(set(step2) - set(STEP_FIELDS))
        if unknown:
            raise ValueError(f"step2 keys must be among {list(STEP_FIELDS)}, got {unknown} in step2={step2!r}.")
        if "weight_decay" in step2 and self.step2_weight_decay:
            raise ValueError(
                f"step 2's weight decay is set twice: step2_weight_decay={self.step2_weight_decay!r} "
                f"and step2['weight_decay']={step2['weight_decay']!r}; keep one."
            )
        try:
            stage = self.for_step(2)
        except ValueError as error:
            raise ValueError(f"step2: {error}") from None
        # Stored normalised (Python numbers) so recipe.json round-trips.
        object.__setattr__(self, "step2", {key: getattr(stage, key) for key in step2})
        if "augmentation" in step2:
            self.step2["augmentation"] = self._checked_augmentation(step2["augmentation"], "step2['augmentation']")

    def for_step(self, step: int) -> Recipe:
        """The single-step recipe of ``step`` (1 or 2): step 2 takes ``step2_weight_decay``
        and the ``step2`` overrides; every other field is shared."""
        if step not in (1, 2) or (step == 2 and not self.two_step):
            allowed = "1 or 2" if self.two_step else "1 (two_step=False)"
            raise ValueError(f"step must be {allowed}, got step={step!r}.")
        common = dict(two_step=False, step2=None, step2_weight_decay=0.0)
        if step == 1:
            return dataclasses.replace(self, **common)
        overrides = {"weight_decay": self.step2_weight_decay, **(self.step2 or {})}
        return dataclasses.replace(self, **common, **overrides)

    def peak_learning_rate(self, batch_size: int | None = None) -> float:
        """``learning_rate``, times ``batch_size / reference_batch`` when ``reference_batch`` is set."""
        if self.reference_batch is None:
            return self.learning_rate
        if not is_int(batch_size) or batch_size <= 0:
            raise ValueError(
                f"batch_size must be an int > 0 to scale learning_rate per reference_batch="
                f"{self.reference_batch}, got batch_size={batch_size!r}."
            )
        return self.learning_rate * int(batch_size) / self.reference_batch

    def with_epochs(self, epochs: int) -> Recipe:
        """The recipe on a budget of ``epochs`` for step 1: warm-up and step 2's epochs
        scaled in proportion (rounded; step 2 ≥ 1 epoch), all else unchanged.

        ``RECIPES["bcdnet"].with_epochs(6)``: 6 + 12 epochs, warm-up 0 (3 · 6/60 rounds
        down); ``replace(epochs=6)`` would keep step 2's 120.
        """
        if not is_int(epochs) or epochs <= 0:
            raise ValueError(f"epochs must be an int > 0, got epochs={epochs!r}.")
        ratio = int(epochs) / self.epochs

        def warmup(value, total):
            return min(round(value * ratio), total - 1)

        changes = dict(epochs=int(epochs), warmup_epochs=warmup(self.warmup_epochs, int(epochs)))
        if self.step2 is not None:
            step2 = dict(self.step2)
            if "epochs" in step2:
                step2["epochs"] = max(1, round(step2["epochs"] * ratio))
            if "warmup_epochs" in step2:
                step2["warmup_epochs"] = warmup(step2["warmup_epochs"], step2.get("epochs", int(epochs)))
            changes["step2"] = step2
        return self.replace(**changes)

    def replace(self, **changes) -> Recipe:
        """A copy with ``changes`` applied (and validated)."""
        return dataclasses.replace(self, **changes)


#: The papers' recipes at their published hyper-parameters (epochs are per step; scale
#: them to your budget with ``RECIPES[name].with_epochs(…)``).
RECIPES = {
    # ReActNet (liuzechun/ReActNet, mobilenet/{1_step1,2_step2}/): Adam, lr 5e-4 for 256
    # epochs at batch 256 (run.sh:6, the commented 256-epoch setting; the active line 4 is
    # 1.25e-3 for 128), linear decay to 0 (train.py:90, stepped per epoch there), weight
    # decay 1e-5 then 0 (run.sh) on the 4-D conv weights only, the FC and everything else
    # undecayed (train.py:77-88), distribution loss only from a ResNet-34 (train.py:33, 60).
    # Augmentation in both steps: RRC(0.08) + Lighting(0.1) + flip (train.py:114-121), the
    # released Lighting (utils/utils.py:29-53) adds ImageNet's [0, 1]-scale PCA increment to
    # uint8 pixels and truncates: lighting="reactnet" (lighting=0.1 is AlexNet's intent).
    "reactnet": Recipe(
        epochs=256, optimizer="adam", learning_rate=5e-4, schedule="linear",
        weight_decay=1e-5, decay_on="conv_kernels", two_step=True, step2_weight_decay=0.0,
        kd_label_weight=0.0, augmentation={"lighting": "reactnet"},
    ),
    # PokeBNN (google/aqt @ 9d1667e, aqt/jax_legacy/jax/imagenet/): Adam β1 0.9, β2 0.99
    # (train.py:414-417, configs/pokebnn/pokebnn_config.py:113-115); lr 2e-5 × batch/256
    # (train.py:405; 6.4e-4 at the official batch 8192, cloudtpu_train_pokebnn.sh:53)
    # decaying linearly to 0 at epoch 750 (pokebnn_config.py:103-109; the official run adds
    # 50 epochs at lr 0, dropped here); coupled L2 0.5·5e-5·Σw² on ndim > 1 parameters
    # (train_utils.py:107-111); kernels binary from epoch 50; pure distillation from an
    # 8-bit ResNet-50 whose checkpoint is unpublished (bring your own teacher). Inception
    # crop + flip, resized bicubic: interpolation="bicubic".
    "pokebnn": Recipe(
        epochs=750, optimizer="adam", learning_rate=2e-5, reference_batch=256, beta_2=0.99,
        schedule="linear", weight_decay=5e-5, weight_binarization_epoch=50,
        augmentation={"interpolation": "bicubic"},
    ),
    # BNext / ES-BNN (imfinethanks/ESBNN @ 972eecd, src/train_assistant_group_amp_rep_ops.py
    # and script/BNext-Tiny/*_aa_rep_ops.sh): AdamW lr 1e-3 at batch 512 (.sh:5, :430-434);
    # timm cosine to 1e-7 over 512 epochs after 5 warm-up epochs from 1e-5 (:443; stepped
    # per epoch there, per step here); two decay groups, 1e-8 on the 4-D
    # (conv) weights and 1e-3 on everything else, BN / PReLU / biases / FC (:413-434);
    # gradient-norm clipping at 5 (:815); progressive weight binarization: kernels
    # clamp(w/T, −1, 1) with T = 0.9^epoch, hard sign once T < 1e-7 (epoch 153) (src/bnext.py:
    # 99-110, :178-190, :668-670; needs ProgressiveSign kernels, ESBNextTiny(kernel_quantizer=
    # "progressive"); the released ES script never anneals its ES model, see lq_ext.progressive).
    # Distillation from two teachers, EfficientNet-B0 (assistant) + B2, with per-sample
    # teacher weights and no labels (:271-336, :758-785): pass teacher=[b0, b2] (yours:
    # ImageNet weights cannot be downloaded here; MultiTeacherDistillationModel);
    # kd_reduction="released" is the released script's batch-mean reduction (:768-785).
    # Augmentation: timm's RRC + flip + RandAugment "rand-m7-mstd0.5-inc1", bicubic, evaluation
    # crop 0.95 (:136, :166-167, :532-577).
    "bnext": Recipe(
        epochs=512, optimizer="adamw", learning_rate=1e-3, schedule="cosine",
        warmup_epochs=5, warmup_lr=1e-5, final_lr=1e-7, decay_on="conv_kernels", weight_decay=1e-8,
        other_weight_decay=1e-3, clipnorm=5.0, weight_temperature_decay=0.9, kd_reduction="released",
        augmentation={"randaugment": "rand-m7-mstd0.5-inc1", "interpolation": "bicubic", "crop_fraction": 0.95},
    ),
    # BCDNet (Sense-GVT/BCDNet @ 243ee07, model_zoo_exp/BCDNet/{a_3f,a_3}/config.yaml,
    # prototype/solver/cls_solver_dist*.py), 300k + 600k iterations at batch 256 ≈ 60 + 120
    # ImageNet epochs. Step 1 (a_3f): AdamW with torch's default decay 0.01 on every
    # parameter (a_3f/config.yaml:14-15, cls_solver_dist.py:186-208), warm-up 1e-3 → 4e-3
    # over 15k iterations ≈ 3 epochs, then cosine to 0 (a_3f/config.yaml:20-24); step 2
    # (a_3): AdamW 5e-4, no decay, no warm-up, cosine to 0 (a_3/config.yaml:14-26); label
    # smoothing 0.1 (a_3f:26, a_3:28). Loss ½·CE_LS(0.1) on the ``fc`` head + ½·KD from a
    # torchvision ResNet-50 on the ``fc_dist`` head (cls_solver_dist.py:304-313), eval on
    # their mean (a_3.py:361-368): a BCDNet*(distillation_head=True) student with a teacher
    # (the dual-head DistillationModel; lq-ext train builds it; saved and converted folded
    # into one head). A one-head student takes both terms on its head. The ResNet-50 teacher is
    # yours to pass. ColorJitter(0.2, 0.2, 0.2, 0.1) in step 1 only (imagenet_dataloader.py:23-30).
    "bcdnet": Recipe(
        epochs=60, optimizer="adamw", learning_rate=4e-3, schedule="cosine", warmup_epochs=3,
        warmup_lr=1e-3, weight_decay=0.01, decay_on="all", label_smoothing=0.1,
        kd_label_weight=1.0, two_step=True, distillation_head=True,
        augmentation={"color_jitter": (0.2, 0.2, 0.2, 0.1)},
        step2=dict(epochs=120, learning_rate=5e-4, warmup_epochs=0, warmup_lr=0.0, weight_decay=0.0,
                   augmentation={}),
    ),
    # A single-step recipe for quick runs on small data: Adam, cosine decay, labels only.
    "quick": Recipe(epochs=10, optimizer="adam", learning_rate=2e-3, schedule="cosine"),
}
