"""LCE's binary conv with same-zero padding on a feature map smaller than its kernel.

One ``QuantConv2D`` (3×3, ``padding="same"``, binary inputs and weights) converted with
``lq_ext.converters.engines.to_flatbuffer`` and run in LCE's interpreter against Keras on
random inputs.  Found by the PokeBNN Fashion-MNIST study (docs/results/fashion_mnist_pokebnn.md):
its stage 4 runs a 3×3 stride-2 binary conv on 2×2 maps, and every seed-0 conversion
failed parity there.  ``pad_values=1.0`` (same-one, LCE's native padding) is exact.

    python experiments/lce_same_zero_small_input.py
"""

from __future__ import annotations

import argparse

# isort: split
import lq_ext  # noqa: F401  (selects legacy Keras before TensorFlow loads)

# isort: split
import larq as lq
import numpy as np
import tensorflow as tf
from larq_compute_engine.tflite.python.interpreter import Interpreter

from lq_ext.converters.engines import to_flatbuffer

CASES = [(2, 2, 0.0), (2, 1, 0.0), (1, 1, 0.0), (3, 2, 0.0), (4, 2, 0.0), (2, 2, 1.0), (1, 1, 1.0)]


def main():
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    rng = np.random.default_rng(0)
    print("| input | stride | pad_values | output | max abs(tflite − keras) | outputs differing |")
    print("|---|---:|---:|---|---:|---:|")
    for size, stride, pad in CASES:
        inputs = tf.keras.Input((size, size, 64))
        outputs = lq.layers.QuantConv2D(
            32, 3, strides=stride, padding="same", pad_values=pad, use_bias=False,
            input_quantizer="ste_sign", kernel_quantizer="ste_sign", kernel_constraint="weight_clip",
        )(inputs)
        model = tf.keras.Model(inputs, outputs)
        x = rng.standard_normal((8, size, size, 64)).astype("float32")
        tflite = Interpreter(to_flatbuffer(model).data).predict(x)
        keras = model.predict(x, verbose=0)
        diff = np.abs(tflite - keras)
        print(f"| {size}×{size} | {stride} | {pad} | {keras.shape[1]}×{keras.shape[2]} | {diff.max():g} | "
              f"{np.mean(diff > 1e-3):.0%} |")


if __name__ == "__main__":
    main()
