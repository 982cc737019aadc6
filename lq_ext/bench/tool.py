"""Drive LCE's ``lce_benchmark_model`` binary, on this machine or on a board over SSH.

The Python interpreter of :func:`lq_ext.bench.run` times LCE's portable C++ kernels on
whatever machine runs Python; ARM latency needs LCE's own benchmark binary on the board
(``lce_benchmark_model_aarch64`` from LCE's GitHub releases, on a 64-bit OS).
:func:`run_tool` runs it and :func:`parse_output` reads what it prints:

- locally: ``run_tool("model.tflite", "./lce_benchmark_model")``;
- on a board: ``run_tool("model.tflite", "/home/pi/lce_benchmark_model_aarch64",
  ssh="pi@raspberrypi.local")`` copies the model with ``scp`` to a fresh ``mktemp``
  file on the board, runs the tool there over ``ssh`` and always removes the file.

The tool prints no median. :class:`ToolResult` is a :class:`~lq_ext.bench.BenchResult`
whose ``median_ms`` is the tool's percentile median when it prints one (newer
TFLite builds add ``p5= median= p95=``) and otherwise its average
(``median_is_mean=True``); ``mean_ms``, ``min_ms`` and ``max_ms`` are the tool's own.
All times are in milliseconds (the tool prints microseconds).

Flags set by :func:`run_tool` (TFLite's benchmark flags plus LCE's two kernel flags):
``--graph``, ``--num_threads``, ``--num_runs``, ``--warmup_runs``, ``--min_secs=0`` and
``--warmup_min_secs=0`` (so that exactly ``runs`` and ``warmup`` runs happen, as in
:func:`lq_ext.bench.run`, unless ``--max_secs``, 150 s by default, cuts them short;
``extra_args`` may set these three), ``--use_xnnpack``,
``--use_indirect_bgemm``, ``--use_reference_bconv`` and ``--enable_op_profiling``.
"""

from __future__ import annotations

import decimal
import math
import numbers
import os
import platform
import re
import shlex
import shutil
import subprocess
import time
from dataclasses import dataclass, field, fields, replace

from lq_ext.bench.interpreter import KERNEL_CHOICES, BenchResult, _check_int, resolve_kernel
from lq_ext.converters.op_report import inspect

__all__ = [
    "NodeStats",
    "OpTypeStats",
    "PhaseStats",
    "SSHError",
    "ToolError",
    "ToolFailedError",
    "ToolOutputError",
    "ToolResult",
    "ToolTimeoutError",
    "parse_output",
    "run_tool",
]

TOOL_NAME = "lce_benchmark_model"
_ARM_MACHINES = ("aarch64", "arm64", "armv7l", "armv8l", "armv6l")


# -- errors -----------------------------------------------------------------
class ToolOutputError(ValueError):
    """The tool's output lacks the lines :func:`parse_output` needs."""


class ToolError(OSError):
    """Running the tool failed (an ``OSError``, so ``lq-ext`` reports it in one line)."""


class SSHError(ToolError):
    """``ssh`` or ``scp`` to the board failed (the message carries their stderr)."""


class ToolFailedError(ToolError):
    """The tool exited with a non-zero status; ``returncode`` and ``output`` are kept."""

    def __init__(self, message: str, returncode: int | None = None, output: str = ""):
        super().__init__(message)
        self.returncode = returncode
        self.output = output


class ToolTimeoutError(ToolError, TimeoutError):
    """The tool (or ssh/scp) did not finish within ``timeout`` seconds."""


# -- parsed values ----------------------------------------------------------
@dataclass(frozen=True)
class PhaseStats:
    """One ``count=... first=... curr=... min=... max=... avg=... std=...`` line, in ms.

    ``count=0`` leaves every time ``None``; ``count=N curr=X`` (one run, or
    ``(all same)``) sets first, min, max and avg to ``X`` and std to 0. Percentiles
    are ``None`` unless the tool printed them.
    """

    count: int
    first_ms: float | None = None
    curr_ms: float | None = None
    min_ms: float | None = None
    max_ms: float | None = None
    avg_ms: float | None = None
    std_ms: float | None = None
    p5_ms: float | None = None
    median_ms: float | None = None
    p95_ms: float | None = None


@dataclass(frozen=True)
class OpTypeStats:
    """One row of the profile's "Summary by node type" table (ms per run)."""

    node_type: str  # builtin name ("CONV_2D") or LCE custom op ("LceBconv2d")
    count: int  # nodes of this type
    avg_ms: float
    percent: float | None = None
    cdf_percent: float | None = None
    mem_kb: float | None = None
    times_called: int | None = None


@dataclass(frozen=True)
class NodeStats:
    """One row of the profile's "Run Order" table (ms)."""

    name: str
    node_type: str
    first_ms: float | None
    avg_ms: float
    percent: float | None = None
    cdf_percent: float | None = None
    mem_kb: float | None = None
    times_called: int | None = None


@dataclass(frozen=True)
class ToolResult(BenchResult):
    """Latency measured by ``lce_benchmark_model``: a :class:`BenchResult` plus the tool's extras.

    Shared fields keep their meaning (ms, single sample per run), with two
    differences: ``median_ms`` is the average unless the tool printed a percentile
    median (``median_is_mean`` says which), and ``runs``/``warmup`` are the counts
    the tool reports. ``machine`` is the machine the tool ran on (``uname -m`` of the
    board over SSH). :meth:`to_bench_result` drops the extras.
    """

    median_is_mean: bool = True
    std_ms: float | None = None
    init_ms: float | None = None  # "Initialized session in ...", else the summary's Init
    first_ms: float | None = None  # first warm-up inference
    warmup_mean_ms: float | None = None
    p5_ms: float | None = None
    p95_ms: float | None = None
    model_size_mb: float | None = None  # as the tool printed it (1 MB = 1e6 bytes)
    memory_init_mb: float | None = None
    memory_overall_mb: float | None = None
    peak_memory_mb: float | None = None
    warmup_stats: PhaseStats | None = None
    run_stats: PhaseStats | None = None
    op_profile: tuple[OpTypeStats, ...] = ()  # "Summary by node type", slowest first
    node_profile: tuple[NodeStats, ...] = ()  # "Run Order" rows
    graph: str | None = None  # the model path the tool read ("Graph: [...]")
    host: str | None = None  # "user@host" for runs over SSH, None for this machine
    tool: str = TOOL_NAME
    command: tuple[str, ...] = ()
    output: str = field(default="", repr=False, compare=False)

    @property
    def ms_by_op_type(self) -> dict[str, float]:
        """``{node_type: avg_ms}`` of the op profile (empty without ``op_profiling``)."""
        return {row.node_type: row.avg_ms for row in self.op_profile}

    def to_bench_result(self) -> BenchResult:
        """The shared fields only, as a plain :class:`BenchResult`."""
        return BenchResult(**{f.name: getattr(self, f.name) for f in fields(BenchResult)})

    def op_table(self) -> str:
        """The op profile by node type as a text table ("" without a profile)."""
        if not self.op_profile:
            return ""
        width = max(len("node type"), *(len(row.node_type) for row in self.op_profile))
        lines = [f"  {'node type':<{width}}  {'count':>5}  {'avg ms':>9}  {'%':>6}"]
        for row in self.op_profile:
            percent = "" if row.percent is None else f"{row.percent:.1f}"
            lines.append(f"  {row.node_type:<{width}}  {row.count:>5}  {row.avg_ms:>9.3f}  {percent:>6}")
        return "\n".join(lines)

    def __str__(self) -> str:
        if self.size_bytes:
            size = f" ({self.size_bytes:,} bytes)"
        else:
            size = "" if self.model_size_mb is None else f" ({self.model_size_mb} MB)"
        middle = (
            f"avg {self.mean_ms:.3f} ms (the tool prints no median)"
            if self.median_is_mean
            else f"median {self.median_ms:.3f} ms, mean {self.mean_ms:.3f} ms"
        )
        std = "" if self.std_ms is None else f", std {self.std_ms:.3f} ms"
        where = f"{self.host} ({self.machine})" if self.host else f"this machine ({self.machine})"
        lines = [
            f"{self.path or '<model>'}{size}: {middle}, min {self.min_ms:.3f} ms, max {self.max_ms:.3f} ms{std}",
            f"  {self.runs} runs after {self.warmup} warm-up, kernel={self.kernel}, "
            f"threads={self.threads}, xnnpack={'on' if self.use_xnnpack else 'off'}, "
            f"{TOOL_NAME} on {where}",
        ]
        extras = []
        if self.init_ms is not None:
            extras.append(f"init {self.init_ms:.1f} ms")
        if self.first_ms is not None and self.warmup:
            extras.append(f"first inference {self.first_ms:.3f} ms")
        if self.memory_overall_mb is not None:
            extras.append(f"memory +{self.memory_overall_mb:.2f} MB")
        if extras:
            lines.append("  " + ", ".join(extras))
        if self.op_profile:
            lines.append("  op profile (regular runs, per run):")
            lines.append(self.op_table())
        if self.kernel == "indirect_bgemm" and self.threads > 1:
            lines.append("  note: the indirect_bgemm kernel is single-threaded")
        if self.machine not in ("", "unknown") and self.machine.lower() not in _ARM_MACHINES:
            lines.append(f"  note: {self.machine} timings say nothing about ARM latency")
        return "\n".join(lines)


# -- parsing ----------------------------------------------------------------
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


def _excerpt(lines: list[str], *, first: bool = True, n: int = 5) -> str:
    kept = [line.strip() for line in lines if line.strip()]
    kept = kept[:n] if first else kept[-n:]
    if not kept:
        return "(the output is empty)"
    return " | ".join(repr(line[:120]) for line in kept)


def _output_error(reason: str, lines: list[str]) -> ToolOutputError:
    return ToolOutputError(
        f"Could not parse the output of {TOOL_NAME}: {reason}. First lines of the output: "
        f"{_excerpt(lines)}"
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


# -- running ----------------------------------------------------------------
_KERNEL_FLAGS = {
    "optimized": ("--use_indirect_bgemm=false", "--use_reference_bconv=false"),
    "indirect_bgemm": ("--use_indirect_bgemm=true", "--use_reference_bconv=false"),
    "reference": ("--use_indirect_bgemm=false", "--use_reference_bconv=true"),
}
_MANAGED_FLAGS = {
    "graph": "model_path",
    "num_threads": "threads",
    "num_runs": "runs",
    "warmup_runs": "warmup",
    "use_xnnpack": "use_xnnpack",
    "use_indirect_bgemm": "kernel",
    "use_reference_bconv": "kernel",
    "enable_op_profiling": "op_profiling",
}
_CLEANUP_TIMEOUT = 30.0
_MISSING_TOOL, _NOT_EXECUTABLE = 97, 98  # exit codes of the remote check script
_REMOTE_TIMEOUT_CODES = (124, 137)  # coreutils timeout: timed out / killed after -k


def _tail(text: str, n: int = 5) -> str:
    return _excerpt((text or "").splitlines(), first=False, n=n)


def _text(data) -> str:
    if data is None:
        return ""
    return data.decode("utf-8", "replace") if isinstance(data, bytes) else data


def _check_ssh_target(ssh) -> str:
    if not isinstance(ssh, str) or not ssh or ssh.startswith("-") or re.search(r"[\s'\"`$;|&<>]", ssh):
        raise ValueError(
            f"ssh must be 'user@host' or 'host' (no spaces, quotes or shell characters, not "
            f"starting with '-'), got ssh={ssh!r}."
        )
    return ssh


def _check_flag_list(name, value) -> tuple[str, ...]:
    if isinstance(value, str) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{name} must be a list or tuple of str, got {name}={value!r}.")
    return tuple(value)


def _local_tool(tool: str) -> str:
    if os.sep in tool or (os.altsep and os.altsep in tool):
        path = os.path.abspath(tool)
        if not os.path.exists(path):
            raise FileNotFoundError(
                f"No {TOOL_NAME} at tool={tool!r}: the file does not exist. Download "
                f"lce_benchmark_model_<arch> from https://github.com/larq/compute-engine/releases "
                f"or build it (CMake, COMPILE_BENCHMARK=ON)."
            )
        if os.path.isdir(path) or not os.access(path, os.X_OK):
            raise PermissionError(
                f"tool={tool!r} is not an executable file; run `chmod +x {tool}` after downloading it."
            )
        return path
    found = shutil.which(tool)
    if found is None:
        raise FileNotFoundError(
            f"tool={tool!r} is not a file path and no executable of that name is on PATH; "
            f"pass the path of the {TOOL_NAME} binary."
        )
    return found


def _remote_word(tool: str) -> str:
    """Quote ``tool`` for the remote shell, keeping a leading ``~/`` meaningful."""
    if tool.startswith("~/"):
        return '"$HOME"/' + shlex.quote(tool[2:])
    return shlex.quote(tool)


class _Deadline:
    def __init__(self, seconds: float):
        self.seconds = seconds
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        return max(self.end - time.monotonic(), 0.05)


def _timeout_error(what: str, timeout: float, partial: str = "") -> ToolTimeoutError:
    tail = f" Last output: {_tail(partial)}" if partial.strip() else ""
    return ToolTimeoutError(f"{what} did not finish within timeout={timeout!r} seconds.{tail}")


def _run(argv, timeout, what, total_timeout):
    try:
        return subprocess.run(
            argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout, text=True, errors="replace"
        )
    except subprocess.TimeoutExpired as error:
        partial = _text(error.stderr) + "\n" + _text(error.stdout)
        raise _timeout_error(what, total_timeout, partial) from None


def _ssh_base(ssh, port, ssh_options, timeout, *, scp=False) -> list[str]:
    argv = ["scp", "-q"] if scp else ["ssh"]
    argv += ["-o", "BatchMode=yes", "-o", f"ConnectTimeout={max(1, min(30, int(timeout)))}"]
    if port is not None:
        argv += ["-P" if scp else "-p", str(port)]
    argv += list(ssh_options)
    return argv


def run_tool(
    model_path,
    tool,
    *,
    ssh: str | None = None,
    port: int | None = None,
    ssh_options=(),
    threads: int = 1,
    runs: int = 50,
    warmup: int = 1,
    use_xnnpack: bool = False,
    kernel: str = "auto",
    op_profiling: bool = False,
    timeout: float = 600,
    extra_args=(),
) -> ToolResult:
    """Benchmark ``model_path`` with ``lce_benchmark_model``, here or over SSH.

    Every argument is checked, and the kernel resolved from the local flatbuffer,
    before any process starts.

    # Arguments
        model_path: a local ``.tflite`` file.
        tool: the ``lce_benchmark_model`` binary: a path (or a command on ``PATH``) on
            this machine, or with ``ssh`` a path on the board (``~/...`` is allowed).
        ssh: ``"user@host"`` (or ``"host"``) to run on that machine: the model is
            copied with ``scp`` to a ``mktemp`` file there, run, and the file is
            removed afterwards whatever happens. ``ssh``/``scp`` run with
            ``BatchMode=yes``: use a key (ssh-agent or ``-i`` in ``ssh_options``).
        port: SSH port (default: ssh's own, 22 or the ssh config's).
        ssh_options: extra arguments for both ``ssh`` and ``scp``, e.g.
            ``("-i", "~/.ssh/pi_key", "-o", "StrictHostKeyChecking=accept-new")``.
        threads: ``--num_threads`` (>= 1).
        runs: ``--num_runs`` (>= 1); ``--min_secs=0`` makes it exact.
        warmup: ``--warmup_runs`` (>= 0); ``--warmup_min_secs=0`` makes it exact.
        use_xnnpack: ``--use_xnnpack=true/false`` (always passed: TFLite may apply
            XNNPACK implicitly otherwise). With XNNPACK the op profile groups the float
            ops into one ``TfLiteXNNPackDelegate`` node.
        kernel: ``"auto"`` (indirect BGEMM if the model has grouped binary convs, else
            optimized, as :func:`lq_ext.bench.run`), ``"optimized"``,
            ``"indirect_bgemm"`` or ``"reference"`` (LCE's ``--use_indirect_bgemm`` /
            ``--use_reference_bconv``).
        op_profiling: ``--enable_op_profiling=true``; the per-op-type table lands in
            ``op_profile`` (profiling itself costs a little time per op).
        timeout: seconds for the whole call (> 0). Over SSH the tool runs under the
            board's ``timeout`` command when it has one, so it does not outlive the
            call; the clean-up gets 30 s more.
        extra_args: further ``--flag=value`` arguments for the tool (not the flags set
            by the parameters above).

    # Returns
        A :class:`ToolResult` (a :class:`~lq_ext.bench.BenchResult`).

    # Raises
        ValueError: invalid arguments, a model that is not a TFLite flatbuffer, or
            ``kernel="optimized"`` on a model with grouped binary convs.
        FileNotFoundError / PermissionError: no model file; no tool at ``tool`` (here
            or on the board), or a tool that is not executable; no ``ssh``/``scp``.
        SSHError: ``ssh`` or ``scp`` failed (the message quotes their stderr).
        ToolFailedError: the tool exited with a non-zero status (with its last lines).
        ToolTimeoutError: ``timeout`` was exceeded.
        ToolOutputError: the output could not be parsed.
    """
    # -- checks, before any process starts --
    if not isinstance(model_path, (str, os.PathLike)):
        raise TypeError(f"model_path must be a path (str or os.PathLike), got {type(model_path).__name__}.")
    model_path = os.fspath(model_path)
    if not isinstance(tool, (str, os.PathLike)) or not os.fspath(tool):
        raise ValueError(f"tool must be the path of the {TOOL_NAME} binary, got tool={tool!r}.")
    tool = os.fspath(tool)
    threads = _check_int("threads", threads, 1)
    runs = _check_int("runs", runs, 1)
    warmup = _check_int("warmup", warmup, 0)
    if not isinstance(kernel, str) or kernel not in KERNEL_CHOICES:
        raise ValueError(f"kernel={kernel!r} is not supported; expected one of {list(KERNEL_CHOICES)}.")
    for name, value in (("use_xnnpack", use_xnnpack), ("op_profiling", op_profiling)):
        if not isinstance(value, bool):
            raise ValueError(f"{name} must be True or False, got {name}={value!r}.")
    if isinstance(timeout, bool) or not isinstance(timeout, numbers.Real) or not 0 < timeout < math.inf:
        raise ValueError(f"timeout must be a finite number of seconds > 0, got timeout={timeout!r}.")
    extra_args = _check_flag_list("extra_args", extra_args)
    for arg in extra_args:
        flag = arg.lstrip("-").split("=", 1)[0]
        if flag in _MANAGED_FLAGS:
            raise ValueError(
                f"extra_args sets --{flag} ({arg!r}); use the {_MANAGED_FLAGS[flag]}= parameter instead."
            )
    ssh_options = _check_flag_list("ssh_options", ssh_options)
    if ssh is None:
        if port is not None or ssh_options:
            raise ValueError(
                f"port and ssh_options need ssh='user@host', got port={port!r}, ssh_options={ssh_options!r}."
            )
    else:
        ssh = _check_ssh_target(ssh)
        if port is not None:
            port = _check_int("port", port, 1)
            if port > 65535:
                raise ValueError(f"port must be in 1..65535, got port={port!r}.")
        for program in ("ssh", "scp"):
            if shutil.which(program) is None:
                raise FileNotFoundError(
                    f"ssh={ssh!r} needs the OpenSSH client, but {program!r} is not on PATH "
                    f"(apt-get install openssh-client)."
                )
    if not os.path.exists(model_path):
        raise FileNotFoundError(f"No TFLite model at model_path={model_path!r}: the file does not exist.")
    # FileNotFoundError / ValueError naming the path for a missing or invalid model
    kernel = resolve_kernel(kernel, inspect(model_path), model_path)
    size_bytes = os.path.getsize(model_path)
    if ssh is None:
        tool = _local_tool(tool)

    flags = [
        f"--num_threads={threads}",
        f"--num_runs={runs}",
        f"--warmup_runs={warmup}",
        f"--use_xnnpack={str(use_xnnpack).lower()}",
        *_KERNEL_FLAGS[kernel],
        f"--enable_op_profiling={str(op_profiling).lower()}",
    ]
    given = {arg.lstrip("-").split("=", 1)[0] for arg in extra_args}
    flags += [f"--{name}=0" for name in ("min_secs", "warmup_min_secs") if name not in given]
    flags += list(extra_args)
    deadline = _Deadline(float(timeout))

    if ssh is None:
        argv = [tool, f"--graph={model_path}", *flags]
        completed = _run(argv, deadline.left(), f"{TOOL_NAME} ({tool})", timeout)
        machine, host = platform.machine(), None
        where = "this machine"
    else:
        argv, completed, machine = _run_remote(model_path, tool, flags, ssh, port, ssh_options, deadline, timeout)
        host, where = ssh, ssh

    output = (completed.stderr or "") + "\n" + (completed.stdout or "")
    if completed.returncode != 0:
        raise ToolFailedError(
            f"{TOOL_NAME} ({tool} on {where}) exited with status {completed.returncode} for "
            f"{model_path!r}; last lines: {_tail(output)}",
            completed.returncode,
            output,
        )
    parsed = parse_output(output)
    return replace(
        parsed,
        path=model_path,
        size_bytes=size_bytes,
        kernel=kernel,
        threads=parsed.threads if parsed.threads > 0 else threads,
        use_xnnpack=parsed.use_xnnpack if "Use xnnpack" in output else use_xnnpack,
        machine=machine,
        host=host,
        tool=tool,
        command=tuple(argv),
    )


def _run_remote(model_path, tool, flags, ssh, port, ssh_options, deadline, timeout):
    """mktemp on the board, scp the model, run the tool, always rm the file."""
    target = f"{ssh}:{port}" if port is not None else ssh

    prepare = (
        f"t={_remote_word(tool)}; "
        f'case "$t" in '
        f'*/*) [ -e "$t" ] || exit {_MISSING_TOOL}; [ -f "$t" ] && [ -x "$t" ] || exit {_NOT_EXECUTABLE};; '
        f'*) command -v "$t" >/dev/null 2>&1 || exit {_MISSING_TOOL};; esac; '
        'uname -m && mktemp "${TMPDIR:-/tmp}/lq_ext_bench.XXXXXX"'
    )
    argv = [*_ssh_base(ssh, port, ssh_options, deadline.left()), ssh, "sh -c " + shlex.quote(prepare)]
    completed = _run(argv, deadline.left(), f"ssh to {target}", timeout)
    if completed.returncode == _MISSING_TOOL:
        raise FileNotFoundError(f"No {TOOL_NAME} at tool={tool!r} on {target}: no such file or command there.")
    if completed.returncode == _NOT_EXECUTABLE:
        raise PermissionError(
            f"tool={tool!r} on {target} is not an executable file; run `chmod +x {tool}` there."
        )
    if completed.returncode != 0:
        raise _ssh_failed("Preparing the run (ssh, mktemp)", target, completed)
    lines = [line.strip() for line in completed.stdout.splitlines() if line.strip()]
    if len(lines) < 2 or not lines[-1].startswith("/"):
        raise SSHError(
            f"mktemp on {target} printed no temporary path; output: {_tail(completed.stdout)}"
        )
    machine, remote_path = lines[-2], lines[-1]

    try:
        argv, completed = _copy_and_run(model_path, tool, flags, ssh, port, ssh_options, deadline, timeout, remote_path)
    except BaseException as error:  # KeyboardInterrupt too: never leave the copy behind
        problem = _remove_remote(remote_path, ssh, port, ssh_options)
        if problem is not None and hasattr(error, "add_note"):
            error.add_note(f"Could not remove the copied model {remote_path} on {target}: {problem}")
        raise
    problem = _remove_remote(remote_path, ssh, port, ssh_options)
    if problem is not None:
        raise SSHError(f"Could not remove the copied model {remote_path} on {target}: {problem}")
    return argv, completed, machine


def _ssh_failed(step: str, target: str, completed) -> SSHError:
    detail = completed.stderr if completed.stderr.strip() else completed.stdout
    return SSHError(f"{step} on {target} failed (ssh exit status {completed.returncode}): {_tail(detail)}")


def _copy_and_run(model_path, tool, flags, ssh, port, ssh_options, deadline, timeout, remote_path):
    """scp the model to ``remote_path`` and run the tool on it under the board's ``timeout``."""
    target = f"{ssh}:{port}" if port is not None else ssh
    copy = _ssh_base(ssh, port, ssh_options, deadline.left(), scp=True)
    copy += [os.path.abspath(model_path), f"{ssh}:{remote_path}"]
    copied = _run(copy, deadline.left(), f"scp of {model_path!r} to {target}", timeout)
    if copied.returncode != 0:
        raise _ssh_failed(f"Copying {model_path!r} to {remote_path} (scp)", target, copied)

    seconds = max(1, math.ceil(deadline.left()))
    word = _remote_word(tool)
    command = " ".join([word, shlex.quote(f"--graph={remote_path}"), *(shlex.quote(f) for f in flags)])
    script = (
        f"if command -v timeout >/dev/null 2>&1; then exec timeout -k 5 {seconds} {command}; "
        f"else exec {command}; fi"
    )
    argv = [*_ssh_base(ssh, port, ssh_options, deadline.left()), ssh, "sh -c " + shlex.quote(script)]
    what = f"{TOOL_NAME} ({tool} on {target})"
    completed = _run(argv, seconds + 15, what, timeout)  # the local limit is a backstop
    if completed.returncode in _REMOTE_TIMEOUT_CODES and deadline.end - time.monotonic() < 1:
        raise _timeout_error(what, timeout, completed.stderr + completed.stdout)
    if completed.returncode == 255:
        raise _ssh_failed(f"Running {TOOL_NAME} (ssh)", target, completed)
    return argv, completed


def _remove_remote(remote_path, ssh, port, ssh_options) -> str | None:
    """``rm -f`` the copy on the board; None on success, else what went wrong."""
    argv = _ssh_base(ssh, port, ssh_options, _CLEANUP_TIMEOUT) + [ssh, "rm -f -- " + shlex.quote(remote_path)]
    try:
        removed = subprocess.run(
            argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, errors="replace",
            timeout=_CLEANUP_TIMEOUT,
        )
    except subprocess.TimeoutExpired:
        return f"no answer within {_CLEANUP_TIMEOUT:.0f} s"
    return None if removed.returncode == 0 else _tail(removed.stderr)
