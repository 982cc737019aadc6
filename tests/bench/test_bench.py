import argparse

import larq as lq
import numpy as np
import pytest
import tensorflow as tf

from lq_ext.bench import BenchResult, run
from lq_ext.bench.compare import check_model_names, command_line
from lq_ext.converters.engines import to_flatbuffer
from lq_ext.quantizers import RSign


def _write(tmp_path_factory, name, model):
    path = tmp_path_factory.mktemp("bench") / name
    path.write_bytes(to_flatbuffer(model).data)
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
        ({"threads": 0}, r"threads must be an integer ≥ 1, got threads=0\."),
        ({"runs": 0}, r"runs must be an integer ≥ 1, got runs=0\."),
        ({"warmup": -1}, r"warmup must be an integer ≥ 0, got warmup=-1\."),
        ({"runs": 2.5}, r"runs must be an integer ≥ 1, got runs=2\.5\."),
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


# --------------------------------------------------------------------------- benchmark table
def _row(name, **overrides):
    from lq_ext.bench.compare import ModelRow

    values = dict(
        name=name, engine="lce", ops=20.8e6, bops=574.3e6, flops=11.9e6, size_bytes=3 * 2**20,
        bitpacked_share=0.97, parity_max_rel_error=2.4e-7, top1_agreement=1.0, parity_passed=True,
        median_ms=66.1, min_ms=64.0, kernel="optimized", path=f"{name}.tflite",
    )
    return ModelRow(**{**values, **overrides})


def test_markdown_table_has_size_over_floor_and_lce_alone_columns():
    from lq_ext.bench.compare import markdown_table

    table = markdown_table([
        _row("bdnet_mobilenet", size_over_floor=1.0123, lce_alone_median_ms=71.456),
        _row("quicknet", size_over_floor=1.0049),
        _row("old_row"),  # rows made before the new fields: "–"
    ]).splitlines()
    header = [cell.strip() for cell in table[0].strip("|").split("|")]
    assert header[5:7] == [".tflite (MiB)", "size / bit floor"]
    assert header[9:11] == ["latency median (ms)", "LCE alone (ms)"]
    assert len(table[1].strip("|").split("|")) == len(header)
    cells = [[cell.strip() for cell in line.strip("|").split("|")] for line in table[2:]]
    assert [row[6] for row in cells] == ["1.01", "1.00", "–"]
    assert [row[10] for row in cells] == ["71.46", "–", "–"]
    assert all(row[9] == "66.10" for row in cells)


def _tiny_bnn():
    """Stem → exact-int8 binary depth-wise → binary QuantDense head: both differ from LCE alone."""
    from lq_ext.layers import BinaryDepthwiseConv2D
    from lq_ext.testing import randomize_weights

    tf.keras.utils.set_random_seed(0)
    inputs = tf.keras.Input((32, 32, 3))
    x = tf.keras.layers.Conv2D(32, 3, strides=2, padding="same", use_bias=False)(inputs)
    x = tf.keras.layers.BatchNormalization()(x)
    x = BinaryDepthwiseConv2D(3, padding="same", scale_kernel=True, input_quantizer=RSign(),
                              exact_int8=True, name="dw")(x)
    x = tf.keras.layers.BatchNormalization()(x)
    x = tf.keras.layers.GlobalAveragePooling2D()(x)
    x = lq.layers.QuantDense(10, input_quantizer="ste_sign", kernel_quantizer="ste_sign", name="fc")(x)
    model = tf.keras.Model(inputs, tf.keras.layers.Softmax()(x))
    randomize_weights(model)
    return model


def test_lce_alone_model_is_the_same_model_on_lces_float_path():
    from lq_ext.bench.compare import lce_alone_model

    model = _tiny_bnn()
    alone, changed = lce_alone_model(model)
    assert changed == ("dw",)  # the QuantDense is left to convert(binary_dense="float")
    assert alone.get_layer("dw").exact_int8 is False and model.get_layer("dw").exact_int8 is True
    x = np.random.default_rng(0).uniform(-1, 1, (4, 32, 32, 3)).astype(np.float32)
    # same weights: the int8 path computes the same numbers (float round-off of the scale)
    np.testing.assert_allclose(alone.predict(x, verbose=0), model.predict(x, verbose=0), rtol=0, atol=2e-6)
    plain = tf.keras.Sequential([tf.keras.Input((4,)), tf.keras.layers.Dense(2)])
    assert lce_alone_model(plain) == (plain, ())


def test_float_depthwise_model_changes_only_the_exact_int8_depthwise_convs():
    from lq_ext.bench.compare import float_depthwise_model
    from lq_ext.layers import BinaryDense

    model = _tiny_bnn()
    x = tf.keras.layers.Flatten()(model.layers[-2].output)
    with_dense = tf.keras.Model(model.inputs, BinaryDense(3, name="binary_fc")(x))
    twin, changed = float_depthwise_model(with_dense)
    assert changed == ("dw",)
    assert twin.get_layer("dw").exact_int8 is False and isinstance(twin.get_layer("binary_fc"), BinaryDense)
    x = np.random.default_rng(1).uniform(-1, 1, (4, 32, 32, 3)).astype(np.float32)
    np.testing.assert_allclose(twin.predict(x, verbose=0), with_dense.predict(x, verbose=0), rtol=0, atol=2e-6)
    assert float_depthwise_model(twin) == (twin, ())


def test_measure_model_fills_the_new_columns(tmp_path):
    """End to end on a tiny model: size / bit floor and an LCE-alone latency."""
    from lq_ext.bench.compare import measure_model
    from lq_ext.converters import inspect

    measurement = measure_model(
        "bdnet_mobilenet", tmp_path, model=_tiny_bnn(), runs=2, warmup=0, progress=None
    )
    row = measurement.row
    assert row.size_over_floor == pytest.approx(measurement.conversion.ops.size_over_floor)
    assert 1.0 < row.size_over_floor < 3.0
    assert row.lce_alone_median_ms > 0 and measurement.lce_alone_timing.median_ms == row.lce_alone_median_ms
    ours, alone = inspect(row.path), inspect(tmp_path / "bdnet_mobilenet_lce_alone.tflite")
    assert ours.unpacked_to_float_macs == 0 and ours.count("LceBconv2d") == 1  # the dense head
    dw_macs = 16 * 16 * 32 * 9
    assert alone.unpacked_to_float_macs == dw_macs + 32 * 10  # float DEPTHWISE + float FC
    assert alone.size_bytes > ours.size_bytes


def test_plot_latency_vs_ops(tmp_path):
    from lq_ext.bench.compare import plot_latency_vs_ops

    rows = [_row("bdnet_mobilenet", lce_alone_median_ms=70.0), _row("mobilenet_v1_float", engine="tflite")]
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        with pytest.raises(RuntimeError, match=r"Plotting needs matplotlib, which is not installed .*pip install matplotlib"):
            plot_latency_vs_ops(rows, tmp_path / "plot.png")
        return
    path = plot_latency_vs_ops(rows, tmp_path / "plot.png")
    assert open(path, "rb").read(8) == b"\x89PNG\r\n\x1a\n"


def test_command_line_and_model_name_check_of_the_benchmark_scripts(tmp_path):
    script = tmp_path / "repo" / "benchmarks" / "bench_x.py"
    assert command_line(str(script), ["--models", "a b", "--runs", "3"]) == "python benchmarks/bench_x.py --models 'a b' --runs 3"
    parser = argparse.ArgumentParser(prog="bench_x")
    check_model_names(parser, ["bdnet_mobilenet", "quicknet_small"])  # registered: no exit
    with pytest.raises(SystemExit) as exit_info:
        check_model_names(parser, ["bdnet_mobilenet", "bdnet_mobilnet"])
    assert exit_info.value.code == 2
