"""LearnableBias (ReActNet's threshold as a layer): the harness, values, old import path.

Its .h5 round trip next to a CircularShift: tests/layers/test_shift.py.
"""

import numpy as np
import pytest
import tensorflow as tf

from lq_ext.layers import bias
from lq_ext.layers.bias import LearnableBias
from lq_ext.testing import layer_classes, layer_test

LAYER_CASES = [
    (LearnableBias, {}, (3, 3, 4)),
    (LearnableBias, {}, (5,)),
]


@pytest.mark.parametrize("layer_cls, kwargs, input_shape", LAYER_CASES)
def test_layer_harness(layer_cls, kwargs, input_shape):
    layer_test(layer_cls, kwargs, input_shape=input_shape)


def test_table_covers_every_layer_of_the_module():
    assert {case[0] for case in LAYER_CASES} == layer_classes(bias)


def test_zero_init_and_hand_made_values():
    layer = LearnableBias()
    layer.build((None, 3))
    assert layer.get_weights()[0].tolist() == [0, 0, 0]  # ReActNet's zero init
    x = np.array([[1.0, 2.0, -3.0], [0.0, -0.5, 4.0]], np.float32)
    expected = [[1.5, 1.0, -3.0], [0.5, -1.5, 4.0]]
    layer_test(LearnableBias, input_shape=(3,), input_data=x, weights=[[0.5, -1.0, 0.0]], expected_output=expected)


def test_old_import_path_and_registered_name():
    from lq_ext.layers import LearnableBias as from_package
    from lq_ext.layers.embedding import LearnableBias as from_embedding

    assert from_package is LearnableBias and from_embedding is LearnableBias
    assert tf.keras.utils.get_registered_name(LearnableBias) == "lq_ext>LearnableBias"


def test_unknown_channels_are_refused():
    with pytest.raises(ValueError, match="LearnableBias 'b' needs a known channel dimension"):
        LearnableBias(name="b").build((None, None))

