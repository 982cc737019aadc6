"""Latency against OPs of benchmark rows, log axes, one panel per LCE kernel, labels placed
so that they do not collide (:func:`place_labels`, no adjustText needed).

matplotlib is not a dependency of lq_ext: :func:`require_matplotlib` imports it or says how to
install it. Guide: docs/guides/benchmarks.md#the-benchmark-record-make-bench
"""

from __future__ import annotations

import math
import os

__all__ = ["place_labels", "plot_latency_vs_ops", "require_matplotlib"]

#: Unit directions tried around each point, nearest-first at each distance.
_DIRECTIONS = ((1, 1), (1, -1), (-1, 1), (-1, -1), (1, 0), (-1, 0), (0, 1), (0, -1))


def require_matplotlib():
    """``matplotlib.pyplot`` with the non-interactive Agg backend, or a RuntimeError that
    says how to install it (it is not a dependency of lq_ext)."""
    try:
        import matplotlib
    except ImportError:
        raise RuntimeError(
            "Plotting needs matplotlib, which is not installed (it is not a dependency of "
            "lq_ext): pip install matplotlib, or pip install -e '.[notebooks]'."
        ) from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _overlap(a, b) -> float:
    """Area shared by two boxes ``(x0, y0, x1, y1)``."""
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    return width * height if width > 0 and height > 0 else 0.0


def _outside(box, bounds) -> float:
    """Area of ``box`` outside ``bounds``."""
    area = (box[2] - box[0]) * (box[3] - box[1])
    return area - _overlap(box, bounds)


def place_labels(anchors, sizes, bounds, *, avoid=(), gap: float = 4.0, steps: int = 8):
    """Boxes for labels of ``sizes`` (w, h) next to ``anchors`` (x, y), none overlapping.

    Greedy, in the given order: for each label, offsets in 8 directions at distances
    ``gap``, ``2 gap``, … ``steps × gap`` (nearest first) are tried; the first box that
    overlaps no box placed so far nor any ``avoid`` box (e.g. markers, the legend) and lies
    inside ``bounds`` wins; if none does, the one with the least overlap (then least area
    outside ``bounds``). All in one unit (display pixels). Returns one ``(x0, y0, x1, y1)``
    box per label.
    """
    placed = []
    for (x, y), (w, h) in zip(anchors, sizes):
        best, best_cost = None, None
        for step in range(1, steps + 1):
            distance = gap * step
            for ux, uy in _DIRECTIONS:
                x0 = x + ux * distance - (w if ux < 0 else w / 2 if ux == 0 else 0)
                y0 = y + uy * distance - (h if uy < 0 else h / 2 if uy == 0 else 0)
                box = (x0, y0, x0 + w, y0 + h)
                cost = (sum(_overlap(box, other) for other in [*placed, *avoid]), _outside(box, bounds))
                if best_cost is None or cost < best_cost:
                    best, best_cost = box, cost
                if cost == (0.0, 0.0):
                    break
            if best_cost == (0.0, 0.0):
                break
        placed.append(best)
    return placed


def _panel(axes, rows, plt):
    """Dots, LCE-alone markers, log axes and non-colliding labels for one kernel's rows."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    for r in rows:
        x = r.ops / 1e6
        axes.scatter([x], [r.median_ms], color="tab:blue" if r.engine == "lce" else "tab:gray", zorder=3, s=25)
        if r.lce_alone_median_ms is not None:
            axes.plot([x, x], [r.median_ms, r.lce_alone_median_ms], color="tab:orange", lw=1, zorder=2)
            axes.scatter([x], [r.lce_alone_median_ms], facecolors="none", edgecolors="tab:orange", zorder=3, s=25)
    axes.set_xscale("log")
    axes.set_yscale("log")
    for axis in (axes.xaxis, axes.yaxis):
        axis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        axis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        axis.set_minor_formatter(NullFormatter())
    axes.grid(alpha=0.3, which="major")
    axes.set_xlabel("OPs (M) = BOPs/64 + FLOPs, log scale")


def _label(figure, axes, rows, legend):
    """Place every row's name so that labels, dots and the legend do not overlap."""
    renderer = figure.canvas.get_renderer()
    to_pixels = axes.transData
    texts = [axes.text(0, 0, r.name, fontsize=8) for r in rows]
    sizes = [(t.get_window_extent(renderer).width + 2, t.get_window_extent(renderer).height + 1) for t in texts]
    anchors = [tuple(to_pixels.transform((r.ops / 1e6, r.median_ms))) for r in rows]
    markers = [(x - 5, y - 5, x + 5, y + 5) for x, y in anchors]
    markers += [
        (x - 5, y - 5, x + 5, y + 5)
        for x, y in (to_pixels.transform((r.ops / 1e6, r.lce_alone_median_ms)) for r in rows if r.lce_alone_median_ms is not None)
    ]
    avoid = markers + ([tuple(legend.get_window_extent(renderer).extents)] if legend is not None else [])
    frame = axes.get_window_extent(renderer)
    order = sorted(range(len(rows)), key=lambda i: (anchors[i][0], anchors[i][1]))
    boxes = place_labels([anchors[i] for i in order], [sizes[i] for i in order], tuple(frame.extents), avoid=avoid)
    to_data = axes.transData.inverted()
    for i, box in zip(order, boxes):
        x, y = to_data.transform((box[0] + 1, box[1]))
        texts[i].set_position((x, y))
        texts[i].set_verticalalignment("bottom")
        ax, ay = anchors[i]
        near = (min(max(ax, box[0]), box[2]), min(max(ay, box[1]), box[3]))  # the box's point nearest the dot
        if math.dist((ax, ay), near) > 12:  # moved away from its dot: a thin leader line
            axes.plot(*zip(to_data.transform((ax, ay)), to_data.transform(near)), color="0.6", lw=0.6, zorder=1)


def plot_latency_vs_ops(rows, path, *, title: str = "") -> str:
    """Median latency (ms) against OPs (M) of ``rows`` (:class:`lq_ext.bench.compare.ModelRow`),
    log axes, written to ``path``; one panel per LCE kernel when the rows carry several.

    One labelled dot per model; a model with an LCE-alone latency gets a hollow marker at that
    latency, joined to its dot. Labels are placed by :func:`place_labels`. The format follows
    the file extension (.png, .svg, .pdf). Returns ``path``. Raises RuntimeError without
    matplotlib, ValueError without rows.
    """
    rows = list(rows)
    if not rows:
        raise ValueError("rows must hold at least one benchmark row to plot, got none.")
    plt = require_matplotlib()
    kernels = list(dict.fromkeys(r.kernel for r in rows))
    figure, panels = plt.subplots(1, len(kernels), figsize=(8.5 * len(kernels), 6), squeeze=False, sharex=True, sharey=True)
    for axes, kernel in zip(panels[0], kernels):
        _panel(axes, [r for r in rows if r.kernel == kernel], plt)
        axes.set_title(f"LceBconv2d kernel: {kernel}", fontsize=10)
    xs = [r.ops / 1e6 for r in rows]
    ys = [v for r in rows for v in (r.median_ms, r.lce_alone_median_ms) if v is not None]
    panels[0][0].set_xlim(min(xs) / 1.8, max(xs) * 2.2)  # room for labels on both sides, in log space
    panels[0][0].set_ylim(min(ys) / 1.8, max(ys) * 1.8)
    panels[0][0].set_ylabel("median latency (ms), log scale")
    handles = [plt.Line2D([], [], ls="", marker="o", color="tab:blue", label="lq_ext conversion (LCE)")]
    if any(r.engine != "lce" for r in rows):
        handles.append(plt.Line2D([], [], ls="", marker="o", color="tab:gray", label="float reference (TFLite)"))
    if any(r.lce_alone_median_ms is not None for r in rows):
        handles.append(plt.Line2D([], [], ls="", marker="o", mfc="none", color="tab:orange", label="LCE alone"))
    figure.suptitle(title or "Latency vs. OPs (LCE Python interpreter on x86: compare rows with each other only)", fontsize=11)
    figure.tight_layout()
    for index, (axes, kernel) in enumerate(zip(panels[0], kernels)):
        legend = axes.legend(handles=handles, loc="upper left", fontsize=8) if index == 0 else None
        _label(figure, axes, [r for r in rows if r.kernel == kernel], legend)
    path = os.fspath(path)
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path
