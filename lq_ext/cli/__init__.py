"""``lq-ext``: thin commands over the library (summary, convert, inspect, bench, demo, train, list).

Exit codes: 0 success, 1 a library error (message on stderr, no traceback),
2 bad command-line usage, including an unknown model name.
"""

from __future__ import annotations

import argparse
import sys


def _shape(text):
    try:
        shape = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected H,W,C integers, got {text!r}") from None
    if len(shape) != 3:
        raise argparse.ArgumentTypeError(f"expected three values H,W,C, got {text!r}")
    return shape


def _model_kwargs(args):
    kwargs = {}
    if args.input_shape is not None:
        kwargs["input_shape"] = args.input_shape
    if args.num_classes is not None:
        kwargs["num_classes"] = args.num_classes
    if getattr(args, "weights", None) is not None:
        kwargs["weights"] = args.weights
    return kwargs


def _add_model_arguments(parser, model_names):
    parser.add_argument("model", choices=model_names, metavar="MODEL", help="a registered model: " + ", ".join(model_names))
    parser.add_argument("--input-shape", type=_shape, metavar="H,W,C", help="input shape (default: the model's, e.g. 224,224,3)")
    parser.add_argument("--num-classes", type=int, metavar="N", help="classes of the classifier")


def _add_timing_arguments(parser):
    parser.add_argument("--threads", type=int, default=1, help="interpreter threads (default 1)")
    parser.add_argument("--warmup", type=int, default=3, help="warm-up runs (default 3)")
    parser.add_argument("--runs", type=int, default=20, help="timed runs (default 20)")


def build_parser() -> argparse.ArgumentParser:
    from lq_ext.bench.interpreter import KERNEL_CHOICES
    from lq_ext.zoo import list_models

    names = list_models()
    parser = argparse.ArgumentParser(
        prog="lq-ext", description="Binary-network research models for Larq and Larq Compute Engine."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    commands.add_parser("list", help="list the registered models")

    summary = commands.add_parser("summary", help="print a model's cost table (params, MACs, BOPs, OPs, ACE)")
    _add_model_arguments(summary, names)

    convert = commands.add_parser("convert", help="convert a model to a verified .tflite flatbuffer")
    _add_model_arguments(convert, names)
    convert.add_argument("output", help="the .tflite file to write")
    convert.add_argument("--weights", help="local weights file to load first")
    convert.add_argument("--target", default="arm", choices=("arm", "xcore"), help="LCE target (default arm)")
    convert.add_argument("--no-verify", action="store_true", help="skip the parity check on real images")
    convert.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    convert.add_argument(
        "--int8",
        action="store_true",
        help="also run everything that is not binary in int8 (calibrated on the real sample images)",
    )

    inspect = commands.add_parser("inspect", help="op report of a .tflite file (bit-packed / int8 / float MACs)")
    inspect.add_argument("path", help="a .tflite file")

    bench = commands.add_parser(
        "bench", help="time a .tflite file in LCE's Python interpreter, or with lce_benchmark_model (--tool)"
    )
    bench.add_argument("path", help="a .tflite file")
    _add_timing_arguments(bench)
    bench.add_argument("--kernel", default="auto", choices=KERNEL_CHOICES, help="LceBconv2d kernel (default auto)")
    bench.add_argument(
        "--tool", metavar="PATH",
        help="run LCE's lce_benchmark_model binary at PATH instead of the Python interpreter "
        "(with --ssh: its path on that machine)",
    )
    bench.add_argument("--ssh", metavar="USER@HOST", help="copy the model to USER@HOST with scp and run --tool there")
    bench.add_argument("--ssh-port", type=int, metavar="PORT", help="SSH port for --ssh (default: ssh's)")
    bench.add_argument("--op-profiling", action="store_true", help="with --tool: print the time per op type")
    bench.set_defaults(bench_parser=bench)

    demo = commands.add_parser(
        "demo", help="BDNetMobileNet end to end: summary, conversion, op report, parity, benchmark"
    )
    demo.add_argument("--output-dir", default="results", help="where flatbuffers and the table go (default results/)")
    demo.add_argument("--input-shape", type=_shape, metavar="H,W,C", help="input shape of every model (default 224,224,3)")
    demo.add_argument("--num-classes", type=int, metavar="N", help="classes of every model (default 1000)")
    _add_timing_arguments(demo)

    from lq_ext.cli.train import add_train_parser

    add_train_parser(commands, names)
    return parser


def _run(args) -> None:
    import lq_ext

    if args.command == "list":
        for name in lq_ext.zoo.list_models():
            spec = lq_ext.zoo.get_model_spec(name)
            print(f"{name:24s} {spec.description}")
    elif args.command == "summary":
        lq_ext.summary(lq_ext.zoo.create_model(args.model, **_model_kwargs(args)))
    elif args.command == "convert":
        spec = lq_ext.zoo.get_model_spec(args.model)
        model = spec.build(**_model_kwargs(args))
        result = lq_ext.converters.convert(
            model,
            args.output,
            target=args.target,
            engine="lce" if args.int8 else spec.engine,
            verify=not args.no_verify,
            overwrite=args.overwrite,
            int8=args.int8,
        )
        print(result)
    elif args.command == "inspect":
        print(lq_ext.converters.inspect(args.path))
    elif args.command == "bench":
        if args.tool is None:
            for flag, value in (("--ssh", args.ssh), ("--ssh-port", args.ssh_port), ("--op-profiling", args.op_profiling)):
                if value is not None and value is not False:
                    args.bench_parser.error(f"{flag} needs --tool PATH (the lce_benchmark_model binary)")
            print(
                lq_ext.bench.run(
                    args.path, threads=args.threads, warmup=args.warmup, runs=args.runs, kernel=args.kernel
                )
            )
        else:
            if args.ssh_port is not None and args.ssh is None:
                args.bench_parser.error("--ssh-port needs --ssh USER@HOST")
            print(
                lq_ext.bench.run_tool(
                    args.path,
                    args.tool,
                    ssh=args.ssh,
                    port=args.ssh_port,
                    threads=args.threads,
                    warmup=args.warmup,
                    runs=args.runs,
                    kernel=args.kernel,
                    op_profiling=args.op_profiling,
                )
            )
    elif args.command == "demo":
        from lq_ext.cli.demo import demo

        demo(
            args.output_dir,
            input_shape=args.input_shape,
            num_classes=args.num_classes,
            threads=args.threads,
            warmup=args.warmup,
            runs=args.runs,
        )
    elif args.command == "train":
        from lq_ext.cli.train import run_train

        run_train(args)


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)  # exits with 2 on bad usage / unknown model
    try:
        _run(args)
    except (ValueError, TypeError, KeyError, OSError, AssertionError) as error:
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        print(f"lq-ext {args.command}: error: {message}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
