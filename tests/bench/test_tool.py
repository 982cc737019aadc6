"""``lq_ext.bench.tool``: ``run_tool`` with the STAND-IN tool on this machine (arguments,
flags, errors), and ``lq-ext bench --tool``. Parser: test_tool_output.py; SSH: test_runner.py."""

import json
import platform
import stat

import pytest
from ssh_server import free_port

from lq_ext.bench import BenchResult, ToolFailedError, ToolOutputError, run_tool
from lq_ext.cli import main

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
        ({"threads": 0}, r"threads must be an integer ≥ 1, got threads=0\."),
        ({"runs": 0}, r"runs must be an integer ≥ 1, got runs=0\."),
        ({"warmup": -1}, r"warmup must be an integer ≥ 0, got warmup=-1\."),
        ({"runs": 2.5}, r"runs must be an integer ≥ 1, got runs=2\.5\."),
        ({"kernel": "fast"}, r"kernel='fast' is not supported; expected one of \['auto', 'optimized', 'indirect_bgemm', 'reference'\]"),
        ({"use_xnnpack": "yes"}, r"use_xnnpack must be True or False, got use_xnnpack='yes'"),
        ({"op_profiling": 1}, r"op_profiling must be True or False, got op_profiling=1"),
        ({"timeout": 0}, r"timeout must be a finite number of seconds > 0, got timeout=0"),
        ({"timeout": "10"}, r"timeout must be a finite number of seconds > 0, got timeout='10'"),
        ({"ssh": "pi@host; rm -rf /"}, r"ssh must be 'user@host' or 'host'.*got ssh='pi@host; rm -rf /'"),
        ({"ssh": "-oProxyCommand=x"}, r"not starting with '-'"),
        ({"ssh": "pi@host", "port": 70000}, r"port must be an integer ≥ 1 and ≤ 65535, got port=70000\."),
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
    port = free_port()
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
