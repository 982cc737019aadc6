"""The guards convert() runs before converting (lq_ext.converters.validation): each test
checks the error and that no conversion was attempted (the no_conversion fixture)."""

import larq as lq
import numpy as np
import pytest
import tensorflow as tf
from converter_models import BINARY, build_grouped_bnn

import lq_ext.converters.conversion as conversion_module
from lq_ext.converters import convert
from lq_ext.converters.engines import Flatbuffer
from lq_ext.converters.validation import (
    check_grouped_binary_convs,
    check_small_map_binary_convs,
    check_tolerances,
)


def test_model_must_be_tf_keras(tmp_path, no_conversion):
    with pytest.raises(TypeError, match=r"model must be a tf\.keras\.Model.*got builtins\.str"):
        convert("model.h5", tmp_path / "m.tflite")
    with pytest.raises(TypeError, match=r"model must be a tf\.keras\.Model.*Dense"):
        convert(tf.keras.layers.Dense(3), tmp_path / "m.tflite")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"target": "x86"}, r"target must be one of \['arm', 'xcore'\], got target='x86'"),
        ({"engine": "onnx"}, r"engine must be one of \['lce', 'tflite', 'builtin'\], got engine='onnx'"),
        ({"binary_dense": "int"}, r"binary_dense must be one of \['bconv', 'float'\], got binary_dense='int'"),
        ({"rtol": -1.0}, r"rtol must be a number > 0, got rtol=-1\.0"),
        ({"min_top1_agreement": 1.5}, r"min_top1_agreement must be a number ≥ 0 and ≤ 1, got min_top1_agreement=1\.5"),
        (
            {"max_outlier_fraction": -0.1},
            r"max_outlier_fraction must be a number ≥ 0 and ≤ 1, got max_outlier_fraction=-0.1",
        ),
        ({"atol": -1e-3}, r"atol must be a number ≥ 0, got atol=-0\.001"),
        ({"samples": np.zeros((4, 28, 28, 1))}, r"samples must be .*\(n, 32, 32, 3\).*\(4, 28, 28, 1\)"),
    ],
)
def test_bad_options(tmp_path, small_bnn, no_conversion, kwargs, message):
    with pytest.raises(ValueError, match=message):
        convert(small_bnn, tmp_path / "m.tflite", **kwargs)


def test_missing_directory(tmp_path, small_bnn, no_conversion):
    with pytest.raises(FileNotFoundError, match=r"path=.*no_such_dir.*directory .* does not exist"):
        convert(small_bnn, tmp_path / "no_such_dir" / "m.tflite")


def test_path_is_a_directory(tmp_path, small_bnn, no_conversion):
    with pytest.raises(IsADirectoryError, match="is a directory"):
        convert(small_bnn, tmp_path)


def test_unknown_batch_free_dims(tmp_path, no_conversion):
    inputs = tf.keras.Input((None, None, 3))
    outputs = tf.keras.layers.GlobalAveragePooling2D()(lq.layers.QuantConv2D(8, 3, **BINARY)(inputs))
    model = tf.keras.Model(inputs, outputs)
    expected = r"shape \(None, None, None, 3\): only the batch dimension may be None"
    with pytest.raises(ValueError, match=expected):
        convert(model, tmp_path / "m.tflite")


def test_mixed_precision(tmp_path, no_conversion):
    tf.keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        inputs = tf.keras.Input((8, 8, 3))
        outputs = tf.keras.layers.Conv2D(4, 3, name="half_conv")(inputs)
        model = tf.keras.Model(inputs, outputs)
    finally:
        tf.keras.mixed_precision.set_global_policy("float32")
    with pytest.raises(ValueError, match=r"Mixed-precision.*half_conv \(mixed_float16\)"):
        convert(model, tmp_path / "m.tflite")


def test_grouped_binary_conv_needs_32_channels_per_group(tmp_path, no_conversion):
    model = build_grouped_bnn(channels_per_group=16, groups=2)
    expected = (
        r"Layer 'grouped_bconv' \(QuantConv2D, groups=2\).*16 input channels per group "
        r"\(32 input channels / 2 groups\).*multiple of 32.*Nearest valid choice: groups=1 "
        r"\(32 channels per group\), or 32 channels per group \(64 input channels at groups=2\)"
    )
    with pytest.raises(ValueError, match=expected):
        convert(model, tmp_path / "m.tflite")


def test_bad_types(tmp_path, small_bnn, no_conversion):
    with pytest.raises(TypeError, match=r"verify must be True or False, got verify=1"):
        convert(small_bnn, tmp_path / "m.tflite", verify=1)
    with pytest.raises(TypeError, match=r"overwrite must be True or False, got overwrite='yes'"):
        convert(small_bnn, tmp_path / "m.tflite", overwrite="yes")
    with pytest.raises(TypeError, match=r"path must be a str or os\.PathLike, got path=3"):
        convert(small_bnn, 3)


def test_tolerances_are_only_checked_when_verifying(tmp_path, small_bnn, small_flatbuffer, monkeypatch):
    """verify=False uses no tolerance, so none is refused (as before the split)."""
    monkeypatch.setattr(conversion_module, "to_flatbuffer", lambda *a, **k: Flatbuffer(small_flatbuffer, "graphdef"))
    result = convert(small_bnn, tmp_path / "m.tflite", verify=False, rtol=-1.0)
    assert result.parity is None and (tmp_path / "m.tflite").read_bytes() == small_flatbuffer


def test_check_tolerances_takes_none_as_the_modes_default():
    check_tolerances(1e-3, None, None, None)  # returns without error
    with pytest.raises(ValueError, match=r"rtol must be a number > 0, got rtol=True"):
        check_tolerances(True)
    with pytest.raises(ValueError, match=r"min_top1_agreement must be a number ≥ 0 and ≤ 1, got min_top1_agreement=nan"):
        check_tolerances(1e-3, min_top1_agreement=float("nan"))


def test_grouped_float_conv_passes_the_grouped_bconv_rule():
    """groups>1 without a binary input quantizer is not a binary grouped conv; the same
    layer with a binarizer is refused."""
    inputs = tf.keras.Input((8, 8, 32))
    float_model = tf.keras.Model(inputs, lq.layers.QuantConv2D(32, 3, groups=2, name="float_grouped")(inputs))
    assert check_grouped_binary_convs(float_model) is None
    binary = lq.layers.QuantConv2D(32, 3, groups=2, name="binary_grouped", **BINARY)
    binary_model = tf.keras.Model(inputs, binary(inputs))
    with pytest.raises(ValueError, match=r"Layer 'binary_grouped' \(QuantConv2D, groups=2\).*16 input channels"):
        check_grouped_binary_convs(binary_model)


def _small_map_model(size, pad_values=0.0, binary=True):
    inputs = tf.keras.Input((size, size, 64))
    quantizers = BINARY if binary else dict(use_bias=False)
    conv = lq.layers.QuantConv2D(32, 3, padding="same", pad_values=pad_values, name="small_bconv", **quantizers)
    return tf.keras.Model(inputs, conv(inputs))


def test_binary_conv_on_a_map_smaller_than_its_kernel(tmp_path, no_conversion):
    """LCE computes a zero-padded binary conv wrong on a map smaller than its kernel
    (experiments/lce_same_zero_small_input.py): convert refuses it with the ways out."""
    expected = (
        r"Layer 'small_bconv' \(QuantConv2D\) is a binary conv with padding='same' and pad_values=0 "
        r"on a 2x2 map, smaller than its 3x3 kernel: LCE computes it wrong.*a larger input.*"
        r"pad_values=1\.0.*engine='tflite'"
    )
    with pytest.raises(ValueError, match=expected):
        convert(_small_map_model(2), tmp_path / "m.tflite")
    with pytest.raises(ValueError, match=r"on a 1x1 map"):
        check_small_map_binary_convs(_small_map_model(1))
    # exact in LCE: a map of the kernel's size, one-padding, a float conv
    for model in (_small_map_model(3), _small_map_model(2, pad_values=1.0), _small_map_model(1, binary=False)):
        assert check_small_map_binary_convs(model) is None
