"""Helpers for checking models without trained weights."""

import numpy as np


def randomize_weights(model, *, seed=0, scale=0.5):
    """Give every weight N(0, scale²) values, with BatchNorm variances kept positive.

    Freshly built models have BatchNorm statistics of exactly 0 and 1, which make binary
    activations sit exactly on their thresholds; random statistics make conversion and
    parity checks realistic.
    """
    rng = np.random.default_rng(seed)
    weights = []
    for variable in model.weights:
        value = rng.normal(scale=scale, size=variable.shape)
        if "moving_variance" in variable.name:
            value = np.abs(value) + 0.5
        weights.append(value.astype(np.float32))
    model.set_weights(weights)
