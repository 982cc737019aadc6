"""``width_multiplier`` of ReActNetA, BCDNetA and BCDNetB: stage widths, BOPs, config, errors, conversion.

Widths and binary MACs are computed here by hand from the layout at 32×32 (small-input
layout: stride-1 stem, strides 1, 2, 1, 2, 1, 2 then 1, so the last blocks and the MLP
stage run at 4×4), independently of :func:`lq_ext.zoo._blocks.scale_widths`.
"""

from pathlib import Path

import larq as lq
import numpy as np
import pytest
import tensorflow as tf

import lq_ext
from lq_ext.converters import convert
from lq_ext.testing import randomize_weights
from lq_ext.zoo import BCDNetA, BCDNetB, ReActNetA
from lq_ext.zoo._blocks import REACTNET_A_WIDTHS, scale_widths
from lq_ext.zoo.bcdnet import BCDNET_A_WIDTHS

STUDY = dict(input_shape=(32, 32, 1), num_classes=10, classifier_activation=None)
TINY = Path(__file__).parents[1] / "fixtures" / "torch_checkpoint" / "tiny_train_zip.pth.tar"

#: By hand: the stem and the 13 block outputs of ReActNet-A at m = 0.25 and 0.5.
REACTNET_WIDTHS = {
    0.25: (8, 16, 32, 32, 64, 64, 128, 128, 128, 128, 128, 128, 256, 256),
    0.5: (16, 32, 64, 64, 128, 128, 256, 256, 256, 256, 256, 256, 512, 512),
}
#: By hand: BCDNet-A's stem and 10 conv blocks (its last block doubles to the MLP width).
BCDNET_WIDTHS = {
    0.25: (8, 16, 32, 32, 64, 64, 128, 128, 128, 128, 256),
    0.5: (16, 32, 64, 64, 128, 128, 256, 256, 256, 256, 512),
}
#: Block strides at 32×32 (block 12's stride 2 is dropped by the small-input layout).
SMALL_STRIDES = (1, 2, 1, 2, 1, 2, 1, 1, 1, 1, 1, 1, 1)


def _conv_bops(widths, strides, side=32):
    """Binary MACs of the conv blocks: a 3×3 C→C conv and 1×1 C→C' conv(s) per block."""
    total = 0
    for c_in, c_out, stride in zip(widths[:-1], widths[1:], strides):
        side //= stride
        total += (9 * c_in * c_in + c_in * c_out) * side * side
    return total


def _bcdnet_bops(widths):
    """10 conv blocks, then 3 MLP blocks of 3 shift blocks (3 1×1 convs) + 1 point block at 4×4."""
    return _conv_bops(widths, SMALL_STRIDES[:10]) + 3 * (3 * 3 + 1) * widths[-1] ** 2 * 16


def _block_outputs(model, blocks):
    return tuple(
        [model.get_layer("stem_conv").filters]
        + [model.get_layer(f"block{i}_pw_act" if f"block{i}_pw_act" in _names(model) else f"block{i}_pw_concat").output_shape[-1] for i in range(1, blocks + 1)]
    )


def _names(model):
    return {layer.name for layer in model.layers}


@pytest.fixture(scope="module")
def narrow():
    """The study's three networks at m = 0.25, and ReActNet-A at 0.5 (BCDNet's widths at
    0.5 are checked on :func:`scale_widths`, which builds them)."""
    models = {(f.__name__, 0.25): f(**STUDY, width_multiplier=0.25) for f in (ReActNetA, BCDNetA, BCDNetB)}
    models["ReActNetA", 0.5] = ReActNetA(**STUDY, width_multiplier=0.5)
    randomize_weights(models["ReActNetA", 0.25], seed=5)  # as tests/zoo/conftest.py converts reactnet_a
    return models


def test_stage_widths_by_hand(narrow):
    for m in (0.25, 0.5):
        reactnet = narrow["ReActNetA", m]
        assert _block_outputs(reactnet, 13) == REACTNET_WIDTHS[m]
        assert reactnet.get_layer("logits").input_shape[-1] == REACTNET_WIDTHS[m][-1]
        assert scale_widths(REACTNET_A_WIDTHS, m, model_name="m") == REACTNET_WIDTHS[m]
        assert scale_widths(BCDNET_A_WIDTHS, m, model_name="m") == BCDNET_WIDTHS[m]
    for name in ("BCDNetA", "BCDNetB"):
        bcdnet = narrow[name, 0.25]
        assert _block_outputs(bcdnet, 10) == BCDNET_WIDTHS[0.25]
        for layer_name in ("mlp1_shift1_conv", "mlp1_shift1_conv_long", "mlp3_point_conv"):
            layer = bcdnet.get_layer(layer_name)
            assert layer.input_shape[-1] == layer.filters == 256 and layer.output_shape[1:3] == (4, 4)
    # B's embeddings: hidden size C // 4 of each unit's input
    assert narrow["BCDNetB", 0.25].get_layer("block1_3x3_embedding_fc").units == 8 // 4


def test_scale_widths_rounds_the_stem_to_multiples_of_4():
    assert scale_widths(REACTNET_A_WIDTHS, 1.0, model_name="m") == REACTNET_A_WIDTHS
    assert scale_widths(BCDNET_A_WIDTHS, 1, model_name="m") == BCDNET_A_WIDTHS
    # stem 32·m → nearest multiple of 4 (half up), the rest its multiples:
    # 0.3 → 9.6 → 8; 0.3125 → 10 → 12 (half up); 0.125 → 4; 0.75 → 24; 0.0625 → 2 → 4
    assert scale_widths(BCDNET_A_WIDTHS, 0.3, model_name="m") == BCDNET_WIDTHS[0.25]
    assert scale_widths(BCDNET_A_WIDTHS, 0.3125, model_name="m")[::5] == (12, 96, 384)
    assert scale_widths(BCDNET_A_WIDTHS, 0.125, model_name="m") == (4, 8, 16, 16, 32, 32, 64, 64, 64, 64, 128)
    assert scale_widths(BCDNET_A_WIDTHS, 0.75, model_name="m")[::5] == (24, 192, 768)
    assert scale_widths(BCDNET_A_WIDTHS, 0.0625, model_name="m")[0] == 4
    assert scale_widths(REACTNET_A_WIDTHS, 2, model_name="m")[-1] == 2048


def test_bops_by_hand_scale_with_m_squared(narrow):
    for m in (0.25, 0.5):
        assert lq_ext.profile(narrow["ReActNetA", m]).bops == _conv_bops(REACTNET_WIDTHS[m], SMALL_STRIDES)
    a, b = lq_ext.profile(narrow["BCDNetA", 0.25]), lq_ext.profile(narrow["BCDNetB", 0.25])
    assert a.bops == _bcdnet_bops(BCDNET_WIDTHS[0.25]) == 50_331_648
    assert lq_ext.profile(narrow["ReActNetA", 0.25]).bops == 34_603_008
    # m² exactly: every binary conv's C_in and C_out scale by m, its map does not
    full = _conv_bops(REACTNET_A_WIDTHS, SMALL_STRIDES)
    assert _conv_bops(REACTNET_WIDTHS[0.25], SMALL_STRIDES) * 16 == full == 553_648_128
    assert _conv_bops(REACTNET_WIDTHS[0.5], SMALL_STRIDES) * 4 == full
    assert _bcdnet_bops(BCDNET_WIDTHS[0.25]) * 16 == _bcdnet_bops(BCDNET_A_WIDTHS) == 805_306_368
    # the dynamic embeddings are float: B's BOPs are A's, its FLOPs are higher
    assert b.bops == a.bops and b.flops > a.flops


def test_config_round_trip(narrow):
    model = narrow["ReActNetA", 0.25]
    clone = tf.keras.Model.from_config(model.get_config())
    clone.set_weights(model.get_weights())
    x = np.random.default_rng(0).uniform(-1, 1, (2, 32, 32, 1)).astype("float32")
    np.testing.assert_array_equal(clone(x).numpy(), model(x).numpy())
    assert _block_outputs(clone, 13) == REACTNET_WIDTHS[0.25]


def test_bad_width_multipliers_raise():
    for bad in (0, -0.5, 4.5, True, "0.5", None, 0.05):
        for entry in (ReActNetA, BCDNetA, BCDNetB):
            with pytest.raises(ValueError, match=r"width_multiplier"):
                entry(**STUDY, width_multiplier=bad)


def test_width_errors_name_the_conflict():
    with pytest.raises(ValueError, match=r"too small: the stem width 32 × 0.05 rounds to 0 .* 0.0625 <= width_multiplier <= 4"):
        ReActNetA(**STUDY, width_multiplier=0.05)
    with pytest.raises(ValueError, match=r"width_multiplier=0.25 narrows the first stage to 8 .* embedding_reduction=16"):
        BCDNetB(**STUDY, width_multiplier=0.25, embedding_reduction=16)
    with pytest.raises(ValueError, match=r"width_multiplier=0.125 narrows the first stage to 4 .* embedding_reduction <= 4"):
        BCDNetB(**STUDY, width_multiplier=0.125, embedding_reduction=8)
    for entry in (ReActNetA, BCDNetA):
        with pytest.raises(ValueError, match=r"official PyTorch checkpoints .* only with width_multiplier=1.0, got width_multiplier=0.5"):
            entry(weights=TINY, width_multiplier=0.5)


def test_narrow_reactnet_a_converts_and_verifies(narrow, tmp_path):
    """The study's BCDNet-A / -B at m = 0.125 convert and verify in its seed-0 runs
    (docs/results/fashion_mnist_bcdnet.md); here the faster ReActNet-A at 0.25."""
    model = narrow["ReActNetA", 0.25]
    result = convert(model, tmp_path / "reactnet_a_025.tflite", verify=True)
    assert result.verified and result.parity.passed
    binary = [l for l in model.layers if isinstance(l, lq.layers.QuantConv2D) and l.input_quantizer is not None]
    assert len(binary) == 13 + 5 + 13 and result.ops.op_counts["LceBconv2d"] == len(binary)
