"""PokeBNN's ablations (PReLU for DPReLU, no local shortcut, no SE gate): the layers each
removes or swaps, counted independently of the module; the ACE / element-wise ops /
parameters they change, computed by hand from the channel plan; errors; one conversion."""

import numpy as np
import pytest
import tensorflow as tf

import lq_ext
from lq_ext.data import load_samples, preprocess
from lq_ext.fake_quant import calibrate
from lq_ext.layers import DPReLU, HardSigmoid, ReshapeAdd
from lq_ext.zoo import PokeBNN

# f = 8, 16, 32, 64 at 32×32 → 32, 16, 8, 4 px (≤ 64 px: 3×3 stride-1 PokeInit, 64 channels)
TINY = dict(width_multiplier=0.125, stage_blocks=(1, 1, 1, 1), input_shape=(32, 32, 3), num_classes=10,
            classifier_activation=None)


def _poke_convs():
    """(C_in, C_out, output pixels) of the 12 PokeConvs of TINY, from the paper's plan:
    bottleneck = 1×1 (f) → 3×3 (f, stride 2 from stage 2 on) → 1×1 (4f)."""
    convs, channels, size = [], 64, 32
    for stage, f in enumerate((8, 16, 32, 64)):
        out = size // 2 if stage else size
        convs += [(channels, f, size * size), (f, f, out * out), (f, 4 * f, out * out)]
        channels, size = 4 * f, out
    return convs


def _count(model, cls):
    return sum(isinstance(layer, cls) for layer in model.layers)


@pytest.fixture(scope="module")
def models():
    built = {}
    for key, kwargs in {"default": {}, "prelu": dict(activation="prelu"), "no_reshape_add": dict(reshape_add=False),
                        "no_se": dict(squeeze_excite=False)}.items():
        tf.keras.utils.set_random_seed(0)
        built[key] = PokeBNN(**TINY, **kwargs)
    return built


@pytest.fixture(scope="module")
def costs(models):
    return {key: lq_ext.profile(model) for key, model in models.items()}


def test_default_is_unchanged_and_names_say_the_ablation(models):
    assert models["default"].name == "pokebnn_0_125x"
    assert models["prelu"].name == "pokebnn_0_125x_prelu"
    assert models["no_reshape_add"].name == "pokebnn_0_125x_no_reshape_add"
    assert models["no_se"].name == "pokebnn_0_125x_no_se"
    both = PokeBNN(**TINY, reshape_add=False, squeeze_excite=False)
    assert both.name == "pokebnn_0_125x_no_reshape_add_no_se"


def test_prelu_replaces_every_dprelu(models, costs):
    default, prelu = models["default"], models["prelu"]
    assert _count(default, DPReLU) == 2 + 12 and _count(default, tf.keras.layers.PReLU) == 0
    assert _count(prelu, DPReLU) == 0 and _count(prelu, tf.keras.layers.PReLU) == 2 + 12
    layer = prelu.get_layer("stage2_block1_2_prelu")
    assert layer.shared_axes == [1, 2] and layer.alpha.shape == (1, 1, 16)
    np.testing.assert_array_equal(layer.alpha.numpy(), 0.25)
    # DPReLU has 4 vectors a channel, PReLU 1: 3 fewer per activation channel
    channels = 32 + 64 + sum(c_out for _, c_out, _ in _poke_convs())
    assert default.count_params() - prelu.count_params() == 3 * channels
    # one element-wise op per element either way, and the same MACs
    for field in ("ace", "bops", "flops", "elementwise"):
        assert getattr(costs["prelu"], field) == getattr(costs["default"], field), field


def test_no_reshape_add_removes_the_local_shortcuts_only(models, costs):
    assert _count(models["default"], ReshapeAdd) == 12 + 4
    assert _count(models["no_reshape_add"], ReshapeAdd) == 4  # the block shortcuts stay
    assert all(l.name.endswith("_block_add") for l in models["no_reshape_add"].layers if isinstance(l, ReshapeAdd))
    removed = sum(pixels * c_out for _, c_out, pixels in _poke_convs())  # one add per output element
    assert costs["default"].elementwise - costs["no_reshape_add"].elementwise == removed
    for field in ("ace", "bops", "flops"):
        assert getattr(costs["no_reshape_add"], field) == getattr(costs["default"], field), field
    assert models["no_reshape_add"].count_params() == models["default"].count_params()


def test_no_se_removes_the_4_bit_gates(models, costs):
    default, no_se = models["default"], models["no_se"]
    n_convs = sum(isinstance(l, tf.keras.layers.Conv2D) for l in default.layers)
    assert n_convs == 2 + 12 + 24 + 1 and sum(isinstance(l, tf.keras.layers.Conv2D) for l in no_se.layers) == 2 + 12 + 1
    assert not [l.name for l in no_se.layers if "_se_" in l.name]
    assert _count(default, HardSigmoid) == 12 and _count(no_se, HardSigmoid) == 0
    assert _count(default, tf.keras.layers.Multiply) == 12 and _count(no_se, tf.keras.layers.Multiply) == 0
    # each gate: 1×1 conv C_in → max(C_in // 8, 1) and → C_out, both 4 bits × 4 bits = 16 ACE a MAC
    se_macs = sum(c_in * max(c_in // 8, 1) + max(c_in // 8, 1) * c_out for c_in, c_out, _ in _poke_convs())
    assert costs["default"].ace - costs["no_se"].ace == 16 * se_macs
    assert costs["no_se"].bops == costs["default"].bops  # the binary convs are untouched
    se_params = sum(c_in * max(c_in // 8, 1) + max(c_in // 8, 1) + max(c_in // 8, 1) * c_out + c_out
                    for c_in, c_out, _ in _poke_convs())
    # + the scalar bound / running max / steps of the 2 input and 2 output quantizers a gate,
    # + the weight-quantization switch of its 2 kernel quantizers (lq_ext.weight_phases)
    assert default.count_params() - no_se.count_params() == se_params + 12 * 4 * 3 + 12 * 2
    # element-wise: ReLU (C_in // 8), hard sigmoid (C_out), the gating multiply (pixels · C_out)
    se_elementwise = sum(max(c_in // 8, 1) + c_out + pixels * c_out for c_in, c_out, pixels in _poke_convs())
    assert costs["default"].elementwise - costs["no_se"].elementwise == se_elementwise


def test_small_input_false_forces_the_official_pokeinit(models, costs):
    """4×4/4 VALID on 32 px: 8×8 after PokeInit, then 8, 4, 2, 1 px (the 3×3 stride-1 one
    keeps 32×32); binary ACE shrinks by the 16× fewer positions of stages 1–3 (stage 4's
    3×3 conv at 1 px sees 1/16 of them too)."""
    model = PokeBNN(**TINY, small_input=False)
    conv1 = model.get_layer("poke_init_conv1")
    assert conv1.kernel_size == (4, 4) and conv1.strides == (4, 4) and conv1.padding == "valid"
    assert model.get_layer("poke_init_dprelu2").output_shape[1:3] == (8, 8)
    assert model.get_layer("stage4_block1_3_bn_split").output_shape[1:3] == (1, 1)
    assert models["default"].get_layer("poke_init_conv1").kernel_size == (3, 3)  # automatic on 32 px
    assert lq_ext.profile(model).bops * 16 == costs["default"].bops


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(small_input="yes"), r"small_input must be True or False, got small_input='yes'"),
        (dict(activation="relu"), r"activation must be one of \['dprelu', 'prelu'\], got activation='relu'"),
        (dict(reshape_add="no"), r"reshape_add must be True or False, got reshape_add='no'"),
        (dict(squeeze_excite=0), r"squeeze_excite must be True or False, got squeeze_excite=0"),
    ],
)
def test_bad_ablation_values_raise(kwargs, message):
    with pytest.raises(ValueError, match=message):
        PokeBNN(**TINY, **kwargs)


def test_prelu_model_saves_loads_and_converts_verified(tmp_path):
    """PReLU is the one op the ablations add: TFLite's PRELU, verified against Keras.
    (Width 0.25 like test_pokebnn's mini model: the untrained 0.125× one does not verify,
    with or without the ablations.)"""
    tf.keras.utils.set_random_seed(0)
    model = PokeBNN(**{**TINY, "width_multiplier": 0.25}, activation="prelu")
    images = preprocess(load_samples("cifar10")[0])
    calibrate(model, images)
    path = str(tmp_path / "prelu.h5")
    model.save(path)
    loaded = tf.keras.models.load_model(path)
    np.testing.assert_array_equal(loaded(images[:4]).numpy(), model(images[:4]).numpy())
    result = lq_ext.converters.convert(model, tmp_path / "prelu.tflite", samples=images, verify=True)
    assert result.verified
    assert result.ops.count("LceBconv2d") == 12 and result.ops.count("PRELU") == 2 + 12
