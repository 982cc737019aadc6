"""One test harness for every Keras layer and quantizer, after larq's ``testing_utils.layer_test``.

:func:`layer_test` builds a layer from its class and keyword arguments and checks, in
this order:

1. **weights**: ``set_weights`` then ``get_weights`` gives the values back (by default
   the trainable weights are moved off their initial values, so that a zero-initialised
   bias takes part in the checks below);
2. **functional use**: the output of a functional model has the model's declared output
   shape (and equals ``expected_output`` when given);
3. **configuration**: ``from_config(get_config())`` gives the same configuration; the
   Keras (de)serialization by registered name gives the same class; a model rebuilt
   from the functional model's configuration, with the same weights, gives *equal*
   outputs;
4. **Sequential use** (single-input layers): the layer rebuilt from its configuration
   in a ``Sequential`` model gives equal outputs;
5. **one training step**: with ``training=True`` the gradients of a loss with respect
   to every trainable weight and to the inputs exist and are finite, and one
   ``train_on_batch`` moves every trainable weight.

Larq's quantizers are Keras layers, so quantizers go through the same harness.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

__all__ = ["layer_classes", "layer_test"]


def layer_classes(module) -> set[type]:
    """The Keras layer classes (quantizers included) that ``module`` itself defines."""
    return {
        value
        for value in vars(module).values()
        if isinstance(value, type)
        and issubclass(value, tf.keras.layers.Layer)
        and value.__module__ == module.__name__
    }


def _inputs(input_shape):
    """``(keras inputs, is_multi)`` for one shape or a list of shapes (batch excluded)."""
    if isinstance(input_shape, list):
        return [tf.keras.Input(tuple(shape)) for shape in input_shape], True
    return tf.keras.Input(tuple(input_shape)), False


def _random_data(input_shape, batch_size, rng):
    if isinstance(input_shape, list):
        return [_random_data(shape, batch_size, rng) for shape in input_shape]
    return rng.normal(size=(batch_size, *input_shape)).astype(np.float32)


def _assert_equal(actual, expected, what):
    np.testing.assert_array_equal(np.asarray(actual), np.asarray(expected), err_msg=what)


def _check_weights(layer, weights, rng):
    """Set ``weights`` (default: the trainable ones moved by N(0, 0.1²), the rest kept);
    they must read back unchanged."""
    if weights is None:
        trainable = {id(variable) for variable in layer.trainable_weights}
        values = [
            (value + rng.normal(scale=0.1, size=value.shape)).astype(value.dtype)
            if id(variable) in trainable
            else value
            for variable, value in zip(layer.weights, layer.get_weights())
        ]
    else:
        values = [np.asarray(value, dtype=np.float32) for value in weights]
    layer.set_weights(values)
    read = layer.get_weights()
    assert len(read) == len(values), f"{layer.name}: {len(read)} weights read, {len(values)} set"
    for value, back, variable in zip(values, read, layer.weights):
        _assert_equal(back, value, f"{layer.name}: weight {variable.name} not read back as set")


def _check_config(layer_cls, layer, model, data, output):
    config = layer.get_config()
    clone = layer_cls.from_config(config)
    assert type(clone) is layer_cls
    assert clone.get_config() == config, (
        f"{layer_cls.__name__}.from_config(get_config()) changes the configuration:\n"
        f"{config}\n!=\n{clone.get_config()}"
    )
    restored = tf.keras.layers.deserialize(tf.keras.layers.serialize(layer))
    assert type(restored) is layer_cls, f"{layer_cls.__name__} is not registered under its own name"
    rebuilt = tf.keras.Model.from_config(model.get_config())
    rebuilt.set_weights(model.get_weights())
    _assert_equal(rebuilt(data), output, "model rebuilt from its configuration: outputs differ")
    return config


def _check_sequential(layer_cls, config, input_shape, weights, data, output):
    sequential = tf.keras.Sequential([tf.keras.Input(tuple(input_shape)), layer_cls.from_config(config)])
    sequential.set_weights(weights)
    _assert_equal(sequential(data), output, "Sequential model: outputs differ from the functional one")


def _check_training_step(model, data, output, rng):
    """Finite gradients for every trainable weight and the inputs; one step moves them."""
    inputs = [tf.constant(x) for x in (data if isinstance(data, list) else [data])]
    target = rng.normal(size=np.shape(output)).astype(np.float32)
    with tf.GradientTape() as tape:
        tape.watch(inputs)
        prediction = model(inputs if isinstance(data, list) else inputs[0], training=True)
        loss = tf.reduce_mean(tf.square(prediction - target))
    gradients = tape.gradient(loss, [*model.trainable_weights, *inputs])
    names = [variable.name for variable in model.trainable_weights]
    names += [f"input {i}" for i in range(len(inputs))]
    for name, gradient in zip(names, gradients):
        assert gradient is not None, f"no gradient for {name}"
        assert np.all(np.isfinite(tf.convert_to_tensor(gradient).numpy())), f"non-finite gradient for {name}"

    model.compile(optimizer=tf.keras.optimizers.SGD(learning_rate=0.1), loss="mse")
    before = [variable.numpy().copy() for variable in model.trainable_weights]
    model.train_on_batch(data, target)
    for variable, old in zip(model.trainable_weights, before):
        assert np.any(variable.numpy() != old), f"one training step left {variable.name} unchanged"


def layer_test(
    layer_cls,
    kwargs=None,
    *,
    input_shape,
    input_data=None,
    weights=None,
    expected_output=None,
    batch_size: int = 2,
    seed: int = 0,
    rtol: float = 1e-7,
    atol: float = 0.0,
):
    """Run the checks of the module docstring on ``layer_cls(**kwargs)``; returns its output.

    # Arguments
        layer_cls: a Keras layer class (or a Larq quantizer class).
        kwargs: constructor arguments.
        input_shape: the input shape without the batch axis; a list of shapes for a
            layer called on a list of tensors (no Sequential check then).
        input_data: inputs with the batch axis (default: N(0, 1) samples).
        weights: the layer's weights (``get_weights`` order); default: its initial
            weights with the trainable ones moved by N(0, 0.1²), so that zero-initialised
            biases take part in the comparisons.
        expected_output: compared to the output with ``rtol`` / ``atol`` (NumPy's
            ``assert_allclose`` defaults).
        batch_size, seed: of the default input data and of the weight perturbation.

    # Returns
        The functional model's output on the inputs, a NumPy array.
    """
    kwargs = dict(kwargs or {})
    rng = np.random.default_rng(seed)
    data = _random_data(input_shape, batch_size, rng) if input_data is None else input_data
    keras_inputs, multi = _inputs(input_shape)

    layer = layer_cls(**kwargs)
    model = tf.keras.Model(keras_inputs, layer(keras_inputs))
    _check_weights(layer, weights, rng)

    output = model(data).numpy()
    declared = model.output_shape
    assert len(output.shape) == len(declared) and all(
        size is None or size == actual for size, actual in zip(declared[1:], output.shape[1:])
    ), f"{layer_cls.__name__}: output shape {output.shape} but the model declares {declared}"
    if expected_output is not None:
        np.testing.assert_allclose(output, expected_output, rtol=rtol, atol=atol)

    config = _check_config(layer_cls, layer, model, data, output)
    if not multi:
        _check_sequential(layer_cls, config, input_shape, model.get_weights(), data, output)
    _check_training_step(model, data, output, rng)
    return output
