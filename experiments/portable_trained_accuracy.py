"""The trained Fashion-MNIST BD-Net (and naive baseline) on the portable target: flash,
TFLite Micro arena, op resolver list and test top-1 per runtime.

For each trained fixture of ``tests/converters/fixtures`` (written by
``experiments/portable_trained_fixtures.py``), calibrated on the first 500 training images
(as docs/results/int8.md): ``convert(..., int8=True)`` (LCE, bit-packed binary convs, run
in LCE's interpreter) and ``convert(..., engine="builtin")`` (the portable file, run in
LiteRT with XNNPACK and in TFLite Micro); top-1 on the first ``--test`` test images
(TFLite Micro, x86 reference kernels at ~30–50 ms an image: the first ``--micro`` only)
and top-1 agreement with the float Keras model. Appends one JSON line per model to
``--results`` and prints the table.

    python experiments/portable_trained_accuracy.py [--configs bdnet naive] [--test 10000] [--micro 1000]
    python experiments/portable_trained_accuracy.py --summary
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import lq_ext  # noqa: F401  (selects legacy Keras before TensorFlow loads)

# isort: split

from lq_ext.bench.compare import machine_description
from lq_ext.bench.runtimes import litert_outputs, micro_outputs
from lq_ext.converters import Int8Options, convert
from lq_ext.converters.parity import run_interpreter

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "converters"))
from trained_fashion_mnist import fashion_images, record, trained_model  # noqa: E402

RESULTS = HERE / "results" / "portable_trained.jsonl"


def measure(config, calibration, test, labels, n_micro):
    model = trained_model(config)
    started = time.time()
    floats = model.predict(test, batch_size=500, verbose=0).argmax(1)
    row = {"config": config, "test_images": len(test), "micro_images": n_micro, "calibration_images": len(calibration)}

    def figures(predicted, n=None):
        n = len(predicted) if n is None else n
        return {"top1": float((predicted == labels[:n]).mean()), "agrees_with_float": float((predicted == floats[:n]).mean())}

    row["float"] = figures(floats)
    options = Int8Options(calibration=calibration)
    with tempfile.TemporaryDirectory() as tmp:
        int8 = convert(model, Path(tmp) / "int8.tflite", int8=options, samples=test[:200])
        portable = convert(model, Path(tmp) / "portable.tflite", engine="builtin", int8=options, samples=test[:200])
        int8_file, portable_file = (Path(result.path).read_bytes() for result in (int8, portable))
    row["int8_lce"] = {**figures(run_interpreter(int8_file, test).argmax(1)), "bytes": len(int8_file),
                       "custom_ops": list(int8.ops.custom_ops)}  # fmt: skip
    row["portable_litert"] = {**figures(litert_outputs(portable_file, test).argmax(1)), "bytes": len(portable_file),
                              "custom_ops": list(portable.ops.custom_ops), "ops": list(portable.ops.builtin_ops)}  # fmt: skip
    micro, arena = micro_outputs(portable_file, test[:n_micro])
    row["portable_micro"] = {**figures(micro.argmax(1)), "arena_bytes": arena}
    row["portable_litert_first_micro"] = figures(litert_outputs(portable_file, test[:n_micro]).argmax(1))
    row["machine"] = machine_description()
    row["finished"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    row["minutes"] = round((time.time() - started) / 60, 1)
    row["fixture_sha256"] = record()["configs"][config]["sha256"]
    return row


def summary(rows):
    lines = [
        "| model | flash: portable file (bytes) | LCE int8 file (bytes) | TFLite Micro arena (bytes) "
        "| Keras float top-1 | LCE int8 mode top-1 (agrees with float) | portable in LiteRT top-1 (agrees) "
        "| portable in TFLite Micro top-1 (agrees; LiteRT on the same images) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        f, q, p, m, pm = r["float"], r["int8_lce"], r["portable_litert"], r["portable_micro"], r["portable_litert_first_micro"]
        lines.append(
            f"| {r['config']} | {p['bytes']:,} | {q['bytes']:,} | {m['arena_bytes']:,} | {100 * f['top1']:.2f} | "
            f"{100 * q['top1']:.2f} ({100 * q['agrees_with_float']:.1f} %) | "
            f"{100 * p['top1']:.2f} ({100 * p['agrees_with_float']:.1f} %) | "
            f"{100 * m['top1']:.1f} ({100 * m['agrees_with_float']:.1f} %; {100 * pm['top1']:.1f}) on {r['micro_images']:,} |"
        )
    ops = sorted({", ".join(r["portable_litert"]["ops"]) for r in rows})
    return "\n".join(lines + ["", "Op resolver (builtin ops of the portable files): " + "; ".join(ops)])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", nargs="+", default=["bdnet", "naive"], choices=["bdnet", "naive"])
    parser.add_argument("--test", type=int, default=10000, help="test images for LiteRT, LCE and Keras")
    parser.add_argument("--micro", type=int, default=1000, help="of them, run in TFLite Micro")
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--summary", action="store_true", help="print the table of --results and exit")
    args = parser.parse_args(argv)
    if not args.summary:
        calibration, _ = fashion_images("train", 500)
        test, labels = fashion_images("test", args.test)
        for config in args.configs:
            row = measure(config, calibration, test, labels, min(args.micro, args.test))
            with open(args.results, "a") as handle:
                handle.write(json.dumps(row) + "\n")
            print(json.dumps(row), flush=True)
    rows = [json.loads(line) for line in args.results.read_text().splitlines() if line.strip()]
    print(summary(rows))


if __name__ == "__main__":
    main()
