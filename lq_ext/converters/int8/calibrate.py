"""Calibration of full-int8 mode: each tensor's int8 range from the values the float
model produces on real images.

Guide: docs/guides/int8.md
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

__all__ = ["DEFAULT_PERCENTILE", "INPUT_RANGE_MARGIN", "calibrate_ranges"]

#: Default :func:`~lq_ext.converters.int8.int8_model` percentile: on the trained
#: Fashion-MNIST BD-Net (α = 0.25, 1 epoch, 500 training images for calibration, 2,000
#: test images, int8 Keras clone) top-1 was 57.5 % with min / max ranges, 68.3 % at
#: 99.99, 70.8 % at 99.9, 67.9 % at 99, against 70.85 % in float: clipping the rare large
#: values buys resolution near the binarizers' thresholds.
DEFAULT_PERCENTILE = 99.9

#: Widening of the model input's range.  Pixels mapped to [−1, 1] (p / 127.5 − 1) lie
#: exactly halfway between the grid points of the int8 range [−1, 1] (step 2/255, zero
#: exact); TFLite's QUANTIZE rounds such ties away from zero, TF's fake-quant op upwards,
#: so half of the negative pixels differed by one step between the flatbuffer and the
#: Keras clone (measured on Fashion-MNIST).  A range 0.1 % wider moves every pixel off
#: the ties, and both round alike.
INPUT_RANGE_MARGIN = 1.001

#: Values kept per tensor for the percentiles (a uniform sample of each batch).
_SAMPLE_PER_TENSOR = 2**18


def calibrate_ranges(model, probes, images, batch_size, input_names, percentile) -> dict[str, tuple[float, float]]:
    """``{key: (low, high)}``: the ``percentile`` of each probed tensor's values (its
    ``100 − percentile`` below zero), widened to include 0; the input's exact min / max
    (the images are what they are), widened by :data:`INPUT_RANGE_MARGIN`.

    ``probes`` maps keys to tensors of ``model`` (the structural rebuild, without
    ranges); ``input_names`` are the keys of the model inputs.
    """
    keys = list(probes)
    probe = tf.keras.Model(model.inputs, [probes[k] for k in keys])
    batches = -(-len(images) // batch_size)
    rng = np.random.default_rng(0)
    samples = {k: [] for k in keys}
    extremes = {k: (0.0, 0.0) for k in keys}
    for start in range(0, len(images), batch_size):
        values = probe(images[start : start + batch_size], training=False)
        values = values if isinstance(values, (list, tuple)) else [values]
        for key, value in zip(keys, values):
            flat = value.numpy().reshape(-1)
            extremes[key] = (min(extremes[key][0], float(flat.min())), max(extremes[key][1], float(flat.max())))
            keep = max(_SAMPLE_PER_TENSOR // batches, 1)
            samples[key].append(flat if flat.size <= keep else rng.choice(flat, keep, replace=False))
    ranges = {}
    for key in keys:
        if key in input_names or percentile == 100:
            low, high = extremes[key]
        else:
            values = np.concatenate(samples[key])
            low = min(0.0, float(np.percentile(values, 100.0 - percentile)))
            high = max(0.0, float(np.percentile(values, percentile)))
        # A tensor that is 0 on every image: any range holds it exactly.
        ranges[key] = (low, high) if high > low else (-1.0, 1.0)
    for name in input_names:
        ranges[name] = tuple(value * INPUT_RANGE_MARGIN for value in ranges[name])
    return ranges
