import larq as lq
import larq_compute_engine as lce
import numpy as np
import pytest
import tensorflow as tf

from lq_ext.bench import BenchResult, run
from lq_ext.quantizers import RSign


def _write(tmp_path_factory, name, model):
    path = tmp_path_factory.mktemp("bench") / name
    path.write_bytes(lce.convert_keras_model(model))
    return path


@pytest.fixture(scope="module")
def plain_tflite(tmp_path_factory):
    tf.keras.utils.set_random_seed(0)
    inputs = tf.keras.Input((32, 32, 3))
    x = tf.keras.layers.Conv2D(32, 3, padding="same")(inputs)
    x = lq.layers.QuantConv2D(
        32, 3, padding="same", pad_values=1.0, input_quantizer="ste_sign",
        kernel_quantizer="ste_sign", kernel_constraint="weight_clip", use_bias=False,
    )(x)
    outputs = tf.keras.layers.GlobalAveragePooling2D()(x)
    return _write(tmp_path_factory, "plain.tflite", tf.keras.Model(inputs, outputs))


@pytest.fixture(scope="module")
def grouped_tflite(tmp_path_factory):
    """A grouped binary conv, 2 groups of 64 input channels."""
    tf.keras.utils.set_random_seed(0)
    inputs = tf.keras.Input((32, 32, 3))
    x = tf.keras.layers.Conv2D(128, 3, strides=2, padding="same")(inputs)
    x = lq.layers.QuantConv2D(
        64, 3, groups=2, padding="same", pad_values=1.0, input_quantizer=RSign(),
        kernel_quantizer="ste_sign", kernel_constraint="weight_clip", use_bias=False,
    )(x)
    outputs = tf.keras.layers.GlobalAveragePooling2D()(x)
    return _write(tmp_path_factory, "grouped.tflite", tf.keras.Model(inputs, outputs))


def test_fields_are_sane(plain_tflite):
    seen = []
    result = run(plain_tflite, runs=5, warmup=2, progress=lambda done, total: seen.append((done, total)))
    assert isinstance(result, BenchResult)
    assert result.path == str(plain_tflite)
    assert result.size_bytes == plain_tflite.stat().st_size
    assert result.kernel == "optimized"  # auto without grouped convs
    assert (result.threads, result.runs, result.warmup) == (1, 5, 2)
    assert 0 < result.min_ms <= result.median_ms <= result.max_ms
    assert result.min_ms <= result.mean_ms <= result.max_ms
    assert seen == [(i, 7) for i in range(1, 8)]
    text = str(result)
    assert "median" in text and "kernel=optimized" in text and "5 runs after 2 warm-up" in text


@pytest.mark.parametrize("kernel", ["optimized", "indirect_bgemm", "reference"])
def test_explicit_kernels(plain_tflite, kernel):
    result = run(plain_tflite, runs=2, warmup=0, kernel=kernel, threads=2)
    assert result.kernel == kernel and result.threads == 2 and result.median_ms > 0


def test_auto_picks_indirect_bgemm_for_grouped_convs(grouped_tflite):
    result = run(grouped_tflite, runs=3, warmup=1)
    assert result.kernel == "indirect_bgemm" and result.median_ms > 0


def test_optimized_kernel_refuses_grouped_convs(grouped_tflite):
    expected = r"kernel='optimized' cannot run .*grouped binary convolutions.*indirect_bgemm"
    with pytest.raises(ValueError, match=expected):
        run(grouped_tflite, kernel="optimized")


def test_inputs_array_and_xnnpack(plain_tflite):
    sample = np.zeros((32, 32, 3), np.float32)
    result = run(plain_tflite, runs=2, warmup=0, inputs=sample, use_xnnpack=True)
    assert result.use_xnnpack and "xnnpack=on" in str(result)
    with pytest.raises(ValueError, match=r"inputs must be one sample of shape \(32, 32, 3\)"):
        run(plain_tflite, inputs=np.zeros((2, 32, 32, 3), np.float32))
    with pytest.raises(ValueError, match="inputs must be 'random' or an array"):
        run(plain_tflite, inputs="zeros")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"threads": 0}, r"threads must be an int >= 1, got threads=0"),
        ({"runs": 0}, r"runs must be an int >= 1, got runs=0"),
        ({"warmup": -1}, r"warmup must be an int >= 0, got warmup=-1"),
        ({"runs": 2.5}, r"runs must be an int >= 1, got runs=2\.5"),
        (
            {"kernel": "fast"},
            r"kernel='fast' is not supported; expected one of "
            r"\['auto', 'optimized', 'indirect_bgemm', 'reference'\]",
        ),
        ({"use_xnnpack": "yes"}, r"use_xnnpack must be True or False"),
    ],
)
def test_bad_arguments(plain_tflite, kwargs, message):
    with pytest.raises(ValueError, match=message):
        run(plain_tflite, **kwargs)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"missing\.tflite.*does not exist"):
        run(tmp_path / "missing.tflite")


def test_garbage_file(tmp_path):
    garbage = tmp_path / "garbage.tflite"
    garbage.write_bytes(b"\x00" * 64)
    with pytest.raises(ValueError, match=r"garbage\.tflite.*not a TFLite flatbuffer"):
        run(garbage)
