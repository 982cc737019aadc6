"""What full-int8 mode costs on a trained network: float vs int8 flatbuffers on real data.

For each trained run directory (``model.h5`` written by ``lq_ext.training.train``, e.g.
by ``experiments/fashion_mnist_bdnet.py``), on full Fashion-MNIST:

1. convert the model as is (binary parts bit-packed, the rest float) and with
   ``convert(..., int8=True)``, calibrated on the first ``--calibration`` *training*
   images (never on test images);
2. run both flatbuffers and the Keras model on the ``--test`` test images (each
   conversion's own parity check, on the first 20 test images, is recorded, and a
   failed one does not stop the measurement);
3. with ``--fine-tune N``, also convert in int8 mode after quantization-aware
   fine-tuning of the int8 clone on the first N training images
   (:class:`lq_ext.converters.int8_tuning.Int8Distillation`: distillation from the
   float model, no labels), measured the same way as ``int8_tuned``;
4. append one JSON line per run to ``--results``: top-1 of each, the top-1 agreement
   of the int8 flatbuffer with the float Keras model, the MACs per op class and the
   file sizes.

    python experiments/int8_agreement.py --runs /work/runs/fashion_mnist/bdnet_seed0 ...
    python experiments/int8_agreement.py --fine-tune 10000 --runs ...
    python experiments/int8_agreement.py --summary
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

# isort: split
import lq_ext  # noqa: F401  (selects legacy Keras before TensorFlow loads)

# isort: split
import numpy as np
import tensorflow as tf

from lq_ext.converters import Int8Distillation, Int8Options, ParityError, convert, inspect
from lq_ext.converters.int8.tuning import DEFAULT_LEARNING_RATE
from lq_ext.converters.parity import run_interpreter
from lq_ext.data import load_dataset

HERE = Path(__file__).resolve().parent


def _arrays(split, limit):
    images, labels = [], []
    for x, y in load_dataset("fashion_mnist", split, batch_size=1000, limit=limit, shuffle=False, augment=False):
        images.append(x.numpy())
        labels.append(y.numpy())
    return np.concatenate(images), np.concatenate(labels)


def measure(run_dir: Path, calibration: np.ndarray, test: np.ndarray, labels: np.ndarray, tuning=None) -> dict:
    model = tf.keras.models.load_model(run_dir / "model.h5", compile=False)
    keras_logits = model.predict(test, batch_size=500, verbose=0)
    row = {"run": f"{run_dir.parent.name}/{run_dir.name}", "calibration_images": len(calibration), "test_images": len(test)}
    modes = {"float": {}, "int8": dict(int8=Int8Options(calibration=calibration))}
    if tuning is not None:
        modes["int8_tuned"] = dict(int8=Int8Options(calibration=calibration, fine_tune=tuning))
        row["fine_tune"] = repr(tuning)
    with tempfile.TemporaryDirectory() as tmp:
        for mode, kwargs in modes.items():
            started = time.time()
            try:
                result = convert(model, Path(tmp) / f"{mode}.tflite", samples=test[:20], **kwargs)
                parity, verified = result.parity, result.verified  # whole output or diagnosis
                with open(result.path, "rb") as handle:
                    flatbuffer = handle.read()
            except ParityError as error:  # measured anyway (converting again would tune again)
                parity, flatbuffer, verified = error.report, error.flatbuffer, False
            logits = run_interpreter(flatbuffer, test)
            ops = inspect(flatbuffer)
            row[mode] = {
                "top1": float((logits.argmax(1) == labels).mean()),
                "agreement_with_keras_float": float((logits.argmax(1) == keras_logits.argmax(1)).mean()),
                "size_bytes": len(flatbuffer),
                "macs_by_class": ops.macs_by_class,
                "float_op_types": sorted({o.op_type for o in ops.ops if o.op_class == "float"}),
                "parity_passed": verified,
                "parity_top1_agreement": parity.top1_agreement,
                "seconds": round(time.time() - started, 1),
            }
    row["keras_float_top1"] = float((keras_logits.argmax(1) == labels).mean())
    row["machine"] = f"{platform.machine()}, {platform.python_version()}, TF {tf.__version__}"
    return row


def summary(path: Path) -> str:
    lines = [
        "| run | Keras float top-1 | float .tflite top-1 | int8 .tflite top-1 | int8 agrees with float "
        "| int8 fine-tuned top-1 | fine-tuned agrees with float | float MACs left in int8 file "
        "| size float → int8 (KiB) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for line in path.read_text().splitlines():
        r = json.loads(line)
        f, q, t = r["float"], r["int8"], r.get("int8_tuned")
        tuned = f"{100 * t['top1']:.2f} | {100 * t['agreement_with_keras_float']:.2f} %" if t else "– | –"
        lines.append(
            f"| {r['run']} | {100 * r['keras_float_top1']:.2f} | {100 * f['top1']:.2f} | "
            f"{100 * q['top1']:.2f} | {100 * q['agreement_with_keras_float']:.2f} % | {tuned} | "
            f"{q['macs_by_class']['float']:,} | {f['size_bytes'] / 1024:.0f} → {q['size_bytes'] / 1024:.0f} |"
        )
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", nargs="*", type=Path, default=[], help="trained run directories (model.h5)")
    parser.add_argument("--calibration", type=int, default=500, help="training images that set the int8 ranges")
    parser.add_argument("--test", type=int, default=10000, help="test images to compare on")
    parser.add_argument("--results", type=Path, default=HERE / "results" / "int8_agreement.jsonl")
    parser.add_argument("--fine-tune", type=int, default=0, help="training images for int8 fine-tuning (0: none)")
    parser.add_argument("--epochs", type=int, default=1, help="fine-tuning epochs")
    parser.add_argument("--learning-rate", type=float, default=DEFAULT_LEARNING_RATE, help="fine-tuning learning rate")
    parser.add_argument("--summary", action="store_true", help="print the table of --results")
    args = parser.parse_args(argv)
    for run_dir in args.runs:
        if not (run_dir / "model.h5").is_file():
            parser.error(f"--runs {run_dir}: no model.h5 there (train it first).")
    if args.runs:
        calibration, _ = _arrays("train", args.calibration)
        test, labels = _arrays("test", args.test)
        tuning = None
        if args.fine_tune:
            images, _ = _arrays("train", args.fine_tune)
            tuning = Int8Distillation(images, epochs=args.epochs, learning_rate=args.learning_rate)
        for run_dir in args.runs:
            row = measure(run_dir, calibration, test, labels, tuning)
            with open(args.results, "a") as handle:
                handle.write(json.dumps(row) + "\n")
            print(json.dumps(row), flush=True)
    if args.summary:
        print(summary(args.results))


if __name__ == "__main__":
    main()
