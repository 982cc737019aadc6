"""lq_ext.graph: the one graph-rewrite mechanism, on small hand-made models."""

import numpy as np
import pytest
import tensorflow as tf

from lq_ext.graph import (
    RebuildError,
    all_layers,
    apply,
    consumers,
    map_layers,
    producers,
    rebuild,
    source_layer,
)


def _dense(units, name, kernel, bias=None):
    """A Dense layer whose weights are set to ``kernel`` (and ``bias``) once it is built."""
    layer = tf.keras.layers.Dense(units, use_bias=bias is not None, name=name)
    layer.build((None, np.shape(kernel)[0]))
    layer.set_weights([np.asarray(kernel, np.float32)] + ([np.asarray(bias, np.float32)] if bias is not None else []))
    return layer


def _nested_model():
    """input(2) → outer Dense → [inner Sequential: Dense → ReLU] → output."""
    inner = tf.keras.Sequential(
        [tf.keras.Input((2,), name="inner_in"), _dense(2, "inner_dense", [[1.0, -1.0], [2.0, 0.5]], [0.5, -0.5]),
         tf.keras.layers.ReLU(name="inner_relu")],
        name="inner",
    )
    inputs = tf.keras.Input((2,), name="x")
    x = _dense(2, "outer_dense", [[0.0, 1.0], [1.0, 0.0]], [1.0, 2.0])(inputs)
    return tf.keras.Model(inputs, inner(x), name="outer")


X = np.array([[1.0, -2.0], [0.5, 3.0]], np.float32)


def test_rebuild_without_rule_copies_layers_names_and_outputs():
    model = _nested_model()
    clone = rebuild(model)
    assert clone is not model and clone.name == "outer"
    # a (nested) Sequential comes back functional: its input layer is now one of its layers
    names = [layer.name for layer in all_layers(clone)]
    assert names == ["x", "outer_dense", "inner", "inner_in", "inner_dense", "inner_relu"]
    assert [name for name in names if name != "inner_in"] == [layer.name for layer in all_layers(model)]
    assert clone.get_layer("inner").get_layer("inner_dense") is not model.get_layer("inner").get_layer("inner_dense")
    # hand computed: swap + (1, 2) → [0, 3] and [4, 2.5]; inner: relu(v·K + b)
    kernel, bias = np.array([[1.0, -1.0], [2.0, 0.5]]), np.array([0.5, -0.5])
    v = np.array([[-1.0, 3.0], [4.0, 2.5]])
    np.testing.assert_allclose(clone(X).numpy(), np.maximum(v @ kernel + bias, 0), rtol=1e-6)


def test_nested_models_are_recursed_and_keep_their_name():
    model = _nested_model()
    seen = []

    def rule(call):
        seen.append(call.layer.name)

    clone = rebuild(model, rule, name="renamed")
    assert clone.name == "renamed" and clone.get_layer("inner").name == "inner"
    # the rule sees every layer call, input layers and nested models' layers included,
    # never the nested model itself
    assert seen == ["x", "outer_dense", "inner_in", "inner_dense", "inner_relu"]


def test_copy_and_fresh_weights():
    model = _nested_model()
    copied, _ = map_layers(model, lambda layer: None, weights="copy")
    fresh, _ = map_layers(model, lambda layer: None, weights="fresh")
    for name in ("outer_dense",):
        np.testing.assert_array_equal(copied.get_layer(name).get_weights()[0], [[0.0, 1.0], [1.0, 0.0]])
        np.testing.assert_array_equal(copied.get_layer(name).get_weights()[1], [1.0, 2.0])
        # fresh: the Dense defaults, a Glorot-uniform kernel (not the set one) and a zero bias
        kernel, bias = fresh.get_layer(name).get_weights()
        assert not np.array_equal(kernel, [[0.0, 1.0], [1.0, 0.0]]) and np.all(np.abs(kernel) <= np.sqrt(6 / 4))
        np.testing.assert_array_equal(bias, [0.0, 0.0])
    inner_copied = copied.get_layer("inner").get_layer("inner_dense").get_weights()
    np.testing.assert_array_equal(inner_copied[1], [0.5, -0.5])
    np.testing.assert_array_equal(fresh.get_layer("inner").get_layer("inner_dense").get_weights()[1], [0.0, 0.0])
    # the original keeps its weights
    np.testing.assert_array_equal(model.get_layer("outer_dense").get_weights()[1], [1.0, 2.0])
    with pytest.raises(ValueError, match=r"weights must be one of \['copy', 'fresh'\], got weights='new'"):
        rebuild(model, weights="new")


def test_one_to_many_rule_output_equals_the_hand_computed_value():
    inputs = tf.keras.Input((2,), name="x")
    outputs = tf.keras.layers.Activation("relu", name="act")(inputs)
    model = tf.keras.Model(inputs, outputs)

    def rule(call):
        if call.layer.name != "act":
            return None
        # relu → swap the two features (a weighted layer), then -relu(-v), i.e. min(v, 0)
        swapped = apply(tf.keras.layers.Dense(2, use_bias=False, name="act_swap"), call.args[0],
                        [np.array([[0.0, 1.0], [1.0, 0.0]], np.float32)])
        negated = tf.keras.layers.Rescaling(-1.0, name="act_neg")(swapped)
        return tf.keras.layers.Rescaling(-1.0, name="act_back")(tf.keras.layers.ReLU(name="act_relu")(negated))

    clone = rebuild(model, rule)
    assert [layer.name for layer in clone.layers] == ["x", "act_swap", "act_neg", "act_relu", "act_back"]
    # rows [1, −2] → swap [−2, 1] → min(·, 0) [−2, 0]; [0.5, 3] → [3, 0.5] → [0, 0]
    np.testing.assert_array_equal(clone(X).numpy(), [[-2.0, 0.0], [0.0, 0.0]])


def test_multi_input_layers_get_their_rebuilt_inputs():
    a, b = tf.keras.Input((2,), name="a"), tf.keras.Input((2,), name="b")
    summed = tf.keras.layers.Add(name="add")([a, b])
    joined = tf.keras.layers.Concatenate(name="cat")([summed, b])
    model = tf.keras.Model([a, b], joined)
    xa, xb = np.array([[1.0, 2.0]], np.float32), np.array([[10.0, 20.0]], np.float32)
    clone = rebuild(model)
    np.testing.assert_array_equal(clone([xa, xb]).numpy(), [[11.0, 22.0, 10.0, 20.0]])
    swapped, names = map_layers(
        model, lambda layer: (tf.keras.layers.Subtract, layer.get_config()) if layer.name == "add" else None
    )
    assert names == ("add",) and type(swapped.get_layer("add")) is tf.keras.layers.Subtract
    np.testing.assert_array_equal(swapped([xa, xb]).numpy(), [[-9.0, -18.0, 10.0, 20.0]])
    assert [layer.name for layer in producers(model)["cat"]] == ["add", "b"]
    assert [layer.name for layer in consumers(model)["b"]] == ["add", "cat"]
    assert source_layer(model.outputs[0]) is model.get_layer("cat")


def test_map_layers_names_suffix_and_order():
    model = _nested_model()
    clone, names = map_layers(
        model,
        lambda layer: (type(layer), {**layer.get_config(), "activation": "relu"})
        if isinstance(layer, tf.keras.layers.Dense) else None,
        name_suffix="relu",
    )
    assert clone.name == "outer_relu" and names == ("outer_dense", "inner_dense")
    assert clone.get_layer("outer_dense").activation is tf.keras.activations.relu
    with pytest.raises(TypeError, match="model must be a tf.keras.Model, got Dense"):
        map_layers(tf.keras.layers.Dense(2), lambda layer: None)


def test_shared_layer_is_refused_naming_it():
    dense = tf.keras.layers.Dense(2, name="twice")
    inputs = tf.keras.Input((2,))
    model = tf.keras.Model(inputs, dense(dense(inputs)), name="shared")
    with pytest.raises(RebuildError, match=r"'shared'.*shared layers; layer 'twice' is called 2 times"):
        rebuild(model)
    # a layer called once in each of two models is not shared within either
    other_inputs = tf.keras.Input((2,))
    single = tf.keras.layers.Dense(2, name="single")
    first = tf.keras.Model(inputs, single(inputs))
    tf.keras.Model(other_inputs, single(other_inputs))
    assert rebuild(first).get_layer("single").get_config()["units"] == 2


def test_subclassed_models_are_refused():
    class Sub(tf.keras.Model):
        def call(self, x):
            return 2.0 * x

    with pytest.raises(RebuildError, match=r"Cannot rebuild 'sub': it is a subclassed model"):
        rebuild(Sub(name="sub"))
    inputs = tf.keras.Input((2,))
    wrapper = tf.keras.Model(inputs, Sub(name="inner_sub")(inputs), name="wrapper")
    with pytest.raises(RebuildError, match=r"'wrapper': its layer 'inner_sub' is a subclassed model"):
        rebuild(wrapper)
    with pytest.raises(RebuildError, match="no known input shape"):
        rebuild(tf.keras.Sequential([tf.keras.layers.Dense(2)], name="lazy"))
