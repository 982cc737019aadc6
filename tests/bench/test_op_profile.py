"""lq_ext.bench.op_profile on a flatbuffer written by hand with TFLite's schema (no converter).

The graph: t1 = x + c1; q = LceQuantize(t1); d = LceDequantize(q); t3 = d * c2; y = t3 + t1,
so y = sign(x + c1) * c2 + (x + c1) with sign(0) = +1: two constants, a bit-packed int32
activation, LCE custom ops and a tensor (t1) read by two ops.
"""

import flatbuffers
import numpy as np
import pytest
from tensorflow.lite.python import schema_py_generated as schema

from lq_ext.bench.op_profile import activations, profile_ops, single_op_model
from lq_ext.bench.tool_output import parse_output

C1 = np.array([0.5, -0.25], np.float32)
C2 = np.array([2.0, 3.0], np.float32)
SHAPE = [1, 3, 3, 2]


def _tensor(shape, name, buffer=0, dtype=schema.TensorType.FLOAT32):
    tensor = schema.TensorT()
    tensor.shape, tensor.name, tensor.buffer, tensor.type = np.array(shape, np.int32), name.encode(), buffer, dtype
    return tensor


def _buffer(values=None):
    buffer = schema.BufferT()
    if values is not None:
        buffer.data = np.frombuffer(values.tobytes(), np.uint8).copy()
    return buffer


def _code(builtin=schema.BuiltinOperator.CUSTOM, custom=None):
    code = schema.OperatorCodeT()
    code.builtinCode, code.deprecatedBuiltinCode, code.version = builtin, builtin, 1
    code.customCode = custom.encode() if custom else None
    return code


def _op(code, inputs, outputs, options_type=0, options=None):
    op = schema.OperatorT()
    op.opcodeIndex, op.inputs, op.outputs = code, np.array(inputs, np.int32), np.array(outputs, np.int32)
    op.builtinOptionsType, op.builtinOptions = options_type, options
    return op


def tiny_flatbuffer() -> bytes:
    model = schema.ModelT()
    model.version = 3
    model.buffers = [_buffer(), _buffer(C1), _buffer(C2)]
    model.operatorCodes = [
        _code(schema.BuiltinOperator.ADD), _code(custom="LceQuantize"), _code(custom="LceDequantize"),
        _code(schema.BuiltinOperator.MUL),
    ]
    subgraph = schema.SubGraphT()
    subgraph.tensors = [
        _tensor(SHAPE, "x"), _tensor([2], "c1", 1), _tensor(SHAPE, "t1"),
        _tensor([1, 3, 3, 1], "q", 0, schema.TensorType.INT32), _tensor(SHAPE, "d"), _tensor([2], "c2", 2),
        _tensor(SHAPE, "t3"), _tensor(SHAPE, "y"),
    ]
    add, mul = schema.BuiltinOptions.AddOptions, schema.BuiltinOptions.MulOptions
    subgraph.operators = [
        _op(0, [0, 1], [2], add, schema.AddOptionsT()), _op(1, [2], [3]), _op(2, [3], [4]),
        _op(3, [4, 5], [6], mul, schema.MulOptionsT()), _op(0, [6, 2], [7], add, schema.AddOptionsT()),
    ]
    subgraph.inputs, subgraph.outputs = np.array([0], np.int32), np.array([7], np.int32)
    model.subgraphs = [subgraph]
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def _predict(flatbuffer, inputs):
    from larq_compute_engine.tflite.python.interpreter import Interpreter

    return Interpreter(flatbuffer).interpreter.predict(list(inputs))


@pytest.fixture(scope="module")
def tiny():
    x = np.random.default_rng(0).uniform(-1, 1, SHAPE).astype(np.float32)
    return tiny_flatbuffer(), x


def test_whole_tiny_graph_computes_the_hand_formula(tiny):
    flatbuffer, x = tiny
    t1 = x + C1
    expected = np.where(t1 >= 0, 1.0, -1.0).astype(np.float32) * C2 + t1
    np.testing.assert_allclose(_predict(flatbuffer, [x])[0], expected, rtol=0, atol=1e-6)


def test_chained_one_op_graphs_reproduce_every_tensor(tiny):
    flatbuffer, x = tiny
    values = {0: x}
    for index in range(5):
        sub, inputs, outputs = single_op_model(flatbuffer, index)
        for tensor, value in zip(outputs, _predict(sub, [values[t] for t in inputs])):
            values[tensor] = value
    # the one-op graphs' inputs: activations only, each once; constants stay inside
    assert [single_op_model(flatbuffer, i)[1] for i in range(5)] == [(0,), (2,), (3,), (4,), (6, 2)]
    whole = _predict(flatbuffer, [x])[0]
    np.testing.assert_array_equal(values[7], whole)
    tapped = activations(flatbuffer, [x], kernel="optimized")
    assert sorted(tapped) == sorted(values) == [0, 2, 3, 4, 6, 7]  # no constants
    for tensor, value in values.items():
        np.testing.assert_array_equal(tapped[tensor], value)
    assert tapped[3].dtype == np.int32  # the bit-packed activation, fed as it is


def test_one_op_graph_keeps_only_its_own_constants(tiny):
    flatbuffer, _ = tiny
    sub, _, _ = single_op_model(flatbuffer, 3, outputs=False)  # MUL: keeps c2, drops c1
    model = schema.ModelT.InitFromPackedBuf(bytearray(sub), 0)
    kept = [i for i, b in enumerate(model.buffers) if b.data is not None and len(b.data)]
    assert kept == [2] and len(model.subgraphs[0].operators) == 1
    assert model.subgraphs[0].outputs.size == 0
    copy_only, inputs, outputs = single_op_model(flatbuffer, 4, keep_op=False)
    model = schema.ModelT.InitFromPackedBuf(bytearray(copy_only), 0)
    assert not model.subgraphs[0].operators and inputs == (6, 2) and outputs == ()
    with pytest.raises(ValueError, match="op_index=5 is out of range: the first subgraph has 5 ops"):
        single_op_model(flatbuffer, 5)


@pytest.fixture(scope="module")
def tiny_profile(tiny):
    return profile_ops(tiny[0], rounds=3, runs_per_round=3, warmup=1)


def test_rows_add_up(tiny_profile):
    profile = tiny_profile
    assert [op.op_type for op in profile.ops] == ["ADD", "LceQuantize", "LceDequantize", "MUL", "ADD"]
    assert [op.output for op in profile.ops] == ["t1", "q", "d", "t3", "y"]
    assert {row.op_type: row.count for row in profile.by_type} == {"ADD": 2, "LceQuantize": 1, "LceDequantize": 1, "MUL": 1}
    by_type = {row.op_type: row.median_ms for row in profile.by_type}
    assert by_type["ADD"] == pytest.approx(profile.ops[0].median_ms + profile.ops[4].median_ms, abs=1e-12)
    assert sum(by_type.values()) == pytest.approx(profile.sum_ms, abs=1e-12)
    assert profile.sum_ms == pytest.approx(sum(op.median_ms for op in profile.ops), abs=1e-12)
    assert sum(row.share for row in profile.by_type) == pytest.approx(1.0, abs=1e-9)
    assert [row.median_ms for row in profile.by_type] == sorted(by_type.values(), reverse=True)
    for op in profile.ops:  # net = op graph − input-copy graph, per round; medians of both kept
        assert op.time.min <= op.median_ms <= op.time.max and op.raw_ms > 0 and op.copy_ms > 0
    assert profile.whole.median > 0 and profile.gap_ms == pytest.approx(profile.whole.median - profile.sum_ms)
    assert profile.kernel == "optimized" and profile.rounds == 3 and profile.runs_per_round == 3


def test_table_reads_back_as_lce_benchmark_model_output(tiny_profile):
    """The printed table parses with the parser of the real tool's op profile."""
    text = "\n".join([
        "count=1 curr=100", "count=2 first=100 curr=100 min=100 max=100 avg=100 std=0",
        "Inference timings in us: Init: 1, First inference: 100, Warmup (avg): 100, Inference (avg): 100",
        "Operator-wise Profiling Info for Regular Benchmark Runs:", tiny_profile.node_type_table(), "",
    ])
    parsed = parse_output(text).op_profile
    rows = tiny_profile.by_type
    assert [r.node_type for r in parsed] == [r.op_type for r in rows]
    assert [r.count for r in parsed] == [r.count for r in rows] == [r.times_called for r in parsed]
    for read, row in zip(parsed, rows):
        assert read.avg_ms == pytest.approx(row.median_ms, abs=5e-4)
        assert read.percent == pytest.approx(row.share * 100, abs=5e-4)
    assert parsed[-1].cdf_percent == pytest.approx(100.0, abs=1e-3)
    assert "| **whole model** |" in tiny_profile.markdown()
    top = tiny_profile.top_ops_markdown(2).splitlines()[2:]
    slowest = sorted(tiny_profile.ops, key=lambda op: -op.median_ms)[:2]
    assert len(top) == 2 and [line.split(" | ")[1] for line in top] == [op.op_type for op in slowest]


@pytest.mark.parametrize(
    "kwargs, message",
    [({"rounds": 1}, "rounds"), ({"runs_per_round": 0}, "runs"), ({"kernel": "fast"}, "kernel='fast'"),
     ({"progress": 3}, "progress"), ({"clock": "gpu"}, r"clock='gpu' is not supported; expected one of \['wall', 'cpu'\]")],
)
def test_bad_arguments_are_named(tiny, kwargs, message):
    with pytest.raises(ValueError, match=message):
        profile_ops(tiny[0], **kwargs)


def test_cpu_clock(tiny):
    profile = profile_ops(tiny[0], rounds=2, runs_per_round=2, warmup=0, clock="cpu")
    assert profile.clock == "cpu" and "cpu clock" in str(profile)
    assert sum(row.median_ms for row in profile.by_type) == pytest.approx(profile.sum_ms, abs=1e-12)
