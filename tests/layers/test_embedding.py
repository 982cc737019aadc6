"""BCDNet-B's contextual dynamic embedding: hand-computed values, layer names, errors."""

import numpy as np
import pytest
import tensorflow as tf

from lq_ext.layers import embedding
from lq_ext.layers.embedding import (
    EMBEDDING_ACTIVATIONS,
    contextual_embedding,
    dynamic_bias,
    dynamic_threshold,
    embedding_units,
)
from lq_ext.testing import layer_classes

# A (1, 2, 2, 4) block input whose channel means are 2.5, −1, 2 and 0.
BLOCK_INPUT = np.stack(
    [
        np.array([[1.0, 2.0], [3.0, 4.0]]),
        np.full((2, 2), -1.0),
        np.array([[0.0, 0.0], [0.0, 8.0]]),
        np.array([[1.0, -1.0], [2.0, -2.0]]),
    ],
    axis=-1,
)[None].astype(np.float32)
W1 = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, -1.0]], np.float32)
B1 = np.array([0.0, 1.5], np.float32)
# e = relu(GAP(A)·W1 + b1) = relu([2.5 + 2, −1 + 0 + 1.5]) = [4.5, 0.5]
EMBEDDING = np.array([[[[4.5, 0.5]]]], np.float32)


def test_module_defines_no_layer_class():
    """Builders of standard Keras layers; the static threshold lives in layers/bias.py."""
    assert layer_classes(embedding) == set()


def _embedding_model(activation="relu"):
    inputs = tf.keras.Input((2, 2, 4))
    e = contextual_embedding(inputs, reduction=2, activation=activation, name="ctx")
    model = tf.keras.Model(inputs, e)
    model.get_layer("ctx_fc").set_weights([W1, B1])
    return model, inputs, e


def test_contextual_embedding_hand_computed():
    model, _, _ = _embedding_model()
    assert [layer.name for layer in model.layers[1:]] == ["ctx_pool", "ctx_fc"]
    np.testing.assert_allclose(model(BLOCK_INPUT).numpy(), EMBEDDING, rtol=1e-6)
    linear, _, _ = _embedding_model(activation=None)
    # without the ReLU a negative unit stays: GAP(−A) = [−2.5, 1, −2, 0] → [−4.5, 1 + 1.5]
    np.testing.assert_allclose(linear(-BLOCK_INPUT).numpy(), [[[[-4.5, 1.0 + 1.5]]]], rtol=1e-6)


def test_dynamic_threshold_and_bias_hand_computed():
    model, inputs, e = _embedding_model()
    shifted = dynamic_threshold(inputs, e, name="thr")
    added = dynamic_bias(shifted, e, name="dyn")
    full = tf.keras.Model(inputs, [shifted, added])
    assert full.get_layer("ctx_fc") is model.get_layer("ctx_fc")  # W₁, b₁ as set above
    # zero-initialised W₂, W₃ and b₂: BCDNet-B starts as BCDNet-A (A − 0, + 0)
    a_minus_alpha, plus_beta = full(BLOCK_INPUT)
    np.testing.assert_array_equal(a_minus_alpha.numpy(), BLOCK_INPUT)
    np.testing.assert_array_equal(plus_beta.numpy(), BLOCK_INPUT)
    w2 = np.array([[1.0, 0.0, 0.0, 0.5], [0.0, 2.0, 0.0, 0.0]], np.float32)
    b2 = np.array([0.0, 0.0, -1.0, 0.0], np.float32)
    w3 = np.array([[0.0, 0.0, 0.0, 1.0], [2.0, 0.0, 0.0, 0.0]], np.float32)
    full.get_layer("thr_fc").set_weights([w2, b2])
    full.get_layer("dyn_fc").set_weights([w3])
    # α = e·W2 + b2 = [4.5, 1.0, −1.0, 2.25]; β = e·W3 = [1.0, 0, 0, 4.5]
    alpha = np.array([4.5, 1.0, -1.0, 2.25], np.float32)
    beta = np.array([1.0, 0.0, 0.0, 4.5], np.float32)
    a_minus_alpha, plus_beta = full(BLOCK_INPUT)
    np.testing.assert_allclose(a_minus_alpha.numpy(), BLOCK_INPUT - alpha, rtol=1e-6)
    np.testing.assert_allclose(plus_beta.numpy(), BLOCK_INPUT - alpha + beta, rtol=1e-6)
    assert full.get_layer("dyn_fc").use_bias is False
    assert {"thr", "dyn"} <= {layer.name for layer in full.layers}


@pytest.mark.parametrize("channels, reduction, units", [(64, 4, 16), (10, 3, 3), (8, 8, 1)])
def test_embedding_units(channels, reduction, units):
    assert embedding_units(channels, reduction) == units


@pytest.mark.parametrize(
    "reduction, match",
    [
        (0, r"reduction must be a positive int \(hidden size = channels // reduction\), got reduction=0"),
        (2.5, r"reduction must be a positive int .* got reduction=2.5"),
        (True, r"reduction must be a positive int .* got reduction=True"),
        (16, r"reduction=16 leaves no hidden units for a 8-channel input .* 1 <= reduction <= 8"),
    ],
)
def test_embedding_units_errors(reduction, match):
    with pytest.raises(ValueError, match=match):
        embedding_units(8, reduction)


def test_bad_activation_names_the_choices():
    assert None in EMBEDDING_ACTIVATIONS and "relu" in EMBEDDING_ACTIVATIONS
    with pytest.raises(ValueError, match=r"activation must be one of \[None, 'relu', .*got activation='elu'"):
        contextual_embedding(tf.keras.Input((2, 2, 4)), activation="elu", name="ctx")
