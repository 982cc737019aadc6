"""The ``lq-ext`` commands that need the library: summary, convert, inspect, diagnose, bench, demo.

Each ``run_*`` takes the ``argparse.Namespace`` that :mod:`lq_ext_cli` parsed (and whose
usage it checked) and prints its result; library errors propagate, and the launcher
prints them on one line with exit status 1. ``train`` is in :mod:`lq_ext.cli.train`.
"""

from __future__ import annotations

import os

import tensorflow as tf

import lq_ext
from lq_ext.cli.demo import demo

__all__ = ["model_kwargs", "run_bench", "run_convert", "run_demo", "run_diagnose", "run_inspect", "run_summary"]


def model_kwargs(args) -> dict:
    """The zoo keyword arguments the command line set (input shape, classes, weights and
    every ``--model-arg NAME=VALUE``)."""
    kwargs = dict(getattr(args, "model_arg", None) or ())
    if args.input_shape is not None:
        kwargs["input_shape"] = args.input_shape
    if args.num_classes is not None:
        kwargs["num_classes"] = args.num_classes
    if getattr(args, "weights", None) is not None:
        kwargs["weights"] = args.weights
    return kwargs


def run_summary(args) -> None:
    lq_ext.summary(lq_ext.zoo.create_model(args.model, **model_kwargs(args)))


def run_convert(args) -> None:
    spec = lq_ext.zoo.get_model_spec(args.model)
    result = lq_ext.converters.convert(
        spec.build(**model_kwargs(args)),
        args.output,
        target=args.target,
        engine="builtin" if getattr(args, "portable", False) else "lce" if args.int8 else spec.engine,
        via=args.via,
        verify=not args.no_verify,
        overwrite=args.overwrite,
        int8=args.int8,
    )
    print(result)


def run_inspect(args) -> None:
    print(lq_ext.converters.inspect(args.path))


def run_diagnose(args) -> None:
    """``lq-ext diagnose MODEL FILE``: MODEL is a saved Keras model or a registered name;
    with ``--int8`` FILE is compared with the int8 clone ``lq-ext convert --int8`` made."""
    if os.path.exists(args.model):
        model = tf.keras.models.load_model(args.model, compile=False)
    else:
        model = lq_ext.zoo.get_model_spec(args.model).build(**model_kwargs(args))
    if args.int8:
        model, _ = lq_ext.converters.int8_reference(model)
    print(lq_ext.converters.diagnose(model, args.path, kernel=args.kernel))


def run_bench(args) -> None:
    timing = {"threads": args.threads, "warmup": args.warmup, "runs": args.runs, "kernel": args.kernel}
    if args.tool is None:
        print(lq_ext.bench.run(args.path, **timing))
    else:
        print(
            lq_ext.bench.run_tool(
                args.path, args.tool, ssh=args.ssh, port=args.ssh_port, op_profiling=args.op_profiling, **timing
            )
        )


def run_demo(args) -> None:
    demo(
        args.output_dir,
        input_shape=args.input_shape,
        num_classes=args.num_classes,
        threads=args.threads,
        warmup=args.warmup,
        runs=args.runs,
    )
