"""The two LCE front ends give the same flatbuffer (ops, options, outputs); the graph-def
path adds the SavedModel path's signature and falls back to it, with the reason, on failure."""

import dataclasses

import flatbuffers
import numpy as np
import pytest
import tensorflow as tf
from converter_models import build_int8_bnn, uniform_images
from tensorflow.lite.python import schema_py_generated as schema

import lq_ext.converters.engines as engines
from lq_ext.converters import convert, inspect
from lq_ext.converters._flatbuffer import parse
from lq_ext.converters.engines import FRONT_ENDS, to_flatbuffer, with_signature
from lq_ext.converters.int8 import int8_model
from lq_ext.converters.parity import Interpreter


@pytest.fixture(scope="module")
def int8_bnn():
    return build_int8_bnn()  # a binary conv, BatchNorms, RPReLU, a residual add


@pytest.fixture(scope="module")
def int8_clone(int8_bnn):
    clone, _ = int8_model(int8_bnn, uniform_images(int8_bnn.input_shape[1:], n=8))
    return clone  # fake-quant ops: LCE must quantize this graph on either path


@pytest.fixture(scope="module", params=["float", "int8"])
def model(request, int8_bnn, int8_clone):
    return int8_bnn if request.param == "float" else int8_clone


@pytest.fixture(scope="module")
def both(model):
    return {via: to_flatbuffer(model, via=via) for via in FRONT_ENDS}


def _signature(data):
    return tf.lite.Interpreter(model_content=data).get_signature_list()


def _report(data):
    """The op report but for what differs by design: tensor names and the file's size."""
    report = inspect(data)
    ops = tuple(dataclasses.replace(op, input_name="", output_name="") for op in report.ops)
    return dataclasses.replace(report, source="", size_bytes=0, ops=ops)


def _operators(data):
    return parse(data).structure()


def test_front_ends_make_the_same_flatbuffer(both):
    graphdef, saved = both["graphdef"], both["saved_model"]
    assert (graphdef.via, saved.via) == ("graphdef", "saved_model")
    assert _operators(graphdef.data) == _operators(saved.data)
    assert _report(graphdef.data) == _report(saved.data)
    assert _report(graphdef.data).count("LceBconv2d") == 1


def test_int8_clone_is_quantized_on_the_graphdef_path(int8_clone):
    types = {t.dtype for t in parse(to_flatbuffer(int8_clone).data, "<bytes>").tensors[0]}
    assert "int8" in types


def test_front_ends_compute_identical_outputs(both, model):
    x = uniform_images(model.input_shape[1:], n=4)
    outputs = {via: Interpreter(made.data).predict(x) for via, made in both.items()}
    np.testing.assert_array_equal(outputs["graphdef"], outputs["saved_model"])


def test_graphdef_file_carries_the_savedmodel_signature(both, model):
    expected = {"serving_default": {"inputs": model.input_names, "outputs": model.output_names}}
    assert _signature(both["saved_model"].data) == expected
    assert _signature(both["graphdef"].data) == expected


def test_signature_runner_runs_a_graphdef_file():
    inputs = tf.keras.Input((4,), name="features")
    outputs = tf.keras.layers.Dense(3, name="scores")(inputs)
    model = tf.keras.Model(inputs, outputs)
    made = to_flatbuffer(model)
    runner = tf.lite.Interpreter(model_content=made.data).get_signature_runner("serving_default")
    x = np.arange(4, dtype=np.float32).reshape(1, 4)
    np.testing.assert_allclose(runner(features=x)["scores"], model(x).numpy(), rtol=1e-6)


def test_with_signature_rejects_a_wrong_number_of_names(int8_bnn):
    data = to_flatbuffer(int8_bnn).data
    with pytest.raises(ValueError, match=r"1 input\(s\) and 1 output\(s\); got 2 input name\(s\)"):
        with_signature(data, ["a", "b"], ["c"])


def test_graphdef_failure_falls_back_with_the_reason(monkeypatch, int8_bnn, tmp_path):
    def broken(model, target):
        raise RuntimeError("tracing failed here")

    monkeypatch.setattr(engines, "_lce_from_graphdef", broken)
    with pytest.warns(UserWarning, match=r"graph-def conversion of '.*' failed \(RuntimeError: tracing failed here\)"):
        result = convert(int8_bnn, tmp_path / "m.tflite", verify=False)
    assert (result.via, result.fallback_reason) == ("saved_model", "RuntimeError: tracing failed here")
    assert "The graph-def path failed, so LCE converted a SavedModel: RuntimeError" in str(result)
    saved = to_flatbuffer(int8_bnn, via="saved_model").data
    assert _operators((tmp_path / "m.tflite").read_bytes()) == _operators(saved)


def test_via_is_checked_before_converting(int8_bnn, tmp_path, no_conversion):
    with pytest.raises(ValueError, match=r"via must be one of \['graphdef', 'saved_model'\], got via='frozen'"):
        convert(int8_bnn, tmp_path / "m.tflite", via="frozen")


def test_tflite_engine_ignores_via():
    inputs = tf.keras.Input((4,))
    model = tf.keras.Model(inputs, tf.keras.layers.Dense(2)(inputs))
    assert to_flatbuffer(model, engine="tflite").via == "tflite"


def _renamed(data):
    model = schema.ModelT.InitFromPackedBuf(bytearray(data), 0)
    for i, tensor in enumerate(model.subgraphs[0].tensors):
        tensor.name = f"tensor_{i}"
    builder = flatbuffers.Builder(len(data))
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def test_structure_ignores_tensor_names_and_sees_op_changes(int8_bnn, int8_clone):
    data = to_flatbuffer(int8_bnn).data
    renamed = _renamed(data)
    assert [t.name for t in parse(renamed).tensors[0]][:2] == ["tensor_0", "tensor_1"]
    assert parse(renamed).structure() == parse(data).structure()
    assert parse(to_flatbuffer(int8_clone).data).structure() != parse(data).structure()
