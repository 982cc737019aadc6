"""Latency ratios that mean something: models timed in alternating rounds in one process.

One timing run per model, taken minutes apart, mixes the models' difference with the
machine's drift (other jobs, clocks, caches). :func:`paired_latency` opens every model
once, then runs ``rounds`` rounds; in each round every model runs ``runs_per_round``
single-sample inferences, in A B C order on even rounds and C B A on odd ones, so a
drift inside a round weighs on every model alike. Each model's per-round median gives
one ratio per round against the reference model; the report gives the median ratio with
a bootstrap interval over rounds and the min–max over rounds. Guide:
docs/guides/benchmarks.md#paired-rounds
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from lq_ext._validate import check_int, check_number
from lq_ext.bench.interpreter import check_run_arguments, prepare
from lq_ext.converters._flatbuffer import load_bytes

__all__ = ["Interval", "PairedResult", "bootstrap_median", "paired_latency", "summarize"]

#: Bootstrap resamples of the rounds for each interval.
BOOTSTRAP_RESAMPLES = 2000


@dataclass(frozen=True)
class Interval:
    """A median with a ``level`` bootstrap interval and the min–max over rounds."""

    median: float
    low: float
    high: float
    min: float
    max: float

    def __str__(self) -> str:
        return f"{self.median:.3g} [{self.low:.3g}–{self.high:.3g}]"


def bootstrap_median(values, *, level: float = 0.95, resamples: int = BOOTSTRAP_RESAMPLES, seed: int = 0) -> Interval:
    """The median of ``values`` with a percentile-bootstrap ``level`` interval.

    The values are resampled with replacement ``resamples`` times (NumPy generator seeded
    with ``seed``, so the interval is reproducible); the interval spans the
    ``(1 − level) / 2`` and ``(1 + level) / 2`` quantiles of the resampled medians.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1 or values.size == 0:
        raise ValueError(f"values must be a non-empty 1-D sequence, got shape {values.shape}.")
    level = check_number("level", level, low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)
    resamples = check_int("resamples", resamples, low=1)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, values.size, size=(resamples, values.size))
    medians = np.median(values[draws], axis=1)
    low, high = np.quantile(medians, [(1 - level) / 2, (1 + level) / 2])
    return Interval(
        median=float(np.median(values)), low=float(low), high=float(high),
        min=float(values.min()), max=float(values.max()),
    )


@dataclass(frozen=True)
class PairedResult:
    """What :func:`paired_latency` measured (times in milliseconds).

    # Attributes
        names: the models, in the order given; ``reference`` is the denominator of ratios.
        round_times_ms: per model, one tuple of ``runs_per_round`` times per round.
        latency: per model, the median over rounds of its per-round medians (interval
            over rounds).
        ratio: per model, the per-round ratio of its median to the reference's median
            in the same round (the reference's own ratio is 1).
        kernel, use_xnnpack, threads: the interpreter settings (``kernel`` resolved).
        level: the bootstrap interval's coverage.
    """

    names: tuple[str, ...]
    reference: str
    round_times_ms: Mapping[str, tuple[tuple[float, ...], ...]]
    latency: Mapping[str, Interval]
    ratio: Mapping[str, Interval]
    kernel: str
    use_xnnpack: bool
    threads: int
    warmup: int
    level: float

    @property
    def rounds(self) -> int:
        return len(self.round_times_ms[self.reference])

    @property
    def runs_per_round(self) -> int:
        return len(self.round_times_ms[self.reference][0])

    def below(self, name: str, bound: float = 1.0) -> bool:
        """True if ``name``'s ratio interval lies entirely below ``bound``."""
        return self.ratio[name].high < bound

    def markdown(self) -> str:
        """One row per model: median ms [interval], ratio to the reference [interval], min–max."""
        pct = f"{self.level:.0%}"
        lines = [
            f"| model | median ms [{pct} interval] | / {self.reference} [{pct} interval] | ratio min–max over rounds |",
            "|---|---:|---:|---:|",
        ]
        for name in self.names:
            lat, rat = self.latency[name], self.ratio[name]
            lines.append(
                f"| {name} | {lat.median:.2f} [{lat.low:.2f}–{lat.high:.2f}] "
                f"| {rat.median:.3f} [{rat.low:.3f}–{rat.high:.3f}] | {rat.min:.3f}–{rat.max:.3f} |"
            )
        return "\n".join(lines)

    def __str__(self) -> str:
        head = (
            f"{self.rounds} paired rounds × {self.runs_per_round} runs, kernel={self.kernel}, "
            f"xnnpack={'on' if self.use_xnnpack else 'off'}, threads={self.threads}"
        )
        return head + "\n" + self.markdown()


def summarize(
    round_times_ms: Mapping[str, list[list[float]]], reference: str, *, level: float = 0.95, seed: int = 0
) -> tuple[dict[str, Interval], dict[str, Interval]]:
    """``(latency, ratio)`` intervals from per-round times (see :class:`PairedResult`)."""
    if reference not in round_times_ms:
        raise ValueError(f"reference={reference!r} is not one of the models {list(round_times_ms)}.")
    medians = {name: np.array([statistics.median(r) for r in rounds]) for name, rounds in round_times_ms.items()}
    counts = {name: m.size for name, m in medians.items()}
    if len(set(counts.values())) != 1:
        raise ValueError(f"every model needs the same number of rounds, got {counts}.")
    latency = {name: bootstrap_median(m, level=level, seed=seed) for name, m in medians.items()}
    ratio = {name: bootstrap_median(m / medians[reference], level=level, seed=seed) for name, m in medians.items()}
    return latency, ratio


def paired_latency(
    models: Mapping[str, object],
    *,
    reference: str | None = None,
    rounds: int = 8,
    runs_per_round: int = 10,
    warmup: int = 3,
    kernel: str = "auto",
    use_xnnpack: bool = False,
    threads: int = 1,
    level: float = 0.95,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> PairedResult:
    """Time the ``.tflite`` files of ``models`` in alternating rounds in this process.

    # Arguments
        models: ``{name: path or bytes}``, at least one entry.
        reference: the name ratios are taken against (default: the first).
        rounds: paired rounds (>= 2: an interval needs more than one).
        runs_per_round: timed single-sample inferences of each model per round.
        warmup: untimed inferences of each model before the first round.
        kernel, use_xnnpack, threads: as :func:`lq_ext.bench.run`; one setting for all
            models (``"auto"`` resolves per model).
        level: the bootstrap intervals' coverage, in (0, 1).
        seed: the bootstrap's seed (the intervals are reproducible from the times).
        progress: called as ``progress(done, total)`` after each round.

    # Returns
        A :class:`PairedResult`.

    # Raises
        ValueError: an invalid argument (named), or a file that is not a flatbuffer.
        RuntimeError: the interpreter cannot prepare or run a model.
    """
    if not isinstance(models, Mapping) or not models:
        raise ValueError(f"models must be a non-empty mapping of name to .tflite path or bytes, got {models!r}.")
    names = tuple(models)
    reference = names[0] if reference is None else reference
    if reference not in models:
        raise ValueError(f"reference={reference!r} is not one of the models {list(names)}.")
    rounds = check_int("rounds", rounds, low=2)
    level = check_number("level", level, low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)
    runs_per_round = check_int("runs_per_round", runs_per_round, low=1)
    threads, warmup, runs_per_round = check_run_arguments(
        threads=threads, warmup=warmup, runs=runs_per_round, kernel=kernel, use_xnnpack=use_xnnpack
    )
    if progress is not None and not callable(progress):
        raise ValueError(f"progress must be a callable(done, total) or None, got {progress!r}.")

    opened, kernels = {}, set()
    for name in names:
        flatbuffer, source = load_bytes(models[name])
        invoke, batch, used = prepare(
            flatbuffer, source, kernel=kernel, threads=threads, use_xnnpack=use_xnnpack
        )
        opened[name] = (invoke, batch)
        kernels.add(used)
    for invoke, batch in opened.values():
        for _ in range(warmup):
            invoke(batch)

    times: dict[str, list[list[float]]] = {name: [] for name in names}
    for index in range(rounds):
        order = names if index % 2 == 0 else names[::-1]
        for name in order:
            invoke, batch = opened[name]
            this_round = []
            for _ in range(runs_per_round):
                start = time.perf_counter()
                invoke(batch)
                this_round.append((time.perf_counter() - start) * 1e3)
            times[name].append(this_round)
        if progress is not None:
            progress(index + 1, rounds)

    latency, ratio = summarize(times, reference, level=level, seed=seed)
    return PairedResult(
        names=names,
        reference=reference,
        round_times_ms={name: tuple(tuple(r) for r in rounds_) for name, rounds_ in times.items()},
        latency=latency,
        ratio=ratio,
        kernel="/".join(sorted(kernels)),
        use_xnnpack=use_xnnpack,
        threads=threads,
        warmup=warmup,
        level=level,
    )
