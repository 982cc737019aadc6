"""``lq-ext``: thin commands over the library (summary, convert, inspect, bench, demo, train, list).

The argument table, ``--help`` and ``list`` live in the TensorFlow-free launcher
:mod:`lq_ext_cli` (the console script); this package holds the implementations it
imports when a command runs: :mod:`lq_ext.cli.commands`, :mod:`lq_ext.cli.train`,
:mod:`lq_ext.cli.demo`. ``main`` and ``build_parser`` stay importable from here, and
``python -m lq_ext.cli`` runs ``lq-ext``.

Exit codes: 0 success, 1 a library error (message on stderr, no traceback),
2 bad command-line usage, including an unknown model name. Reference: docs/api/cli.md
"""

from __future__ import annotations

from lq_ext_cli import build_parser, main, parse_shape

__all__ = ["build_parser", "main", "parse_shape"]

_shape = parse_shape  # deprecated alias: the H,W,C parser under its old private name
