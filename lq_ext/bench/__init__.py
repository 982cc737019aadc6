"""Latency of converted models in LCE's Python Interpreter (:func:`run` → :class:`BenchResult`)."""

from lq_ext.bench.interpreter import BenchResult, run

__all__ = ["BenchResult", "run"]
