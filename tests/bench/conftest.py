"""Fixtures of the ``lce_benchmark_model`` tests: tiny flatbuffers, the STAND-IN tool, sshd.

No real ``lce_benchmark_model`` runs here: ``fake_lce_benchmark_model.py`` (next to this
file) is a STAND-IN that checks its flags and prints the documented format with fixed
numbers. The SSH tests use a real OpenSSH server on 127.0.0.1, started by ``sshd``.
"""

import getpass
import os
import shutil
import socket
import subprocess
import sys
import time

import pytest
from ssh_server import SSHServer, free_port

STAND_IN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fake_lce_benchmark_model.py")


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
    import tensorflow as tf

    from lq_ext.converters.engines import to_flatbuffer

    tf.keras.utils.set_random_seed(0)
    inputs = tf.keras.Input((8, 8, 64))
    outputs = lq.layers.QuantConv2D(
        64, 3, groups=2, padding="same", pad_values=1.0, input_quantizer="ste_sign",
        kernel_quantizer="ste_sign", kernel_constraint="weight_clip", use_bias=False,
    )(inputs)
    path = tmp_path_factory.mktemp("tool_models") / "grouped.tflite"
    path.write_bytes(to_flatbuffer(tf.keras.Model(inputs, outputs)).data)
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
    user, port = getpass.getuser(), free_port()
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
        yield SSHServer(port, user, root / "client_key", remote_tmp)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
