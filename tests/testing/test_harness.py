"""The layer harness and the keyword-parity check catch what they are meant to catch."""

import larq as lq
import numpy as np
import pytest
import tensorflow as tf

from lq_ext.testing import keyword_mismatches, layer_classes, layer_test

register = tf.keras.utils.register_keras_serializable(package="lq_ext_tests")


@register
class Scale(tf.keras.layers.Layer):
    """y = factor · w · x with one trainable w per channel: a well-behaved layer."""

    def __init__(self, factor=2.0, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def build(self, input_shape):
        self.w = self.add_weight(name="w", shape=(input_shape[-1],), initializer="ones")
        super().build(input_shape)

    def call(self, inputs):
        return self.factor * self.w * inputs

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


@register
class ForgetsFactor(Scale):
    def get_config(self):
        config = super().get_config()
        del config["factor"]
        return config


@register
class NaNGradient(Scale):
    def call(self, inputs):
        return self.w * tf.sqrt(tf.abs(inputs) - tf.abs(inputs))  # d√u/du at u = 0: inf


@register
class FrozenWeight(Scale):
    def call(self, inputs):
        return tf.stop_gradient(self.w) * inputs + 0.0 * self.w


def test_a_good_layer_passes_and_the_output_is_returned():
    x = np.array([[1.0, -2.0]], np.float32)
    out = layer_test(Scale, {"factor": 3.0}, input_shape=(2,), input_data=x, weights=[[1.0, 0.5]],
                     expected_output=[[3.0, -3.0]])
    np.testing.assert_allclose(out, [[3.0, -3.0]])


@pytest.mark.parametrize(
    "layer_cls, message",
    [
        (ForgetsFactor, "model rebuilt from its configuration: outputs differ"),
        (NaNGradient, "non-finite gradient"),
        (FrozenWeight, "one training step left .* unchanged"),
    ],
)
def test_a_broken_layer_fails(layer_cls, message):
    kwargs = {"factor": 3.0} if layer_cls is ForgetsFactor else {}
    with pytest.raises(AssertionError, match=message):
        layer_test(layer_cls, kwargs, input_shape=(2,))


def test_a_wrong_expected_output_fails():
    with pytest.raises(AssertionError):
        layer_test(Scale, input_shape=(2,), input_data=np.ones((1, 2), np.float32), weights=[[1.0, 1.0]],
                   expected_output=[[2.0, 2.5]])


class ShortDense(lq.layers.QuantDense):
    """Takes fewer arguments than QuantDense and changes a default unannounced."""

    def __init__(self, units, use_bias=False, extra=1):
        super().__init__(units, use_bias=use_bias)


def test_keyword_mismatches_names_each_problem():
    problems = keyword_mismatches(ShortDense, lq.layers.QuantDense, required={"units": 2})
    assert "extra: not an argument of QuantDense and not listed as an extra" in problems
    assert "use_bias: default False, QuantDense's is True" in problems
    assert "kernel_initializer: QuantDense takes it, ShortDense does not" in problems
    listed = keyword_mismatches(ShortDense, lq.layers.QuantDense, extras=("extra",), changed_defaults=("use_bias",))
    assert not any(p.startswith(("extra:", "use_bias:")) for p in listed)
    assert keyword_mismatches(lq.layers.QuantDense, lq.layers.QuantDense, required={"units": 2}) == []


def test_keyword_mismatches_compares_passed_on_defaults_by_configuration():
    class PassesOn(lq.layers.QuantDense):
        def __init__(self, units, **kwargs):
            kwargs.setdefault("bias_initializer", "ones")
            super().__init__(units, **kwargs)

    problems = keyword_mismatches(PassesOn, lq.layers.QuantDense, required={"units": 2})
    assert len(problems) == 1 and problems[0].startswith("bias_initializer: configured")
    assert keyword_mismatches(PassesOn, lq.layers.QuantDense, required={"units": 2},
                              changed_defaults=("bias_initializer",)) == []


def test_layer_classes_of_this_module():
    import sys

    assert layer_classes(sys.modules[__name__]) == {Scale, ForgetsFactor, NaNGradient, FrozenWeight, ShortDense}
