"""Binary dense layers run bit-packed: BinaryDense and convert()'s QuantDense rewrite."""

import larq as lq
import numpy as np
import pytest
import tensorflow as tf
from larq_compute_engine.tflite.python.interpreter import Interpreter

from lq_ext.converters import convert
from lq_ext.converters.rewrite import binary_dense_as_bconv
from lq_ext.layers import BinaryDense
from lq_ext.quantizers import RSign, ScaledSign

BINARY = dict(input_quantizer="ste_sign", kernel_quantizer="ste_sign", kernel_constraint="weight_clip")


def _randomize(model, seed=0):
    """N(0, 0.5²) weights, positive BN variances (non-trivial statistics, no exact ties)."""
    rng = np.random.default_rng(seed)
    model.set_weights(
        [
            (np.abs(rng.normal(size=v.shape)) + 0.5 if "variance" in v.name else rng.normal(0, 0.5, v.shape)).astype(
                np.float32
            )
            for v in model.weights
        ]
    )
    return model


def _quantdense_mlp():
    """Float stem → GAP → binary QuantDense 32→64 → BN → binary QuantDense 64→10 (±α kernel).

    Binary MACs (batch 1): 32·64 + 64·10 = 2,048 + 640 = 2,688.
    """
    tf.keras.utils.set_random_seed(0)
    inputs = tf.keras.Input((32, 32, 3))
    x = tf.keras.layers.Conv2D(32, 3, strides=2, name="stem")(inputs)
    x = tf.keras.layers.GlobalAveragePooling2D()(x)
    x = lq.layers.QuantDense(64, use_bias=False, name="fc1", **BINARY)(x)
    x = tf.keras.layers.BatchNormalization(name="fc1_bn")(x)
    x = lq.layers.QuantDense(
        10, input_quantizer="approx_sign", kernel_quantizer="magnitude_aware_sign",
        kernel_constraint="weight_clip", name="fc2",
    )(x)
    return _randomize(tf.keras.Model(inputs, x, name="quantdense_mlp"))


@pytest.fixture(scope="module")
def mlp_conversions(tmp_path_factory):
    model = _quantdense_mlp()
    directory = tmp_path_factory.mktemp("binary_dense")
    images = np.random.default_rng(1).uniform(-1, 1, (4, 32, 32, 3)).astype(np.float32)
    before = model.predict(images, verbose=0)
    lce_alone = convert(model, directory / "float.tflite", binary_dense="float", verify=False)
    bconv = convert(model, directory / "bconv.tflite")  # default: binary_dense="bconv", parity on real images
    return model, images, before, lce_alone, bconv


def test_lce_alone_runs_binary_quantdense_in_float(mlp_conversions):
    _, _, _, lce_alone, _ = mlp_conversions
    ops = lce_alone.ops
    fc = [info for info in ops.ops if info.op_type == "FULLY_CONNECTED"]
    assert [(info.op_class, info.unpacked_binary, info.macs) for info in fc] == [
        ("float", True, 2048), ("float", True, 640)
    ]
    assert ops.count("LceBconv2d") == 0 and ops.quantize_dequantize_pairs == 2
    assert ops.unpacked_to_float_macs == 2688 and ops.bitpacked_share == 0.0
    assert lce_alone.bconv_dense_layers == ()


def test_convert_runs_binary_quantdense_bitpacked(mlp_conversions):
    model, images, before, lce_alone, bconv = mlp_conversions
    ops = bconv.ops
    assert bconv.bconv_dense_layers == ("fc1", "fc2")
    assert "fc1, fc2" in str(bconv)
    assert ops.count("LceBconv2d") == 2 and ops.count("FULLY_CONNECTED") == 0
    assert ops.count("LceDequantize") == 0 and ops.quantize_dequantize_pairs == 0
    assert ops.macs_by_class["bitpacked"] == 2688
    assert ops.bitpacked_share == 1.0 and ops.unpacked_binary == ()
    # the only float MACs left are the float stem's
    assert ops.macs_by_class["float"] == lce_alone.ops.macs_by_class["float"] - 2688
    # 2,688 weights at 1 bit instead of 32 (LCE packs the input channels into int32 words)
    assert bconv.size_bytes < lce_alone.size_bytes
    # Parity on the 20 real CIFAR-10 images (with the ±α kernel and BN folded into the
    # first bconv, the difference is float round-off: measured 4e-7 relative). 1e-5 is
    # 25x that and far below any conversion error (a flipped sign moves a logit by 2α).
    assert bconv.parity.passed and bconv.parity.max_rel_error < 1e-5
    # the model given to convert() is untouched: still QuantDense, same outputs
    assert type(model.get_layer("fc1")) is lq.layers.QuantDense
    np.testing.assert_array_equal(model.predict(images, verbose=0), before)


@pytest.mark.parametrize("use_bias", [False, True], ids=["no_bias", "bias"])
@pytest.mark.parametrize("shape", [(48,), (5, 40)], ids=["2d", "3d"])
def test_flatbuffer_matches_keras(tmp_path, shape, use_bias):
    """Input → BinaryDense(±1 kernel, ReLU): the flatbuffer equals Keras.

    Tolerance, justified: the binarizer sees the same float inputs on both sides
    (zeros included: larq's sign and LceQuantize both map 0 to +1) and the ±1 dot
    products are integers |s| ≤ C that float32 and LCE's popcount represent exactly, so
    without a bias the outputs are equal bit for bit (tolerance 0). With a bias, LCE
    folds it into its output transform, which adds the bias to C·α before subtracting
    2·popcount·α (measured: differences of half an ulp of C + |bias|), so the bound is
    one float32 ulp of C + max|bias|; a wrong sign or weight moves an output by ≥ 2.
    """
    tf.keras.utils.set_random_seed(0)
    inputs = tf.keras.Input(shape)
    layer = BinaryDense(24, activation="relu", use_bias=use_bias, name="bdense")
    model = _randomize(tf.keras.Model(inputs, layer(inputs)))
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, *shape)).astype(np.float32)
    x[:4] = np.sign(x[:4])  # exact ±1 inputs
    x[4:6] = 0.0  # ties: sign(0) = +1 in larq and in LCE
    result = convert(model, tmp_path / "bdense.tflite", verify=False)
    assert result.ops.count("LceBconv2d") == 1 and result.ops.bitpacked_share == 1.0
    assert result.ops.count("FULLY_CONNECTED") == 0 and result.ops.count("LceDequantize") == 0
    assert result.ops.macs_by_class["bitpacked"] == int(np.prod(shape)) * 24
    tflite = Interpreter(open(result.path, "rb").read()).predict(x)
    keras = model.predict(x, verbose=0)
    atol = 0.0
    if use_bias:
        atol = float(np.spacing(np.float32(shape[-1] + np.abs(layer.bias.numpy()).max())))
    np.testing.assert_allclose(tflite, keras, rtol=0, atol=atol)


QUANTIZERS = [
    ("ste_sign", "ste_sign"),
    ("approx_sign", "magnitude_aware_sign"),
    (RSign, ScaledSign),
]


@pytest.mark.parametrize("input_quantizer, kernel_quantizer", QUANTIZERS)
@pytest.mark.parametrize("shape", [(40,), (3, 5, 40)], ids=["2d", "4d"])
def test_binary_dense_is_quantdense(input_quantizer, kernel_quantizer, shape):
    """Same config and weights as QuantDense → same outputs and gradients (Keras)."""
    make = lambda q: q() if isinstance(q, type) else q  # noqa: E731
    kwargs = dict(activation="relu", kernel_constraint="weight_clip")
    quant = lq.layers.QuantDense(
        16, input_quantizer=make(input_quantizer), kernel_quantizer=make(kernel_quantizer), **kwargs
    )
    x = tf.constant(np.random.default_rng(0).normal(size=(6, *shape)).astype(np.float32))
    quant(x)
    binary = BinaryDense.from_config(quant.get_config())
    binary(x)
    weights = [np.random.default_rng(1).normal(0, 0.5, w.shape).astype(np.float32) for w in quant.get_weights()]
    quant.set_weights(weights)
    binary.set_weights(weights)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        y_quant, y_binary = quant(x), binary(x)
        loss_quant = tf.reduce_sum(y_quant * tf.range(16, dtype=tf.float32))
        loss_binary = tf.reduce_sum(y_binary * tf.range(16, dtype=tf.float32))
    # ±1 kernels: integer sums, exact; ±α kernels: summation order (matmul vs conv) rounds
    atol = 0.0 if kernel_quantizer == "ste_sign" else 1e-5
    np.testing.assert_allclose(y_binary.numpy(), y_quant.numpy(), rtol=0, atol=atol)
    for a, b in zip(tape.gradient(loss_binary, [x, *binary.trainable_weights]),
                    tape.gradient(loss_quant, [x, *quant.trainable_weights])):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-5)


def test_config_round_trip_and_saving(tmp_path):
    layer = BinaryDense(12, use_bias=False, input_quantizer=RSign(clip_value=1.5),
                        kernel_quantizer="magnitude_aware_sign", name="bd")
    config = layer.get_config()
    assert config["units"] == 12 and config["use_bias"] is False
    assert config["input_quantizer"]["class_name"].endswith("RSign")
    assert BinaryDense.from_config(config).get_config() == config
    assert tf.keras.utils.get_registered_name(BinaryDense) == "lq_ext>BinaryDense"

    inputs = tf.keras.Input((4, 20))
    model = _randomize(tf.keras.Model(inputs, layer(inputs)))
    x = np.random.default_rng(2).normal(size=(3, 4, 20)).astype(np.float32)
    expected = model.predict(x, verbose=0)
    for save_format, name in [("h5", "model.h5"), ("tf", "saved_model")]:
        path = str(tmp_path / name)
        model.save(path, save_format=save_format)
        loaded = tf.keras.models.load_model(path)
        assert type(loaded.get_layer("bd")) is BinaryDense, save_format
        np.testing.assert_array_equal(loaded.predict(x, verbose=0), expected)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"units": 0}, r"units must be a positive int, got units=0"),
        ({"units": 2.5}, r"units must be a positive int, got units=2\.5"),
        ({"units": 8, "input_quantizer": "ste_tern"},
         r"input_quantizer='ste_tern' cannot be bit-packed by LCE: SteTern has precision 2, not 1\. "
         r"Expected a 1-bit ±1 quantizer such as ste_sign, approx_sign"),
        ({"units": 8, "input_quantizer": None}, r"input_quantizer=None cannot be bit-packed .*no quantizer"),
        ({"units": 8, "input_quantizer": "ste_heaviside"}, r"SteHeaviside does not output ±1"),
        ({"units": 8, "input_quantizer": "magnitude_aware_sign"}, r"MagnitudeAwareSign scales its output"),
        ({"units": 8, "kernel_quantizer": "dorefa_quantizer"},
         r"kernel_quantizer='dorefa_quantizer' cannot be bit-packed by LCE: DoReFa has precision 2"),
        ({"units": 8, "kernel_quantizer": "no_such_sign"},
         r"kernel_quantizer='no_such_sign' is not a known quantizer .*such as ste_sign, magnitude_aware_sign"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        BinaryDense(**kwargs)


def test_bad_input_rank_and_convert_argument(tmp_path):
    with pytest.raises(ValueError, match=r"BinaryDense 'bd': the input must have rank >= 2 .* input_shape=\(8,\)"):
        BinaryDense(4, name="bd").build((8,))
    model = tf.keras.Sequential([tf.keras.Input((8,)), BinaryDense(4)])
    with pytest.raises(ValueError, match=r"binary_dense must be one of \['bconv', 'float'\], got binary_dense='fast'"):
        convert(model, tmp_path / "m.tflite", binary_dense="fast")


def test_rewrite_clones_nested_models_and_keeps_the_original():
    """The rewrite reaches QuantDense layers in nested models; weights follow layer by layer."""
    tf.keras.utils.set_random_seed(0)
    head = tf.keras.Sequential(
        [tf.keras.Input((16,)), lq.layers.QuantDense(8, name="inner", input_quantizer=RSign(), kernel_quantizer="ste_sign")],
        name="head",
    )
    inputs = tf.keras.Input((16,))
    x = lq.layers.QuantDense(16, name="outer", **BINARY)(inputs)
    x = tf.keras.layers.Dense(16, name="float_dense")(x)  # real-valued: stays Dense
    model = _randomize(tf.keras.Model(inputs, head(x)))
    model.get_layer("head").get_layer("inner").input_quantizer.threshold.assign(np.linspace(-0.5, 0.5, 16))
    clone, names = binary_dense_as_bconv(model)
    assert names == ("outer", "inner")
    assert type(clone.get_layer("outer")) is BinaryDense
    assert type(clone.get_layer("head").get_layer("inner")) is BinaryDense
    assert type(clone.get_layer("float_dense")) is tf.keras.layers.Dense
    assert type(model.get_layer("outer")) is lq.layers.QuantDense
    x = np.random.default_rng(3).normal(size=(8, 16)).astype(np.float32)
    np.testing.assert_array_equal(clone.predict(x, verbose=0), model.predict(x, verbose=0))
    assert binary_dense_as_bconv(clone) == (clone, ())  # nothing left to rewrite


def test_uncloneable_model_error(tmp_path):
    """A layer whose config does not rebuild it blocks the clone: a clear error, no crash."""

    class Apply(tf.keras.layers.Layer):  # a function argument: no config to rebuild it from
        def __init__(self, fn):
            super().__init__()
            self.fn = fn

        def call(self, x):
            return self.fn(x)

    inputs = tf.keras.Input((8,))
    model = tf.keras.Model(inputs, lq.layers.QuantDense(4, name="fc", **BINARY)(Apply(lambda t: 2.0 * t)(inputs)))
    with pytest.raises(ValueError, match=r"binary QuantDense layer\(s\) 'fc' as lq_ext.layers.BinaryDense.*binary_dense='float'"):
        convert(model, tmp_path / "m.tflite", verify=False)
