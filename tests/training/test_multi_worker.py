"""Training with MultiWorkerMirroredStrategy across two worker processes on this machine
(TF_CONFIG on free loopback ports), against one worker on the same global batch; and a
two-worker run whose non-chief worker is SIGKILLed mid-epoch, restarted as a cluster,
ending with the weights of the two-worker run never killed.

The workers (multi_worker_worker.py) train a small binary network with synchronised
BatchNorm on the real Fashion-MNIST pipeline (shuffled and augmented): the strategy splits
each global batch of 64 into two halves of 32, one per worker (auto-shard by data), so both
workers together see the single worker's batches; the gradients are summed across workers
and BatchNorm uses the global batch's statistics. What differs is float rounding: the sum
of two half-batch gradients, and the global statistics computed from all-reduced sums
(E[x²] − E[x]²) where one worker computes them directly; sign flips of near-zero
activations amplify it. Measured here: per-epoch loss within 3.6e-5 relative, final weights
within 3.4e-5 absolute (largest weight 0.48), equal accuracies; asserted: 1e-4 for both. Collective ops hang when a
peer dies: a worker that dies fails the wait at once, every wait has a timeout, and every
process group is killed at teardown.
"""

import csv
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from kill_points import h5_arrays

from lq_ext.training import resolve_strategy
from lq_ext.training.strategies import is_chief, remove_write_dir, worker_write_dir

WORKER = Path(__file__).with_name("multi_worker_worker.py")
ROOT = WORKER.parents[2]
# Seconds for any one phase, a guard against collective ops hanging on a dead peer. A
# phase takes under a minute alone; in CI, five TensorFlow processes share 2 cores with
# the other xdist worker (one CI run passed 240 s).
TIMEOUT = 600


def _ephemeral_low():
    """The lowest port the kernel hands out for ``bind(("", 0))`` and ``connect``."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # the usual default elsewhere


def _free_ports(count):
    """``count`` distinct ports, free now and below the ephemeral range.

    A port from ``bind(("", 0))`` is free only until another process asks the kernel for
    one: the SSH tests in the other xdist worker start ``sshd`` on such ports. A worker
    whose gRPC server cannot bind its port dies at start-up, and its peer then waits for it
    at start-up for ever (a CI run hung 600 s so). Below the ephemeral range the kernel
    never hands a port out, so only a process naming that very port can take it.
    """
    low = _ephemeral_low()
    first = max(1024, low - 12000)
    ports = []
    for port in random.SystemRandom().sample(range(first, low), 200):
        with socket.socket() as sock:
            try:
                sock.bind(("0.0.0.0", port))  # taken on any IPv4 address, loopback included
            except OSError:
                continue
        ports.append(port)
        if len(ports) == count:
            return ports
    raise RuntimeError(f"no {count} free ports in {first}..{low - 1}")


class Cluster:
    """Worker processes, each in its own process group, killed at :meth:`close`."""

    def __init__(self, tmp_path, pairs):
        self.tmp_path, self.processes = tmp_path, []
        # every pair's ports drawn at once, so that no two pairs share one: gRPC servers
        # bind with SO_REUSEPORT, and two clusters on one port would talk to each other
        self.ports = iter(_free_ports(2 * pairs))

    def start(self, name, strategy, output_dir, tf_config=None, kill_at=None):
        env = {**os.environ, "TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "2",
               "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
        for key in ("TF_CONFIG", "LQ_EXT_TEST_KILL_AT"):
            env.pop(key, None)
        if tf_config is not None:
            env["TF_CONFIG"] = json.dumps(tf_config)
        if kill_at is not None:
            env["LQ_EXT_TEST_KILL_AT"] = "{},{}".format(*kill_at)
        log = open(self.tmp_path / f"{name}.log", "w")  # noqa: SIM115 (closed with the process)
        process = subprocess.Popen(
            [sys.executable, str(WORKER), strategy, str(output_dir)], env=env,
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        process.name, process.log = name, log
        self.processes.append(process)
        return process

    def start_pair(self, name, output_dir, kill_worker_1_at=None):
        """Two workers (worker 0 is the chief) of one cluster on fresh loopback ports."""
        hosts = [f"127.0.0.1:{next(self.ports)}" for _ in range(2)]
        return [
            self.start(
                f"{name}{index}", "multi_worker", output_dir,
                tf_config={"cluster": {"worker": hosts}, "task": {"type": "worker", "index": index}},
                kill_at=kill_worker_1_at if index == 1 else None,
            )
            for index in (0, 1)
        ]

    def wait(self, *processes, exit_code=0):
        """Wait for ``processes`` (one cluster's workers) to end with ``exit_code``.

        A worker that ends otherwise fails the test at once: its peers would wait for it
        for ever. On failure or timeout every worker's log is in the message."""
        deadline = time.monotonic() + TIMEOUT
        while True:
            codes = [process.poll() for process in processes]
            failed = [p for p, code in zip(processes, codes) if code not in (None, exit_code)]
            if failed:
                problem = f"{failed[0].name} exited with {failed[0].returncode}"
            elif None not in codes:
                return
            elif time.monotonic() > deadline:
                running = [p.name for p, code in zip(processes, codes) if code is None]
                problem = f"{', '.join(running)} did not finish in {TIMEOUT} s"
            else:
                time.sleep(0.2)
                continue
            logs = self.outputs()  # before close() closes the logs
            self.close()
            pytest.fail(f"{problem}:\n{logs}")

    def outputs(self):
        """The end of every worker's log, each under its name."""
        return "\n".join(f"--- {p.name} (exit {p.poll()}):\n{self.output(p)[-2500:]}" for p in self.processes)

    def output(self, process):
        if not process.log.closed:
            process.log.flush()
        return (self.tmp_path / f"{process.name}.log").read_text()[-4000:]

    def kill(self, process):
        if process.poll() is None:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            process.wait(timeout=30)

    def close(self):
        for process in self.processes:
            self.kill(process)
            process.log.close()


def _log(path):
    with open(path, newline="") as file:
        return [{key: float(value) for key, value in row.items() if value != "NA"}
                for row in csv.DictReader(file)]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """One worker; two workers; two workers with worker 1 killed in epoch 2, then the
    cluster restarted. The first three side by side (2 cores)."""
    tmp_path = tmp_path_factory.mktemp("multi_worker")
    cluster = Cluster(tmp_path, pairs=3)
    dirs = {name: tmp_path / name for name in ("single", "pair", "killed")}
    try:
        single = cluster.start("single", "default", dirs["single"])
        pair = cluster.start_pair("pair", dirs["pair"])
        killed = cluster.start_pair("killed", dirs["killed"], kill_worker_1_at=(1, 1))
        cluster.wait(killed[1], exit_code=-signal.SIGKILL)
        cluster.kill(killed[0])  # the chief waits for its dead peer: the cluster is down
        after_kill = {
            "log": _log(dirs["killed"] / "train" / "log.csv"),
            "finished": (dirs["killed"] / "train" / "weights.h5").exists(),
            "backup": sorted(p.name for p in (dirs["killed"] / "train" / "backup").iterdir()),
        }
        cluster.wait(single, *pair)
        cluster.wait(*cluster.start_pair("resumed", dirs["killed"]))
        yield dirs, after_kill
    finally:
        cluster.close()


def test_two_workers_follow_one_worker_on_the_same_global_batches(runs):
    dirs, _ = runs
    single, pair = _log(dirs["single"] / "train" / "log.csv"), _log(dirs["pair"] / "train" / "log.csv")
    assert [row["epoch"] for row in pair] == [0, 1, 2]  # only the chief wrote the log
    for one, two in zip(single, pair):
        np.testing.assert_allclose(two["loss"], one["loss"], rtol=1e-4)
        assert two["accuracy"] == one["accuracy"]  # the same predictions, counted alike
    assert single[2]["loss"] < 0.8 * single[0]["loss"]  # it trains
    # the chief's files only: no worker's temporary directory left in the run
    assert sorted(p.name for p in dirs["pair"].iterdir()) == ["model.h5", "recipe.json", "result.json", "train"]
    assert sorted(p.name for p in (dirs["pair"] / "train").iterdir()) == [
        "backup", "last.weights.h5", "log.csv", "weights.h5"]
    assert not list((dirs["pair"] / "train" / "backup").iterdir())  # removed at the end
    result = json.loads((dirs["pair"] / "result.json").read_text())
    assert (result["strategy"], result["replicas"]) == ("CollectiveAllReduceStrategy", 2)  # MWMS
    expected, got = h5_arrays(dirs["single"] / "train" / "weights.h5"), h5_arrays(dirs["pair"] / "train" / "weights.h5")
    assert sorted(got) == sorted(expected) and len(got) >= 9  # with BatchNorm's moving statistics
    for name, value in expected.items():
        np.testing.assert_allclose(got[name], value, rtol=0, atol=1e-4, err_msg=name)


def test_a_cluster_whose_worker_was_killed_resumes_from_the_chiefs_backup(runs):
    dirs, after_kill = runs
    assert [row["epoch"] for row in after_kill["log"]] == [0]  # killed in epoch 2
    assert not after_kill["finished"] and "chief" in after_kill["backup"]
    # the restarted cluster continued at epoch 2 with the same data and optimizer state:
    # the logs and weights of the two-worker run never killed, bit for bit
    assert _log(dirs["killed"] / "train" / "log.csv") == _log(dirs["pair"] / "train" / "log.csv")
    expected, got = h5_arrays(dirs["pair"] / "train" / "weights.h5"), h5_arrays(dirs["killed"] / "train" / "weights.h5")
    assert sorted(got) == sorted(expected)
    for name, value in expected.items():
        np.testing.assert_array_equal(got[name], value, err_msg=name)


def test_a_late_multi_worker_strategy_is_refused_with_advice(monkeypatch):
    tf.constant(1.0)  # TensorFlow has run something in this process
    monkeypatch.setenv("TF_CONFIG", json.dumps(
        {"cluster": {"worker": [f"localhost:{port}" for port in _free_ports(2)]},
         "task": {"type": "worker", "index": 1}}))
    with pytest.raises(RuntimeError, match=r"resolve_strategy\('multi_worker'\) first thing"):
        resolve_strategy("multi_worker")
    # one process is its own chief: it writes into output_dir, which is never removed
    default = resolve_strategy(None)
    assert is_chief(default) and worker_write_dir(default, "out") == Path("out")
    remove_write_dir(default, Path("out"))  # a no-op for the chief
