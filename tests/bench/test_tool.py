"""``lq_ext.bench.tool``: parsing lce_benchmark_model output, running it here and over SSH.

No real ``lce_benchmark_model`` runs here: ``fake_lce_benchmark_model.py`` (next to this
file) is a STAND-IN that checks its flags and prints the documented format with fixed
numbers. The SSH tests use a real OpenSSH server on 127.0.0.1, started by a fixture.
"""

import getpass
import json
import os
import platform
import shutil
import socket
import stat
import subprocess
import sys
import time

import pytest

from lq_ext.bench import (
    BenchResult,
    NodeStats,
    OpTypeStats,
    PhaseStats,
    SSHError,
    ToolFailedError,
    ToolOutputError,
    ToolResult,
    ToolTimeoutError,
    parse_output,
    run_tool,
)
from lq_ext.cli import main

STAND_IN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fake_lce_benchmark_model.py")

# ---------------------------------------------------------------------------
# Output samples in the documented formats (spec §4.4; TFLite stats_calculator layout)
# ---------------------------------------------------------------------------

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


def _profile_section(title, with_start=False, delegate=False):
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


# ---------------------------------------------------------------------------
# Fixtures
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def empty_tflite(tmp_path_factory):
    """A valid TFLite flatbuffer with one empty subgraph: enough for the stand-in tool and
    for ``kernel="auto"`` (no grouped binary convs → optimized), no conversion needed."""
    import flatbuffers
    from tensorflow.lite.python import schema_py_generated as schema

    model = schema.ModelT()
    model.version = 3
    subgraph = schema.SubGraphT()
    subgraph.tensors, subgraph.operators, subgraph.inputs, subgraph.outputs = [], [], [], []
    model.subgraphs, model.buffers, model.operatorCodes = [subgraph], [schema.BufferT()], []
    builder = flatbuffers.Builder(0)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    path = tmp_path_factory.mktemp("tool_models") / "empty.tflite"
    path.write_bytes(bytes(builder.Output()))
    return path


@pytest.fixture(scope="module")
def grouped_tflite(tmp_path_factory):
    """One tiny LCE conversion (~6 s): a grouped binary conv, 2 groups of 32 channels."""
    import larq as lq
    import larq_compute_engine as lce
    import tensorflow as tf

    tf.keras.utils.set_random_seed(0)
    inputs = tf.keras.Input((8, 8, 64))
    outputs = lq.layers.QuantConv2D(
        64, 3, groups=2, padding="same", pad_values=1.0, input_quantizer="ste_sign",
        kernel_quantizer="ste_sign", kernel_constraint="weight_clip", use_bias=False,
    )(inputs)
    path = tmp_path_factory.mktemp("tool_models") / "grouped.tflite"
    path.write_bytes(lce.convert_keras_model(tf.keras.Model(inputs, outputs)))
    return path


@pytest.fixture(scope="module")
def fake_tool(tmp_path_factory):
    """An executable ``lce_benchmark_model`` that runs the STAND-IN with this Python."""
    path = tmp_path_factory.mktemp("tool_bin") / "lce_benchmark_model"
    path.write_text(f"#!/bin/sh\n# STAND-IN, not the real tool\nexec '{sys.executable}' '{STAND_IN}' \"$@\"\n")
    path.chmod(0o755)
    return path


@pytest.fixture
def argv_file(tmp_path, monkeypatch):
    """The stand-in writes the arguments it received here (local runs only)."""
    path = tmp_path / "argv.json"
    monkeypatch.setenv("FAKE_LCE_ARGV_FILE", str(path))
    return path


def _processes_mentioning(text):
    """Command lines of running processes that contain ``text`` (read from /proc, nothing killed)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                cmdline = handle.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline:
            found.append(cmdline)
    return found


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _SSHServer:
    def __init__(self, port, user, key, remote_tmp):
        self.port, self.user, self.key, self.remote_tmp = port, user, key, remote_tmp
        self.target = f"{user}@127.0.0.1"
        self.options = (
            "-i", str(key), "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "-o", "LogLevel=ERROR", "-o", "IdentitiesOnly=yes",
        )

    def kwargs(self):
        return {"ssh": self.target, "port": self.port, "ssh_options": self.options}


@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    """A real OpenSSH server on 127.0.0.1 (free port), key login for the current user only.

    Sessions get ``TMPDIR`` = a fresh directory, so the remote ``mktemp`` files land
    there and the tests can check that they are removed.
    """
    binary = shutil.which("sshd") or ("/usr/sbin/sshd" if os.access("/usr/sbin/sshd", os.X_OK) else None)
    if binary is None or shutil.which("ssh-keygen") is None or shutil.which("scp") is None:
        pytest.fail(
            "The SSH tests need OpenSSH: sshd, ssh-keygen, ssh and scp were not all found. Install them with "
            "`apt-get install -y openssh-server openssh-client` (.ci/run does this on CI)."
        )
    root = tmp_path_factory.mktemp("sshd")
    for name in ("host_key", "client_key"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(root / name)], check=True)
    (root / "authorized_keys").write_text((root / "client_key.pub").read_text())
    remote_tmp = root / "remote_tmp"
    remote_tmp.mkdir()
    user, port = getpass.getuser(), _free_port()
    config = root / "sshd_config"
    config.write_text(
        "\n".join(
            [
                f"Port {port}",
                "ListenAddress 127.0.0.1",
                f"HostKey {root / 'host_key'}",
                f"PidFile {root / 'sshd.pid'}",
                f"AuthorizedKeysFile {root / 'authorized_keys'}",
                "StrictModes no",
                "UsePAM no",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "PubkeyAuthentication yes",
                "PermitRootLogin prohibit-password",
                f"AllowUsers {user}",
                "Subsystem sftp internal-sftp",
                f"SetEnv TMPDIR={remote_tmp}",
                "",
            ]
        )
    )
    if os.geteuid() == 0:
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # sshd's privilege separation directory
    log = open(root / "sshd.log", "w")
    process = subprocess.Popen([binary, "-D", "-e", "-f", str(config)], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 15
        while True:
            if process.poll() is not None:
                pytest.fail(f"sshd exited with {process.returncode}: {(root / 'sshd.log').read_text()}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"sshd did not listen on port {port}: {(root / 'sshd.log').read_text()}")
                time.sleep(0.1)
        yield _SSHServer(port, user, root / "client_key", remote_tmp)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


# ---------------------------------------------------------------------------
# parse_output
# ---------------------------------------------------------------------------


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
    text = INFO_WITH_PERCENTILES + INIT_PROFILE + _profile_section(REGULAR_TITLE)
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
    regular = _profile_section(REGULAR_TITLE, with_start=True, delegate=True).replace(
        REGULAR_TITLE, REGULAR_TITLE + "\nPrimary graph profile:"
    )
    subgraph = "Subgraph (index: 1) profile:\n" + _profile_section("", with_start=True).lstrip("\n")
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
    broken = _profile_section(REGULAR_TITLE).replace("\t        1\t     0.360", "\t      one\t     0.360")
    with pytest.raises(ToolOutputError, match=r"'Summary by node type' table of the op profile"):
        parse_output(SPEC_EXAMPLE + broken)
    with pytest.raises(ToolOutputError, match=r"has no 'Summary by node type' table"):
        parse_output(SPEC_EXAMPLE + REGULAR_TITLE + "\n\n")


def test_parse_needs_str():
    with pytest.raises(TypeError, match=r"text must be the tool's output as a str, got bytes"):
        parse_output(SPEC_EXAMPLE.encode())


def test_to_bench_result_keeps_the_shared_fields():
    result = parse_output(SPEC_EXAMPLE)
    plain = result.to_bench_result()
    assert type(plain) is BenchResult
    assert (plain.path, plain.size_bytes, plain.runs, plain.warmup, plain.threads) == ("quicknet.tflite", 4_460_000, 50, 24, 4)
    assert (plain.median_ms, plain.min_ms, plain.max_ms, plain.mean_ms) == (44.8905, 44.5, 45.5, 44.8905)


# ---------------------------------------------------------------------------
# run_tool on this machine, with the stand-in
# ---------------------------------------------------------------------------


def test_run_tool_locally_end_to_end(fake_tool, empty_tflite, argv_file):
    result = run_tool(empty_tflite, fake_tool, threads=3, runs=7, warmup=2, op_profiling=True)
    assert json.loads(argv_file.read_text()) == [
        f"--graph={empty_tflite}",
        "--num_threads=3",
        "--num_runs=7",
        "--warmup_runs=2",
        "--use_xnnpack=false",
        "--use_indirect_bgemm=false",
        "--use_reference_bconv=false",
        "--enable_op_profiling=true",
        "--min_secs=0",
        "--warmup_min_secs=0",
    ]
    assert isinstance(result, BenchResult)
    assert result.path == str(empty_tflite) and result.size_bytes == empty_tflite.stat().st_size
    assert result.graph == str(empty_tflite)  # echoed by the stand-in
    assert (result.threads, result.runs, result.warmup) == (3, 7, 2)  # echoed / counted by the stand-in
    assert (result.min_ms, result.max_ms, result.mean_ms, result.median_ms, result.std_ms) == (1.0, 2.0, 1.2345, 1.2345, 0.15)
    assert result.median_is_mean and result.init_ms == 2.5 and result.first_ms == 1.5 and result.warmup_mean_ms == 1.4
    assert result.kernel == "optimized"  # auto, no grouped binary convs
    assert result.use_xnnpack is False and result.host is None and result.machine == platform.machine()
    assert result.ms_by_op_type == {"LceBconv2d": 0.8, "CONV_2D": 0.3, "LceQuantize": 0.1}
    assert [row.count for row in result.op_profile] == [2, 1, 2]
    assert len(result.node_profile) == 5 and result.node_profile[2].name == "model/quant_conv2d/LceBconv2d"
    assert result.command[0] == str(fake_tool) and result.command[1] == f"--graph={empty_tflite}"
    text = str(result)
    assert "avg 1.234 ms (the tool prints no median)" in text and "7 runs after 2 warm-up" in text
    assert "lce_benchmark_model on this machine" in text


@pytest.mark.parametrize(
    "kernel, flags",
    [
        ("optimized", ["--use_indirect_bgemm=false", "--use_reference_bconv=false"]),
        ("indirect_bgemm", ["--use_indirect_bgemm=true", "--use_reference_bconv=false"]),
        ("reference", ["--use_indirect_bgemm=false", "--use_reference_bconv=true"]),
    ],
)
def test_run_tool_kernel_flags(fake_tool, empty_tflite, argv_file, kernel, flags):
    result = run_tool(empty_tflite, fake_tool, kernel=kernel, use_xnnpack=True, runs=2, warmup=0)
    argv = json.loads(argv_file.read_text())
    assert argv[4:7] == ["--use_xnnpack=true", *flags]
    assert result.kernel == kernel and result.use_xnnpack is True and result.warmup == 0 and result.runs == 2


def test_run_tool_auto_kernel_for_grouped_convs(fake_tool, grouped_tflite, argv_file):
    result = run_tool(grouped_tflite, fake_tool, runs=2)
    assert result.kernel == "indirect_bgemm"
    assert "--use_indirect_bgemm=true" in json.loads(argv_file.read_text())
    argv_file.unlink()
    with pytest.raises(ValueError, match=r"kernel='optimized' cannot run .*grouped binary convolutions"):
        run_tool(grouped_tflite, fake_tool, kernel="optimized")
    assert not argv_file.exists()  # refused before the tool started


def test_run_tool_extra_args(fake_tool, empty_tflite, argv_file):
    run_tool(empty_tflite, fake_tool, runs=2, extra_args=["--min_secs=0.01", "--max_secs=60"])
    argv = json.loads(argv_file.read_text())
    assert argv[-3:] == ["--warmup_min_secs=0", "--min_secs=0.01", "--max_secs=60"]
    assert "--min_secs=0" not in argv
    with pytest.raises(ValueError, match=r"extra_args sets --num_threads .*use the threads= parameter"):
        run_tool(empty_tflite, fake_tool, extra_args=["--num_threads=4"])
    with pytest.raises(ValueError, match=r"extra_args must be a list or tuple of str"):
        run_tool(empty_tflite, fake_tool, extra_args="--max_secs=60")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"threads": 0}, r"threads must be an int >= 1, got threads=0"),
        ({"runs": 0}, r"runs must be an int >= 1, got runs=0"),
        ({"warmup": -1}, r"warmup must be an int >= 0, got warmup=-1"),
        ({"runs": 2.5}, r"runs must be an int >= 1, got runs=2\.5"),
        ({"kernel": "fast"}, r"kernel='fast' is not supported; expected one of \['auto', 'optimized', 'indirect_bgemm', 'reference'\]"),
        ({"use_xnnpack": "yes"}, r"use_xnnpack must be True or False, got use_xnnpack='yes'"),
        ({"op_profiling": 1}, r"op_profiling must be True or False, got op_profiling=1"),
        ({"timeout": 0}, r"timeout must be a finite number of seconds > 0, got timeout=0"),
        ({"timeout": "10"}, r"timeout must be a finite number of seconds > 0, got timeout='10'"),
        ({"ssh": "pi@host; rm -rf /"}, r"ssh must be 'user@host' or 'host'.*got ssh='pi@host; rm -rf /'"),
        ({"ssh": "-oProxyCommand=x"}, r"not starting with '-'"),
        ({"ssh": "pi@host", "port": 70000}, r"port must be in 1\.\.65535, got port=70000"),
        ({"port": 22}, r"port and ssh_options need ssh='user@host', got port=22"),
    ],
)
def test_bad_arguments_are_refused_before_any_process(fake_tool, empty_tflite, argv_file, kwargs, message):
    with pytest.raises(ValueError, match=message):
        run_tool(empty_tflite, fake_tool, **kwargs)
    assert not argv_file.exists()


def test_missing_and_non_executable_tool(tmp_path, empty_tflite):
    with pytest.raises(FileNotFoundError, match=r"No lce_benchmark_model at tool='.*nowhere/lce_benchmark_model'.*releases"):
        run_tool(empty_tflite, tmp_path / "nowhere" / "lce_benchmark_model")
    with pytest.raises(FileNotFoundError, match=r"tool='no_such_lce_tool' is not a file path and no executable"):
        run_tool(empty_tflite, "no_such_lce_tool")
    plain = tmp_path / "lce_benchmark_model_aarch64"
    plain.write_text("#!/bin/sh\n")
    plain.chmod(stat.S_IRUSR | stat.S_IWUSR)
    with pytest.raises(PermissionError, match=r"lce_benchmark_model_aarch64' is not an executable file; run `chmod \+x"):
        run_tool(empty_tflite, plain)
    with pytest.raises(PermissionError, match=r"is not an executable file"):
        run_tool(empty_tflite, tmp_path)  # a directory


def test_missing_or_invalid_model(tmp_path, fake_tool):
    with pytest.raises(FileNotFoundError, match=r"model_path='.*missing\.tflite'.*does not exist"):
        run_tool(tmp_path / "missing.tflite", fake_tool)
    garbage = tmp_path / "garbage.tflite"
    garbage.write_bytes(b"\x00" * 64)
    with pytest.raises(ValueError, match=r"garbage\.tflite.*not a TFLite flatbuffer"):
        run_tool(garbage, fake_tool)


def test_tool_failure_quotes_the_tail(fake_tool, empty_tflite):
    with pytest.raises(ToolFailedError, match=r"exited with status 3 for .*empty\.tflite.*Benchmarking failed") as info:
        run_tool(empty_tflite, fake_tool, extra_args=["--fake_exit_code=3"])
    assert info.value.returncode == 3 and "failing as asked" in info.value.output
    assert isinstance(info.value, OSError) and "\n" not in str(info.value)


def test_unparseable_output(fake_tool, empty_tflite):
    with pytest.raises(ToolOutputError, match=r"First lines of the output: 'Segmentation fault\? No"):
        run_tool(empty_tflite, fake_tool, extra_args=["--fake_output=garbage"])


def test_local_timeout(fake_tool, empty_tflite):
    start = time.monotonic()
    with pytest.raises(ToolTimeoutError, match=r"lce_benchmark_model \(.*\) did not finish within timeout=1 seconds"):
        run_tool(empty_tflite, fake_tool, timeout=1, extra_args=["--fake_sleep_secs=30"])
    assert time.monotonic() - start < 10


# ---------------------------------------------------------------------------
# run_tool over SSH, against a real sshd on 127.0.0.1
# ---------------------------------------------------------------------------


def test_ssh_copies_runs_and_cleans_up(sshd, fake_tool, empty_tflite):
    result = run_tool(empty_tflite, fake_tool, threads=2, runs=5, warmup=1, op_profiling=True, **sshd.kwargs())
    assert result.host == sshd.target and result.machine == platform.machine()  # uname -m over ssh
    # The tool read the scp'd copy, a mktemp file in the session's TMPDIR ...
    assert result.graph.startswith(str(sshd.remote_tmp / "lq_ext_bench."))
    assert result.model_size_mb == empty_tflite.stat().st_size / 1e6  # measured by the stand-in on the copy
    # ... which is gone afterwards.
    assert not os.path.exists(result.graph) and list(sshd.remote_tmp.iterdir()) == []
    assert result.path == str(empty_tflite) and result.size_bytes == empty_tflite.stat().st_size
    assert (result.threads, result.runs, result.warmup, result.mean_ms) == (2, 5, 1, 1.2345)
    assert result.ms_by_op_type["LceBconv2d"] == 0.8
    assert result.command[0] == "ssh" and "-p" in result.command
    assert f"lce_benchmark_model on {sshd.target}" in str(result)


def test_ssh_tool_failure_still_cleans_up(sshd, fake_tool, empty_tflite):
    with pytest.raises(ToolFailedError, match=rf"on {sshd.target}\) exited with status 4 .*Benchmarking failed"):
        run_tool(empty_tflite, fake_tool, extra_args=["--fake_exit_code=4"], **sshd.kwargs())
    assert list(sshd.remote_tmp.iterdir()) == []


def test_ssh_timeout_cleans_up(sshd, fake_tool, empty_tflite):
    start = time.monotonic()
    with pytest.raises(ToolTimeoutError, match=r"did not finish within timeout=3 seconds"):
        run_tool(empty_tflite, fake_tool, timeout=3, extra_args=["--fake_sleep_secs=60"], **sshd.kwargs())
    assert time.monotonic() - start < 20
    assert list(sshd.remote_tmp.iterdir()) == []
    assert _processes_mentioning(str(sshd.remote_tmp / "lq_ext_bench.")) == []  # the board's `timeout` ended it


def test_ssh_missing_and_non_executable_remote_tool(sshd, empty_tflite, tmp_path):
    with pytest.raises(FileNotFoundError, match=rf"No lce_benchmark_model at tool='/nonexistent/lce' on {sshd.target}:{sshd.port}"):
        run_tool(empty_tflite, "/nonexistent/lce", **sshd.kwargs())
    plain = tmp_path / "not_executable"
    plain.write_text("")
    with pytest.raises(PermissionError, match=r"not_executable' on .* is not an executable file"):
        run_tool(empty_tflite, str(plain), **sshd.kwargs())
    assert list(sshd.remote_tmp.iterdir()) == []


def test_ssh_connection_refused(sshd, fake_tool, empty_tflite):
    port = _free_port()  # nothing listens there
    kwargs = dict(sshd.kwargs(), port=port)
    with pytest.raises(SSHError, match=rf"on {sshd.target}:{port} failed \(ssh exit status 255\).*Connection refused"):
        run_tool(empty_tflite, fake_tool, **kwargs)


def test_ssh_authentication_failure_quotes_ssh(sshd, fake_tool, empty_tflite, tmp_path):
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "other_key")], check=True)
    options = list(sshd.options)
    options[1] = str(tmp_path / "other_key")
    with pytest.raises(SSHError, match=r"Permission denied \(publickey\)"):
        run_tool(empty_tflite, fake_tool, ssh=sshd.target, port=sshd.port, ssh_options=options)


# ---------------------------------------------------------------------------
# lq-ext bench --tool
# ---------------------------------------------------------------------------


def test_cli_bench_with_tool(fake_tool, empty_tflite, capsys):
    argv = ["bench", str(empty_tflite), "--tool", str(fake_tool), "--threads", "2", "--runs", "5", "--warmup", "1"]
    assert main([*argv, "--op-profiling"]) == 0
    out = capsys.readouterr().out
    assert "avg 1.234 ms (the tool prints no median), min 1.000 ms, max 2.000 ms, std 0.150 ms" in out
    assert "5 runs after 1 warm-up, kernel=optimized, threads=2, xnnpack=off, lce_benchmark_model on this machine" in out
    assert "init 2.5 ms, first inference 1.500 ms" in out
    assert "LceBconv2d" in out and "0.800" in out and "66.7" in out


def test_cli_bench_tool_errors(tmp_path, fake_tool, empty_tflite, capsys):
    assert main(["bench", str(empty_tflite), "--tool", str(tmp_path / "missing_tool")]) == 1
    port = _free_port()
    assert main(["bench", str(empty_tflite), "--tool", str(fake_tool), "--ssh", "nobody@127.0.0.1", "--ssh-port", str(port)]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 2 and all(line.startswith("lq-ext bench: error:") for line in lines)
    assert "missing_tool" in lines[0] and "Connection refused" in lines[1] and f"127.0.0.1:{port}" in lines[1]


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--ssh", "pi@raspberrypi.local"], "--ssh needs --tool PATH"),
        (["--op-profiling"], "--op-profiling needs --tool PATH"),
        (["--tool", "lce_benchmark_model", "--ssh-port", "2222"], "--ssh-port needs --ssh USER@HOST"),
    ],
)
def test_cli_bench_usage_errors_exit_2(empty_tflite, capsys, extra, message):
    with pytest.raises(SystemExit) as exit_info:
        main(["bench", str(empty_tflite), *extra])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
