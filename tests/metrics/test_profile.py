"""lq_ext.metrics.profile: every count of small models derived by hand from the shapes."""

import json

import larq as lq
import pytest
import tensorflow as tf

from lq_ext.layers import BinaryDepthwiseConv2D, RPReLU
from lq_ext.metrics import LayerCost, ModelCost, profile
from lq_ext.quantizers import RSign

L = tf.keras.layers

BINARY = dict(
    input_quantizer="ste_sign",
    kernel_quantizer="ste_sign",
    kernel_constraint="weight_clip",
    use_bias=False,
)


def hand_model():
    """8x8x3 input; each layer's output shape is noted for the arithmetic below."""
    x = inputs = tf.keras.Input((8, 8, 3))
    x = L.Conv2D(16, 3, strides=2, padding="same", use_bias=False, name="stem")(x)  # 4x4x16
    x = L.BatchNormalization(name="stem_bn")(x)
    x = L.Activation("relu", name="stem_act")(x)
    y = lq.layers.QuantConv2D(16, 3, padding="same", name="bconv", **BINARY)(x)  # 4x4x16
    y = BinaryDepthwiseConv2D(
        3, kernel_bits=1.58, input_quantizer=RSign(), padding="same", name="dw_tern"
    )(y)  # 4x4x16
    x = L.Add(name="add")([x, y])
    x = RPReLU(name="rprelu")(x)
    x = BinaryDepthwiseConv2D(3, kernel_bits=1, strides=2, padding="same", name="dw_bin")(x)
    x = lq.layers.QuantConv2D(32, 3, groups=4, padding="same", name="gconv", **BINARY)(x)  # 2x2x32
    x = L.GlobalAveragePooling2D(name="pool")(x)  # 32
    int8 = lq.quantizers.NoOp(precision=8)
    x = lq.layers.QuantDense(16, input_quantizer=int8, kernel_quantizer=int8, name="fc8")(x)
    x = L.Dense(10, activation="softmax", name="fc")(x)
    return tf.keras.Model(inputs, x, name="hand")


@pytest.fixture(scope="module")
def cost():
    return profile(hand_model())


def by_name(cost):
    return {layer.name: layer for layer in cost.layers}


def test_hand_model_per_layer(cost):
    layers = by_name(cost)
    # stem: float 3x3 conv 3 -> 16 at 4x4 output.
    stem_kernel = 3 * 3 * 3 * 16
    assert layers["stem"].params == {"1-bit": 0, "1.58-bit": 0, "8-bit": 0, "32-bit": stem_kernel}
    assert layers["stem"].macs["float"] == 4 * 4 * stem_kernel
    # BN: gamma, beta, moving mean and variance (as model.count_params), 1 op / element.
    assert layers["stem_bn"].params["32-bit"] == 4 * 16
    assert layers["stem_bn"].elementwise == 4 * 4 * 16
    assert layers["stem_act"].elementwise == 4 * 4 * 16
    # Binary 3x3 conv 16 -> 16 at 4x4.
    bconv_kernel = 3 * 3 * 16 * 16
    assert layers["bconv"].params["1-bit"] == bconv_kernel
    assert layers["bconv"].macs["1-bit"] == 4 * 4 * bconv_kernel
    assert layers["bconv"].macs_total == layers["bconv"].bops == layers["bconv"].ace
    # Ternary depth-wise with RSign input: 1.58-bit kernel + 16 float RSign thresholds.
    assert layers["dw_tern"].params == {
        "1-bit": 0, "1.58-bit": 3 * 3 * 16, "8-bit": 0, "32-bit": 16
    }
    assert layers["dw_tern"].macs["1.58-bit"] == 4 * 4 * 3 * 3 * 16
    assert layers["dw_tern"].bops == 2 * 4 * 4 * 3 * 3 * 16
    assert layers["dw_tern"].ace == 2 * 1 * 4 * 4 * 3 * 3 * 16
    assert layers["dw_tern"].memory_bits == 2 * 3 * 3 * 16 + 32 * 16
    assert layers["add"].elementwise == 4 * 4 * 16
    # RPReLU: shift_in, alpha, shift_out per channel.
    assert layers["rprelu"].params["32-bit"] == 3 * 16
    assert layers["rprelu"].elementwise == 4 * 4 * 16
    # Binary depth-wise, stride 2 -> 2x2x16.
    assert layers["dw_bin"].macs["1-bit"] == 2 * 2 * 3 * 3 * 16
    # Grouped binary conv, 4 groups: each output channel sees 16 / 4 input channels.
    gconv_kernel = 3 * 3 * (16 // 4) * 32
    assert layers["gconv"].params["1-bit"] == gconv_kernel
    assert layers["gconv"].macs["1-bit"] == 2 * 2 * gconv_kernel
    # 8-bit dense 32 -> 16 with a float bias.
    assert layers["fc8"].params == {"1-bit": 0, "1.58-bit": 0, "8-bit": 32 * 16, "32-bit": 16}
    assert layers["fc8"].macs["8-bit"] == 32 * 16
    assert layers["fc8"].ace == 32 * 16 * 8 * 8
    # Float dense 16 -> 10 with bias and a fused softmax (10 element-wise ops).
    assert layers["fc"].params["32-bit"] == 16 * 10 + 10
    assert layers["fc"].macs["float"] == 16 * 10
    assert layers["fc"].elementwise == 10
    assert layers["pool"].macs_total == layers["pool"].elementwise == 0
    assert layers["stem"].output_shape == (None, 4, 4, 16)
    assert [layer.name for layer in cost.layers][:2] == ["stem", "stem_bn"]


def test_hand_model_totals(cost):
    params_1bit = 3 * 3 * 16 * 16 + 3 * 3 * 16 + 3 * 3 * 4 * 32  # bconv, dw_bin, gconv
    params_ternary = 3 * 3 * 16  # dw_tern
    params_8bit = 32 * 16  # fc8 kernel
    params_float = (
        3 * 3 * 3 * 16  # stem
        + 4 * 16  # stem_bn
        + 16  # RSign thresholds of dw_tern
        + 3 * 16  # rprelu
        + 16  # fc8 bias
        + 16 * 10 + 10  # fc
    )
    macs_1bit = 4 * 4 * 3 * 3 * 16 * 16 + 2 * 2 * 3 * 3 * 16 + 2 * 2 * 3 * 3 * 4 * 32
    macs_ternary = 4 * 4 * 3 * 3 * 16
    macs_8bit = 32 * 16
    macs_float = 4 * 4 * 3 * 3 * 3 * 16 + 16 * 10
    assert cost.params == {
        "1-bit": params_1bit,
        "1.58-bit": params_ternary,
        "8-bit": params_8bit,
        "32-bit": params_float,
    }
    assert cost.macs == {
        "1-bit": macs_1bit,
        "1.58-bit": macs_ternary,
        "8-bit": macs_8bit,
        "float": macs_float,
    }
    bops = macs_1bit + 2 * macs_ternary
    flops = macs_float + macs_8bit
    assert cost.bops == bops == 46656
    assert cost.flops == flops == 7584
    assert cost.ops == pytest.approx(bops / 64 + flops) == 8313
    ace = macs_1bit * 1 * 1 + macs_ternary * 2 * 1 + macs_8bit * 8 * 8 + macs_float * 16 * 16
    assert cost.ace == ace
    memory_bits = params_1bit * 1 + params_ternary * 2 + params_8bit * 8 + params_float * 32
    assert cost.memory_bits == memory_bits
    assert cost.memory_bytes == memory_bits / 8
    assert cost.elementwise == 4 * 4 * 16 * 4 + 10  # stem_bn, stem_act, add, rprelu; softmax
    assert cost.params_total == hand_model().count_params()


def test_to_dict_is_json_ready(cost):
    data = json.loads(json.dumps(cost.to_dict()))
    assert data["bops"] == cost.bops and data["ops"] == cost.ops
    assert data["macs"]["1.58-bit"] == cost.macs["1.58-bit"]
    assert data["layers"][0]["name"] == "stem"
    assert data["layers"][0]["output_shape"] == [None, 4, 4, 16]
    assert isinstance(cost, ModelCost) and all(isinstance(x, LayerCost) for x in cost.layers)


def test_other_layer_types():
    a = tf.keras.Input((10, 2))
    b = tf.keras.Input((4, 4, 4, 1))
    c = tf.keras.Input((3, 3, 2))
    d = tf.keras.Input((2, 6, 6))
    e = tf.keras.Input((6, 6, 4))
    f = tf.keras.Input((5, 4))
    outputs = [
        L.Conv1D(4, 3, name="conv1d")(a),  # valid: 8 positions
        L.Conv3D(2, 2, name="conv3d")(b),  # valid: 3x3x3 positions
        L.Conv2DTranspose(3, 2, strides=2, name="deconv")(c),  # 3x3 input positions
        L.Conv2D(4, 3, padding="same", data_format="channels_first", name="nchw")(d),
        lq.layers.QuantSeparableConv2D(
            8,
            3,
            padding="same",
            input_quantizer="ste_sign",
            depthwise_quantizer="ste_sign",
            pointwise_quantizer="ste_sign",
            name="sep",
        )(e),
        L.Dense(3, name="dense3d")(f),  # applied at each of 5 positions
        L.Add(name="add3")([e, e, e]),  # 2 adds per output element
    ]
    layers = by_name(profile(tf.keras.Model([a, b, c, d, e, f], outputs)))
    assert layers["conv1d"].macs["float"] == 8 * 3 * 2 * 4
    assert layers["conv3d"].macs["float"] == 3 * 3 * 3 * (2 * 2 * 2 * 1 * 2)
    assert layers["deconv"].macs["float"] == 3 * 3 * (2 * 2 * 3 * 2)
    assert layers["nchw"].macs["float"] == 6 * 6 * 3 * 3 * 2 * 4
    # Separable: the depth-wise part is binary x binary; the point-wise part reads the
    # un-quantized depth-wise output, so it is a float MAC.
    assert layers["sep"].macs["1-bit"] == 6 * 6 * 3 * 3 * 4
    assert layers["sep"].macs["float"] == 6 * 6 * 4 * 8
    assert layers["sep"].params["1-bit"] == 3 * 3 * 4 + 4 * 8
    assert layers["dense3d"].macs["float"] == 5 * 4 * 3
    assert layers["add3"].elementwise == 2 * 6 * 6 * 4


def test_nested_and_shared():
    inner_in = tf.keras.Input((4, 4, 8))
    h = lq.layers.QuantConv2D(8, 1, name="conv", **BINARY)(inner_in)
    h = L.BatchNormalization(name="bn")(h)
    inner = tf.keras.Model(inner_in, h, name="inner")

    x = inputs = tf.keras.Input((4, 4, 8))
    shared = L.Conv2D(8, 1, use_bias=False, name="shared")
    x = shared(shared(x))  # one layer, two calls
    x = inner(inner(x))  # one nested model, two calls
    model = tf.keras.Model(inputs, x)
    cost = profile(model)
    layers = by_name(cost)

    assert layers["shared"].calls == 2
    assert layers["shared"].params["32-bit"] == 8 * 8  # weights once
    assert layers["shared"].macs["float"] == 2 * 4 * 4 * 8 * 8  # ops per call
    assert layers["inner/conv"].calls == 2
    assert layers["inner/conv"].params["1-bit"] == 8 * 8
    assert layers["inner/conv"].macs["1-bit"] == 2 * 4 * 4 * 8 * 8
    assert layers["inner/bn"].elementwise == 2 * 4 * 4 * 8
    assert cost.params_total == model.count_params()


class Block(L.Layer):
    """A custom layer: sub-layers (one with an RSign quantizer) plus a weight of its own."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.sign = RSign()
        self.conv = lq.layers.QuantConv2D(8, 3, padding="same", name="conv", **BINARY)
        self.bn = L.BatchNormalization(name="bn")

    def build(self, input_shape):
        self.gain = self.add_weight(name="gain", shape=(input_shape[-1],))
        super().build(input_shape)

    def call(self, x):
        return self.bn(self.conv(self.sign(x))) * self.gain


def test_custom_layer_and_subclassed_model_are_walked():
    x = inputs = tf.keras.Input((4, 4, 8))
    x = Block(name="block")(x)
    layers = by_name(profile(tf.keras.Model(inputs, x)))
    assert layers["block/conv"].macs["1-bit"] == 4 * 4 * 3 * 3 * 8 * 8
    assert layers["block/bn"].params["32-bit"] == 4 * 8
    # The block's own gain and its quantizer's thresholds: listed, 0 MACs, with a note.
    assert layers["block"].params["32-bit"] == 8 + 8
    assert layers["block"].macs_total == 0 and layers["block"].note

    class Net(tf.keras.Model):
        def __init__(self):
            super().__init__(name="net")
            self.block = Block(name="block")
            self.head = L.Dense(2, name="head")

        def call(self, x):
            return self.head(tf.reduce_mean(self.block(x), axis=(1, 2)))

    net = Net()
    net.build((None, 4, 4, 8))
    cost = profile(net)
    layers = by_name(cost)
    assert layers["block/conv"].macs["1-bit"] == 4 * 4 * 3 * 3 * 8 * 8
    assert layers["head"].macs["float"] == 8 * 2
    assert cost.params_total == net.count_params()


def test_unknown_layer_with_weights_is_listed():
    x = inputs = tf.keras.Input((5,), dtype="int32")
    x = L.Embedding(10, 4, name="embed")(x)
    x = L.Flatten()(x)
    x = L.Dense(2, name="head")(x)
    layers = by_name(profile(tf.keras.Model(inputs, x)))
    assert layers["embed"].params["32-bit"] == 10 * 4
    assert layers["embed"].macs_total == 0
    assert "not counted" in layers["embed"].note
    assert layers["head"].macs["float"] == 5 * 4 * 2


def test_unknown_spatial_dims_name_the_layer():
    x = inputs = tf.keras.Input((None, None, 3))
    x = L.Conv2D(4, 3, name="my_conv")(x)
    with pytest.raises(ValueError, match="my_conv.*unknown"):
        profile(tf.keras.Model(inputs, x))


def test_unbuilt_model_and_wrong_type():
    model = tf.keras.Sequential([L.Dense(2)], name="lazy")
    with pytest.raises(ValueError, match="'lazy' has not been built"):
        profile(model)
    with pytest.raises(TypeError, match="tf.keras.Model"):
        profile(L.Dense(2))
