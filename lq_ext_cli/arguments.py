"""The arguments of each ``lq-ext`` command: argparse builders and usage checks, TF-free.

Every builder takes the sub-parser and the registered model names. The usage checks run
after parsing and before the command's implementation is imported, so a usage error
exits with status 2 at once.
"""

from __future__ import annotations

import argparse

from lq_ext_cli.choices import (
    DATASETS,
    DECAYS,
    FRONT_ENDS,
    KD_REDUCTIONS,
    KERNEL_CHOICES,
    OPTIMIZERS,
    RECIPES,
    STRATEGIES,
)


def parse_shape(text: str) -> tuple[int, int, int]:
    """``"H,W,C"`` → ``(H, W, C)``; an ``argparse.ArgumentTypeError`` otherwise."""
    try:
        shape = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected H,W,C integers, got {text!r}") from None
    if len(shape) != 3:
        raise argparse.ArgumentTypeError(f"expected three values H,W,C, got {text!r}")
    return shape


def _add_model(parser, model_names) -> None:
    parser.add_argument(
        "model", choices=model_names, metavar="MODEL", help="a registered model: " + ", ".join(model_names)
    )


#: Model arguments that have a flag of their own.
_OWN_FLAGS = {"input_shape": "--input-shape", "num_classes": "--num-classes", "weights": "--weights"}


def parse_model_arg(text: str) -> tuple[str, object]:
    """``"NAME=VALUE"`` → ``(NAME, VALUE)`` with VALUE an int, float, bool, None or string."""
    name, sep, raw = text.partition("=")
    name = name.strip()
    if not sep or not name.isidentifier():
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE with NAME a Python identifier, got {text!r}")
    if name in _OWN_FLAGS:
        raise argparse.ArgumentTypeError(f"{name} has its own flag: use {_OWN_FLAGS[name]}")
    raw = raw.strip()
    named = {"true": True, "false": False, "none": None}
    if raw.lower() in named:
        return name, named[raw.lower()]
    for kind in (int, float):
        try:
            return name, kind(raw)
        except ValueError:
            pass
    return name, raw


def _add_model_shape(parser) -> None:
    parser.add_argument("--input-shape", type=parse_shape, metavar="H,W,C", help="input shape (default: the model's, e.g. 224,224,3)")
    parser.add_argument("--num-classes", type=int, metavar="N", help="classes of the classifier")
    parser.add_argument(
        "--model-arg", type=parse_model_arg, action="append", default=[], metavar="NAME=VALUE",
        help="another argument of the zoo entry point, e.g. tau=1 (repeatable; ints, floats, "
        "true/false/none, else a string)",
    )


def _add_timing(parser) -> None:
    parser.add_argument("--threads", type=int, default=1, help="interpreter threads (default 1)")
    parser.add_argument("--warmup", type=int, default=3, help="warm-up runs (default 3)")
    parser.add_argument("--runs", type=int, default=20, help="timed runs (default 20)")


def add_list_arguments(parser, model_names) -> None:
    """``lq-ext list`` takes no argument."""


def add_summary_arguments(parser, model_names) -> None:
    _add_model(parser, model_names)
    _add_model_shape(parser)


def add_convert_arguments(parser, model_names) -> None:
    _add_model(parser, model_names)
    _add_model_shape(parser)
    parser.add_argument("output", help="the .tflite file to write")
    parser.add_argument("--weights", help="local weights file to load first")
    parser.add_argument("--target", default="arm", choices=("arm", "xcore"), help="LCE target (default arm)")
    parser.add_argument(
        "--via", default="graphdef", choices=FRONT_ENDS,
        help="how LCE receives the model: a frozen graph (default, fast) or a SavedModel (LCE's own way)",
    )
    parser.add_argument("--no-verify", action="store_true", help="skip the parity check on real images")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    parser.add_argument(
        "--int8",
        action="store_true",
        help="also run everything that is not binary in int8 (calibrated on the real sample images)",
    )
    parser.add_argument(
        "--portable",
        action="store_true",
        help="TFLite builtin int8 ops only (engine 'builtin'): no LCE op, runs on LiteRT and TFLite Micro; "
        "binary convs as int8 CONV_2D, the rest as with --int8",
    )


def add_inspect_arguments(parser, model_names) -> None:
    parser.add_argument("path", help="a .tflite file")


def add_diagnose_arguments(parser, model_names) -> None:
    parser.add_argument(
        "model", metavar="MODEL",
        help="a saved Keras model (.h5, .keras or SavedModel directory), or a registered model name "
        "(then --weights, --input-shape and --num-classes as for convert)",
    )
    parser.add_argument("path", help="the .tflite file converted from MODEL")
    _add_model_shape(parser)
    parser.add_argument("--weights", help="with a registered model name: the weights file to load")
    parser.add_argument("--kernel", default="optimized", choices=("optimized", "indirect_bgemm", "reference"), help="LceBconv2d kernel (default optimized)")
    parser.add_argument(
        "--int8", action="store_true",
        help="FILE was made by `convert --int8`: compare it with the int8 clone that conversion made "
        "(calibrated on the built-in sample images, as `convert --int8` does)",
    )


def add_bench_arguments(parser, model_names) -> None:
    parser.add_argument("path", help="a .tflite file")
    _add_timing(parser)
    parser.add_argument("--kernel", default="auto", choices=KERNEL_CHOICES, help="LceBconv2d kernel (default auto)")
    parser.add_argument(
        "--tool", metavar="PATH",
        help="run LCE's lce_benchmark_model binary at PATH instead of the Python interpreter "
        "(with --ssh: its path on that machine)",
    )
    parser.add_argument("--ssh", metavar="USER@HOST", help="copy the model to USER@HOST with scp and run --tool there")
    parser.add_argument("--ssh-port", type=int, metavar="PORT", help="SSH port for --ssh (default: ssh's)")
    parser.add_argument("--op-profiling", action="store_true", help="with --tool: print the time per op type")


def check_bench_usage(args, parser) -> None:
    """The flags of ``--tool`` need ``--tool``; ``--ssh-port`` needs ``--ssh``."""
    if args.tool is None:
        for flag, value in (("--ssh", args.ssh), ("--ssh-port", args.ssh_port), ("--op-profiling", args.op_profiling)):
            if value is not None and value is not False:
                parser.error(f"{flag} needs --tool PATH (the lce_benchmark_model binary)")
    elif args.ssh_port is not None and args.ssh is None:
        parser.error("--ssh-port needs --ssh USER@HOST")


def add_demo_arguments(parser, model_names) -> None:
    parser.add_argument("--output-dir", default="results", help="where flatbuffers and the table go (default results/)")
    parser.add_argument("--input-shape", type=parse_shape, metavar="H,W,C", help="input shape of every model (default 224,224,3)")
    parser.add_argument("--num-classes", type=int, metavar="N", help="classes of every model (default 1000)")
    _add_timing(parser)


TRAIN_DESCRIPTION = (
    "Train MODEL on --dataset with a recipe (RECIPES[--recipe], the flags below "
    "replace its fields), checkpointing every epoch into --output-dir; then save "
    "model.h5 and convert it to a parity-checked model.tflite. A killed run "
    "resumes when started again with the same arguments."
)


def add_train_arguments(parser, model_names) -> None:
    _add_model(parser, model_names)
    parser.add_argument(
        "--dataset", required=True, choices=DATASETS, metavar="NAME", help="one of " + ", ".join(DATASETS)
    )
    parser.add_argument("--output-dir", required=True, metavar="DIR", help="checkpoints, logs and the final model")
    parser.add_argument("--recipe", default="quick", choices=RECIPES, help="the base hyper-parameters (default quick)")
    recipe = parser.add_argument_group("recipe fields (default: the recipe's)")
    recipe.add_argument("--epochs", type=int, metavar="N", help="epochs of each step")
    recipe.add_argument("--learning-rate", type=float, metavar="LR", help="peak learning rate")
    recipe.add_argument("--optimizer", choices=OPTIMIZERS)
    recipe.add_argument("--schedule", choices=DECAYS)
    recipe.add_argument("--warmup-epochs", type=int, metavar="N")
    recipe.add_argument("--weight-decay", type=float, metavar="WD", help="on kernels (step 1 with --two-step)")
    recipe.add_argument(
        "--two-step", action="store_true", default=None,
        help="ReActNet's two steps: real weights + binary activations, then binary weights",
    )
    recipe.add_argument("--no-two-step", dest="two_step", action="store_false", default=None, help="one step only")
    recipe.add_argument(
        "--teacher", metavar="PATH", action="append",
        help="a saved Keras model (logits) to distil from; repeat for several teachers (BNext's per-sample weights)",
    )
    recipe.add_argument("--kd-label-weight", type=float, metavar="W", help="with --teacher: label CE weight")
    recipe.add_argument("--kd-temperature", type=float, metavar="T", help="with --teacher: temperature")
    recipe.add_argument(
        "--kd-reduction", choices=KD_REDUCTIONS,
        help="with several --teacher: per_sample (intended) or released (the released BNext script's batch mean)",
    )

    parser.add_argument("--batch-size", type=int, default=128, metavar="N", help="default 128")
    parser.add_argument("--seed", type=int, default=0, metavar="S", help="seeds data order and weights (default 0)")
    parser.add_argument("--limit", type=int, metavar="N", help="use only the first N images of each split")
    parser.add_argument("--data-dir", metavar="DIR", help="where the data are (default: the loader's places)")
    parser.add_argument("--strategy", default="default", choices=STRATEGIES, help="tf.distribute strategy")
    parser.add_argument(
        "--width-multiplier", type=float, metavar="A", help="width factor, for models that have one (bdnet_mobilenet)"
    )
    parser.add_argument("--no-convert", action="store_true", help="skip the .tflite conversion")
    parser.add_argument("--overwrite", action="store_true", help="train again in a DIR holding a finished run")
    parser.add_argument("--tensorboard", action="store_true", help="also write TensorBoard logs")
    parser.add_argument(
        "--verbose", type=int, default=2, choices=(0, 1, 2), help="Keras output: 0 silent, 1 progress bar, 2 "
        "one line per epoch (default)",
    )


def check_train_usage(args, parser) -> None:
    """The distillation flags need ``--teacher``."""
    if args.teacher is None:
        flags = (
            ("--kd-label-weight", args.kd_label_weight), ("--kd-temperature", args.kd_temperature),
            ("--kd-reduction", args.kd_reduction),
        )
        for flag, value in flags:
            if value is not None:
                parser.error(f"{flag} needs --teacher PATH (distillation)")
