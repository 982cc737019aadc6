"""larq-zoo's XNORNet converted with and without folding its weight quantizers.

    python benchmarks/bench_xnornet_fold.py [--size 224] [--output table.md]

Builds ``larq_zoo.literature.XNORNet`` (random weights, seed 0, 1000 classes) and
converts it with :func:`lq_ext.converters.convert` twice, ``fold_weights=False`` (LCE
alone: the 6×6 conv's kernel scale is computed in the graph) and ``fold_weights=True``
(:mod:`lq_ext.converters.fold`), both verified on the 20 sample images. Prints a Markdown
table: file size, the bit floor of its constants (``OpReport.weight_floor_bytes``),
size / floor, binary MACs run bit-packed, float ``CONV_2D`` count, parity and conversion
time. The numbers are in docs/guides/conversion.md ("Weight quantizers folded").
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

# isort: split
import lq_ext  # noqa: F401  (selects legacy Keras before TensorFlow loads)

# isort: split
import larq_zoo as lqz

from lq_ext.converters import convert
from lq_ext.testing import randomize_weights


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--output", default="", help="also write the table to this markdown file ('' for none)")
    args = parser.parse_args()
    size = args.size
    model = lqz.literature.XNORNet(input_shape=(size, size, 3), weights=None)
    randomize_weights(model, seed=0)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for fold in (False, True):
            start = time.perf_counter()
            result = convert(model, os.path.join(tmp, f"xnornet_{fold}.tflite"), fold_weights=fold)
            seconds = time.perf_counter() - start
            ops, parity = result.ops, result.parity
            rows.append(
                f"| {'yes' if fold else 'no'} | {result.size_bytes / 1e6:.1f} MB | "
                f"{ops.weight_floor_bytes / 1e6:.1f} MB | {ops.size_over_floor:.2f}× | "
                f"{100 * ops.bitpacked_share:.1f} % | {ops.count('CONV_2D')} | {len(ops.ops)} | "
                f"{parity.max_rel_error:.1e} | {seconds:.0f} s |"
            )
            print(result, flush=True)
    table = "\n".join(
        [
            f"XNORNet at {size} px (random weights, seed 0):",
            "",
            "| folded | file | bit floor | file / floor | binary MACs bit-packed | float CONV_2D | ops | "
            "parity max rel. error | convert() time |",
            "|---|---|---|---|---|---|---|---|---|",
            *rows,
        ]
    )
    print("\n" + table)
    if args.output:
        with open(args.output, "w") as handle:
            handle.write(table + "\n")


if __name__ == "__main__":
    main()
