"""``lq-ext``, the command-line launcher: a table of subcommands that loads nothing heavy.

``lq-ext --help``, ``lq-ext COMMAND --help``, ``lq-ext list`` and usage errors answer
without importing :mod:`lq_ext` or TensorFlow: the argument table lives here, the model
names come from ``lq_ext/zoo/catalog.py`` (read by file path), and the implementation of a
command (in :mod:`lq_ext.cli`) is imported only when that command runs. This is a package
of its own because ``import lq_ext`` loads TensorFlow (it registers every custom Keras
object on import, which ``tf.keras.models.load_model`` needs).

TensorFlow's C++ start-up logs (oneDNN, CUDA stubs, TensorRT) are off by default
(``TF_CPP_MIN_LOG_LEVEL=3`` unless the environment sets it); ``lq-ext --verbose COMMAND``
shows them.

Exit codes: 0 success, 1 a library error (message on stderr, no traceback),
2 bad command-line usage, including an unknown model name. Reference: docs/api/cli.md
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass

from lq_ext_cli import arguments
from lq_ext_cli.arguments import parse_shape
from lq_ext_cli.choices import load_catalog

__all__ = ["COMMANDS", "Command", "build_parser", "main", "parse_shape"]

#: ``TF_CPP_MIN_LOG_LEVEL`` without ``--verbose``: 3 hides TensorFlow's C++ INFO, WARNING
#: and ERROR start-up lines (the "Unable to register cuDNN factory" lines are ERRORs).
QUIET_TF_CPP_LOG_LEVEL = "3"
#: The errors a command reports on one line with exit status 1 (the library's bad-input errors).
LIBRARY_ERRORS = (ValueError, TypeError, KeyError, OSError, AssertionError)


@dataclass(frozen=True)
class Command:
    """One subcommand: its arguments, its usage check and where its implementation is.

    ``run`` is ``"module:function"``; the module is imported only when the command runs,
    and the function gets the parsed ``argparse.Namespace``.
    """

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser, tuple[str, ...]], None]
    run: str
    check_usage: Callable[[argparse.Namespace, argparse.ArgumentParser], None] | None = None
    description: str | None = None


COMMANDS = (
    Command("list", "list the registered models", arguments.add_list_arguments, "lq_ext_cli:list_models"),
    Command(
        "summary", "print a model's cost table (params, MACs, BOPs, OPs, ACE)",
        arguments.add_summary_arguments, "lq_ext.cli.commands:run_summary",
    ),
    Command(
        "convert", "convert a model to a verified .tflite flatbuffer",
        arguments.add_convert_arguments, "lq_ext.cli.commands:run_convert",
    ),
    Command(
        "inspect", "op report of a .tflite file (bit-packed / int8 / float MACs)",
        arguments.add_inspect_arguments, "lq_ext.cli.commands:run_inspect",
    ),
    Command(
        "diagnose", "per-layer, teacher-forced parity of a .tflite file against its Keras model",
        arguments.add_diagnose_arguments, "lq_ext.cli.commands:run_diagnose",
    ),
    Command(
        "bench", "time a .tflite file in LCE's Python interpreter, or with lce_benchmark_model (--tool)",
        arguments.add_bench_arguments, "lq_ext.cli.commands:run_bench", arguments.check_bench_usage,
    ),
    Command(
        "demo", "BDNetMobileNet end to end: summary, conversion, op report, parity, benchmark",
        arguments.add_demo_arguments, "lq_ext.cli.commands:run_demo",
    ),
    Command(
        "train", "train a model on a dataset with a paper's recipe; save, convert and verify it",
        arguments.add_train_arguments, "lq_ext.cli.train:run_train", arguments.check_train_usage,
        arguments.TRAIN_DESCRIPTION,
    ),
)


def add_command(commands, command: Command, model_names) -> argparse.ArgumentParser:
    """Register ``command`` on the ``commands`` sub-parsers; returns its parser."""
    parser = commands.add_parser(command.name, help=command.help, description=command.description)
    command.add_arguments(parser, model_names)
    parser.set_defaults(command_spec=command, command_parser=parser)
    return parser


def build_parser() -> argparse.ArgumentParser:
    """The ``lq-ext`` argument parser, built from :data:`COMMANDS` (TensorFlow-free)."""
    model_names = tuple(load_catalog().MODEL_NAMES)
    parser = argparse.ArgumentParser(
        prog="lq-ext", description="Binary-network research models for Larq and Larq Compute Engine."
    )
    parser.add_argument(
        "--verbose", dest="tf_logs", action="store_true",
        help="show TensorFlow's C++ start-up logs (hidden by default)",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        add_command(commands, command, model_names)
    return parser


def list_models(args) -> None:
    """``lq-ext list``: the registered models, one a line."""
    print(load_catalog().format_table(include_references=True))


def _implementation(run: str) -> Callable[[argparse.Namespace], None]:
    module, function = run.split(":")
    return getattr(importlib.import_module(module), function)


def main(argv=None) -> int:
    """Run ``lq-ext`` with ``argv`` (default ``sys.argv[1:]``); returns the exit status."""
    args = build_parser().parse_args(argv)  # exits with 2 on bad usage / unknown model
    if args.tf_logs:
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "0"
    else:  # before anything imports TensorFlow
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", QUIET_TF_CPP_LOG_LEVEL)
    command = args.command_spec
    if command.check_usage is not None:
        command.check_usage(args, args.command_parser)  # exits with 2
    run = _implementation(command.run)
    try:
        run(args)
    except LIBRARY_ERRORS as error:
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        print(f"lq-ext {args.command}: error: {message}", file=sys.stderr)
        return 1
    return 0
