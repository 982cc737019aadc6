"""``tf.distribute`` strategies for :func:`lq_ext.training.train`, and which worker
writes the run's files.

Under ``MultiWorkerMirroredStrategy`` every worker runs the same ``train`` call; only the
chief (:func:`is_chief`) writes into ``output_dir``, the others into a temporary
directory (:func:`worker_write_dir`), and the workers meet at :func:`barrier` where one
must not run ahead of the chief's file changes. Guide: docs/guides/training.md
("Several machines").
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import tensorflow as tf

__all__ = [
    "STRATEGIES", "barrier", "is_chief", "remove_write_dir", "resolve_strategy", "worker_write_dir",
]

STRATEGIES = ("default", "mirrored", "multi_worker")


def resolve_strategy(strategy=None) -> tf.distribute.Strategy:
    """A ``tf.distribute`` strategy from a name or an instance.

    ``None`` / ``"default"``: the current (default) strategy; ``"mirrored"``:
    ``MirroredStrategy`` over all visible GPUs, or all logical CPUs when there is no
    GPU; ``"multi_worker"``: ``MultiWorkerMirroredStrategy`` configured by
    ``TF_CONFIG``. TensorFlow sets up the collective ops of ``"multi_worker"`` only
    before it has run anything, so resolve it first thing in the program (before
    building datasets or models) and pass the instance on.
    """
    if isinstance(strategy, tf.distribute.Strategy):
        return strategy
    if strategy is None or strategy == "default":
        return tf.distribute.get_strategy()
    if strategy == "mirrored":
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([d.name for d in devices])
    if strategy == "multi_worker":
        try:
            return tf.distribute.MultiWorkerMirroredStrategy()
        except RuntimeError as error:
            if "program startup" not in str(error):
                raise
            raise RuntimeError(
                "strategy='multi_worker': TensorFlow has already run operations in this process "
                "(a dataset or model was built), and its collective ops can only be set up "
                "before that. Call strategy = lq_ext.training.resolve_strategy('multi_worker') "
                "first thing in the program and pass train(..., strategy=strategy)."
            ) from None
    raise ValueError(
        f"strategy must be a tf.distribute.Strategy or one of {list(STRATEGIES)}, got "
        f"strategy={strategy!r}."
    )


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """Whether this worker writes the run's files: always, except for the non-chief
    workers of a multi-worker strategy (Keras' own test, ``should_checkpoint``)."""
    return bool(strategy.extended.should_checkpoint)


def worker_write_dir(strategy: tf.distribute.Strategy, output_dir: Path) -> Path:
    """Where this worker writes: ``output_dir`` for the chief, a new temporary directory
    for the others (remove it with :func:`remove_write_dir`)."""
    if is_chief(strategy):
        return Path(output_dir)
    return Path(tempfile.mkdtemp(prefix="lq_ext_worker_"))


def remove_write_dir(strategy: tf.distribute.Strategy, write_dir: Path) -> None:
    """Remove a non-chief's temporary :func:`worker_write_dir` (never the chief's)."""
    if not is_chief(strategy):
        shutil.rmtree(write_dir, ignore_errors=True)


def barrier(strategy: tf.distribute.Strategy) -> None:
    """Wait until every worker of ``strategy`` is here (an all-reduce of one number;
    immediate with one worker)."""

    @tf.function  # eagerly, the collective strategies warn of their overhead
    def meet():
        values = strategy.run(lambda: tf.constant(1.0))
        return strategy.reduce(tf.distribute.ReduceOp.SUM, values, axis=None)

    meet()
