"""lq_ext.bench.plot: label placement by hand-checked geometry, panels per kernel."""

import struct

import pytest

from lq_ext.bench.compare import ModelRow
from lq_ext.bench.plot import place_labels, plot_latency_vs_ops


def _overlaps(a, b):
    return min(a[2], b[2]) > max(a[0], b[0]) and min(a[3], b[3]) > max(a[1], b[1])


def test_a_lone_label_goes_up_right_at_the_gap():
    assert place_labels([(100, 100)], [(50, 10)], (0, 0, 500, 500), gap=4) == [(104, 104, 154, 114)]


def test_labels_of_coincident_points_do_not_collide():
    """Four models on one spot (ReActNet-A, BCDNet-A/B, ES-ReActNet in the record)."""
    anchors, sizes = [(200, 200)] * 4, [(60, 10), (40, 10), (70, 10), (50, 10)]
    marker = (195, 195, 205, 205)
    boxes = place_labels(anchors, sizes, (0, 0, 400, 400), avoid=[marker])
    for i, box in enumerate(boxes):
        assert (box[2] - box[0], box[3] - box[1]) == sizes[i]
        assert not _overlaps(box, marker) and 0 <= box[0] and box[2] <= 400 and 0 <= box[1] and box[3] <= 400
        for other in boxes[i + 1:]:
            assert not _overlaps(box, other)


def test_a_label_at_the_right_edge_goes_left_and_avoids_the_legend():
    bounds, legend = (0, 0, 300, 300), (150, 280, 300, 300)
    (box,) = place_labels([(295, 150)], [(80, 10)], bounds, gap=4)
    assert box == (211, 154, 291, 164)  # up-left: up-right would cross the frame
    (box,) = place_labels([(200, 274)], [(60, 10)], bounds, avoid=[legend], gap=4)
    assert not _overlaps(box, legend) and box[3] <= 300


def _row(name, kernel, ops, ms):
    return ModelRow(name=name, engine="lce", ops=ops, bops=0.0, flops=0.0, size_bytes=0, bitpacked_share=None,
                    parity_max_rel_error=None, top1_agreement=None, parity_passed=True, median_ms=ms, min_ms=ms,
                    kernel=kernel, path="")


def _png_size(path):
    with open(path, "rb") as handle:
        head = handle.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", head[16:24])


def test_one_panel_per_kernel(tmp_path):
    rows = [_row("a", "optimized", 20e6, 60.0), _row("b", "optimized", 90e6, 300.0)]
    one = _png_size(plot_latency_vs_ops(rows, tmp_path / "one.png"))
    both = rows + [_row("a", "indirect_bgemm", 20e6, 15.0), _row("b", "indirect_bgemm", 90e6, 80.0)]
    two = _png_size(plot_latency_vs_ops(both, tmp_path / "two.png"))
    assert one == (8.5 * 120, 6 * 120) and two == (2 * 8.5 * 120, 6 * 120)  # figsize × dpi 120
    with pytest.raises(ValueError, match="rows must hold at least one benchmark row"):
        plot_latency_vs_ops([], tmp_path / "none.png")
