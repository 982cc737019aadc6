"""What the subprocess training tests share: a callback that SIGKILLs its own process at
a chosen (epoch, batch), and every array of a weights ``.h5`` file by its path."""

import os
import signal

import h5py
import tensorflow as tf


class KillAt(tf.keras.callbacks.Callback):
    """SIGKILL this process after batch ``batch`` of epoch ``epoch`` (0-based)."""

    def __init__(self, epoch, batch):
        super().__init__()
        self.at, self.epoch = (epoch, batch), None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if (self.epoch, batch) == self.at:
            os.kill(os.getpid(), signal.SIGKILL)


def h5_arrays(path) -> dict:
    """``{dataset path: array}`` of every dataset in the ``.h5`` file at ``path``."""
    with h5py.File(path, "r") as file:
        found = {}
        file.visititems(lambda name, item: found.__setitem__(name, item[()])
                        if isinstance(item, h5py.Dataset) else None)
    return found
