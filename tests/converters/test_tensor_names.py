"""lq_ext.converters._tensor_names: TFLite's converter cuts tensor names to 50 characters
(and appends a digit where cut names collide); the diagnosis reads the layer back."""

import tensorflow as tf

from lq_ext.converters._flatbuffer import Graph, Operator, Tensor
from lq_ext.converters._tensor_names import NAME_LIMIT, untruncated
from lq_ext.converters.int8.layers import Int8Range


def _model():
    inputs = tf.keras.Input((4,), name="x")
    y = tf.keras.layers.Dense(4, name="block1_dw_conv_builtin")(inputs)
    y = Int8Range(-1.0, 1.0, name="block1_dw_conv_builtin_int8")(y)
    y = tf.keras.layers.Dense(4, name="block1_dw_act_shift_in")(y)
    y = tf.keras.layers.Dense(4, name="block1_dw_act_prelu")(y)
    y = tf.keras.layers.Dense(4, name="block1_dw_act_shift_out")(y)
    return tf.keras.Model(inputs, y, name="bdnet_mobilenet_int8_portable")


def _graph(names):
    tensors = tuple(Tensor(i, name, (1, 4), "float32", False) for i, name in enumerate(names))
    ops = tuple(Operator(i, 0, "ADD", False, (i - 1,) if i else (), (i,), None) for i in range(len(names)))
    return Graph("<test>", 0, (tensors,), ops)


def test_cut_names_get_their_layers_back():
    cut = [  # what the converter wrote for the model above (measured on BDNetMobileNet)
        "bdnet_mobilenet_int8_portable/block1_dw_conv_built1",
        "bdnet_mobilenet_int8_portable/block1_dw_act_shift_",
        "bdnet_mobilenet_int8_portable/block1_dw_act_prelu/",
        "bdnet_mobilenet_int8_portable/block1_dw_act_shift_1",
    ]
    assert all(len(name[:NAME_LIMIT]) == NAME_LIMIT for name in cut)
    names = [t.name for t in untruncated(_graph(cut), _model()).tensors[0]]
    assert names == [
        "bdnet_mobilenet_int8_portable/block1_dw_conv_builtin",  # the int8 range names no tensor
        "bdnet_mobilenet_int8_portable/block1_dw_act_shift_in",  # cut twice: in execution order
        "bdnet_mobilenet_int8_portable/block1_dw_act_prelu/",  # its layer is readable: unchanged
        "bdnet_mobilenet_int8_portable/block1_dw_act_shift_out",
    ]


def test_uncertain_and_short_names_are_left_alone():
    # one cut tensor for two layers that start with the prefix: not certain, left as it is
    ambiguous = ["bdnet_mobilenet_int8_portable/block1_dw_act_shift_"]
    assert [t.name for t in untruncated(_graph(ambiguous), _model()).tensors[0]] == ambiguous
    short = ["bdnet_mobilenet_int8_portable/block1_dw/x"]  # under the limit: never rewritten
    assert [t.name for t in untruncated(_graph(short), _model()).tensors[0]] == short
