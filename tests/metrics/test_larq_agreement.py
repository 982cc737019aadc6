"""Our counts agree with Larq's own profile (larq.models.ModelProfile, behind lq.models.summary).

Larq's conventions (larq/models.py) and how ours map onto them:

- MAC precision = max(input precision, weight precision): Larq's 1-bit MACs are our
  "1-bit" MACs, Larq's 32-bit MACs our "float" MACs (float Conv/Dense/DepthwiseConv2D
  are counted by both); Larq's 2-bit MACs (SteTern / Ternary, precision 2) are our
  "1.58-bit" MACs, its 8-bit MACs our "8-bit" MACs.
- Larq counts a BatchNormalization as 2 values per channel (β with the moving mean and
  γ with the moving variance fold together); we count all 4, as model.count_params().
- Larq counts every non-bias variable of a MAC layer as a kernel, so a quantizer's
  variable (RSign thresholds) adds float MACs there; we count kernels only.
"""

import larq as lq
import larq_zoo as lqz
import pytest
import tensorflow as tf
from larq.models import ModelProfile

from lq_ext.layers import BinaryDepthwiseConv2D
from lq_ext.metrics import profile
from lq_ext.quantizers import RSign

ZOO = {
    "QuickNetSmall": lqz.sota.QuickNetSmall,
    "BiRealNet": lqz.literature.BiRealNet,
    "XNORNet": lqz.literature.XNORNet,
}


@pytest.fixture(scope="module", params=sorted(ZOO))
def zoo_model(request):
    tf.keras.backend.clear_session()
    return ZOO[request.param](weights=None)


def larq_counts(model):
    larq = ModelProfile(model)
    macs = {bits: larq.op_count("mac", bits) for bits in larq.unique_op_precisions}
    params = {bits: larq.weight_count(bits) for bits in larq.unique_param_bidtwidths}
    return macs, params


def folded_bn_values(model):
    """The BN variables Larq folds away: one per channel for β and for γ."""
    return sum(
        int(layer.beta.shape[0] if layer.center else 0)
        + int(layer.gamma.shape[0] if layer.scale else 0)
        for layer in model.layers
        if isinstance(layer, tf.keras.layers.BatchNormalization)
    )


def test_zoo_model_agrees_with_larq(zoo_model):
    larq_macs, larq_params = larq_counts(zoo_model)
    ours = profile(zoo_model)

    assert set(larq_macs) == {1, 32}
    assert ours.macs["1-bit"] == larq_macs[1] > 0
    assert ours.macs["float"] == larq_macs[32] > 0
    assert ours.macs["1.58-bit"] == ours.macs["8-bit"] == 0

    assert set(larq_params) == {1, 32}
    assert ours.params["1-bit"] == larq_params[1]
    assert ours.params["32-bit"] == larq_params[32] + folded_bn_values(zoo_model)
    assert ours.params_total == zoo_model.count_params()


def test_mapping_for_ternary_int8_and_quantizer_variables():
    x = inputs = tf.keras.Input((6, 6, 8))
    x = BinaryDepthwiseConv2D(3, kernel_bits=1.58, padding="same", input_quantizer=RSign())(x)
    x = lq.layers.QuantDepthwiseConv2D(
        3, padding="same", input_quantizer="ste_sign", depthwise_quantizer="ste_tern"
    )(x)
    x = lq.layers.QuantConv2D(8, 1, input_quantizer="ste_sign", kernel_quantizer="ste_sign")(x)
    int8 = lq.quantizers.NoOp(precision=8)
    x = lq.layers.QuantConv2D(8, 1, input_quantizer=int8, kernel_quantizer=int8)(x)
    model = tf.keras.Model(inputs, x)

    larq_macs, _ = larq_counts(model)
    ours = profile(model)
    rsign_threshold_macs = 6 * 6 * 8  # Larq: 8 thresholds x 6x6 output positions, "32-bit"
    assert ours.macs["1-bit"] == larq_macs[1]
    assert ours.macs["1.58-bit"] == larq_macs[2] == 2 * 6 * 6 * 3 * 3 * 8
    assert ours.macs["8-bit"] == larq_macs[8]
    assert ours.macs["float"] == larq_macs[32] - rsign_threshold_macs == 0
