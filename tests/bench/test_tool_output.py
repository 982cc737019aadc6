"""``lq_ext.bench.tool_output``: parsing what ``lce_benchmark_model`` prints."""

import pytest
from tool_output_samples import (
    EDGE_CASES,
    INFO_WITH_PERCENTILES,
    INIT_PROFILE,
    REGULAR_TITLE,
    SPEC_EXAMPLE,
    profile_section,
)

from lq_ext.bench import (
    BenchResult,
    NodeStats,
    OpTypeStats,
    PhaseStats,
    ToolOutputError,
    ToolResult,
    parse_output,
)


def test_parse_spec_example_without_prefix():
    result = parse_output(SPEC_EXAMPLE)
    assert isinstance(result, ToolResult) and isinstance(result, BenchResult)
    assert result.warmup_stats == PhaseStats(
        count=24, first_ms=46.011, curr_ms=44.72, min_ms=44.611, max_ms=46.011, avg_ms=44.9502, std_ms=0.3
    )
    assert result.run_stats == PhaseStats(
        count=50, first_ms=44.8, curr_ms=44.7, min_ms=44.5, max_ms=45.5, avg_ms=44.8905, std_ms=0.21
    )
    assert (result.runs, result.warmup, result.threads) == (50, 24, 4)
    assert (result.min_ms, result.max_ms, result.mean_ms, result.std_ms) == (44.5, 45.5, 44.8905, 0.21)
    # No percentiles printed: the "median" is the tool's average, and says so.
    assert result.median_is_mean and result.median_ms == 44.8905
    assert result.init_ms == 123.4 and result.first_ms == 46.011 and result.warmup_mean_ms == 44.9502
    assert result.model_size_mb == 4.46 and result.size_bytes == 4_460_000
    assert (result.memory_init_mb, result.memory_overall_mb, result.peak_memory_mb) == (12.3, 15.6, None)
    assert result.graph == result.path == "quicknet.tflite"
    assert result.kernel == "unknown" and result.use_xnnpack is False  # no LCE / XNNPACK lines
    assert result.op_profile == () and result.node_profile == ()
    assert "STARTING!" in result.output


def test_parse_info_prefix_with_percentiles_and_lce_flags():
    result = parse_output(INFO_WITH_PERCENTILES)
    assert (result.runs, result.warmup, result.threads) == (20, 3, 1)
    assert result.median_is_mean is False and result.median_ms == 18.25 and result.mean_ms == 18.3205
    assert (result.p5_ms, result.p95_ms, result.min_ms, result.max_ms) == (18.01, 19.4, 18.0, 19.5)
    assert result.warmup_stats.median_ms == 19.0 and result.warmup_stats.p95_ms == 21.0
    assert result.kernel == "indirect_bgemm" and result.use_xnnpack is True
    assert result.init_ms == 8.25 and result.first_ms == 21.0
    assert result.model_size_mb == 5.02335 and result.size_bytes == 5_023_350
    assert (result.memory_init_mb, result.memory_overall_mb, result.peak_memory_mb) == (3.5, 4.75, 9.125)
    assert result.path == "/home/pi/bdnet.tflite"
    text = str(result)
    assert "median 18.250 ms, mean 18.320 ms" in text and "std 0.310 ms" in text


def test_parse_count_zero_and_all_same():
    result = parse_output(EDGE_CASES)
    assert result.warmup_stats == PhaseStats(count=0)
    assert result.run_stats == PhaseStats(
        count=20, first_ms=1.0, curr_ms=1.0, min_ms=1.0, max_ms=1.0, avg_ms=1.0, std_ms=0.0
    )
    assert (result.warmup, result.runs, result.threads) == (0, 20, 2)
    assert (result.median_ms, result.min_ms, result.max_ms, result.mean_ms, result.std_ms) == (1.0, 1.0, 1.0, 1.0, 0.0)
    assert result.first_ms is None and result.warmup_mean_ms is None and result.init_ms == 1.5
    assert "first inference" not in str(result)


def test_parse_single_run_and_init_from_summary():
    text = (
        "count=1 curr=2500\n"
        "count=2 first=1200 curr=1000 min=1000 max=1200 avg=1100 std=100\n"
        "Inference timings in us: Init: 3000, First inference: 2500, Warmup (avg): 2500, Inference (avg): 1100\n"
    )
    result = parse_output(text)
    assert result.warmup_stats == PhaseStats(
        count=1, first_ms=2.5, curr_ms=2.5, min_ms=2.5, max_ms=2.5, avg_ms=2.5, std_ms=0.0
    )
    assert result.init_ms == 3.0 and result.first_ms == 2.5 and result.mean_ms == 1.1
    assert result.threads == -1 and result.size_bytes == 0 and result.machine == "unknown"


def test_parse_scientific_notation():
    text = (
        "count=1 curr=1234567\n"
        "count=5 first=1300000 curr=1234567 min=1200000 max=1300000 avg=1.23457e+06 std=30000\n"
    )
    result = parse_output(text)
    assert result.mean_ms == pytest.approx(1234.57) and result.min_ms == 1200.0


def test_parse_op_profile_tables():
    text = INFO_WITH_PERCENTILES + INIT_PROFILE + profile_section(REGULAR_TITLE)
    result = parse_output(text)
    # The regular runs' summary, not the initialization's (AllocateTensors).
    assert result.op_profile == (
        OpTypeStats("LceBconv2d", count=1, avg_ms=0.36, percent=60.0, cdf_percent=60.0, mem_kb=0.0, times_called=1),
        OpTypeStats("CONV_2D", count=1, avg_ms=0.24, percent=40.0, cdf_percent=100.0, mem_kb=0.0, times_called=1),
    )
    assert result.ms_by_op_type == {"LceBconv2d": 0.36, "CONV_2D": 0.24}
    assert result.node_profile == (
        NodeStats("model/stem/Conv2D", "CONV_2D", first_ms=0.25, avg_ms=0.24, percent=40.0,
                  cdf_percent=40.0, mem_kb=0.0, times_called=1),
        NodeStats("model/quant_conv2d/LceBconv2d", "LceBconv2d", first_ms=0.37, avg_ms=0.36, percent=60.0,
                  cdf_percent=100.0, mem_kb=0.0, times_called=1),
    )
    # The profile's "Timings (microseconds): count=50 ..." lines are not benchmark phases.
    assert (result.runs, result.warmup, result.mean_ms) == (20, 3, 18.3205)
    text = str(result)
    assert "op profile" in text and "LceBconv2d" in text and "0.360" in text


def test_parse_op_profile_with_start_column_delegate_and_subgraphs():
    regular = profile_section(REGULAR_TITLE, with_start=True, delegate=True).replace(
        REGULAR_TITLE, REGULAR_TITLE + "\nPrimary graph profile:"
    )
    subgraph = "Subgraph (index: 1) profile:\n" + profile_section("", with_start=True).lstrip("\n")
    result = parse_output(SPEC_EXAMPLE + INIT_PROFILE + regular + subgraph)
    assert [(row.node_type, row.count, row.avg_ms) for row in result.op_profile] == [
        ("TfLiteXNNPackDelegate", 1, 0.36),
        ("CONV_2D", 1, 0.24),
    ]
    assert [(node.name, node.first_ms, node.avg_ms) for node in result.node_profile] == [
        ("model/stem/Conv2D", 0.25, 0.24),
        ("[model/out]:3", 0.37, 0.36),
    ]


@pytest.mark.parametrize(
    "text, message",
    [
        ("Segmentation fault\nsomething else\n", r"found 0\. First lines of the output: 'Segmentation fault' \| 'something else'$"),
        ("", r"found 0\. First lines of the output: \(the output is empty\)"),
        ("INFO: count=0\nERROR: bad\nINFO: Benchmarking failed.\n", r"found 1; the tool reported 'Benchmarking failed\.'\. First lines"),
        ("count=0\ncount=0\n", r"regular runs have count=0"),
        ("count=3 curr=5\ncount=4 first=1 curr=2 min=1\n", r"statistics line could not be read.*max=, avg="),
    ],
)
def test_parse_errors_quote_the_output(text, message):
    with pytest.raises(ToolOutputError, match=message) as info:
        parse_output(text)
    assert isinstance(info.value, ValueError) and "\n" not in str(info.value)


def test_parse_unreadable_profile_table():
    broken = profile_section(REGULAR_TITLE).replace("\t        1\t     0.360", "\t      one\t     0.360")
    with pytest.raises(ToolOutputError, match=r"'Summary by node type' table of the op profile"):
        parse_output(SPEC_EXAMPLE + broken)
    with pytest.raises(ToolOutputError, match=r"has no 'Summary by node type' table"):
        parse_output(SPEC_EXAMPLE + REGULAR_TITLE + "\n\n")


def test_parse_needs_str():
    with pytest.raises(TypeError, match=r"text must be the tool's output as a str, got bytes"):
        parse_output(SPEC_EXAMPLE.encode())
