"""``lq_ext.bench.runner``: process control of ``run_tool``: the deadline here, and the SSH
round trip (copy, run, always clean up) against a real sshd on 127.0.0.1 (``sshd`` fixture)."""

import os
import platform
import subprocess
import time

import pytest
from ssh_server import free_port, processes_mentioning

from lq_ext.bench import SSHError, ToolFailedError, ToolTimeoutError, run_tool


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
    assert processes_mentioning(str(sshd.remote_tmp / "lq_ext_bench.")) == []  # the board's `timeout` ended it


def test_ssh_missing_and_non_executable_remote_tool(sshd, empty_tflite, tmp_path):
    with pytest.raises(FileNotFoundError, match=rf"No lce_benchmark_model at tool='/nonexistent/lce' on {sshd.target}:{sshd.port}"):
        run_tool(empty_tflite, "/nonexistent/lce", **sshd.kwargs())
    plain = tmp_path / "not_executable"
    plain.write_text("")
    with pytest.raises(PermissionError, match=r"not_executable' on .* is not an executable file"):
        run_tool(empty_tflite, str(plain), **sshd.kwargs())
    assert list(sshd.remote_tmp.iterdir()) == []


def test_ssh_connection_refused(sshd, fake_tool, empty_tflite):
    port = free_port()  # nothing listens there
    kwargs = dict(sshd.kwargs(), port=port)
    with pytest.raises(SSHError, match=rf"on {sshd.target}:{port} failed \(ssh exit status 255\).*Connection refused"):
        run_tool(empty_tflite, fake_tool, **kwargs)


def test_ssh_authentication_failure_quotes_ssh(sshd, fake_tool, empty_tflite, tmp_path):
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "other_key")], check=True)
    options = list(sshd.options)
    options[1] = str(tmp_path / "other_key")
    with pytest.raises(SSHError, match=r"Permission denied \(publickey\)"):
        run_tool(empty_tflite, fake_tool, ssh=sshd.target, port=sshd.port, ssh_options=options)
