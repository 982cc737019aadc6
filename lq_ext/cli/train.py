"""``lq-ext train``: a registered model on a dataset with a paper's recipe, end to end.

A thin layer over :func:`lq_ext.training.train`: the model is built for the dataset's
input (``dataset_info``: image size, channels, classes) with logits outputs, the recipe
is ``RECIPES[--recipe]`` with the given flags replacing its fields, the data come from
:func:`lq_ext.data.load_dataset` with the recipe's augmentations (``Recipe.data_options``;
the test split is the validation data). At the end it
prints the test top-1, the files of the output directory and the conversion report.

A killed run resumes when started again with the same arguments (see
:mod:`lq_ext.training.trainer` for the output directory's layout).
"""

from __future__ import annotations

import inspect
import os
import sys
from pathlib import Path

import lq_ext
from lq_ext.data import DatasetNotAvailableError, dataset_info, load_dataset
from lq_ext.training import RECIPES, resolve_strategy, train
from lq_ext_cli import COMMANDS, add_command

#: Recipe flags: argparse destination -> Recipe field.
RECIPE_FLAGS = {
    "epochs": "epochs",
    "optimizer": "optimizer",
    "learning_rate": "learning_rate",
    "schedule": "schedule",
    "warmup_epochs": "warmup_epochs",
    "weight_decay": "weight_decay",
    "two_step": "two_step",
    "kd_label_weight": "kd_label_weight",
    "kd_temperature": "kd_temperature",
    "kd_reduction": "kd_reduction",
}

#: Sub-directories of a step listed as one line (their files are Keras internals).
_COLLAPSED = ("backup", "tensorboard")


def add_train_parser(commands, model_names):
    """Register ``train`` on the ``commands`` sub-parsers of ``lq-ext`` (the launcher's
    builder, :func:`lq_ext_cli.arguments.add_train_arguments`); returns its parser."""
    train = add_command(commands, next(c for c in COMMANDS if c.name == "train"), tuple(model_names))
    train.set_defaults(train_parser=train)
    return train


def _accepts(fn, keyword) -> bool | None:
    """True / False if ``fn``'s signature says whether it takes ``keyword``; None if it
    only has ``**kwargs`` (then only a call can tell)."""
    parameters = inspect.signature(fn).parameters
    if keyword in parameters:
        return True
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return None
    return False


def check_model_arguments(spec, kwargs, parser) -> None:
    """Usage error (exit 2) if ``spec``'s model cannot take ``kwargs`` (logits output,
    ``width_multiplier``)."""
    flags = {"classifier_activation": None, "width_multiplier": "--width-multiplier"}
    unknown = [key for key in flags if key in kwargs and _accepts(spec.fn, key) is None]
    refused = [key for key in flags if key in kwargs and _accepts(spec.fn, key) is False]
    if unknown and not refused:  # only **kwargs: build it once to find out
        try:
            spec.build(**kwargs)
        except TypeError as error:
            refused = [key for key in unknown if key in str(error)]
            if not refused:
                raise
    if refused:
        key = refused[0]
        if flags[key] is None:
            parser.error(
                f"model {spec.name!r} cannot output logits (it has no classifier_activation "
                f"argument, its classifier ends in a softmax), so it cannot be trained here"
            )
        parser.error(f"{flags[key]}: model {spec.name!r} has no width_multiplier argument")


def progressive_kwargs(spec, recipe, recipe_name, parser) -> dict:
    """The model arguments a recipe with progressive weight binarization
    (``weight_temperature_decay``, BNext) needs: ``kernel_quantizer="progressive"``; a usage
    error (exit 2) for a model without that option. ``{}`` for every other recipe."""
    if recipe.weight_temperature_decay is None:
        return {}
    if _accepts(spec.fn, "kernel_quantizer") is not True:
        parser.error(
            f"--recipe {recipe_name} anneals ProgressiveSign kernels (weight_temperature_decay="
            f"{recipe.weight_temperature_decay}); model {spec.name!r} has no kernel_quantizer="
            f"'progressive' option (es_bnext_tiny has)"
        )
    return {"kernel_quantizer": "progressive"}


def distillation_head_kwargs(spec, recipe, teachers) -> dict:
    """``distillation_head=True`` when the recipe trains BCDNet's dual head
    (``Recipe.distillation_head``), one teacher is given and the model has that option;
    ``{}`` otherwise (a one-head student then takes both loss terms on its head)."""
    if not recipe.distillation_head or teachers is None or len(teachers) != 1:
        return {}
    return {"distillation_head": True} if _accepts(spec.fn, "distillation_head") is True else {}


def _for_cli(error):
    """``error`` with its message on one line (the CLI prints errors on one line) and the
    library's ``overwrite=True`` advice as the flag ``--overwrite``."""
    if error.args and isinstance(error.args[0], str):
        message = " ".join(error.args[0].split()).replace("overwrite=True", "--overwrite")
        error.args = (message, *error.args[1:])
    return error


def _size(n_bytes) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n_bytes < 1000 or unit == "GB":
            return f"{n_bytes:.0f} {unit}" if unit == "B" else f"{n_bytes:.1f} {unit}"
        n_bytes /= 1000


def describe_output_dir(output_dir) -> str:
    """The files of a training output directory, one a line with its size (Keras'
    backup and TensorBoard directories as one line each)."""
    root = Path(output_dir)
    lines = [f"Output directory {root}:"]
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if any(part in _COLLAPSED for part in relative.parts[:-1]):
            continue  # inside a collapsed directory
        if path.is_dir():
            if path.name in _COLLAPSED:
                count = sum(1 for p in path.rglob("*") if p.is_file())
                lines.append(f"  {relative}/  ({count} files)")
            continue
        lines.append(f"  {str(relative):<28s} {_size(path.stat().st_size):>9s}")
    return "\n".join(lines)


def run_train(args) -> None:
    """``lq-ext train``: parse-checked ``args`` → :func:`lq_ext.training.train`."""

    parser = args.command_parser  # usage (--kd-* need --teacher) checked by the launcher

    # Everything that can be checked without data, first.
    changes = {field: getattr(args, dest) for dest, field in RECIPE_FLAGS.items() if getattr(args, dest) is not None}
    recipe = RECIPES[args.recipe]
    if "epochs" in changes:  # step 2's epochs and the warm-up scale with it (Recipe.with_epochs)
        recipe = recipe.with_epochs(changes.pop("epochs"))
    recipe = recipe.replace(**changes)  # ValueError names the bad field
    info = dataset_info(args.dataset)
    spec = lq_ext.zoo.get_model_spec(args.model)
    model_kwargs = dict(
        input_shape=(*info.image_size, info.channels), num_classes=info.num_classes, classifier_activation=None
    )
    if args.width_multiplier is not None:
        model_kwargs["width_multiplier"] = args.width_multiplier
    # Before TensorFlow runs anything (a model build, the data): "multi_worker" sets up
    # its collective ops and waits for the cluster of TF_CONFIG here.
    strategy = resolve_strategy(args.strategy)
    check_model_arguments(spec, model_kwargs, parser)
    model_kwargs.update(progressive_kwargs(spec, recipe, args.recipe, parser))
    model_kwargs.update(distillation_head_kwargs(spec, recipe, args.teacher))
    output_dir = Path(args.output_dir)  # a finished run there is refused by train()
    for teacher in args.teacher or ():
        if not os.path.exists(teacher):
            raise FileNotFoundError(f"--teacher {teacher}: no such model file or SavedModel directory.")
    teacher = args.teacher if args.teacher is None or len(args.teacher) > 1 else args.teacher[0]

    data = dict(batch_size=args.batch_size, seed=args.seed, limit=args.limit, data_dir=args.data_dir)
    augmentation = recipe.data_options("train")
    try:
        train_data = load_dataset(args.dataset, "train", **data, **augmentation)
        val_data = load_dataset(args.dataset, "test", **data, **recipe.data_options("test"))
    except DatasetNotAvailableError as error:
        raise _for_cli(error) from None

    steps = " in two steps" if recipe.two_step else ""
    extra = f"training-data augmentation (load_dataset keywords): {augmentation}\n" if augmentation else ""
    print(
        f"Training {args.model} on {args.dataset}{f' (first {args.limit} images)' if args.limit else ''} "
        f"with recipe {args.recipe!r}{steps}: {recipe}\n{extra}into {output_dir} (a killed run resumes when "
        f"started again with the same arguments)",
        flush=True,
    )
    try:
        result = train(
            lambda: spec.build(**model_kwargs),
            train_data,
            val_data,
            output_dir=output_dir,
            recipe=recipe,
            teacher=teacher,
            strategy=strategy,
            seed=args.seed,
            verbose=args.verbose,
            tensorboard=args.tensorboard,
            convert=not args.no_convert,
            overwrite=args.overwrite,
        )
    except (ValueError, OSError, AssertionError) as error:  # e.g. ParityError: multi-line
        raise _for_cli(error) from None
    except KeyboardInterrupt:
        print(
            f"\nlq-ext train: interrupted; the same command resumes after the last finished epoch "
            f"(checkpoints in {output_dir})",
            file=sys.stderr,
        )
        raise

    print()
    for step, rows in result.history.items():
        for row in rows:
            values = ", ".join(f"{key} {value:.4f}" for key, value in row.items() if key != "epoch")
            print(f"{step} epoch {row['epoch'] + 1}: {values}")
    if result.val_accuracy is not None:
        print(
            f"test top-1: {100 * result.val_accuracy:.2f} % (val_accuracy {result.val_accuracy!r}, "
            f"{args.dataset} test split{f', first {args.limit} images' if args.limit else ''}) "
            f"after {result.seconds / 60:.1f} min"
        )
    print("\n" + describe_output_dir(output_dir))
    if result.conversion is not None:
        print("\n" + str(result.conversion))
