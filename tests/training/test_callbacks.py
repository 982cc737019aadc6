"""lq_ext.training.callbacks: WeightBinarization switches MaxAbsSign kernels on at an epoch
(and the old lq_ext.callbacks path still works)."""

import larq as lq
import numpy as np
import pytest
import tensorflow as tf

import lq_ext
import lq_ext.callbacks
from lq_ext.quantizers import MaxAbsSign
from lq_ext.training import WeightBinarization, callbacks, weight_switches


def _model(*quantized):
    """Dense layers on 4 inputs; ``quantized[i]`` says whether layer i has a MaxAbsSign kernel."""
    tf.keras.utils.set_random_seed(0)
    inputs = x = tf.keras.Input((4,))
    for i, use in enumerate(quantized):
        quantizer = MaxAbsSign(binarized=False) if use else None
        x = lq.layers.QuantDense(3, kernel_quantizer=quantizer, name=f"dense{i}")(x)
    model = tf.keras.Model(inputs, x)
    model.compile(optimizer=tf.keras.optimizers.SGD(0.0), loss="mse")
    return model


def test_the_old_module_re_exports_the_same_objects():
    assert lq_ext.callbacks.WeightBinarization is callbacks.WeightBinarization is WeightBinarization
    assert lq_ext.callbacks.weight_switches is callbacks.weight_switches is weight_switches
    from lq_ext.callbacks import WeightBinarization as old  # the documented import

    assert old is WeightBinarization


def test_switches_follow_the_epoch_and_a_resumed_run():
    model = _model(True, False, True)
    switches = weight_switches(model)
    quantizers = [model.get_layer(name).kernel_quantizer for name in ("dense0", "dense2")]
    assert [id(s) for s in switches] == [id(q.switch) for q in quantizers]
    x, y = np.ones((6, 4), np.float32), np.zeros((6, 3), np.float32)
    seen = []

    class Record(tf.keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):  # runs after WeightBinarization's
            seen.append([float(s.numpy()) for s in switches])

    model.fit(x, y, epochs=3, verbose=0, callbacks=[WeightBinarization(start_epoch=2), Record()])
    assert seen == [[0.0, 0.0], [0.0, 0.0], [1.0, 1.0]]
    kernel = model.get_layer("dense0").kernel.numpy()
    binary = quantizers[0](kernel).numpy()  # on: sign(w) · max|w| / 2 per output column
    np.testing.assert_allclose(binary, np.sign(kernel) * np.abs(kernel).max(axis=0) / 2, rtol=1e-6)
    seen.clear()  # a run resumed at epoch 1 (initial_epoch) gets the state of epoch 1
    model.fit(x, y, initial_epoch=1, epochs=2, verbose=0,
              callbacks=[WeightBinarization(start_epoch=2), Record()])
    assert seen == [[0.0, 0.0]]
    np.testing.assert_array_equal(quantizers[0](kernel).numpy(), kernel)  # off: identity


def test_refusals_name_the_problem():
    with pytest.raises(ValueError, match="start_epoch must be a non-negative int .*start_epoch=-1"):
        WeightBinarization(start_epoch=-1)
    with pytest.raises(ValueError, match="start_epoch=True"):
        WeightBinarization(start_epoch=True)
    assert WeightBinarization(start_epoch=np.int64(3)).start_epoch == 3
    with pytest.raises(ValueError, match="has no kernel quantizer with a switch"):
        _model(False).fit(np.ones((2, 4)), np.zeros((2, 3)), verbose=0,
                          callbacks=[WeightBinarization(1)])
    unbuilt = tf.keras.Sequential([lq.layers.QuantDense(3, kernel_quantizer=MaxAbsSign())])
    with pytest.raises(ValueError, match="is not built yet"):
        weight_switches(unbuilt)
