"""``train``: Keras ``fit`` with the papers' recipes, checkpoints that survive a kill,
logs, and the final model saved and converted to a verified ``.tflite``.

Layout of ``output_dir``::

    step1/ step2/          two-step training (``train/`` for one step); each holds
        backup/            Keras BackupAndRestore state (model + optimizer + epoch)
        last.weights.h5    the weights after the latest finished epoch
        log.csv            one row per epoch (appended across restarts)
        tensorboard/       with ``tensorboard=True``
        weights.h5         written when the step has finished
    model.h5               the final trained model (logits)
    model.tflite           its LCE flatbuffer, parity-checked against Keras
    recipe.json            the recipe and steps per epoch; resuming with others is refused
    result.json            recipe, per-epoch logs, final accuracy, times, conversion;
                           written last: it marks a finished run

A killed run started again with the same arguments resumes: finished steps are
loaded from their ``weights.h5``, the running step continues after its last finished
epoch with the same optimizer state and, for pipelines of ``load_dataset``, the same
data (at most one epoch lost; docs/guides/training.md, "Resume continues the same run");
a run killed during the final conversion only converts again. Under
``MultiWorkerMirroredStrategy`` only the chief writes ``output_dir``
(docs/guides/training.md, "Several machines").
"""

from __future__ import annotations

import csv
import dataclasses
import json
import shutil
import time
from pathlib import Path

import numpy as np
import tensorflow as tf

from lq_ext import converters
from lq_ext._validate import is_int
from lq_ext.converters import ConversionResult
from lq_ext.data.epochs import data_epoch
from lq_ext.distillation import DistillationModel, LabelCrossEntropy, MultiTeacherDistillationModel
from lq_ext.training.callbacks import DataEpochSync, ProgressiveBinarization, WeightBinarization
from lq_ext.training.optimizers import make_optimizer
from lq_ext.training.recipe import Recipe
from lq_ext.training.schedules import WarmupDecay
from lq_ext.training.strategies import (
    STRATEGIES,
    barrier,
    is_chief,
    remove_write_dir,
    resolve_strategy,
    worker_write_dir,
)
from lq_ext.training.two_step import transfer_weights, with_real_weights
from lq_ext.zoo.bcdnet import fold_distillation_head

__all__ = ["STRATEGIES", "TrainResult", "resolve_strategy", "train"]

#: Images of the validation data used for the conversion's parity check.
PARITY_IMAGES = 20


@dataclasses.dataclass
class TrainResult:
    """What :func:`train` produced."""

    model: tf.keras.Model
    output_dir: Path
    history: dict  # step name -> list of per-epoch log rows (from log.csv)
    val_accuracy: float | None
    seconds: float
    conversion: ConversionResult | None = None

    @property
    def tflite_path(self) -> Path | None:
        return self.output_dir / "model.tflite" if self.conversion is not None else None


def _steps(data, steps_per_epoch):
    if steps_per_epoch is not None:
        if not is_int(steps_per_epoch) or steps_per_epoch <= 0:
            raise ValueError(f"steps_per_epoch must be an int > 0, got steps_per_epoch={steps_per_epoch!r}.")
        return int(steps_per_epoch)
    cardinality = int(tf.data.experimental.cardinality(data)) if isinstance(data, tf.data.Dataset) else -1
    if cardinality <= 0:
        raise ValueError(
            "train_data has no known length (an infinite or filtered tf.data.Dataset); pass "
            "steps_per_epoch=N so the learning-rate schedule knows the run's length."
        )
    return cardinality


def _read_log(path: Path) -> list:
    """log.csv's rows; Keras' ``NA`` (a value missing in that epoch) becomes NaN."""
    if not path.is_file():
        return []

    def value(key, text):
        if key == "epoch":
            return int(text)
        return float("nan") if text in ("NA", "", None) else float(text)

    with open(path, newline="") as file:
        return [{key: value(key, text) for key, text in row.items()} for row in csv.DictReader(file)]


def _check_resumable(output_dir: Path, recipe: Recipe, steps: int, *, write: bool = True) -> None:
    """Record ``recipe`` and the steps per epoch in ``output_dir``; refuse to resume a run
    made with other ones.

    A resumed run restores its epoch counter and optimizer state, which are only
    meaningful for the recipe and data they were made with (e.g. the schedule's length).
    ``write=False`` (a non-chief worker) only checks.
    """
    path = output_dir / "recipe.json"
    wanted = {**dataclasses.asdict(recipe), "steps_per_epoch": steps}
    if path.is_file():
        # a field added to Recipe after the run started was at its default then
        defaults = {field.name: field.default for field in dataclasses.fields(Recipe)}
        recorded = {**defaults, **json.loads(path.read_text())}
        if recorded != wanted:
            changed = sorted(key for key in wanted if recorded.get(key) != wanted[key])
            raise ValueError(
                f"{output_dir} holds an unfinished run made with another recipe or data (differs in "
                f"{', '.join(changed)}); resume it with the same recipe, or pass overwrite=True "
                f"to start again there."
            )
        return
    if not write:
        return
    output_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(wanted, indent=2) + "\n")


def _load_teacher(teacher):
    """The teacher model, or a list of them for several teachers (one: the model itself)."""
    if isinstance(teacher, (list, tuple)):
        if not teacher:
            raise ValueError("teacher must be a model, a builder, a path or a non-empty list of them, got teacher=[].")
        teachers = [_load_teacher(one) for one in teacher]
        return teachers[0] if len(teachers) == 1 else teachers
    if teacher is None or isinstance(teacher, tf.keras.Model):
        return teacher
    if callable(teacher):
        return teacher()
    path = Path(teacher)
    if not path.exists():
        raise FileNotFoundError(f"teacher={str(teacher)!r}: no such model file or SavedModel directory.")
    return tf.keras.models.load_model(path, compile=False)


def _parity_samples(val_data):
    if val_data is None:
        return None
    images = []
    for batch in val_data:
        images.append(np.asarray(batch[0]))
        if sum(len(b) for b in images) >= PARITY_IMAGES:
            break
    return np.concatenate(images)[:PARITY_IMAGES]


def _batch_size(data) -> int:
    """Images per batch of ``data`` (from its static shape, else from its first batch)."""
    if isinstance(data, tf.data.Dataset):
        spec = tf.nest.flatten(data.element_spec)[0]
        if spec.shape.rank and spec.shape[0] is not None:
            return int(spec.shape[0])
    first = next(iter(data))
    return int(tf.shape(tf.nest.flatten(first)[0])[0])


def _optimizer(stage_model, recipe: Recipe, *, steps: int, batch_size: int | None):
    """The optimizer of one step: ``recipe`` is that step's (:meth:`Recipe.for_step`)."""
    scale = recipe.peak_learning_rate(batch_size) / recipe.learning_rate
    schedule = WarmupDecay(
        recipe.peak_learning_rate(batch_size), recipe.epochs * steps, warmup_steps=recipe.warmup_epochs * steps,
        decay=recipe.schedule, initial_lr=recipe.warmup_lr * scale, final_lr=recipe.final_lr * scale,
    )
    return make_optimizer(
        recipe.optimizer, schedule, weight_decay=recipe.weight_decay, model=stage_model,
        decay_on=recipe.decay_on, other_weight_decay=recipe.other_weight_decay,
        beta_2=recipe.beta_2, clipnorm=recipe.clipnorm,
    )


def _fit_step(
    stage_model, *, name, recipe, binary, train_data, val_data, steps,
    steps_per_epoch, teacher, step_dir, write_dir, callbacks, verbose, tensorboard, data_offset,
):
    """Fit one step; ``step_dir`` holds the (chief's) backup, ``write_dir`` this worker's
    logs and weights (``step_dir`` for the chief)."""
    batch_size = _batch_size(train_data) if recipe.reference_batch is not None else None
    optimizer = _optimizer(stage_model, recipe, steps=steps, batch_size=batch_size)
    metrics = [tf.keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
    if isinstance(teacher, list):
        fit_model = MultiTeacherDistillationModel(
            stage_model, teacher, recipe.kd_reduction, recipe.kd_temperature, recipe.kd_label_weight,
            label_smoothing=recipe.label_smoothing, name=f"{name}_kd",
        )
        fit_model.compile(optimizer=optimizer, metrics=metrics)
    elif teacher is not None:
        fit_model = DistillationModel(
            stage_model, teacher, recipe.kd_temperature, recipe.kd_label_weight,
            label_smoothing=recipe.label_smoothing, name=f"{name}_kd",
        )
        fit_model.compile(optimizer=optimizer, metrics=metrics)
    elif len(stage_model.outputs) != 1:
        raise ValueError(
            f"model {stage_model.name!r} has {len(stage_model.outputs)} outputs; a two-output student "
            f"(BCDNet's distillation_head=True: logits, logits_dist) trains its dual-head loss with a "
            f"teacher, got teacher=None: pass teacher=, or build the model with one head."
        )
    else:
        fit_model = stage_model
        if recipe.label_smoothing:
            loss = LabelCrossEntropy(recipe.label_smoothing)
        else:
            loss = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        fit_model.compile(optimizer=optimizer, loss=loss, metrics=metrics)
    step_callbacks = [tf.keras.callbacks.BackupAndRestore(str(step_dir / "backup"))]
    clock = data_epoch(train_data)
    if clock is not None:  # after BackupAndRestore: it reads the restored epoch
        step_callbacks.append(DataEpochSync(clock, offset=data_offset))
    step_callbacks += [
        tf.keras.callbacks.ModelCheckpoint(str(write_dir / "last.weights.h5"), save_weights_only=True),
        tf.keras.callbacks.CSVLogger(str(write_dir / "log.csv"), append=True),
    ]
    if tensorboard:
        step_callbacks.append(tf.keras.callbacks.TensorBoard(str(write_dir / "tensorboard")))
    if binary and recipe.weight_binarization_epoch is not None:
        step_callbacks.append(WeightBinarization(recipe.weight_binarization_epoch))
    if binary and recipe.weight_temperature_decay is not None:
        step_callbacks.append(ProgressiveBinarization(decay=recipe.weight_temperature_decay))
    fit_model.fit(
        train_data,
        validation_data=val_data,
        epochs=recipe.epochs,
        steps_per_epoch=steps_per_epoch,
        callbacks=step_callbacks + list(callbacks),
        verbose=verbose,
    )
    stage_model.save_weights(str(write_dir / "weights.h5"))


def train(
    model_fn,
    train_data,
    val_data=None,
    *,
    output_dir,
    recipe: Recipe = Recipe(),  # noqa: B008 (a frozen dataclass: the shared default cannot change)
    teacher=None,
    strategy=None,
    seed: int | None = None,
    steps_per_epoch: int | None = None,
    callbacks=(),
    verbose: int = 1,
    tensorboard: bool = False,
    convert: bool = True,
    parity_samples=None,
    overwrite: bool = False,
) -> TrainResult:
    """Train ``model_fn()`` on ``train_data`` with ``recipe``; save and convert the result.

    # Arguments
        model_fn: builds the (binary) model to train, mapping images to **logits**
            (zoo entries: ``classifier_activation=None``). Called inside the strategy's
            scope, once per step. A two-output model ``[logits, logits_dist]`` (BCDNet's
            ``distillation_head=True``) trains its dual-head loss with a ``teacher``
            (:class:`~lq_ext.distillation.DistillationModel`) and is saved and converted
            folded into one classifier (:func:`lq_ext.zoo.bcdnet.fold_distillation_head`).
        train_data, val_data: ``tf.data.Dataset`` of ``(images, labels)`` batches
            (:func:`lq_ext.data.load_dataset`); ``val_data`` is optional.
        output_dir: where checkpoints, logs and the final model go (see module doc).
            A directory holding a finished run (``result.json``) is refused unless
            ``overwrite=True``.
        recipe: a :class:`~lq_ext.training.Recipe` (default: 10 epochs of Adam).
        teacher: optional distillation teacher (logits): a model, a callable that
            builds one, or the path of a saved model; or a list of them, several
            teachers with per-sample weights (BNext;
            :class:`~lq_ext.distillation.MultiTeacherDistillationModel`, ``recipe.kd_reduction``).
        strategy: ``None``, ``"default"``, ``"mirrored"``, ``"multi_worker"`` or a
            ``tf.distribute.Strategy`` (:func:`resolve_strategy`; create
            ``"multi_worker"`` first thing in the program and pass the instance). Under
            a multi-worker strategy every worker makes this call with the same
            arguments; ``train_data`` is the global batch, split between the workers;
            only the chief writes ``output_dir`` (the others write to a temporary
            directory, removed at the end) and converts; ``output_dir`` must be on a
            file system every worker reads (the backup is restored from the chief's).
        seed: seeds Python, NumPy and TensorFlow before the models are built.
        steps_per_epoch: needed when ``train_data`` has no known length.
        callbacks: extra Keras callbacks for every step.
        verbose: Keras' progress output (1 = progress bar, 2 = one line per epoch).
        tensorboard: also write TensorBoard logs.
        convert: convert the final model with :func:`lq_ext.converters.convert`,
            checked on the first 20 validation images (or ``parity_samples``).

    # Returns
        A :class:`TrainResult`.
    """
    if isinstance(model_fn, tf.keras.Model) or not callable(model_fn):
        raise TypeError(
            f"model_fn must be a callable that builds the model (e.g. lambda: "
            f"BDNetMobileNet(...)), got {type(model_fn).__name__}: train builds a fresh model "
            f"per step, inside the distribution strategy's scope."
        )
    if not isinstance(recipe, Recipe):
        raise TypeError(f"recipe must be an lq_ext.training.Recipe, got {type(recipe).__name__}.")
    output_dir = Path(output_dir)
    if (output_dir / "result.json").exists() and not overwrite:
        raise FileExistsError(
            f"{output_dir} holds a finished run (result.json); pass overwrite=True to train "
            f"again there, or choose another output_dir."
        )
    steps = _steps(train_data, steps_per_epoch)
    strategy = resolve_strategy(strategy)
    chief = is_chief(strategy)  # under MultiWorkerMirroredStrategy only the chief writes here
    if overwrite and chief:
        for stale in ("model.h5", "model.tflite", "result.json", "recipe.json"):
            (output_dir / stale).unlink(missing_ok=True)
        for step in ("step1", "step2", "train"):
            shutil.rmtree(output_dir / step, ignore_errors=True)
    if chief or not overwrite:  # a non-chief's overwrite: the chief removes the old run
        _check_resumable(output_dir, recipe, steps, write=chief)
    barrier(strategy)  # no worker looks for finished steps before the chief's clean-up
    write_dir = worker_write_dir(strategy, output_dir)
    try:
        return _train_stages(
            model_fn, train_data, val_data, output_dir=output_dir, write_dir=write_dir,
            recipe=recipe, teacher=teacher, strategy=strategy, seed=seed, steps=steps,
            steps_per_epoch=steps_per_epoch, callbacks=callbacks, verbose=verbose,
            tensorboard=tensorboard, convert=convert and chief, parity_samples=parity_samples,
        )
    finally:
        remove_write_dir(strategy, write_dir)


def _train_stages(
    model_fn, train_data, val_data, *, output_dir, write_dir, recipe, teacher, strategy, seed,
    steps, steps_per_epoch, callbacks, verbose, tensorboard, convert, parity_samples,
) -> TrainResult:
    """:func:`train` once the run's directory is checked: the steps, the final model and
    (the chief only, when ``write_dir`` is ``output_dir``) result.json."""
    if seed is not None:
        tf.keras.utils.set_random_seed(seed)
    started = time.perf_counter()

    stages = [("step1", False), ("step2", True)] if recipe.two_step else [("train", True)]
    previous = None
    with strategy.scope():
        teacher_model = _load_teacher(teacher)
        for index, (name, binary) in enumerate(stages):
            step_dir = output_dir / name
            step_dir.mkdir(parents=True, exist_ok=True)
            (write_dir / name).mkdir(parents=True, exist_ok=True)
            model = model_fn()
            if not isinstance(model, tf.keras.Model):
                raise TypeError(f"model_fn must return a tf.keras.Model, got {type(model).__name__}.")
            stage_model = model if binary else with_real_weights(model)
            finished = step_dir / "weights.h5"  # the chief's, read by every worker
            if finished.exists():
                stage_model.load_weights(str(finished))
            else:
                if previous is not None:  # a resumed step's backup then overrides these
                    transfer_weights(previous, stage_model)
                _fit_step(
                    stage_model, name=name, recipe=recipe.for_step(index + 1),
                    binary=binary, train_data=train_data, val_data=val_data, steps=steps,
                    steps_per_epoch=steps_per_epoch, teacher=teacher_model, step_dir=step_dir,
                    write_dir=write_dir / name, callbacks=callbacks, verbose=verbose,
                    tensorboard=tensorboard,
                    data_offset=index * recipe.epochs,  # step 2 continues step 1's epochs
                )
            previous = stage_model
        # A dual-head student (BCDNet's fc + fc_dist) is saved and converted folded into one
        # classifier, its official inference output.
        model = fold_distillation_head(previous) if len(previous.outputs) == 2 else previous
        val_accuracy = None
        if val_data is not None:  # every worker evaluates (collective ops)
            model.compile(metrics=[tf.keras.metrics.SparseCategoricalAccuracy(name="accuracy")])
            val_accuracy = float(model.evaluate(val_data, verbose=0, return_dict=True)["accuracy"])
    history = {name: _read_log(write_dir / name / "log.csv") for name, _ in stages}
    seconds = time.perf_counter() - started
    # Every worker saves (a non-chief into its temporary directory): reading BatchNorm's
    # moving statistics is a collective op under MultiWorkerMirroredStrategy.
    model.save(str(write_dir / "model.h5"))
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        # a copy that needs no other worker: converted, and usable once the cluster is gone
        model = tf.keras.models.load_model(str(write_dir / "model.h5"), compile=False)
    if write_dir != output_dir:  # a non-chief worker: the chief converts and writes the result
        return TrainResult(model, output_dir, history, val_accuracy, seconds, None)

    conversion = None
    if convert:
        samples = parity_samples if parity_samples is not None else _parity_samples(val_data)
        conversion = converters.convert(model, output_dir / "model.tflite", samples=samples, overwrite=True)
    result = {
        "model": model.name,
        "recipe": dataclasses.asdict(recipe),
        "seed": seed,
        "strategy": type(strategy).__name__,
        "replicas": strategy.num_replicas_in_sync,
        "steps_per_epoch": steps,
        "history": history,
        "val_accuracy": val_accuracy,
        "seconds": seconds,
        "tflite": None if conversion is None else str(output_dir / "model.tflite"),
    }
    (output_dir / "result.json").write_text(json.dumps(result, indent=2) + "\n")
    return TrainResult(model, output_dir, history, val_accuracy, seconds, conversion)
