"""STAND-IN for LCE's ``lce_benchmark_model`` in tests. It is NOT the real tool.

It benchmarks nothing: it checks its flags the way ``run_tool`` must pass them,
checks that ``--graph`` is an existing TFLite file, echoes the parameters and prints
FIXED numbers in the documented output format of the real tool (TFLite
``benchmark_model`` 2.16 with LCE's two kernel flags, see the spec §4.4): log lines with
an ``INFO: `` prefix on stderr, the op-profiling tables on stdout. Standard library
only; the tests run it through a small shell wrapper with the test's Python.

Stand-in-only flags (the real tool has none of them):
    --fake_sleep_secs=S   sleep S seconds before printing anything (timeouts)
    --fake_exit_code=C    print "Benchmarking failed." and exit with status C
    --fake_output=garbage print text without any benchmark numbers and exit 0

If the environment variable FAKE_LCE_ARGV_FILE is set, the argument list is written
to that file as JSON (the tests read it to check which flags arrived).
"""

import json
import os
import sys
import time

BOOL_FLAGS = ("use_xnnpack", "use_indirect_bgemm", "use_reference_bconv", "enable_op_profiling")
INT_FLAGS = ("num_threads", "num_runs", "warmup_runs")
FLOAT_FLAGS = ("min_secs", "warmup_min_secs", "max_secs", "fake_sleep_secs")
OTHER_FLAGS = ("graph", "fake_exit_code", "fake_output")

# Fixed "measurements" in microseconds.
REGULAR = {"first": 1250, "curr": 1200, "min": 1000, "max": 2000, "avg": 1234.5, "std": 150}
WARMUP = {"first": 1500, "curr": 1300, "min": 1300, "max": 1500, "avg": 1400, "std": 100}
INIT_US = 2500
# (node type, count, avg ms, % ) for "Summary by node type"; run order rows below.
BY_TYPE = [("LceBconv2d", 2, 0.800, 66.667), ("CONV_2D", 1, 0.300, 25.000), ("LceQuantize", 2, 0.100, 8.333)]
NODES = [
    ("CONV_2D", 0.310, 0.300, "model/conv2d/Conv2D"),
    ("LceQuantize", 0.060, 0.050, "model/quant_conv2d/LceQuantize"),
    ("LceBconv2d", 0.420, 0.400, "model/quant_conv2d/LceBconv2d"),
    ("LceQuantize", 0.060, 0.050, "model/quant_conv2d_1/LceQuantize"),
    ("LceBconv2d", 0.410, 0.400, "model/quant_conv2d_1/LceBconv2d"),
]
INIT_BY_TYPE = [("AllocateTensors", 1, 0.500, 100.000)]
INIT_NODES = [("AllocateTensors", 0.500, 0.500, "AllocateTensors/0")]


def log(message):
    print(f"INFO: {message}", file=sys.stderr)


def fail(message, code=1):
    print(f"ERROR: {message}", file=sys.stderr)
    log("Benchmarking failed.")
    sys.exit(code)


def parse(argv):
    values = {}
    for arg in argv:
        if not arg.startswith("--") or "=" not in arg:
            fail(f"stand-in: expected --flag=value, got {arg!r}")
        name, value = arg[2:].split("=", 1)
        if name not in BOOL_FLAGS + INT_FLAGS + FLOAT_FLAGS + OTHER_FLAGS:
            fail(f"stand-in: unknown flag --{name}")
        if name in values:
            fail(f"stand-in: --{name} given twice")
        if name in BOOL_FLAGS:
            if value not in ("true", "false"):
                fail(f"stand-in: --{name} must be true or false, got {value!r}")
            value = value == "true"
        elif name in INT_FLAGS:
            value = int(value)
        elif name in FLOAT_FLAGS:
            value = float(value)
        values[name] = value
    return values


def stat_line(count, stats):
    if count == 0:
        return "count=0"
    if count == 1:
        return f"count=1 curr={stats['first']}"
    return " ".join([f"count={count}"] + [f"{key}={value}" for key, value in stats.items()])


def field(value, width):
    return "\t" + str(value).rjust(width)


def profile(title, nodes, by_type):
    lines = [title]
    lines.append("============================== Run Order ==============================")
    header = field("[node type]", 40) + field("[first]", 9) + field("[avg ms]", 9) + field("[%]", 8)
    header += field("[cdf%]", 8) + field("[mem KB]", 10) + field("[times called]", 9) + "\t[Name]"
    lines.append(header)
    total = sum(avg for _, _, avg, _ in nodes)
    cdf = 0.0
    for node_type, first, avg, name in nodes:
        cdf += avg / total * 100
        row = field(node_type, 40) + field(f"{first:.3f}", 9) + field(f"{avg:.3f}", 9)
        row += field(f"{avg / total * 100:.3f}%", 8) + field(f"{cdf:.3f}%", 8)
        row += field("0.000", 10) + field(1, 9) + "\t" + name
        lines.append(row)
    lines.append("")
    lines.append(f"Number of nodes executed: {len(nodes)}")
    lines.append("============================== Summary by node type ==============================")
    header = field("[Node type]", 40) + field("[count]", 9) + field("[avg ms]", 10) + field("[avg %]", 11)
    header += field("[cdf %]", 11) + field("[mem KB]", 10) + field("[times called]", 10)
    lines.append(header)
    cdf = 0.0
    for node_type, count, avg, percent in by_type:
        cdf += percent
        row = field(node_type, 40) + field(count, 9) + field(f"{avg:.3f}", 10)
        row += field(f"{percent:.3f}%", 10) + field(f"{cdf:.3f}%", 10) + field("0.000", 10) + field(count, 9)
        lines.append(row)
    lines.append("")
    lines.append("Timings (microseconds): count=50 first=1400 curr=1250 min=1100 max=1600 avg=1200 std=80")
    lines.append("Memory (bytes): count=0")
    lines.append(f"{len(nodes)} nodes observed")
    lines.append("")
    return "\n".join(lines)


def main(argv):
    if os.environ.get("FAKE_LCE_ARGV_FILE"):
        with open(os.environ["FAKE_LCE_ARGV_FILE"], "w") as handle:
            json.dump(argv, handle)
    flags = parse(argv)
    time.sleep(flags.get("fake_sleep_secs", 0.0))
    if "fake_exit_code" in flags:
        log("STARTING!")
        fail("stand-in: failing as asked by --fake_exit_code", int(flags["fake_exit_code"]))
    if flags.get("fake_output") == "garbage":
        print("Segmentation fault? No: this stand-in prints no numbers on purpose.")
        return 0
    graph = flags.get("graph")
    if not graph:
        fail("stand-in: --graph is required")
    if not os.path.isfile(graph):
        fail(f"Failed to mmap model {graph}")
    with open(graph, "rb") as handle:
        head = handle.read(8)
    if head[4:8] != b"TFL3":
        fail(f"stand-in: {graph} is not a TFLite flatbuffer")

    threads, runs, warmup = flags.get("num_threads", -1), flags.get("num_runs", 50), flags.get("warmup_runs", 1)
    log("STARTING!")
    log("Log parameter values verbosely: [0]")
    log(f"Min num runs: [{runs}]")
    log(f"Num threads: [{threads}]")
    log(f"Min warmup runs: [{warmup}]")
    log(f"Graph: [{graph}]")
    for name, label in (("enable_op_profiling", "Enable op profiling"), ("use_indirect_bgemm", "Use indirect BGEMM"),
                        ("use_reference_bconv", "Use reference Bconv"), ("use_xnnpack", "Use xnnpack")):
        if name in flags:
            log(f"{label}: [{int(flags[name])}]")
    log(f"Loaded model {graph}")
    log(f"The input model file size (MB): {os.path.getsize(graph) / 1e6:g}")
    log(f"Initialized session in {INIT_US / 1e3:g}ms.")
    log(f"Running benchmark for at least {warmup} iterations and at least 0 seconds but terminate if exceeding 150 seconds.")
    log(stat_line(warmup, WARMUP))
    log(f"Running benchmark for at least {runs} iterations and at least 0 seconds but terminate if exceeding 150 seconds.")
    log(stat_line(runs, REGULAR))
    first, warm_avg = (WARMUP["first"], WARMUP["avg"]) if warmup > 1 else (WARMUP["first"] if warmup else 0, WARMUP["first"] if warmup else 0)
    log(f"Inference timings in us: Init: {INIT_US}, First inference: {first}, Warmup (avg): {warm_avg}, "
        f"Inference (avg): {REGULAR['avg'] if runs > 1 else REGULAR['first']}")
    log("Note: as the benchmark tool itself affects memory footprint, the following is only APPROXIMATE "
        "to the actual memory footprint of the model at runtime. Take the information at your discretion.")
    log("Memory footprint delta from the start of the tool (MB): init=1.5 overall=2.25")
    if flags.get("enable_op_profiling"):
        sys.stdout.write(profile("Profiling Info for Benchmark Initialization:", INIT_NODES, INIT_BY_TYPE) + "\n")
        sys.stdout.write(profile("Operator-wise Profiling Info for Regular Benchmark Runs:", NODES, BY_TYPE) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
