"""The rule of full-int8 mode for :func:`lq_ext.graph.rebuild`: BatchNorm folding, 8-bit
kernels, lowerings (:data:`~lq_ext.converters.int8.lowerings.LOWERINGS`) and an
:class:`~lq_ext.converters.int8.layers.Int8Range` after every tensor.

Guide: docs/guides/int8.md
"""

from __future__ import annotations

import larq as lq
import numpy as np
import tensorflow as tf

from lq_ext.converters.int8.kinds import (
    fixed_range,
    foldable_batchnorm,
    fuses_batchnorm,
    is_fake_quantized,
    is_float_kernel_layer,
    is_linear,
    keeps_range,
    rsign,
    scaled_exact_depthwise,
)
from lq_ext.converters.int8.layers import Int8Range, PerTensorInt8Grid, PerTensorInt8Weights
from lq_ext.converters.int8.lowerings import (
    LOWERINGS,
    bias_layer,
    depthwise_scale,
    folded_weights,
    is_zero_bias,
)
from lq_ext.fake_quant import IntWeightQuantizer
from lq_ext.graph import apply, consumers, producers

__all__ = ["Int8Rule", "range_layer_name"]

Range = tuple[float, float]


def range_layer_name(key: str) -> str:
    """The name of the Int8Range layer placed for ``key``."""
    return key.replace("/", "_") + "_int8"


class Int8Rule:
    """Rebuilds each layer call of ``model`` for int8 mode (one instance per rebuild).

    With ``ranges=None`` the rebuild places no range and records in :attr:`probes` the
    tensors that need one (keyed as :attr:`Int8Plan.ranges`), for calibration; with the
    calibrated ``ranges`` it places them.  What it did is in :attr:`folded`,
    :attr:`quantized`, :attr:`lowered` and :attr:`used` (the ranges placed).
    """

    def __init__(self, model, ranges: dict[str, Range] | None = None):
        self.model = model
        self.ranges = ranges
        self.probes: dict[str, tf.Tensor] = {}
        self.used: dict[str, Range] = {}
        self.range_of: dict[int, Range] = {}  # id(tensor) -> the range of its Int8Range
        self.folded: list[tuple[str, str]] = []
        self.quantized: list[str] = []
        self.lowered: list[str] = []
        self.absorbed: set[str] = set()  # binary layers whose RSign threshold the BN before took
        self.producers = producers(model)
        self.consumers = consumers(model)
        self.folds = {}  # BN name -> the float kernel layer it folds into
        for layer in model.layers:
            after = self.consumers[layer.name]
            if (
                is_float_kernel_layer(layer)
                and len(after) == 1
                and isinstance(after[0], tf.keras.layers.BatchNormalization)
                and foldable_batchnorm(after[0])
                and is_linear(layer)
            ):
                self.folds[after[0].name] = layer

    # ------------------------------------------------------------------ for lowerings
    def range(self, key: str, x, fixed: Range | None = None):
        """``x`` followed by its Int8Range (or recorded as a probe on the first pass)."""
        if self.ranges is None:
            self.probes[key] = x
            return x
        low, high = fixed or self.ranges[key]
        y = Int8Range(low, high, name=range_layer_name(key))(x)
        self.range_of[id(y)] = self.used[key] = (low, high)
        return y

    def output_range(self, key: str, layer, x, y):
        """``y = layer(x)`` followed by its Int8Range: the input's for a layer that keeps
        it (TFLite requires the same scale on both sides of these ops), TFLite's fixed
        one for softmax / sigmoid, else the calibrated one."""
        if keeps_range(layer):
            same = self.range_of.get(id(x))
            return y if same is None else self.range(key, y, same)
        return self.range(key, y, fixed_range(layer))

    def chain(self, layer, x, steps):
        """``x`` through ``steps`` (``[(new layer, weights)]``), a range after each."""
        for index, (new, weights) in enumerate(steps):
            if is_zero_bias(new, weights):
                continue  # the converter would fold x + 0 away, and its range with it
            x = self.output_range(f"{layer.name}/{index}", new, x, apply(new, x, weights))
        return x

    def fused_by_lce(self, bn) -> bool:
        """Whether LCE fuses ``bn`` into the ``LceBconv2d`` before it."""
        producer = self.producers[bn.name][0]
        return fuses_batchnorm(producer) and len(self.consumers[producer.name]) == 1

    def absorb_threshold(self, bn):
        """The RSign threshold of ``bn``'s only consumer, which then binarizes with a
        plain sign (the BN subtracts the threshold); 0 when there is none."""
        after = self.consumers[bn.name]
        if len(after) == 1 and rsign(after[0]) is not None:
            self.absorbed.add(after[0].name)
            return rsign(after[0]).threshold.numpy()
        return 0.0

    # ------------------------------------------------------------------ the rule
    def __call__(self, call):
        layer = call.layer
        if isinstance(layer, tf.keras.layers.InputLayer):
            return self.range(layer.name, call.args[0])
        if layer.name in self.folds:  # a BN folded into the layer before it
            return self.range(layer.name, call.args[0])
        lowering = LOWERINGS.get(type(layer))
        if lowering is not None and lowering.applies(layer):
            outputs = lowering.lower(call, self)
            if outputs is not None:
                self.lowered.append(layer.name)
                return outputs
        if is_float_kernel_layer(layer):
            return self._float_kernel_layer(call)
        return self._general(call)

    def _general(self, call):
        """The layer as it is (RSign thresholds and exact depth-wise scales split off),
        followed by its range."""
        layer, args = call.layer, call.args
        x = args[0]
        config = layer.get_config()
        dropped = set()  # variables of the layer that the rebuilt one does not have
        if rsign(layer) is not None:
            x, config = self._without_rsign(layer, x, config)
            args = (x, *args[1:])
            dropped.add(id(rsign(layer).threshold))
        scale = None
        if scaled_exact_depthwise(layer):
            self.lowered.append(layer.name)
            config = {**config, "scale_kernel": False, "use_bias": False}
            scale = depthwise_scale(layer)
            if layer.use_bias:
                dropped.add(id(layer.bias))
        weights = [w.numpy() for w in layer.weights if id(w) not in dropped]
        if type(layer) is tf.keras.layers.PReLU:  # its slope as TFLite stores it (lowerings._prelu)
            grid = PerTensorInt8Grid()
            config, weights = {**config, "alpha_constraint": grid}, [grid(tf.constant(weights[0])).numpy()]
        y = call.keep(config=config, args=args, weights=weights)
        if scale is not None:  # integers (already int8), then the per-channel scale
            conv, scale_weights = scale
            return self.range(layer.name, apply(conv, y, scale_weights))
        if len(tf.nest.flatten(y)) != 1 or self._skips_range(layer):
            return y
        return self.output_range(layer.name, layer, x, y)

    def _skips_range(self, layer) -> bool:
        after = self.consumers[layer.name]
        only_bn = len(after) == 1 and isinstance(after[0], tf.keras.layers.BatchNormalization)
        if only_bn and (after[0].name in self.folds or fuses_batchnorm(layer)):
            return True  # fused into the conv: by us (folded) or by LCE (LceBconv2d)
        return is_fake_quantized(layer)

    def _without_rsign(self, layer, x, config):
        """A binary layer with RSign, sign(x − β), as a bias −β (absorbed by the BN
        before when it has one) and the layer with a plain sign: the subtraction gets a
        range, which it cannot have inside the quantizer.  Returns the new input and the
        layer's new config."""
        threshold = rsign(layer).threshold.numpy()
        if layer.name not in self.absorbed and np.any(threshold):
            self.lowered.append(layer.name)
            bias, weights = bias_layer(layer, -threshold, "threshold")
            x = self.range(f"{layer.name}/threshold", apply(bias, x, weights))
        sign = lq.quantizers.SteSign(clip_value=rsign(layer).clip_value)
        return x, {**config, "input_quantizer": tf.keras.utils.serialize_keras_object(sign)}

    def _float_kernel_layer(self, call):
        """A float conv / dense layer with 8-bit weights (and its BN folded in)."""
        layer = call.layer
        config = layer.get_config()
        activation = config.get("activation", "linear")
        bn = next((b for b, conv in self.folds.items() if conv is layer), None)
        weights = layer.get_weights()
        if bn is not None:
            weights = folded_weights(layer, self.model.get_layer(bn))
            self.folded.append((layer.name, bn))
            config["use_bias"] = True
        config["activation"] = None
        if isinstance(layer, tf.keras.layers.DepthwiseConv2D):
            cls, config = lq.layers.QuantDepthwiseConv2D, {**config, "depthwise_quantizer": PerTensorInt8Weights()}
        elif isinstance(layer, tf.keras.layers.Conv2D):
            cls, config = lq.layers.QuantConv2D, {**config, "kernel_quantizer": IntWeightQuantizer(8)}
        else:
            cls, config = lq.layers.QuantDense, {**config, "kernel_quantizer": PerTensorInt8Weights()}
        y = call.keep(cls, config, weights=weights, args=call.args[:1])
        self.quantized.append(layer.name)
        if bn is not None:
            return y  # its BN's range follows
        y = self.range(layer.name, y)
        if activation not in (None, "linear"):
            act = tf.keras.layers.Activation(activation, name=f"{layer.name}_activation")
            y = self.range(act.name, act(y), fixed_range(act))
        return y
