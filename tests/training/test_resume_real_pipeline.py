"""Resume that continues the same run, on the real Fashion-MNIST pipeline (shuffled and
augmented): a run SIGKILLed in the middle of epoch 2 and started again ends with the
weights, bit for bit, of a run never killed; the pipeline's epoch *e* is a pure function
of (seed, e) (lq_ext.data.epochs)."""

import csv
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from kill_points import h5_arrays

from lq_ext.data import load_dataset
from lq_ext.data.epochs import DataEpoch, data_epoch
from lq_ext.training.callbacks import DataEpochSync, resumed_epoch

WORKER = Path(__file__).with_name("resume_kill_worker.py")
ROOT = WORKER.parents[2]


def _collect(ds):
    batches = list(ds)
    return (np.concatenate([x.numpy() for x, _ in batches]),
            np.concatenate([y.numpy() for _, y in batches]))


def _pipeline(**kwargs):
    return load_dataset("fashion_mnist", "train", batch_size=32, limit=128, seed=7, **kwargs)


def _epoch(ds, epoch):
    data_epoch(ds).pin(epoch)
    return _collect(ds)


def test_epoch_e_is_a_function_of_seed_and_epoch_only():
    first = _pipeline()
    free = [_collect(first) for _ in range(3)]  # free-running: iteration k is epoch k
    tf.random.set_seed(123)  # the global seed plays no part
    tf.random.uniform([5])
    second = _pipeline()  # built again, fresh clock
    for epoch in (2, 0, 1):
        images, labels = _epoch(second, epoch)
        np.testing.assert_array_equal(images, free[epoch][0])  # same order and crops
        np.testing.assert_array_equal(labels, free[epoch][1])
    one, two = _epoch(second, 1), _epoch(second, 2)
    assert not np.array_equal(one[1], two[1])  # reshuffled
    assert sorted(one[1].tolist()) == sorted(two[1].tolist())  # the same examples
    # without shuffling, the same images in the same order are cropped / flipped anew
    plain = _pipeline(shuffle=False)
    a, b = _epoch(plain, 1), _epoch(plain, 2)
    np.testing.assert_array_equal(a[1], b[1])
    changed = [not np.array_equal(x, y) for x, y in zip(a[0], b[0])]
    assert sum(changed) > len(changed) // 2
    # the pinned epoch holds until released; then the pipeline advances again
    np.testing.assert_array_equal(_collect(plain)[0], b[0])
    data_epoch(plain).release()
    np.testing.assert_array_equal(_collect(plain)[0], b[0])  # epoch 2, then 3
    assert not np.array_equal(_collect(plain)[0], b[0])
    # evaluation pipelines have no clock; neither have derived datasets
    assert data_epoch(load_dataset("fashion_mnist", "test", batch_size=32, limit=32)) is None
    assert data_epoch(first.take(1)) is None


def test_data_epoch_sync_pins_the_next_epoch():
    clock = DataEpoch(seed=3)
    sync = DataEpochSync(clock, offset=10)

    class Restored:  # what BackupAndRestore leaves on the model: epoch 4 was saved last
        class _training_state:  # noqa: N801
            _ckpt_saved_epoch = tf.Variable(4, dtype=tf.int64)

    sync.set_model(Restored())
    assert resumed_epoch(Restored()) == 5 and resumed_epoch(object()) == 0
    sync.on_train_begin()
    assert int(clock.epoch.numpy()) == 15
    sync.on_epoch_end(5)
    assert int(clock.epoch.numpy()) == 16
    with pytest.raises(ValueError, match="offset=-1"):
        DataEpochSync(clock, offset=-1)
    with pytest.raises(ValueError, match="epoch=-2"):
        clock.pin(-2)


def _run(output_dir, kill_at=None):
    env = {**os.environ, "TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "2",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    env.pop("LQ_EXT_TEST_KILL_AT", None)
    if kill_at is not None:
        env["LQ_EXT_TEST_KILL_AT"] = "{},{}".format(*kill_at)
    return subprocess.Popen(
        [sys.executable, str(WORKER), "tiny", str(output_dir)], env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


def _log(path):
    with open(path, newline="") as file:
        return list(csv.DictReader(file))


def test_a_run_killed_mid_epoch_resumes_to_the_same_weights(tmp_path):
    # the uninterrupted run and the run to be killed go side by side (2 cores)
    reference = _run(tmp_path / "reference")
    killed = _run(tmp_path / "killed", kill_at=(1, 3))  # epoch 2 (of 3), after batch 4 (of 8)
    out, _ = killed.communicate(timeout=600)
    assert killed.returncode == -signal.SIGKILL, out
    train_dir = tmp_path / "killed" / "train"
    assert [row["epoch"] for row in _log(train_dir / "log.csv")] == ["0"]  # epoch 2 unfinished
    assert not (train_dir / "weights.h5").exists()
    resumed = _run(tmp_path / "killed")
    for process in (reference, resumed):
        out, _ = process.communicate(timeout=600)
        assert process.returncode == 0, out
    # the same data and optimizer state: bit-identical logs and weights
    assert _log(train_dir / "log.csv") == _log(tmp_path / "reference" / "train" / "log.csv")
    expected = h5_arrays(tmp_path / "reference" / "train" / "weights.h5")
    got = h5_arrays(train_dir / "weights.h5")
    assert sorted(got) == sorted(expected) and len(got) >= 10
    for name, value in expected.items():
        np.testing.assert_array_equal(got[name], value, err_msg=name)
