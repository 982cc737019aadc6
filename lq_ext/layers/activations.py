"""Learned activations: ReActNet's RPReLU, PokeBNN's DPReLU, and the hard sigmoid gate.

References: ReActNet, arXiv:2003.03488 (RPReLU, Section 3.2); PokeBNN,
arXiv:2112.00133 (DPReLU, the SE module's hard sigmoid).
Provenance and reconstruction notes: docs/models/reactnet.md, docs/models/pokebnn.md
"""

import tensorflow as tf

from lq_ext._serialization import register
from lq_ext._validate import check_number


@register
class RPReLU(tf.keras.layers.Layer):
    r"""Per-channel shift → PReLU → shift (ReActNet's RPReLU).

    \\[ f(x_c) = \mathrm{PReLU}_{\alpha_c}(x_c - \gamma_c) + \zeta_c \\]

    # Arguments
        alpha_initializer: initial negative slope α (ReActNet: 0.25).

    # References
        - ReActNet, arXiv:2003.03488, Section 3.2, Eq. 4
    """

    def __init__(self, alpha_initializer=0.25, **kwargs):
        super().__init__(**kwargs)
        self.alpha_initializer = check_number("alpha_initializer", alpha_initializer)

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is None:
            raise ValueError("RPReLU needs a known channel dimension (last axis).")
        shape = (channels,)
        self.shift_in = self.add_weight(name="shift_in", shape=shape, initializer="zeros")
        # α is shaped (1, …, 1, C) like Keras' PReLU with shared spatial axes: the TFLite
        # converters only fuse relu(x) − α·relu(−x) into one PRELU op with that shape.
        self.alpha = self.add_weight(
            name="alpha",
            shape=(1,) * (len(input_shape) - 2) + shape,
            initializer=tf.keras.initializers.Constant(self.alpha_initializer),
        )
        self.shift_out = self.add_weight(name="shift_out", shape=shape, initializer="zeros")
        super().build(input_shape)

    def call(self, inputs):
        x = inputs - self.shift_in
        return tf.nn.relu(x) + (-self.alpha) * tf.nn.relu(-x) + self.shift_out

    def get_config(self):
        return {**super().get_config(), "alpha_initializer": self.alpha_initializer}


@register
class DPReLU(tf.keras.layers.Layer):
    r"""PokeBNN's dynamic PReLU: learned slopes on both sides and shifts in and out.

    \\[ u_c = x_c - b^x_c, \quad
        f(x_c) = \begin{cases} p_c\,u_c & u_c \ge 0 \\ n_c\,u_c & u_c < 0 \end{cases} - b^y_c \\]

    Unlike RPReLU it learns the positive slope p too, and subtracts the output shift
    (the official code's sign).  Four per-channel vectors.

    # Arguments
        pos_slope_initializer: initial p (official: 1.0).
        neg_slope_initializer: initial n (official: 0.25).

    # References
        - PokeBNN, arXiv:2112.00133; google/aqt ``pokebnn.py`` (``DPReLU``)
    """

    def __init__(self, pos_slope_initializer=1.0, neg_slope_initializer=0.25, **kwargs):
        super().__init__(**kwargs)
        self.pos_slope_initializer = check_number("pos_slope_initializer", pos_slope_initializer)
        self.neg_slope_initializer = check_number("neg_slope_initializer", neg_slope_initializer)

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is None:
            raise ValueError("DPReLU needs a known channel dimension (last axis).")
        shape = (channels,)
        self.bias_x = self.add_weight(name="bias_x", shape=shape, initializer="zeros")
        self.bias_y = self.add_weight(name="bias_y", shape=shape, initializer="zeros")
        constant = tf.keras.initializers.Constant
        self.pos_slope = self.add_weight(
            name="pos_slope", shape=shape, initializer=constant(self.pos_slope_initializer)
        )
        self.neg_slope = self.add_weight(
            name="neg_slope", shape=shape, initializer=constant(self.neg_slope_initializer)
        )
        super().build(input_shape)

    def call(self, inputs):
        u = inputs - self.bias_x
        return self.pos_slope * tf.nn.relu(u) - self.neg_slope * tf.nn.relu(-u) - self.bias_y

    def get_config(self):
        return {
            **super().get_config(),
            "pos_slope_initializer": self.pos_slope_initializer,
            "neg_slope_initializer": self.neg_slope_initializer,
        }


@register
class HardSigmoid(tf.keras.layers.Layer):
    r"""clip(x + 3, 0, 6) / 6, the gate of PokeBNN's (and MobileNetV3's) SE module.

    Not ``tf.keras.activations.hard_sigmoid``, which in Keras 2 is clip(0.2·x + 0.5, 0, 1).
    """

    def call(self, inputs):
        return tf.nn.relu6(inputs + 3.0) * (1.0 / 6.0)
