"""Random weights for checking models that have no trained weights."""

import larq as lq
import numpy as np

__all__ = ["randomize_weights"]


def randomize_weights(model, *, seed=0, scale=0.5):
    """Give every weight N(0, scale²) values, with BatchNorm variances kept positive.

    Freshly built models have BatchNorm statistics of exactly 0 and 1, which make binary
    activations sit exactly on their thresholds; random statistics make conversion and
    parity checks realistic.
    """
    rng = np.random.default_rng(seed)
    # A quantizer's non-trainable state (calibrated bounds, the weight-binarization
    # switch) is configuration, not a weight: it keeps its value.  ``submodules`` is
    # tf.Module's public recursive walk: nested models, layers and their quantizers.
    state = {
        id(variable)
        for module in model.submodules
        if isinstance(module, lq.quantizers.Quantizer)
        for variable in module.non_trainable_weights
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
