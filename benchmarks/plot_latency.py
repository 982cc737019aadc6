"""Redraw the latency-vs-OPs plot from a recorded benchmark table, without re-measuring.

    python benchmarks/plot_latency.py [--record benchmarks/results.md]
        [--output benchmarks/results/latency_vs_ops.png docs/results/img/latency_vs_ops.png]

Reads the markdown table that ``benchmarks/bench_models.py`` wrote (model, converter,
OPs (M), latency median, LCE alone, kernel columns) and draws it with
:func:`lq_ext.bench.plot.plot_latency_vs_ops`: log axes, one panel per kernel in the table.
Needs matplotlib.
"""

import argparse
import os
import sys

from lq_ext.bench.compare import ModelRow
from lq_ext.bench.plot import plot_latency_vs_ops

HERE = os.path.dirname(__file__)


def _number(cell):
    cell = cell.strip()
    return None if cell in ("–", "-", "") else float(cell)


def read_rows(path):
    """The ModelRows (the plotted fields; the others empty) of the first table in ``path``."""
    with open(path) as handle:
        lines = [line.strip() for line in handle if line.strip().startswith("|")]
    if len(lines) < 3:
        raise ValueError(f"{path!r} holds no markdown table.")
    head = [cell.strip() for cell in lines[0].strip("|").split("|")]
    column = {name: head.index(name) for name in ("model", "converter", "OPs (M)", "latency median (ms)", "LCE alone (ms)", "kernel")}
    rows = []
    for line in lines[2:]:
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if len(cells) != len(head):
            break
        rows.append(ModelRow(
            name=cells[column["model"]], engine=cells[column["converter"]], ops=_number(cells[column["OPs (M)"]]) * 1e6,
            bops=0.0, flops=0.0, size_bytes=0, bitpacked_share=None, parity_max_rel_error=None, top1_agreement=None,
            parity_passed=True, median_ms=_number(cells[column["latency median (ms)"]]), min_ms=0.0,
            kernel=cells[column["kernel"]], path="", lce_alone_median_ms=_number(cells[column["LCE alone (ms)"]]),
        ))
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--record", default=os.path.join(HERE, "results.md"))
    parser.add_argument("--output", nargs="+", default=[
        os.path.join(HERE, "results", "latency_vs_ops.png"),
        os.path.join(HERE, "..", "docs", "results", "img", "latency_vs_ops.png"),
    ])
    args = parser.parse_args(argv)
    rows = read_rows(args.record)
    for output in args.output:
        print(f"{len(rows)} rows of {args.record} -> {plot_latency_vs_ops(rows, output)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
