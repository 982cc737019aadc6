"""lq_ext.training.schedules: WarmupDecay against values computed by hand."""

import math

import numpy as np
import pytest
import tensorflow as tf

from lq_ext.training import WarmupDecay


def test_warmup_cosine_values():
    schedule = WarmupDecay(1.0, total_steps=110, warmup_steps=10, decay="cosine", final_lr=0.1)
    assert float(schedule(0)) == pytest.approx(0.1)  # (0 + 1) / 10
    assert float(schedule(4)) == pytest.approx(0.5)
    assert float(schedule(10)) == pytest.approx(1.0)
    assert float(schedule(60)) == pytest.approx(0.1 + 0.9 * 0.5)  # half-way: cos(pi/2) = 0
    assert float(schedule(35)) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi / 4)))
    assert float(schedule(110)) == pytest.approx(0.1)
    assert float(schedule(500)) == pytest.approx(0.1)  # clipped after the end


def test_linear_and_constant_values():
    linear = WarmupDecay(2e-3, total_steps=100, decay="linear")
    assert float(linear(0)) == pytest.approx(2e-3)
    assert float(linear(25)) == pytest.approx(1.5e-3)
    assert float(linear(100)) == pytest.approx(0.0)
    constant = WarmupDecay(5e-4, total_steps=10, decay="constant")
    assert [float(constant(s)) for s in (0, 5, 50)] == pytest.approx([5e-4] * 3)


def test_schedule_config_round_trip():
    schedule = WarmupDecay(1e-3, 1000, 50, "linear", 1e-5)
    clone = WarmupDecay.from_config(schedule.get_config())
    assert [float(clone(s)) for s in (0, 49, 50, 500, 999)] == pytest.approx(
        [float(schedule(s)) for s in (0, 49, 50, 500, 999)]
    )
    key = tf.keras.utils.get_registered_name(WarmupDecay)
    assert key == "lq_ext>WarmupDecay"


@pytest.mark.parametrize(
    "kwargs, word",
    [
        (dict(peak_lr=0, total_steps=10), "peak_lr"),
        (dict(peak_lr=1e-3, total_steps=0), "total_steps"),
        (dict(peak_lr=1e-3, total_steps=10, warmup_steps=10), "warmup_steps"),
        (dict(peak_lr=1e-3, total_steps=10, decay="step"), "decay"),
        (dict(peak_lr=1e-3, total_steps=10, final_lr=1.0), "final_lr"),
    ],
)
def test_schedule_errors(kwargs, word):
    with pytest.raises(ValueError, match=word):
        WarmupDecay(**kwargs)


def test_numpy_step_counts_are_accepted_and_stored_as_ints():
    schedule = WarmupDecay(np.float32(1.0), np.int64(110), np.int32(10), "cosine", np.float64(0.1))
    config = schedule.get_config()
    assert (config["total_steps"], config["warmup_steps"]) == (110, 10)
    assert type(config["total_steps"]) is int and type(config["warmup_steps"]) is int
    assert float(schedule(4)) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="final_lr must be a number"):
        WarmupDecay(1.0, 10, final_lr=True)  # a bool is not a learning rate
