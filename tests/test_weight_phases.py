"""lq_ext.weight_phases and IntWeightQuantizer's switch: PokeBNN's float kernels before
epoch 50 (the binary and the 8-/4-bit ones), and the quantized state the converter
deploys."""

import larq as lq
import numpy as np
import pytest
import tensorflow as tf

import lq_ext  # noqa: F401  (legacy Keras first)
from lq_ext import weight_phases
from lq_ext.converters import convert
from lq_ext.fake_quant import IntActivationQuantizer, IntWeightQuantizer, calibrate, deployed_kernels
from lq_ext.quantizers import MaxAbsSign

W = np.random.RandomState(0).randn(3, 3, 4, 5).astype("float32")


def _on_grid(w, bits):
    step = np.abs(w).max(axis=(0, 1, 2)) / (2 ** (bits - 1) - 1)
    return np.round(w / step) * step


@pytest.mark.parametrize("bits", [8, 4])
def test_switch_passes_float_kernels_until_set(bits):
    quantizer = IntWeightQuantizer(bits, quantized=False)
    w = tf.constant(W)
    np.testing.assert_array_equal(quantizer(w).numpy(), W)  # off: the float kernel, exactly
    quantizer.switch.assign(1.0)
    np.testing.assert_allclose(quantizer(w).numpy(), _on_grid(W, bits), rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(quantizer(w).numpy(), IntWeightQuantizer(bits)(w).numpy())
    for state in (0.0, 1.0):  # the identity straight-through gradient in both states
        quantizer.switch.assign(state)
        with tf.GradientTape() as tape:
            tape.watch(w)
            y = tf.reduce_sum(quantizer(w) * 3.0)
        np.testing.assert_array_equal(tape.gradient(y, w).numpy(), np.full(W.shape, 3.0, "float32"))


def test_switch_config_and_errors():
    assert IntWeightQuantizer(4, quantized=False).get_config()["quantized"] is False
    assert IntWeightQuantizer(4).get_config()["quantized"] is None
    restored = IntWeightQuantizer.from_config(IntWeightQuantizer(4, quantized=False).get_config())
    assert restored.quantized is False and restored.bits == 4
    assert not IntWeightQuantizer(8).weights  # no switch variable unless asked for
    with pytest.raises(ValueError, match=r"quantized must be None \(no switch\), True or False .*got quantized=1\."):
        IntWeightQuantizer(8, quantized=1)


def _model(quantized=False, binarized=False):
    """switched int8 conv → binary conv → pool → a plain int8 1×1 conv (PokeBNN's classifier)."""
    inputs = tf.keras.Input((8, 8, 4))
    x = lq.layers.QuantConv2D(32, 3, padding="same", use_bias=False, input_quantizer=IntActivationQuantizer(8),
                              kernel_quantizer=IntWeightQuantizer(8, quantized=quantized), name="int8_conv")(inputs)
    x = IntActivationQuantizer(8, name="int8_out")(x)  # TFLite's int8 conv needs its output range
    x = lq.layers.QuantConv2D(8, 3, padding="same", pad_values=1.0, use_bias=False, input_quantizer="ste_sign",
                              kernel_quantizer=MaxAbsSign(binarized=binarized), name="binary_conv")(x)
    x = tf.keras.layers.GlobalAveragePooling2D(keepdims=True)(x)
    x = lq.layers.QuantConv2D(4, 1, use_bias=False, input_quantizer=IntActivationQuantizer(8),
                              kernel_quantizer=IntWeightQuantizer(8), name="plain_int8_conv")(x)
    x = IntActivationQuantizer(8, name="plain_int8_out")(x)
    return tf.keras.Model(inputs, tf.keras.layers.Flatten()(x))


def test_switches_of_a_model_and_the_deployed_state():
    model = _model()
    switches = weight_phases.weight_switches(model)
    owners = [model.get_layer(n).kernel_quantizer for n in ("int8_conv", "binary_conv")]
    assert [id(s) for s in switches] == [id(q.switch) for q in owners]  # not plain_int8_conv's
    model.get_layer("binary_conv").kernel_quantizer.switch.assign(1.0)
    with weight_phases.quantized_weights(model) as off:
        assert off == ("int8_conv",)
        assert [float(s.numpy()) for s in switches] == [1.0, 1.0]
    assert [float(s.numpy()) for s in switches] == [0.0, 1.0]  # restored
    with pytest.raises(RuntimeError), weight_phases.quantized_weights(model):
        raise RuntimeError  # restored after an error too
    assert [float(s.numpy()) for s in switches] == [0.0, 1.0]


def test_deployed_kernels_traces_the_bare_fake_quant_op():
    quantizer = IntWeightQuantizer(8, quantized=True)
    quantizer.build(W.shape)

    def op_types():
        graph = tf.function(quantizer).get_concrete_function(tf.TensorSpec(W.shape)).graph
        return {op.type for op in graph.get_operations()}

    assert "SelectV2" in op_types()
    with deployed_kernels():
        assert "SelectV2" not in op_types() and "FakeQuantWithMinMaxVarsPerChannel" in op_types()
    assert "SelectV2" in op_types()


def test_model_with_float_kernels_converts_in_its_quantized_state(tmp_path):
    tf.keras.utils.set_random_seed(0)
    model = _model()
    images = np.random.RandomState(1).uniform(-1, 1, (8, 8, 8, 4)).astype("float32")
    calibrate(model, images)
    with pytest.warns(UserWarning, match="2 layer.s. still training with float kernels"):
        result = convert(model, tmp_path / "m.tflite", samples=images)
    assert result.verified and result.switched_layers == ("int8_conv", "binary_conv")
    assert result.ops.count("LceBconv2d") == 1 and result.ops.count("CONV_2D") == 2
    assert result.ops.macs_by_class["float"] == 0  # both int8 convs run as int8 ops
    assert [float(s.numpy()) for s in weight_phases.weight_switches(model)] == [0.0, 0.0]
    assert "still training with float kernels" in str(result)
