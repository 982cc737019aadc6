"""Output samples of ``lce_benchmark_model`` in its documented formats, for the parser tests.

Written by hand after TFLite's ``benchmark_model`` 2.16 (with LCE's two kernel flags) and
the tab-separated layout of TFLite's StatsCalculator tables (spec §4.4).
"""

SPEC_EXAMPLE = """\
STARTING!
Log parameter values verbosely: [0]
Num threads: [4]
Graph: [quicknet.tflite]
Loaded model quicknet.tflite
The input model file size (MB): 4.46
Initialized session in 123.4ms.
Running benchmark for at least 1 iterations and at least 0.5 seconds but terminate if exceeding 150 seconds.
count=24 first=46011 curr=44720 min=44611 max=46011 avg=44950.2 std=300
Running benchmark for at least 50 iterations and at least 1 seconds but terminate if exceeding 150 seconds.
count=50 first=44800 curr=44700 min=44500 max=45500 avg=44890.5 std=210
Inference timings in us: Init: 123400, First inference: 46011, Warmup (avg): 44950.2, Inference (avg): 44890.5
Note: as the benchmark tool itself affects memory footprint, the following is only APPROXIMATE to the actual memory footprint of the model at runtime. Take the information at your discretion.
Memory footprint delta from the start of the tool (MB): init=12.3 overall=15.6
"""

INFO_WITH_PERCENTILES = """\
INFO: STARTING!
INFO: Log parameter values verbosely: [0]
INFO: Min num runs: [20]
INFO: Num threads: [1]
INFO: Graph: [/home/pi/bdnet.tflite]
INFO: Use indirect BGEMM: [1]
INFO: Use reference Bconv: [0]
INFO: Use xnnpack: [1]
INFO: The input model file size (MB): 5.02335
INFO: Initialized session in 8.25ms.
INFO: Running benchmark for at least 3 iterations and at least 0 seconds but terminate if exceeding 150 seconds.
INFO: count=3 first=21000 curr=19000 min=19000 max=21000 avg=19666.7 std=943 p5=19000 median=19000 p95=21000
INFO: Running benchmark for at least 20 iterations and at least 0 seconds but terminate if exceeding 150 seconds.
INFO: count=20 first=18500 curr=18100 min=18000 max=19500 avg=18320.5 std=310 p5=18010 median=18250 p95=19400
INFO: Inference timings in us: Init: 8250, First inference: 21000, Warmup (avg): 19666.7, Inference (avg): 18320.5
INFO: Memory footprint delta from the start of the tool (MB): init=3.5 overall=4.75
INFO: Overall peak memory footprint (MB) via periodic monitoring: 9.125
"""

EDGE_CASES = """\
INFO: Num threads: [2]
INFO: Initialized session in 1.5ms.
INFO: Running benchmark for at least 0 iterations and at least -1 seconds but terminate if exceeding 150 seconds.
INFO: count=0
INFO: Running benchmark for at least 20 iterations and at least 0 seconds but terminate if exceeding 150 seconds.
INFO: count=20 curr=1000(all same)
INFO: Inference timings in us: Init: 1500, First inference: 0, Warmup (avg): -nan, Inference (avg): 1000
"""


def _field(value, width):
    return "\t" + str(value).rjust(width)


def profile_section(title, with_start=False, delegate=False):
    """A profile section laid out like TFLite's StatsCalculator (tab + right-aligned fields)."""
    start = _field("[start]", 9) if with_start else ""
    run_header = (
        _field("[node type]", 40) + start + _field("[first]", 9) + _field("[avg ms]", 9) + _field("[%]", 8)
        + _field("[cdf%]", 8) + _field("[mem KB]", 10) + _field("[times called]", 9) + "\t[Name]"
    )
    nodes = [("CONV_2D", "0.000", "0.250", "0.240", "40.000%", "40.000%", "model/stem/Conv2D")]
    if delegate:
        nodes.append(("TfLiteXNNPackDelegate", "0.240", "0.370", "0.360", "60.000%", "100.000%", "[model/out]:3"))
    else:
        nodes.append(("LceBconv2d", "0.240", "0.370", "0.360", "60.000%", "100.000%", "model/quant_conv2d/LceBconv2d"))
    rows = []
    for node_type, st, first, avg, pct, cdf, name in nodes:
        rows.append(
            _field(node_type, 40) + (_field(st, 9) if with_start else "") + _field(first, 9) + _field(avg, 9)
            + _field(pct, 8) + _field(cdf, 8) + _field("0.000", 10) + _field(1, 9) + "\t" + name
        )
    type_header = (
        _field("[Node type]", 40) + _field("[count]", 9) + _field("[avg ms]", 10) + _field("[avg %]", 11)
        + _field("[cdf %]", 11) + _field("[mem KB]", 10) + _field("[times called]", 10)
    )
    second = "TfLiteXNNPackDelegate" if delegate else "LceBconv2d"
    type_rows = [
        _field(second, 40) + _field(1, 9) + _field("0.360", 10) + _field("60.000%", 10) + _field("60.000%", 10)
        + _field("0.000", 10) + _field(1, 9),
        _field("CONV_2D", 40) + _field(1, 9) + _field("0.240", 10) + _field("40.000%", 10)
        + _field("100.000%", 10) + _field("0.000", 10) + _field(1, 9),
    ]
    return "\n".join(
        [
            title,
            "============================== Run Order ==============================",
            run_header,
            *rows,
            "",
            "============================== Top by Computation Time ==============================",
            run_header,
            *reversed(rows),
            "",
            "Number of nodes executed: 2",
            "============================== Summary by node type ==============================",
            type_header,
            *type_rows,
            "",
            "Timings (microseconds): count=50 first=610 curr=600 min=590 max=640 avg=601.5 std=9",
            "Memory (bytes): count=0",
            "2 nodes observed",
            "",
        ]
    )


INIT_PROFILE = "\n".join(
    [
        "Profiling Info for Benchmark Initialization:",
        "============================== Summary by node type ==============================",
        _field("[Node type]", 40) + _field("[count]", 9) + _field("[avg ms]", 10) + _field("[avg %]", 11)
        + _field("[cdf %]", 11) + _field("[mem KB]", 10) + _field("[times called]", 10),
        _field("AllocateTensors", 40) + _field(1, 9) + _field("0.900", 10) + _field("100.000%", 10)
        + _field("100.000%", 10) + _field("0.000", 10) + _field(1, 9),
        "",
        "Timings (microseconds): count=1 curr=900",
        "Memory (bytes): count=0",
        "1 nodes observed",
        "",
    ]
)
REGULAR_TITLE = "Operator-wise Profiling Info for Regular Benchmark Runs:"
