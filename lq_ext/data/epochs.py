"""Training data as a pure function of (seed, epoch): the epoch clock of a pipeline.

A training pipeline of :func:`lq_ext.data.load_dataset` reads its epoch from a
:class:`DataEpoch` when an iteration starts and derives the shuffle order and every
augmentation key from ``(seed, epoch)`` with stateless random ops, so a restarted
process that sets the epoch gets the batches the killed one would have seen.
Guides: docs/guides/data.md (determinism), docs/guides/training.md (resume).
"""

from __future__ import annotations

import weakref

import tensorflow as tf

__all__ = ["DataEpoch", "data_epoch", "element_key", "epoch_key"]

_CLOCKS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _stateless_int64(seed_pair):
    return tf.random.stateless_uniform(
        [], seed=seed_pair, minval=None, maxval=None, dtype=tf.int64
    )


def epoch_key(seed, epoch):
    """The int64 key of epoch ``epoch`` of a pipeline seeded ``seed`` (stateless)."""
    return _stateless_int64(tf.stack([tf.cast(seed, tf.int64), tf.cast(epoch, tf.int64)]))


def element_key(key, index):
    """The int64 key of element (image or batch) ``index`` of the epoch keyed ``key``."""
    return _stateless_int64(tf.stack([tf.cast(key, tf.int64), tf.cast(index, tf.int64)]))


class DataEpoch:
    """The epoch a training pipeline is at; each iteration of the pipeline is one epoch.

    Free-running (the default), every iteration reads ``epoch`` when it starts and
    advances it by one, so iterating a pipeline again gives the next epoch. Pinned
    (:meth:`pin`, what :func:`lq_ext.training.train` does before each epoch, including
    the first one after a resume), every iteration is that epoch until pinned again or
    :meth:`release`-d.
    """

    def __init__(self, seed: int):
        self.seed = int(seed)
        with tf.init_scope():  # eager variables, also when a pipeline is built in a tf.function
            self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="data_epoch")
            self._advance = tf.Variable(1, dtype=tf.int64, trainable=False, name="data_epoch_advance")

    def pin(self, epoch: int) -> None:
        """Make every following iteration epoch ``epoch`` (an int ≥ 0)."""
        if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
            raise ValueError(f"epoch must be an int >= 0, got epoch={epoch!r}.")
        self._advance.assign(0)
        self.epoch.assign(epoch)

    def release(self) -> None:
        """Free-running again: the next iteration is the pinned epoch, then it advances."""
        self._advance.assign(1)

    def _start(self, _):
        advance = self._advance.read_value()
        return self.epoch.assign_add(advance) - advance

    def dataset(self, one_epoch, batches: int | None) -> tf.data.Dataset:
        """``one_epoch(epoch)``'s dataset for the epoch read when an iteration starts,
        declared to hold ``batches`` elements (None: unknown)."""
        ds = tf.data.Dataset.from_tensors(tf.constant(0, tf.int64)).map(self._start)
        ds = ds.flat_map(one_epoch)
        if batches is not None:
            ds = ds.apply(tf.data.experimental.assert_cardinality(batches))
        return ds


def attach(dataset: tf.data.Dataset, clock: DataEpoch) -> tf.data.Dataset:
    """Record ``clock`` as the epoch clock of ``dataset`` (see :func:`data_epoch`)."""
    _CLOCKS[dataset] = clock
    return dataset


def data_epoch(dataset) -> DataEpoch | None:
    """The :class:`DataEpoch` of a training pipeline returned by ``load_dataset`` (None
    for other datasets, including ones derived from it by further transformations)."""
    try:
        return _CLOCKS.get(dataset)
    except TypeError:  # not weak-referenceable: not one of ours
        return None
