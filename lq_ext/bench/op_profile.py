"""Where the time goes: per-op and per-op-type latency of a ``.tflite`` file in LCE's Python
interpreter, timed one operator at a time.

LCE's Python interpreter has no op profiler, so :func:`profile_ops` times sub-graphs: for each
operator of the first subgraph it builds a one-op flatbuffer (:func:`single_op_model`: the op
with its constant inputs, its activation inputs as graph inputs) and times it in the same
interpreter settings (kernel, threads, XNNPACK) as the whole model, fed the activations the
whole model computes on the same input. The copy of those inputs into the interpreter is timed
apart with a no-op graph of the same inputs, called right after each op call, and subtracted.
Rounds alternate the order, as in :mod:`lq_ext.bench.paired`. :meth:`OpProfile.node_type_table` prints the "Summary by node type"
layout of ``lce_benchmark_model --enable_op_profiling``. Guide:
docs/guides/benchmarks.md#where-the-time-goes
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from tensorflow.lite.python import schema_py_generated as schema

from lq_ext._validate import check_int
from lq_ext.bench.interpreter import _make_input, check_run_arguments, resolve_kernel
from lq_ext.bench.paired import Interval, bootstrap_median
from lq_ext.converters._flatbuffer import load_bytes, parse
from lq_ext.converters._flatbuffer_edit import _pack, with_outputs
from lq_ext.converters.op_report import inspect
from lq_ext.converters.parity import KERNELS

__all__ = ["OpProfile", "OpTiming", "OpTypeTiming", "activations", "profile_ops", "single_op_model"]


def _activation_inputs(subgraph, op) -> tuple[int, ...]:
    """``op``'s inputs that an op or the graph input makes (not constants), in order, once."""
    made = {int(t) for other in subgraph.operators for t in (other.outputs if other.outputs is not None else ())}
    made |= {int(t) for t in (subgraph.inputs if subgraph.inputs is not None else ())}
    found = []
    for t in op.inputs if op.inputs is not None else ():
        t = int(t)
        if t >= 0 and t in made and t not in found:
            found.append(t)
    return tuple(found)


class _OneOpModels:
    """Unpacks a flatbuffer once and packs its one-op graphs (see :func:`single_op_model`)."""

    def __init__(self, flatbuffer: bytes):
        self.model = schema.ModelT.InitFromPackedBuf(bytearray(flatbuffer), 0)
        subgraph = self.model.subgraphs[0]
        self.operators, self.inputs, self.outputs = list(subgraph.operators or ()), subgraph.inputs, subgraph.outputs
        self.data = [buffer.data for buffer in self.model.buffers]
        self.signatures = self.model.signatureDefs
        self.keep = {t.buffer for other in self.model.subgraphs[1:] for t in other.tensors or ()}
        self.keep |= {m.buffer for m in self.model.metadata or ()}

    def build(self, op_index: int, *, keep_op: bool = True, outputs: bool = True):
        if not 0 <= op_index < len(self.operators):
            raise ValueError(f"op_index={op_index} is out of range: the first subgraph has {len(self.operators)} ops.")
        model, subgraph = self.model, self.model.subgraphs[0]
        op = self.operators[op_index]
        subgraph.operators = self.operators  # _activation_inputs needs every op
        inputs = _activation_inputs(subgraph, op)
        op_outputs = tuple(int(t) for t in op.outputs) if keep_op and outputs else ()
        used = {int(t) for t in op.inputs if t >= 0} if keep_op else set(inputs)
        keep = self.keep | {subgraph.tensors[t].buffer for t in used}
        try:
            for index, buffer in enumerate(model.buffers):
                buffer.data = self.data[index] if index in keep else None
            subgraph.operators = [op] if keep_op else []
            subgraph.inputs = np.asarray(inputs, dtype=np.int32)
            subgraph.outputs = np.asarray(op_outputs, dtype=np.int32)
            model.signatureDefs = None
            return _pack(model), inputs, op_outputs
        finally:
            for buffer, data in zip(model.buffers, self.data):
                buffer.data = data
            subgraph.operators, subgraph.inputs, subgraph.outputs = self.operators, self.inputs, self.outputs
            model.signatureDefs = self.signatures


def single_op_model(flatbuffer: bytes, op_index: int, *, keep_op: bool = True, outputs: bool = True):
    """A flatbuffer running only operator ``op_index`` of ``flatbuffer``'s first subgraph.

    The op keeps its options and its constant inputs (their buffers); its other inputs become
    the graph inputs, in the op's input order, each once; its outputs are the graph outputs
    (none with ``outputs=False``: the interpreter still runs the op, and copies nothing out).
    With ``keep_op=False`` the graph has the same inputs and no op (it times the input copy).
    Tensor indices are unchanged; buffers no longer used by the first subgraph are emptied
    (other subgraphs and metadata keep theirs); signature defs are dropped.

    Returns ``(flatbuffer bytes, input tensor indices, output tensor indices)``.
    """
    return _OneOpModels(flatbuffer).build(op_index, keep_op=keep_op, outputs=outputs)


def activations(flatbuffer: bytes, batch, *, kernel: str = "optimized", threads: int = 1, use_xnnpack: bool = False) -> dict:
    """``{tensor index: value}`` of every graph input and op output of the first subgraph,
    from one run of the whole model on ``batch`` (a list, one array per graph input)."""
    model = schema.ModelT.InitFromPackedBuf(bytearray(flatbuffer), 0)
    subgraph = model.subgraphs[0]
    originals = [int(t) for t in subgraph.outputs]
    taps = []
    for op in subgraph.operators:
        taps += [int(t) for t in op.outputs if int(t) >= 0 and int(t) not in taps]
    order = originals + [t for t in taps if t not in originals]
    values = _open(with_outputs(flatbuffer, taps), kernel, threads, use_xnnpack).predict(list(batch))
    found = dict(zip(order, values))
    found.update({int(t): np.asarray(array) for t, array in zip(subgraph.inputs, batch)})
    return found


def _open(flatbuffer: bytes, kernel: str, threads: int, use_xnnpack: bool):
    """The wrapper of an LCE Interpreter of ``flatbuffer`` (its ``predict`` takes a list)."""
    from larq_compute_engine.tflite.python.interpreter import Interpreter

    return Interpreter(flatbuffer, num_threads=threads, use_xnnpack=use_xnnpack, **KERNELS[kernel]).interpreter


@dataclass(frozen=True)
class OpTiming:
    """One operator: its net time, ms per run: the op graph's call minus the input-copy
    graph's call made right after it, median over a round's pairs.

    ``time`` is the median over rounds with its bootstrap interval and min–max; ``raw_ms`` and
    ``copy_ms`` are the medians of the two graphs' calls."""

    index: int
    op_type: str
    output: str  # name of its first output tensor
    output_shape: tuple[int, ...]
    time: Interval
    raw_ms: float
    copy_ms: float

    @property
    def median_ms(self) -> float:
        return self.time.median


@dataclass(frozen=True)
class OpTypeTiming:
    """One op type: ``count`` ops, ``median_ms`` the sum of their medians, ``share`` of the
    sum over all ops; ``low_ms``/``high_ms`` the min–max over rounds of the per-round sum."""

    op_type: str
    count: int
    median_ms: float
    share: float
    low_ms: float
    high_ms: float


@dataclass(frozen=True)
class OpProfile:
    """What :func:`profile_ops` measured (ms per single-sample run).

    ``sum_ms`` is the sum of the ops' medians (the per-type rows add up to it); ``sum_spread``
    the interval of the per-round sums; ``whole`` the whole model's per-round medians (same
    rounds). ``gap_ms = whole.median - sum_ms`` is what the one-op timing does not see: the
    interpreter's per-op dispatch inside one invoke, caches warm across ops, the model's own
    input/output copies, and with ``clock="wall"`` on a shared machine the preemption that
    hits the long whole-model call more than the short op calls."""

    source: str
    kernel: str
    threads: int
    use_xnnpack: bool
    rounds: int
    runs_per_round: int
    clock: str
    ops: tuple[OpTiming, ...]
    by_type: tuple[OpTypeTiming, ...]  # slowest first
    sum_ms: float
    sum_spread: Interval
    whole: Interval
    copy_ms: float  # the subtracted input copies, summed over ops

    @property
    def gap_ms(self) -> float:
        return self.whole.median - self.sum_ms

    def node_type_table(self) -> str:
        """The per-type rows in the tab-separated layout of TFLite's StatsCalculator
        ("Summary by node type" of ``lce_benchmark_model --enable_op_profiling``); ``avg ms``
        holds the median, ``mem KB`` is not measured (0)."""

        def field(value, width):
            return "\t" + str(value).rjust(width)

        head = "".join(
            field(text, width)
            for text, width in (("[Node type]", 40), ("[count]", 9), ("[avg ms]", 10), ("[avg %]", 11),
                                ("[cdf %]", 11), ("[mem KB]", 10), ("[times called]", 10))
        )
        lines = ["============================== Summary by node type ==============================", head]
        cdf = 0.0
        for row in self.by_type:
            cdf += row.share * 100
            lines.append(
                field(row.op_type, 40) + field(row.count, 9) + field(f"{row.median_ms:.3f}", 10)
                + field(f"{row.share * 100:.3f}%", 10) + field(f"{cdf:.3f}%", 10) + field("0.000", 10)
                + field(row.count, 9)
            )
        return "\n".join(lines)

    def markdown(self) -> str:
        """The per-type rows, then the sum next to the whole model, as a markdown table."""
        lines = [
            "| op type | count | median ms | min–max over rounds | share of sum | cdf |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        cdf = 0.0
        for row in self.by_type:
            cdf += row.share
            lines.append(
                f"| {row.op_type} | {row.count} | {row.median_ms:.3f} | {row.low_ms:.3f}–{row.high_ms:.3f} "
                f"| {row.share:.1%} | {cdf:.1%} |"
            )
        lines.append(
            f"| **sum of ops** | {len(self.ops)} | **{self.sum_ms:.3f}** | "
            f"{self.sum_spread.min:.3f}–{self.sum_spread.max:.3f} | 100.0% | |"
        )
        lines.append(
            f"| **whole model** | | **{self.whole.median:.3f}** | {self.whole.min:.3f}–{self.whole.max:.3f} | "
            f"{self.whole.median / self.sum_ms:.1%} | |"
        )
        return "\n".join(lines)

    def top_ops_markdown(self, n: int = 10) -> str:
        """The ``n`` slowest ops: index, type, output tensor and shape, median [min–max], share."""
        lines = ["| # | op type | output | shape | median ms | min–max over rounds | share of sum |",
                 "|---:|---|---|---|---:|---:|---:|"]
        for op in sorted(self.ops, key=lambda op: -op.median_ms)[:n]:
            shape = "×".join(map(str, op.output_shape))
            lines.append(
                f"| {op.index} | {op.op_type} | `{op.output[:60]}` | {shape} | {op.median_ms:.3f} "
                f"| {op.time.min:.3f}–{op.time.max:.3f} | {op.median_ms / self.sum_ms:.1%} |"
            )
        return "\n".join(lines)

    def __str__(self) -> str:
        head = (
            f"{self.source}: {len(self.ops)} ops, kernel={self.kernel}, threads={self.threads}, "
            f"xnnpack={'on' if self.use_xnnpack else 'off'}, {self.rounds} rounds × {self.runs_per_round} runs, "
            f"{self.clock} clock\n"
            f"sum of ops {self.sum_ms:.3f} ms [{self.sum_spread.min:.3f}–{self.sum_spread.max:.3f}], whole model "
            f"{self.whole.median:.3f} ms [{self.whole.min:.3f}–{self.whole.max:.3f}] (gap {self.gap_ms:+.3f} ms); "
            f"input copies subtracted: {self.copy_ms:.3f} ms"
        )
        return head + "\n" + self.node_type_table()


#: ``clock=`` choices: wall time, or CPU time of this process (all its threads).
CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def _time(invoke, batch, runs: int, clock) -> float:
    """Median time (ms) of ``runs`` calls of ``invoke(batch)`` on ``clock``."""
    times = []
    for _ in range(runs):
        start = clock()
        invoke(batch)
        times.append((clock() - start) * 1e3)
    return statistics.median(times)


def _time_pair(op_invoke, copy_invoke, feed, runs: int, clock) -> tuple[float, float, float]:
    """Medians (ms) of ``runs`` alternating calls: the op graph, the input-copy graph, and
    their call-by-call difference (the two calls of a pair see the same machine state)."""
    pairs = []
    for _ in range(runs):
        start = clock()
        op_invoke(feed)
        middle = clock()
        copy_invoke(feed)
        pairs.append(((middle - start) * 1e3, (clock() - middle) * 1e3))
    op_ms, copy_ms = zip(*pairs)
    return statistics.median(op_ms), statistics.median(copy_ms), statistics.median(a - b for a, b in pairs)


def _by_type(ops: list[OpTiming], nets: np.ndarray, total: float) -> tuple[OpTypeTiming, ...]:
    rows = []
    for op_type in dict.fromkeys(op.op_type for op in ops):
        members = [i for i, op in enumerate(ops) if op.op_type == op_type]
        ms = float(sum(ops[i].median_ms for i in members))
        per_round = nets[:, members].sum(axis=1)
        rows.append(OpTypeTiming(op_type, len(members), ms, ms / total if total else 0.0,
                                 float(per_round.min()), float(per_round.max())))
    return tuple(sorted(rows, key=lambda row: -row.median_ms))


def profile_ops(
    path,
    *,
    kernel: str = "auto",
    threads: int = 1,
    use_xnnpack: bool = False,
    rounds: int = 5,
    runs_per_round: int = 5,
    warmup: int = 2,
    inputs="random",
    clock: str = "wall",
    progress: Callable[[int, int], None] | None = None,
) -> OpProfile:
    """Time every operator of ``path``'s first subgraph alone, and the whole model, in rounds.

    # Arguments
        path: a ``.tflite`` file (or its bytes).
        kernel, threads, use_xnnpack: as :func:`lq_ext.bench.run` (``"auto"`` resolved once,
            for the whole model, and used for every op).
        rounds: rounds (>= 2); each times the whole model and every op (then its input-copy
            graph) ``runs_per_round`` times, in graph order on even rounds, reversed on odd.
        warmup: untimed calls of each graph before the first round.
        inputs: the model input, as :func:`lq_ext.bench.run` (``"random"`` by default); the
            ops are fed the activations the whole model computes from it.
        clock: ``"wall"`` (what ``lce_benchmark_model`` reports) or ``"cpu"``, the CPU time
            of this process (:func:`time.process_time`, all threads): on a machine shared with
            other jobs a long call (the whole model) is preempted far more often than a short
            one (one op), which inflates its wall time alone; CPU time is not inflated by
            waiting. With ``threads=1`` it is the latency an idle core would give.
        progress: called as ``progress(done, total)`` after each round.

    Two interpreters per op stay open during the rounds: memory grows with the op count
    (PokeBNN-1.0x at 224 px, 1344 ops, needed more than 9 GB).

    # Returns
        An :class:`OpProfile`.

    # Raises
        ValueError: an invalid argument (named), or a file that is not a flatbuffer.
        RuntimeError: the interpreter cannot prepare or run a graph.
    """
    threads, warmup, runs_per_round = check_run_arguments(
        threads=threads, warmup=warmup, runs=runs_per_round, kernel=kernel, use_xnnpack=use_xnnpack
    )
    rounds = check_int("rounds", rounds, low=2)
    if clock not in CLOCKS:
        raise ValueError(f"clock={clock!r} is not supported; expected one of {list(CLOCKS)}.")
    tick = CLOCKS[clock]
    if progress is not None and not callable(progress):
        raise ValueError(f"progress must be a callable(done, total) or None, got {progress!r}.")
    flatbuffer, source = load_bytes(path)
    kernel = resolve_kernel(kernel, inspect(flatbuffer), source)
    try:
        whole = _open(flatbuffer, kernel, threads, use_xnnpack)
        batch = _make_input(whole, inputs)
        values = activations(flatbuffer, batch, kernel=kernel, threads=threads, use_xnnpack=use_xnnpack)
        graph = parse(flatbuffer, source)
        operators = [op for op in graph.operators if op.subgraph == 0]
        graphs = []  # (op graph, input-copy graph, its inputs)
        builder = _OneOpModels(flatbuffer)
        for index in range(len(operators)):
            op_graph, feeds, _ = builder.build(index, outputs=False)
            copy_graph, _, _ = builder.build(index, keep_op=False)
            feed = [values[t] for t in feeds]
            graphs.append((_open(op_graph, kernel, threads, use_xnnpack), _open(copy_graph, kernel, threads, use_xnnpack), feed))
    except RuntimeError as error:
        raise RuntimeError(
            f"The LCE Interpreter could not prepare {source!r} or one of its one-op graphs with "
            f"kernel={kernel!r}, use_xnnpack={use_xnnpack} (see the ERROR lines on stderr): {error}"
        ) from error

    for _ in range(warmup):
        whole.predict(batch)
        for op_interpreter, copy_interpreter, feed in graphs:
            op_interpreter.predict(feed)
            copy_interpreter.predict(feed)
    whole_ms = []
    raw, copy, nets = (np.zeros((rounds, len(graphs))) for _ in range(3))
    for r in range(rounds):
        order = range(len(graphs)) if r % 2 == 0 else range(len(graphs) - 1, -1, -1)
        if r % 2 == 0:
            whole_ms.append(_time(whole.predict, batch, runs_per_round, tick))
        for i in order:
            op_interpreter, copy_interpreter, feed = graphs[i]
            raw[r, i], copy[r, i], nets[r, i] = _time_pair(op_interpreter.predict, copy_interpreter.predict, feed, runs_per_round, tick)
        if r % 2 == 1:
            whole_ms.append(_time(whole.predict, batch, runs_per_round, tick))
        if progress is not None:
            progress(r + 1, rounds)

    ops = []
    for i, op in enumerate(operators):
        out = graph.tensors[0][op.outputs[0]]
        ops.append(OpTiming(
            index=i, op_type=op.op_type, output=out.name, output_shape=out.shape,
            time=bootstrap_median(nets[:, i]), raw_ms=float(np.median(raw[:, i])), copy_ms=float(np.median(copy[:, i])),
        ))
    total = float(sum(op.median_ms for op in ops))
    return OpProfile(
        source=source, kernel=kernel, threads=threads, use_xnnpack=use_xnnpack, rounds=rounds,
        runs_per_round=runs_per_round, clock=clock, ops=tuple(ops), by_type=_by_type(ops, nets, total), sum_ms=total,
        sum_spread=bootstrap_median(nets.sum(axis=1)), whole=bootstrap_median(whole_ms),
        copy_ms=float(sum(op.copy_ms for op in ops)),
    )

