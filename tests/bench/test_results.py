"""``lq_ext.bench.results``: :class:`ToolResult` and its plain :class:`BenchResult` view."""

from tool_output_samples import SPEC_EXAMPLE

from lq_ext.bench import BenchResult, parse_output


def test_to_bench_result_keeps_the_shared_fields():
    result = parse_output(SPEC_EXAMPLE)
    plain = result.to_bench_result()
    assert type(plain) is BenchResult
    assert (plain.path, plain.size_bytes, plain.runs, plain.warmup, plain.threads) == ("quicknet.tflite", 4_460_000, 50, 24, 4)
    assert (plain.median_ms, plain.min_ms, plain.max_ms, plain.mean_ms) == (44.8905, 44.5, 45.5, 44.8905)
