"""How far TFLite's int8 requantization moves a conv output from its exact value.

TFLite scales an int8 conv's int32 accumulator ``acc`` to the output grid with a fixed-point
multiplier M = s_in·s_w/s_out = M₀·2^e (M₀ in [½, 1)): it rounds ``acc·M₀`` to an integer
first and divides by 2^−e after, rounding again. For e < 0 the first rounding moves the
result by up to 2^(e−1) steps, so an output may lie up to ½ + 2^(e−1) steps from
``acc·M`` instead of ½ (0.75 for e = −1): a one-step difference from a float clone that
rounds once, far from the midpoint between the two grid values. PokeBNN's SE convs run at
e = −2 … 0 (a 4-bit input times a 4-bit kernel, an 8-bit output).

One 1×1 conv (96 → 192 channels, uint4 input, 4-bit kernel, int8 output) converted with
``lq_ext.converters.engines.to_flatbuffer``, its output bound set to give each exponent;
the conv's int8 input and output are read from the flatbuffer (LCE's interpreter, the
optimized kernels ``convert(verify=True)`` uses) and compared with ``acc·M`` computed from
the file's own scales.

    python experiments/tflite_requantization.py
"""

from __future__ import annotations

import argparse
import math

# isort: split
import lq_ext  # noqa: F401  (selects legacy Keras before TensorFlow loads)

# isort: split
import larq as lq
import numpy as np
import tensorflow as tf

from lq_ext.converters import parity
from lq_ext.converters._flatbuffer import constant, parse, quantization
from lq_ext.converters._flatbuffer_edit import with_outputs
from lq_ext.converters.engines import to_flatbuffer
from lq_ext.fake_quant import IntActivationQuantizer, IntWeightQuantizer, calibrate

CHANNELS_IN, CHANNELS_OUT, SAMPLES = 96, 192, 64
#: Output bounds, as multiples of the calibrated one: M over roughly 0.2 … 3.
OUTPUT_SCALES = (0.25, 0.5, 1.0, 2.0, 4.0)


def _model():
    inputs = tf.keras.Input((1, 1, CHANNELS_IN))
    x = IntActivationQuantizer(8, name="pre")(inputs)
    x = lq.layers.QuantConv2D(CHANNELS_OUT, 1, input_quantizer=IntActivationQuantizer(4, signed=False),
                              kernel_quantizer=IntWeightQuantizer(4), name="conv")(x)
    x = IntActivationQuantizer(8, name="out")(x)
    return tf.keras.Model(inputs, tf.keras.layers.Activation("sigmoid")(x))


def _conv_tensors(flatbuffer):
    (conv,) = [op for op in parse(flatbuffer).operators if op.op_type == "CONV_2D"]
    x, w, _, y = (*conv.inputs, conv.outputs[0])
    kernel = constant(flatbuffer, w).reshape(CHANNELS_OUT, -1).astype(np.int64)
    params = {name: tuple(v[0] for v in quantization(flatbuffer, i)) for name, i in (("x", x), ("y", y))}
    return x, y, kernel, quantization(flatbuffer, w)[0], params


def main():
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    rng = np.random.default_rng(0)
    tf.keras.utils.set_random_seed(0)
    x = np.maximum(rng.normal(0, 0.15, (SAMPLES, 1, 1, CHANNELS_IN)), 0).astype(np.float32)
    model = _model()
    calibrate(model, x)
    calibrated = float(model.get_layer("out").bound.numpy())
    print("| output bound | exponents e of M | max \\|tflite − acc·M\\| (steps) | ½ + 2^(e−1), e < 0 | outputs one step from round(acc·M) |")
    print("|---:|---|---:|---:|---:|")
    for scale in OUTPUT_SCALES:
        model.get_layer("out").bound.assign(calibrated * scale)
        flatbuffer = to_flatbuffer(model).data
        x_index, y_index, kernel, w_scales, params = _conv_tensors(flatbuffer)
        _, x_q, y_q = parity._as_list(parity.run_interpreter(with_outputs(flatbuffer, [x_index, y_index]), x))
        (s_x, z_x), (s_y, z_y) = params["x"], params["y"]
        multiplier = s_x * w_scales / s_y
        exact = (x_q.reshape(SAMPLES, -1).astype(np.int64) - z_x) @ kernel.T * multiplier + z_y
        y = y_q.reshape(SAMPLES, -1).astype(np.float64)
        inside = (exact > -127.5) & (exact < 126.5)  # not saturated
        exponents = sorted({math.frexp(m)[1] for m in multiplier})
        bound = 0.5 + 2.0 ** (min(exponents) - 1) if min(exponents) < 0 else 0.5
        print(f"| {scale:g} × calibrated | {min(exponents)} … {max(exponents)} | {np.abs(y - exact)[inside].max():.3f} | "
              f"{bound:.3f} | {np.mean(y[inside] != np.round(exact[inside])):.1%} |")


if __name__ == "__main__":
    main()
