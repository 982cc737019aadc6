"""A tiny labelled image set for training tests: four classes told apart by the mean
brightness of one quadrant of an 8×8 image."""

import numpy as np
import tensorflow as tf


def synthetic(n=128, batch=32, seed=0):
    """``n`` images (8, 8, 1) with labels 0–3, batched; label ``r·2 + c`` brightens quadrant (r, c)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 4, n)
    images = rng.normal(0, 0.3, (n, 8, 8, 1)).astype("float32")
    for i, label in enumerate(labels):
        r, c = divmod(int(label), 2)
        images[i, 4 * r : 4 * r + 4, 4 * c : 4 * c + 4] += 1.0
    return tf.data.Dataset.from_tensor_slices((images, labels.astype("int64"))).batch(batch)
