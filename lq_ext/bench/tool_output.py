"""Parse what LCE's ``lce_benchmark_model`` prints into a :class:`~lq_ext.bench.ToolResult`.

The format is TFLite's ``benchmark_model`` (2.16) with LCE's two kernel flags: parameter
lines (``Num threads: [4]``), two ``count=... first=... avg=... std=...`` statistics lines
(warm-up, then regular runs), the summary line and, with ``--enable_op_profiling``, the
tables of TFLite's StatsCalculator. Lines may carry an ``INFO: `` prefix.
Guide: docs/guides/benchmarks.md
"""

from __future__ import annotations

import decimal
import re

from lq_ext.bench.results import (
    TOOL_NAME,
    NodeStats,
    OpTypeStats,
    PhaseStats,
    ToolResult,
)

__all__ = ["ToolOutputError", "excerpt", "parse_output"]


class ToolOutputError(ValueError):
    """The tool's output lacks the lines :func:`parse_output` needs."""


_NUM = r"[-+]?(?:nan|inf|(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)"
_SUMMARY = re.compile(
    rf"Inference timings in us: Init: ({_NUM}), First inference: ({_NUM}), "
    rf"Warmup \(avg\): ({_NUM}), Inference \(avg\): ({_NUM})",
    re.IGNORECASE,
)
_PHASE = re.compile(r"(?:^|[\s:])count=(\d+)\b(.*)$")
_PHASE_FIELD = re.compile(rf"\b(first|curr|min|max|avg|std|p\d+|median)=({_NUM})", re.IGNORECASE)
_PROFILE_SUMMARY_PREFIXES = ("Timings (microseconds):", "Memory (bytes):")
_PARAMS = {
    "threads": re.compile(r"Num threads: \[(-?\d+)\]"),
    "graph": re.compile(r"Graph: \[(.*)\]"),
    "xnnpack": re.compile(r"Use xnnpack: \[(\w+)\]", re.IGNORECASE),
    "indirect": re.compile(r"Use indirect BGEMM: \[(\w+)\]", re.IGNORECASE),
    "reference": re.compile(r"Use reference Bconv: \[(\w+)\]", re.IGNORECASE),
    "size": re.compile(rf"The input model file size \(MB\): ({_NUM})"),
    "init": re.compile(rf"Initialized session in ({_NUM}) ?ms"),
    "memory": re.compile(rf"Memory footprint delta from the start of the tool \(MB\): init=({_NUM}) overall=({_NUM})"),
    "peak": re.compile(rf"Overall peak memory footprint \(MB\)[^:]*: ({_NUM})"),
}
_REGULAR_PROFILE = "Operator-wise Profiling Info for Regular Benchmark Runs"
_TABLE_TITLE = re.compile(r"^=+ (.+?) =+$")
_SECTION_END = re.compile(r"^(Profiling Info for|Operator-wise Profiling Info|Delegate internal|Subgraph \(index)")


def _ms(text: str | None) -> float | None:
    """Microseconds as printed → ms (decimal division: "44950.2" gives exactly 44.9502)."""
    if text is None:
        return None
    value = decimal.Decimal(text)
    return None if value.is_nan() else float(value / 1000)


def _flag(text: str | None) -> bool | None:
    if text is None:
        return None
    return text.strip().lower() in ("1", "true", "yes")


def excerpt(lines: list[str], *, first: bool = True, n: int = 5) -> str:
    kept = [line.strip() for line in lines if line.strip()]
    kept = kept[:n] if first else kept[-n:]
    if not kept:
        return "(the output is empty)"
    return " | ".join(repr(line[:120]) for line in kept)


def _output_error(reason: str, lines: list[str]) -> ToolOutputError:
    return ToolOutputError(
        f"Could not parse the output of {TOOL_NAME}: {reason}. First lines of the output: "
        f"{excerpt(lines)}"
    )


def _parse_phase(rest: str, count: int) -> PhaseStats:
    if count == 0:
        return PhaseStats(count=0)
    values = {key.lower(): value for key, value in _PHASE_FIELD.findall(rest)}
    if "curr" not in values:
        raise ValueError(f"no curr= value in 'count={count}{rest}'")
    if "min" not in values:  # "count=1 curr=X" or "count=N curr=X(all same)"
        curr = _ms(values["curr"])
        same = {"first_ms": curr, "min_ms": curr, "max_ms": curr, "avg_ms": curr, "std_ms": 0.0}
        return PhaseStats(count=count, curr_ms=curr, **same)
    missing = [key for key in ("first", "max", "avg") if key not in values]
    if missing:
        raise ValueError(f"no {', '.join(k + '=' for k in missing)} in 'count={count}{rest}'")
    return PhaseStats(
        count=count,
        first_ms=_ms(values["first"]),
        curr_ms=_ms(values["curr"]),
        min_ms=_ms(values["min"]),
        max_ms=_ms(values["max"]),
        avg_ms=_ms(values["avg"]),
        std_ms=_ms(values.get("std")),
        p5_ms=_ms(values.get("p5")),
        median_ms=_ms(values.get("median", values.get("p50"))),
        p95_ms=_ms(values.get("p95")),
    )


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip("\r\n").split("\t")]


def _header_keys(line: str) -> list[str]:
    keys = []
    for cell in _cells(line):
        if not cell:
            continue
        keys.append(re.sub(r"\s+", " ", cell.strip("[]").strip().lower()))
    return keys


def _number(cell: str) -> float:
    return float(cell.rstrip("%"))


def _table_rows(lines: list[str], start: int) -> tuple[list[str], list[list[str]]]:
    """Header keys and row cells of the table whose header line is ``lines[start]``."""
    keys = _header_keys(lines[start])
    rows = []
    for line in lines[start + 1 :]:
        if not line.strip() or _TABLE_TITLE.match(line.strip()):
            break
        cells = _cells(line)
        if cells and cells[0] == "":
            cells = cells[1:]
        if len(cells) < len(keys) - 1:
            break
        # The name (last column) may itself contain tabs.
        cells = cells[: len(keys) - 1] + ["\t".join(cells[len(keys) - 1 :])]
        rows.append(cells)
    return keys, rows


class _Row:
    """Cells of one table row, looked up by the (normalised) header names."""

    def __init__(self, keys: list[str], cells: list[str]):
        self.cells = dict(zip(keys, cells))

    def text(self, key: str) -> str:
        return self.cells[key]  # KeyError: a required column is missing

    def number(self, key: str, *, required: bool = False) -> float | None:
        if key not in self.cells and not required:
            return None
        return _number(self.cells[key])

    def integer(self, key: str, *, required: bool = False) -> int | None:
        value = self.number(key, required=required)
        return None if value is None else int(value)


def _op_type_stats(row: _Row) -> OpTypeStats:
    return OpTypeStats(
        node_type=row.text("node type"),
        count=row.integer("count", required=True),
        avg_ms=row.number("avg ms", required=True),
        percent=row.number("avg %"),
        cdf_percent=row.number("cdf %"),
        mem_kb=row.number("mem kb"),
        times_called=row.integer("times called"),
    )


def _node_stats(row: _Row) -> NodeStats:
    return NodeStats(
        name=row.text("name"),
        node_type=row.text("node type"),
        first_ms=row.number("first"),
        avg_ms=row.number("avg ms", required=True),
        percent=row.number("%"),
        cdf_percent=row.number("cdf%"),
        mem_kb=row.number("mem kb"),
        times_called=row.integer("times called"),
    )


def _parse_profile(lines: list[str]) -> tuple[tuple[OpTypeStats, ...], tuple[NodeStats, ...]]:
    """The first ("primary graph") tables of the regular-runs profile section."""
    begin = next((i for i, line in enumerate(lines) if _REGULAR_PROFILE in line), None)
    if begin is None:
        return (), ()
    by_type, by_node = None, None
    i = begin + 1
    while i < len(lines):
        text = lines[i].strip()
        if _SECTION_END.match(text) and by_type is not None:
            break
        title = _TABLE_TITLE.match(text)
        if title and i + 1 < len(lines):
            name = title.group(1).strip()
            try:
                keys, rows = _table_rows(lines, i + 1)
                if name == "Summary by node type" and by_type is None:
                    by_type = tuple(_op_type_stats(_Row(keys, row)) for row in rows)
                elif name == "Run Order" and by_node is None:
                    by_node = tuple(_node_stats(_Row(keys, row)) for row in rows)
            except (KeyError, ValueError, IndexError) as error:
                raise _output_error(
                    f"the {name!r} table of the op profile (line {i + 2}: {lines[i + 1].strip()!r}) "
                    f"could not be read ({type(error).__name__}: {error})",
                    lines,
                ) from None
        i += 1
    if by_type is None:
        raise _output_error(
            f"the {_REGULAR_PROFILE!r} section has no 'Summary by node type' table", lines
        )
    return by_type, by_node or ()


def parse_output(text: str) -> ToolResult:
    """Parse what ``lce_benchmark_model`` printed (stdout and stderr, in any order).

    Lines may carry an ``INFO: `` prefix or not. The first ``count=...`` line is the
    warm-up, the second the regular runs (the ``Timings (microseconds): count=...``
    lines of the op profile are not counted). With ``--enable_op_profiling=true`` the
    "Summary by node type" and "Run Order" tables of the regular runs' profile (the
    primary graph's) are read into ``op_profile`` and ``node_profile``.

    # Arguments
        text: the tool's output, as a ``str``.

    # Returns
        A :class:`ToolResult`. Fields the output does not carry get neutral values:
        ``path`` is the ``Graph: [...]`` value (or ""), ``size_bytes`` is derived from
        "The input model file size (MB)" (0 if absent), ``kernel`` comes from LCE's
        "Use indirect BGEMM" / "Use reference Bconv" lines ("unknown" if absent),
        ``threads`` from "Num threads" (-1 if absent) and ``machine`` is "unknown".
        :func:`run_tool` fills them from what it knows.

    # Raises
        TypeError: ``text`` is not a ``str``.
        ToolOutputError: (a ``ValueError``) no warm-up and regular-run ``count=`` lines,
            a regular phase with ``count=0``, or an unreadable op-profile table; the
            message quotes the first lines of the output.
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be the tool's output as a str, got {type(text).__name__}.")
    lines = text.splitlines()

    phases = []
    for line in lines:
        stripped = line.strip()
        if any(prefix in stripped for prefix in _PROFILE_SUMMARY_PREFIXES):
            continue
        match = _PHASE.search(stripped)
        if match is None:
            continue
        try:
            phases.append(_parse_phase(match.group(2), int(match.group(1))))
        except ValueError as error:
            raise _output_error(f"a statistics line could not be read ({error})", lines) from None
    if len(phases) < 2:
        failed = "; the tool reported 'Benchmarking failed.'" if "Benchmarking failed" in text else ""
        raise _output_error(
            f"expected two 'count=... first=... min=... max=... avg=... std=...' lines "
            f"(warm-up, then regular runs), found {len(phases)}{failed}",
            lines,
        )
    warmup, regular = phases[0], phases[1]
    if regular.count == 0:
        raise _output_error("the regular runs have count=0 (no timed run; was --dry_run set?)", lines)

    found = {key: pattern.search(text) for key, pattern in _PARAMS.items()}
    summary = _SUMMARY.search(text)

    def group(key, index=1):
        return found[key].group(index) if found[key] else None

    indirect, reference = _flag(group("indirect")), _flag(group("reference"))
    if reference:
        kernel = "reference"
    elif indirect:
        kernel = "indirect_bgemm"
    elif indirect is not None or reference is not None:
        kernel = "optimized"
    else:
        kernel = "unknown"
    size_mb = float(group("size")) if found["size"] else None
    init_ms = float(group("init")) if found["init"] else (_ms(summary.group(1)) if summary else None)
    op_profile, node_profile = _parse_profile(lines)
    median_is_mean = regular.median_ms is None

    return ToolResult(
        path=group("graph") or "",
        size_bytes=round(size_mb * 1e6) if size_mb is not None else 0,
        kernel=kernel,
        threads=int(group("threads")) if found["threads"] else -1,
        runs=regular.count,
        warmup=warmup.count,
        median_ms=regular.avg_ms if median_is_mean else regular.median_ms,
        min_ms=regular.min_ms,
        max_ms=regular.max_ms,
        mean_ms=regular.avg_ms,
        use_xnnpack=bool(_flag(group("xnnpack"))),
        machine="unknown",
        median_is_mean=median_is_mean,
        std_ms=regular.std_ms,
        init_ms=init_ms,
        first_ms=(_ms(summary.group(2)) if summary else warmup.first_ms) if warmup.count else None,
        warmup_mean_ms=warmup.avg_ms,
        p5_ms=regular.p5_ms,
        p95_ms=regular.p95_ms,
        model_size_mb=size_mb,
        memory_init_mb=float(group("memory", 1)) if found["memory"] else None,
        memory_overall_mb=float(group("memory", 2)) if found["memory"] else None,
        peak_memory_mb=float(group("peak")) if found["peak"] else None,
        warmup_stats=warmup,
        run_stats=regular,
        op_profile=op_profile,
        node_profile=node_profile,
        graph=group("graph"),
        output=text,
    )
