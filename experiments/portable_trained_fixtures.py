"""The trained Fashion-MNIST BD-Net and naive baseline of the portable target's tests.

Trains ``BDNetMobileNet`` (small-input layout, ``width_multiplier=0.25``, 32×32×1, 10
classes, logits) and its naive baseline (``baseline=True``) on the full Fashion-MNIST
training set with ``experiments/fashion_mnist_bdnet.py`` (seed 0, 2 epochs, one thread,
:data:`TRAIN_ARGS`), then writes each final model's weights to
``tests/converters/fixtures/<config>_fashion_mnist.weights.h5`` and their test top-1 on
all 10,000 test images to ``tests/converters/fixtures/fashion_mnist_trained.json``
(read by ``tests/converters/test_portable_trained.py``).

    python experiments/portable_trained_fixtures.py           # train (≈ 10–15 min per model) + write
    python experiments/portable_trained_fixtures.py --no-train  # write from finished runs only

A killed training resumes (``lq_ext.training.train``); finished runs are skipped.
Guide: docs/guides/portable.md ("Trained BD-Net on Fashion-MNIST").
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import lq_ext  # noqa: F401  (selects legacy Keras before TensorFlow loads)

# isort: split
import numpy as np
import tensorflow as tf

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fashion_mnist_bdnet  # noqa: E402  (the training script beside this one)

from lq_ext.data import load_fashion_mnist, preprocess, to_cifar_shape  # noqa: E402

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RUNS = HERE / "runs" / "trained_fixture"
RESULTS = HERE / "results" / "fashion_mnist_bdnet_trained_fixture.jsonl"
FIXTURES = ROOT / "tests" / "converters" / "fixtures"
CONFIGS = ("bdnet", "naive")
#: The exact training command (``experiments/fashion_mnist_bdnet.py`` arguments).
TRAIN_ARGS = [
    "--configs", *CONFIGS, "--seeds", "0", "--epochs", "2", "--threads", "1", "--no-convert",
    "--output-dir", str(RUNS.relative_to(ROOT)), "--results", str(RESULTS.relative_to(ROOT)),
]  # fmt: skip
MAX_BYTES = 2 * 1024 * 1024


def test_arrays():
    (_, _), (images, labels) = load_fashion_mnist()
    return preprocess(to_cifar_shape(images)), labels


def write_fixture(config: str, images, labels) -> dict:
    trained = tf.keras.models.load_model(RUNS / f"{config}_seed0" / "model.h5", compile=False)
    fresh = fashion_mnist_bdnet.build(config, width_multiplier=0.25, input_shape=(32, 32, 1), num_classes=10)
    path = FIXTURES / f"{config}_fashion_mnist.weights.h5"
    trained.save_weights(str(path))
    fresh.load_weights(str(path))  # what the tests do: the same layout, the same outputs
    logits = trained.predict(images, batch_size=500, verbose=0)
    np.testing.assert_array_equal(fresh.predict(images[:500], batch_size=500, verbose=0), logits[:500])
    size = path.stat().st_size
    if size >= MAX_BYTES:
        raise RuntimeError(f"{path} is {size:,} bytes, above the {MAX_BYTES:,} allowed for a test fixture")
    row = next(json.loads(line) for line in RESULTS.read_text().splitlines() if f'"config": "{config}"' in line)
    return {
        "file": path.name,
        "bytes": size,
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "test_top1": float((logits.argmax(1) == labels).mean()),
        "test_images": len(labels),
        "test_top1_first_200": float((logits[:200].argmax(1) == labels[:200]).mean()),
        "epochs": row["epochs"],
        "seed": row["seed"],
        "train_minutes": round(row["seconds"] / 60, 1),
        "trained": row["finished"],
        "machine": row["machine"],
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-train", dest="train", action="store_false", help="only write the fixtures")
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=CONFIGS,
                        help="write these fixtures (the others' records are kept)")
    args = parser.parse_args(argv)
    if args.train:
        fashion_mnist_bdnet.main(TRAIN_ARGS)
    images, labels = test_arrays()
    FIXTURES.mkdir(parents=True, exist_ok=True)
    path = FIXTURES / "fashion_mnist_trained.json"
    configs = json.loads(path.read_text())["configs"] if path.is_file() else {}
    configs.update({config: write_fixture(config, images, labels) for config in args.configs})
    record = {
        "command": "python experiments/portable_trained_fixtures.py  # = python "
        "experiments/fashion_mnist_bdnet.py " + " ".join(TRAIN_ARGS),
        "model": "BDNetMobileNet(input_shape=(32, 32, 1), num_classes=10, classifier_activation=None, "
        "width_multiplier=0.25[, baseline=True])",
        "written": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "configs": {config: configs[config] for config in CONFIGS if config in configs},
    }
    path.write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
