"""Latency of converted models: LCE's Python Interpreter (:func:`run` → :class:`BenchResult`)
and LCE's ``lce_benchmark_model`` binary, here or on a board over SSH
(:func:`run_tool` → :class:`ToolResult`, :func:`parse_output`)."""

from lq_ext.bench.interpreter import BenchResult, run
from lq_ext.bench.tool import (
    NodeStats,
    OpTypeStats,
    PhaseStats,
    SSHError,
    ToolError,
    ToolFailedError,
    ToolOutputError,
    ToolResult,
    ToolTimeoutError,
    parse_output,
    run_tool,
)

__all__ = [
    "BenchResult",
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
    "run",
    "run_tool",
]
