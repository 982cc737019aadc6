"""What a converted flatbuffer actually executes: op types, MACs, bit-packed share.

Larq's ``lq.models.summary`` counts binary depth-wise and dense MACs as 1-bit, but
LCE 0.16 has no binary depth-wise or dense op: it runs them as float
``DEPTHWISE_CONV_2D`` / ``FULLY_CONNECTED`` behind an ``LceDequantize``
(``LceQuantize → LceDequantize → float op``).  :func:`inspect` reads the flatbuffer and
reports what runs bit-packed (``LceBconv2d``) and which binary work was unpacked to
float, so silent float fallbacks are caught.

MAC conventions (batch as stored in the flatbuffer, 1 after LCE conversion):

- ``CONV_2D``: output elements × kh·kw·Cin/groups (the filter is OHWI with I = Cin/groups);
- ``DEPTHWISE_CONV_2D``: output elements × kh·kw;
- ``FULLY_CONNECTED``: output elements × in-features (= out × in at batch 1);
- ``TRANSPOSE_CONV``: input elements × kh·kw·Cout;
- ``LceBconv2d``: output positions × Cout × kh·kw·Cin/groups. The filter is bit-packed
  int32 (OHWI, I = ⌈Cin_per_group / 32⌉ words) and the output may be bit-packed too,
  so Cout comes from the filter and Cin from the op's ``channels_in`` custom option.

Op classes: ``bitpacked`` (LCE's custom ops ``LceBconv2d`` and ``LceBMaxPool2d``, and
the ``LceQuantize`` / ``LceDequantize`` that pack and unpack), ``int8`` (an op with an
int8 / uint8 input or output) and ``float`` (the rest). "Binary work unpacked": a MAC
op that is not bit-packed and whose activation input comes from an ``LceDequantize``,
directly or through ops that only move ±1 values around (pad, reshape, transpose,
max-pool, slicing); in a float op it is wasted (float weights, float MACs), in an int8
op (lq_ext's exact int8 depth-wise conv) it is exact integer work.

Element-wise float work (``OpInfo.elementwise``, ``OpReport.elementwise_float_work``):
for every op without a multiply-accumulate core (all but ``CONV_2D``,
``DEPTHWISE_CONV_2D``, ``FULLY_CONNECTED``, ``TRANSPOSE_CONV``, ``LceBconv2d``) that reads
or writes a float activation, the element count of its largest float activation tensor
(a non-constant input or an output), summed over the ops at the stored batch (1: per
image). ``ADD`` / ``MUL`` / ``PRELU`` / ``PAD`` / ``CONCATENATION`` count their output,
``LceQuantize`` its float input (not the packed words), ``LceDequantize`` and
``DEQUANTIZE`` their float output, a pool its input. Shape ops (``RESHAPE``, ``SHAPE``,
``SQUEEZE``, ``EXPAND_DIMS``) and ops on int8 / int32 / packed tensors only count 0.

Guide: docs/guides/conversion.md.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass

from lq_ext.converters._flatbuffer import Graph, Operator, read_model
from lq_ext.converters._op_work import ACTIVATION_INPUT, BCONV, elementwise, macs, weight_floor_bits

__all__ = ["OP_CLASSES", "OpInfo", "OpReport", "inspect"]

#: Op classes of the report: LCE's bit-packed custom ops, int8 ops, float ops.
OP_CLASSES = ("bitpacked", "int8", "float")

QUANTIZE = "LceQuantize"
DEQUANTIZE = "LceDequantize"
_LCE_OPS = {BCONV, QUANTIZE, DEQUANTIZE, "LceBMaxPool2d"}
_INT8_TYPES = {"int8", "uint8"}

#: Ops that move ±1 values around without making them non-binary; an op fed by an
#: ``LceDequantize`` through a chain of these still does binary work.
_VALUE_PRESERVING = {
    "PAD", "PADV2", "MIRROR_PAD", "RESHAPE", "TRANSPOSE", "SQUEEZE", "EXPAND_DIMS",
    "MAX_POOL_2D", "SPACE_TO_BATCH_ND", "BATCH_TO_SPACE_ND", "STRIDED_SLICE", "SLICE",
}
@dataclass(frozen=True)
class OpInfo:
    """One operator of the flatbuffer as the report sees it."""

    index: int  # position in its subgraph's execution order
    subgraph: int
    op_type: str
    op_class: str  # one of OP_CLASSES
    macs: int
    input_name: str  # the activation input's tensor name ("" if none)
    output_name: str
    groups: int = 1  # LceBconv2d / CONV_2D groups
    unpacked_binary: bool = False  # a float/int8 MAC op fed by an LceDequantize
    unpacked_output: bool = False  # an LceBconv2d writing float/int8 that is only binarized
    custom: bool = False  # a custom op (LCE's Lce*): stock TFLite / LiteRT / TFLite Micro lack it
    elementwise: int = 0  # float elements processed by a non-MAC op (module docstring)


def _classify(graph: Graph, op: Operator) -> str:
    if op.op_type in _LCE_OPS:
        return "bitpacked"
    tensors = [graph.tensor(op, i) for i in range(len(op.inputs))]
    tensors += [graph.tensor(op, i, outputs=True) for i in range(len(op.outputs))]
    if any(t is not None and t.dtype in _INT8_TYPES for t in tensors):
        return "int8"
    return "float"


def inspect(path_or_bytes) -> OpReport:
    """Report every op type of a TFLite flatbuffer with its count, class and MACs.

    # Arguments
        path_or_bytes: path of a ``.tflite`` file, or the flatbuffer bytes.

    # Returns
        An :class:`OpReport` (``print`` it for a table, ``to_dict()`` for JSON).

    # Raises
        FileNotFoundError: the file does not exist.
        ValueError: not a TFLite flatbuffer (the ``TFL3`` identifier is checked
            first), or a corrupted one.
    """
    _, graph = read_model(path_or_bytes)
    producers, consumers = {}, {}
    for op in graph.operators:
        for t in op.outputs:
            producers[(op.subgraph, t)] = op
        for t in op.inputs:
            if t >= 0:
                consumers.setdefault((op.subgraph, t), []).append(op)

    def _only_binarized(op: Operator) -> bool:
        """An LceBconv2d whose float / int8 output is consumed only by LceQuantize ops:
        LCE could have written it bit-packed (its ``output_threshold`` path)."""
        out = graph.tensor(op, 0, outputs=True)
        if op.op_type != BCONV or out is None or out.dtype == "int32":
            return False
        key = (op.subgraph, op.outputs[0])
        after = consumers.get(key, [])
        return bool(after) and all(c.op_type == QUANTIZE for c in after)

    def _source_op(op: Operator, position: int) -> Operator | None:
        """The op producing input ``position``, skipping value-preserving ops."""
        if position >= len(op.inputs) or op.inputs[position] < 0:
            return None
        producer = producers.get((op.subgraph, op.inputs[position]))
        seen = 0
        while producer is not None and producer.op_type in _VALUE_PRESERVING and seen < 64:
            producer = producers.get((producer.subgraph, producer.inputs[0])) if producer.inputs else None
            seen += 1
        return producer

    infos, pairs = [], 0
    for op in graph.operators:
        op_macs, groups = macs(graph, op)
        op_class = _classify(graph, op)
        position = ACTIVATION_INPUT.get(op.op_type, 0)
        source = _source_op(op, position)
        unpacked = bool(
            op_macs and op_class != "bitpacked" and source is not None and source.op_type == DEQUANTIZE
        )
        inp = graph.tensor(op, position) if op.inputs else None
        out = graph.tensor(op, 0, outputs=True)
        if op.op_type == DEQUANTIZE and out is not None and out.dtype.startswith("float"):
            direct = producers.get((op.subgraph, op.inputs[0])) if op.inputs else None
            if direct is not None and direct.op_type == QUANTIZE:
                pairs += 1
        infos.append(
            OpInfo(
                index=op.index,
                subgraph=op.subgraph,
                op_type=op.op_type,
                op_class=op_class,
                macs=int(op_macs),
                input_name=inp.name if inp is not None else "",
                output_name=out.name if out is not None else "",
                groups=int(groups),
                unpacked_binary=unpacked,
                unpacked_output=_only_binarized(op),
                custom=op.custom,
                elementwise=elementwise(graph, op),
            )
        )
    return OpReport(
        source=graph.source,
        size_bytes=graph.size_bytes,
        ops=tuple(infos),
        quantize_dequantize_pairs=pairs,
        weight_floor_bytes=weight_floor_bits(graph) / 8,
    )


@dataclass(frozen=True)
class OpReport:
    """Op composition of a TFLite flatbuffer (see :func:`inspect`).

    # Attributes
        source: the file path, or ``"<bytes>"``.
        size_bytes: flatbuffer size.
        ops: one :class:`OpInfo` per operator, in execution order.
        quantize_dequantize_pairs: ``LceDequantize`` ops to float fed directly by an
            ``LceQuantize``: a binarizer whose ±1 output is unpacked to float again
            instead of feeding a bit-packed op.
        weight_floor_bytes: what the model's constants need at 1 bit per binary
            weight, 8 per int8 and 32 per float value (0 if unknown).
    """

    source: str
    size_bytes: int
    ops: tuple[OpInfo, ...]
    quantize_dequantize_pairs: int
    weight_floor_bytes: float = 0.0

    @property
    def size_over_floor(self) -> float | None:
        """File size / :attr:`weight_floor_bytes` (1.0: nothing but packed weights)."""
        return self.size_bytes / self.weight_floor_bytes if self.weight_floor_bytes else None

    # -- counts -------------------------------------------------------------
    @property
    def op_counts(self) -> dict[str, int]:
        """Op type → number of ops, in order of first appearance."""
        return dict(Counter(info.op_type for info in self.ops))

    def count(self, op_type: str) -> int:
        """Number of ops of ``op_type`` (``"LceBconv2d"``, ``"CONV_2D"``, ...)."""
        return sum(info.op_type == op_type for info in self.ops)

    @property
    def custom_ops(self) -> tuple[str, ...]:
        """The custom op types (LCE's ``Lce*``), sorted: what only LCE's runtime runs."""
        return tuple(sorted({info.op_type for info in self.ops if info.custom}))

    @property
    def builtin_ops(self) -> tuple[str, ...]:
        """The builtin op types, sorted: what a TFLite Micro op resolver must register."""
        return tuple(sorted({info.op_type for info in self.ops if not info.custom}))

    @property
    def rows(self) -> list[dict]:
        """One row per (op type, class): count, MACs and element-wise float work, in order
        of first appearance."""
        table: dict[tuple[str, str], dict] = {}
        for info in self.ops:
            row = table.setdefault(
                (info.op_type, info.op_class),
                {"op_type": info.op_type, "op_class": info.op_class, "count": 0, "macs": 0, "elementwise": 0},
            )
            row["count"] += 1
            row["macs"] += info.macs
            row["elementwise"] += info.elementwise
        return list(table.values())

    @property
    def elementwise_float_work(self) -> int:
        """Float elements processed by non-MAC ops per image (module docstring)."""
        return sum(info.elementwise for info in self.ops)

    @property
    def elementwise_by_type(self) -> dict[str, int]:
        """Op type → its element-wise float work, largest first (0-work types left out)."""
        totals = Counter()
        for info in self.ops:
            if info.elementwise:
                totals[info.op_type] += info.elementwise
        return dict(totals.most_common())

    # -- MACs ---------------------------------------------------------------
    @property
    def macs_by_class(self) -> dict[str, int]:
        """MACs per class ``bitpacked`` / ``int8`` / ``float``."""
        totals = dict.fromkeys(OP_CLASSES, 0)
        for info in self.ops:
            totals[info.op_class] += info.macs
        return totals

    @property
    def total_macs(self) -> int:
        return sum(info.macs for info in self.ops)

    @property
    def unpacked_binary(self) -> tuple[OpInfo, ...]:
        """Float (or int8) MAC ops whose input comes from an ``LceDequantize``."""
        return tuple(info for info in self.ops if info.unpacked_binary)

    @property
    def unpacked_binary_macs(self) -> int:
        return sum(info.macs for info in self.unpacked_binary)

    @property
    def unpacked_to_float_macs(self) -> int:
        """Binary MACs that run in a float op (the waste LCE alone leaves; int8 is exact)."""
        return sum(info.macs for info in self.unpacked_binary if info.op_class == "float")

    @property
    def unpacked_outputs(self) -> tuple[OpInfo, ...]:
        """``LceBconv2d`` ops that write float / int8 output which the next ops only
        binarize again (``LceQuantize``): it could have been bit-packed."""
        return tuple(info for info in self.ops if info.unpacked_output)

    @property
    def bitpacked_share(self) -> float | None:
        """bit-packed MACs / (bit-packed + unpacked binary MACs); None without binary work."""
        packed = self.macs_by_class["bitpacked"]
        binary = packed + self.unpacked_binary_macs
        return packed / binary if binary else None

    @property
    def has_grouped_bconv(self) -> bool:
        """True if an ``LceBconv2d`` has groups > 1 (needs the indirect BGEMM kernel)."""
        return any(info.op_type == BCONV and info.groups > 1 for info in self.ops)

    # -- output -------------------------------------------------------------
    def to_dict(self) -> dict:
        """Plain-Python summary (JSON-serialisable), including every op."""
        return {
            "source": self.source,
            "size_bytes": self.size_bytes,
            "op_count": len(self.ops),
            "op_counts": self.op_counts,
            "rows": self.rows,
            "elementwise_float_work": self.elementwise_float_work,
            "elementwise_by_type": self.elementwise_by_type,
            "macs_by_class": self.macs_by_class,
            "total_macs": self.total_macs,
            "unpacked_binary": [asdict(info) for info in self.unpacked_binary],
            "unpacked_binary_macs": self.unpacked_binary_macs,
            "unpacked_to_float_macs": self.unpacked_to_float_macs,
            "bitpacked_share": self.bitpacked_share,
            "quantize_dequantize_pairs": self.quantize_dequantize_pairs,
            "unpacked_outputs": [asdict(info) for info in self.unpacked_outputs],
            "weight_floor_bytes": self.weight_floor_bytes,
            "size_over_floor": self.size_over_floor,
            "has_grouped_bconv": self.has_grouped_bconv,
            "custom_ops": list(self.custom_ops),
            "builtin_ops": list(self.builtin_ops),
            "ops": [asdict(info) for info in self.ops],
        }

    def format(self) -> str:
        """A readable table: ops by type and class, MACs by class, unpacked binary work."""
        lines = [f"TFLite op report: {self.source} ({self.size_bytes:,} bytes, {len(self.ops)} ops)"]
        rows = self.rows
        width = max([len("op type")] + [len(row["op_type"]) for row in rows])
        lines.append(f"  {'op type':<{width}}  {'class':<9}  {'count':>5}  {'MACs':>15}  {'float elements':>14}")
        lines.append(f"  {'-' * width}  {'-' * 9}  {'-' * 5}  {'-' * 15}  {'-' * 14}")
        for row in rows:
            lines.append(
                f"  {row['op_type']:<{width}}  {row['op_class']:<9}  {row['count']:>5}  {row['macs']:>15,}"
                f"  {row['elementwise']:>14,}"
            )
        by_class = self.macs_by_class
        total = self.total_macs
        lines.append(
            "  MACs by class: "
            + ", ".join(
                f"{name} {macs:,} ({(macs / total if total else 0):.1%})"
                for name, macs in by_class.items()
            )
            + f"; total {total:,}"
        )
        lines.append(
            f"  Element-wise float work (non-MAC ops, per image): {self.elementwise_float_work:,} elements"
            + (f" ({self.elementwise_float_work / total:.3f} per MAC)" if total else "")
        )
        unpacked = self.unpacked_binary
        float_macs = self.unpacked_to_float_macs
        lines.append(
            f"  Binary work unpacked by LceDequantize: {len(unpacked)} op(s), "
            f"{self.unpacked_binary_macs:,} MACs (in float ops {float_macs:,}, in int8 ops "
            f"{self.unpacked_binary_macs - float_macs:,})"
        )
        for info in unpacked:
            lines.append(
                f"    - #{info.index} {info.op_type} ({info.op_class}, {info.macs:,} MACs) "
                f"input {info.input_name!r} -> output {info.output_name!r}"
            )
        share = self.bitpacked_share
        lines.append(
            "  Binary MACs run bit-packed: "
            + ("n/a (no binary work)" if share is None else f"{share:.1%}")
        )
        lines.append(
            f"  LceQuantize→LceDequantize pairs (binarized, then unpacked): "
            f"{self.quantize_dequantize_pairs}"
        )
        lines.append(
            f"  LceBconv2d outputs only binarized again but written unpacked: {len(self.unpacked_outputs)}"
            + "".join(f"\n    - #{info.index} -> {info.output_name!r}" for info in self.unpacked_outputs)
        )
        if self.size_over_floor is not None:
            lines.append(
                f"  Size vs. bit floor of its constants (binary 1, int8 8, float 32 bits): "
                f"{self.size_bytes:,} / {self.weight_floor_bytes:,.0f} bytes = "
                f"{self.size_over_floor:.2f}x"
            )
        lines.append(
            "  Grouped binary convs: "
            + ("yes (run with the indirect_bgemm kernel)" if self.has_grouped_bconv else "no")
        )
        lines.append(
            "  Custom ops: "
            + (
                f"{', '.join(self.custom_ops)} (need LCE's runtime)"
                if self.custom_ops
                else "none (runs on stock TFLite / LiteRT and TFLite Micro)"
            )
        )
        lines.append(f"  Builtin ops to register (TFLite Micro op resolver): {', '.join(self.builtin_ops) or 'none'}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.format()
