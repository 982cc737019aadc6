"""Latency of converted models: LCE's Python Interpreter (:func:`run` → :class:`BenchResult`)
and LCE's ``lce_benchmark_model`` binary, here or on a board over SSH
(:func:`run_tool` → :class:`ToolResult`, :func:`parse_output`).

Modules: ``interpreter`` (the Python Interpreter), ``tool`` (:func:`run_tool`),
``results`` (:class:`ToolResult` and its parts), ``tool_output`` (the parser),
``runner`` (local and SSH process control), ``compare`` (model tables), ``paired``
(models timed in alternating rounds, ratios with intervals: :func:`paired_latency`),
``op_profile`` (per-op and per-op-type latency from one-op graphs), ``plot`` (latency vs OPs),
``micro`` and ``runtimes`` (a portable file's outputs in LiteRT and TFLite Micro, and its arena).
Guide: docs/guides/benchmarks.md
"""

from lq_ext.bench import tool
from lq_ext.bench.interpreter import BenchResult, run  # noqa: F401 (in __all__)
from lq_ext.bench.paired import PairedResult, paired_latency  # noqa: F401 (in __all__)
from lq_ext.bench.tool import *  # noqa: F403 (exactly tool.__all__)

__all__ = sorted(["BenchResult", "PairedResult", "paired_latency", "run", *tool.__all__])
