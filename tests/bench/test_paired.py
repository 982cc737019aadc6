"""Paired latency rounds: the statistics on hand-made times, the alternating order with a
fake clock, and one real run of two tiny flatbuffers in LCE's interpreter."""

import larq as lq
import numpy as np
import pytest
import tensorflow as tf

from lq_ext.bench import paired
from lq_ext.bench.paired import Interval, bootstrap_median, paired_latency, summarize
from lq_ext.converters.engines import to_flatbuffer


def test_bootstrap_median_by_hand():
    values = [3.0, 1.0, 2.0, 10.0, 4.0]
    interval = bootstrap_median(values, level=0.9, resamples=500, seed=1)
    assert interval.median == 3.0 and (interval.min, interval.max) == (1.0, 10.0)
    assert 1.0 <= interval.low <= 3.0 <= interval.high <= 10.0
    # the same seed gives the same interval; the resampled medians are sample values
    assert bootstrap_median(values, level=0.9, resamples=500, seed=1) == interval
    assert interval.low in values and interval.high in values
    # no spread, no interval
    assert bootstrap_median([2.5] * 4) == Interval(2.5, 2.5, 2.5, 2.5, 2.5)


def test_bootstrap_interval_covers_what_the_hand_formula_says():
    # Two values: a resample's median is a (prob 1/4), b (1/4) or (a+b)/2 (1/2), so the
    # central 50 % interval of 20,000 resamples is [a, (a+b)/2] or [(a+b)/2, b] at worst.
    interval = bootstrap_median([1.0, 3.0], level=0.4, resamples=20_000, seed=0)
    assert (interval.low, interval.median, interval.high) == (2.0, 2.0, 2.0)
    wide = bootstrap_median([1.0, 3.0], level=0.9, resamples=20_000, seed=0)
    assert (wide.low, wide.high) == (1.0, 3.0)


def test_summarize_ratios_per_round():
    # A takes half of B's time in every round, whatever the round's drift
    times = {
        "a": [[1.0, 1.2, 5.0], [2.0, 2.0, 2.0], [1.5, 1.4, 1.6]],
        "b": [[2.0, 2.4, 3.0], [4.0, 4.0, 0.1], [3.0, 2.8, 3.2]],
    }
    latency, ratio = summarize(times, "b")
    assert latency["a"].median == 1.5 and (latency["a"].min, latency["a"].max) == (1.2, 2.0)
    assert ratio["a"] == Interval(0.5, 0.5, 0.5, 0.5, 0.5)
    assert ratio["b"] == Interval(1.0, 1.0, 1.0, 1.0, 1.0)
    with pytest.raises(ValueError, match="reference='c' is not one of the models"):
        summarize(times, "c")
    with pytest.raises(ValueError, match="same number of rounds"):
        summarize({"a": [[1.0]], "b": [[1.0], [2.0]]}, "a")


def test_rounds_alternate_and_times_are_per_round(monkeypatch):
    """A fake interpreter per model advances a fake clock by its cost: the order of calls
    and every number of the result are known exactly."""
    clock, calls = [0.0], []
    cost_ms = {"fast": 2.0, "slow": 4.0, "mid": 3.0}

    def fake_prepare(flatbuffer, source, *, kernel, threads, use_xnnpack, inputs="random"):
        name = flatbuffer.decode()

        def invoke(batch):
            calls.append(name)
            clock[0] += cost_ms[name] / 1e3

        return invoke, None, "optimized"

    monkeypatch.setattr(paired, "prepare", fake_prepare)
    monkeypatch.setattr(paired, "load_bytes", lambda model: (model, "<bytes>"))
    monkeypatch.setattr(paired.time, "perf_counter", lambda: clock[0])
    done = []
    result = paired_latency(
        {n: n.encode() for n in ("fast", "slow", "mid")}, reference="slow",
        rounds=3, runs_per_round=2, warmup=1, progress=lambda i, n: done.append((i, n)),
    )
    warm = ["fast", "slow", "mid"]
    forward, backward = ["fast"] * 2 + ["slow"] * 2 + ["mid"] * 2, ["mid"] * 2 + ["slow"] * 2 + ["fast"] * 2
    assert calls == warm + forward + backward + forward
    assert done == [(1, 3), (2, 3), (3, 3)]
    assert result.rounds == 3 and result.runs_per_round == 2 and result.kernel == "optimized"
    assert result.round_times_ms["fast"] == ((pytest.approx(2.0),) * 2,) * 3
    assert result.latency["mid"].median == pytest.approx(3.0)
    assert result.ratio["fast"].median == pytest.approx(0.5) and result.ratio["mid"].high == pytest.approx(0.75)
    assert result.below("fast") and result.below("mid") and not result.below("slow")
    table = result.markdown().splitlines()
    assert table[0].startswith("| model | median ms [95% interval] | / slow [95% interval]")
    assert table[2] == "| fast | 2.00 [2.00–2.00] | 0.500 [0.500–0.500] | 0.500–0.500 |"


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(models={}), "models must be a non-empty mapping"),
        (dict(reference="nope"), "reference='nope' is not one of the models"),
        (dict(rounds=1), "rounds must be an integer ≥ 2"),
        (dict(level=1.0), "level must be a number"),
        (dict(kernel="fast"), "kernel='fast' is not supported"),
        (dict(runs_per_round=0), "runs_per_round must be an integer ≥ 1"),
    ],
)
def test_bad_arguments_are_named(kwargs, message):
    arguments = {"models": {"a": b"not read"}, **kwargs}
    with pytest.raises(ValueError, match=message):
        paired_latency(**arguments)


@pytest.fixture(scope="module")
def two_files(tmp_path_factory):
    """A binary conv model and the same with a second binary conv: ~4 s of conversion."""
    directory = tmp_path_factory.mktemp("paired")
    paths = {}
    for depth in (1, 2):
        tf.keras.utils.set_random_seed(depth)
        inputs = tf.keras.Input((32, 32, 16))
        x = inputs
        for _ in range(depth):
            x = lq.layers.QuantConv2D(
                64, 3, padding="same", pad_values=1.0, input_quantizer="ste_sign",
                kernel_quantizer="ste_sign", kernel_constraint="weight_clip", use_bias=False,
            )(x)
        path = directory / f"depth{depth}.tflite"
        path.write_bytes(to_flatbuffer(tf.keras.Model(inputs, x)).data)
        paths[f"depth{depth}"] = path
    return paths


def test_real_interpreters_in_paired_rounds(two_files):
    result = paired_latency(two_files, rounds=3, runs_per_round=4, warmup=1)
    assert result.names == ("depth1", "depth2") and result.reference == "depth1"
    assert result.kernel == "optimized" and result.threads == 1 and not result.use_xnnpack
    for name in result.names:
        rounds = np.array(result.round_times_ms[name])
        assert rounds.shape == (3, 4) and np.all(rounds > 0)
        medians = np.median(rounds, axis=1)
        assert result.latency[name].median == pytest.approx(np.median(medians))
        assert result.latency[name].min == pytest.approx(medians.min())
    ratios = np.median(result.round_times_ms["depth2"], axis=1) / np.median(result.round_times_ms["depth1"], axis=1)
    assert result.ratio["depth2"].median == pytest.approx(np.median(ratios))
    assert result.ratio["depth1"] == Interval(1.0, 1.0, 1.0, 1.0, 1.0)
    assert "3 paired rounds × 4 runs, kernel=optimized, xnnpack=off" in str(result)
