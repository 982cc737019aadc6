"""Results of LCE's ``lce_benchmark_model``: :class:`ToolResult` and its parsed parts.

:class:`ToolResult` is a :class:`~lq_ext.bench.BenchResult` plus what the tool prints
beyond it (std, init time, memory, percentiles, the op profile); its ``__str__`` is the
report ``lq-ext bench --tool`` prints. All times are in milliseconds (the tool prints
microseconds). Guide: docs/guides/benchmarks.md
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from lq_ext.bench.interpreter import BenchResult

__all__ = ["TOOL_NAME", "NodeStats", "OpTypeStats", "PhaseStats", "ToolResult"]

TOOL_NAME = "lce_benchmark_model"
_ARM_MACHINES = ("aarch64", "arm64", "armv7l", "armv8l", "armv6l")


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
