"""Helpers for checking models without trained weights."""

import larq as lq
import numpy as np


def randomize_weights(model, *, seed=0, scale=0.5):
    """Give every weight N(0, scale²) values, with BatchNorm variances kept positive.

    Freshly built models have BatchNorm statistics of exactly 0 and 1, which make binary
    activations sit exactly on their thresholds; random statistics make conversion and
    parity checks realistic.
    """
    rng = np.random.default_rng(seed)
    # A quantizer's non-trainable state (calibrated bounds, the weight-binarization
    # switch) is configuration, not a weight: it keeps its value.
    state = {
        id(variable)
        for layer in model._flatten_layers(include_self=False)
        if isinstance(layer, lq.quantizers.Quantizer)
        for variable in layer.non_trainable_weights
    }
    weights = []
    for variable in model.weights:
        value = rng.normal(scale=scale, size=variable.shape)
        if id(variable) in state:
            value = variable.numpy()
        elif "moving_variance" in variable.name:
            value = np.abs(value) + 0.5
        weights.append(value.astype(np.float32))
    model.set_weights(weights)
