"""Full-int8 mode: a clone of a BNN in which everything that is not binary runs in int8.

LCE runs a Larq model's binary convs bit-packed and leaves the rest (stem, shortcuts,
BatchNorm / activation chains, head) in float.  LCE has no post-training calibration:
int8 comes from *fake-quant ops* in the Keras graph (quantization-aware training,
LCE's ``toy_model_int8`` end-to-end test), which the converter turns into int8 tensors
and ops.  :func:`int8_model` writes those ops into a clone of the model, with ranges
calibrated on real images, so ``lq_ext.converters.convert(model, int8=...)`` can
emit a flatbuffer in which the non-binary parts are int8 too.

What the clone changes (the model passed in is never modified):

1. **BatchNorm folding.**  A float conv / depth-wise conv / dense layer whose only
   consumer is an inference-mode ``BatchNormalization`` absorbs it: kernel × γ/σ, bias
   (b − μ)·γ/σ + β; the BN layer disappears.  Its kernel then gets an 8-bit weight
   quantizer (:class:`~lq_ext.fake_quant.IntWeightQuantizer`: per output channel for
   ``Conv2D``, per tensor for depth-wise and dense kernels, which TFLite 2.16 cannot
   keep per channel when they come from fake-quant ops).  Float conv / dense layers
   without a BN are quantized the same way.  A BN after a *binary* conv is left in
   place: LCE fuses it into ``LceBconv2d`` as its output multiplier and bias.
2. **Lowering.**  ``RPReLU`` and ``DPReLU`` are written as a chain of single-op layers
   (bias, ``PReLU``, scale, bias) so that every intermediate tensor has a range: TFLite
   cannot quantize a tensor it has no range for and would keep that op in float.  An ES
   conv (``ESQuantConv2D``) becomes its conv, activation and τ² tiling: 8-bit weights for
   a float one (ES-BNext's squeeze-and-excite, ES-BNN's shrunk shortcuts), int8 output
   for a binary one that tiles.  ``ClampedMix`` becomes two per-channel scales and an add.
3. **Activation ranges.**  An :class:`Int8Range` (``fake_quant_with_min_max_args``)
   follows the model input and every layer output, except the outputs that only feed a
   BN to be fused (1.) and those that are fake-quantized already (exact-int8 depth-wise
   convs, PokeBNN's 8-bit layers).  Each range is [min(0, p₀.₁), max(0, p₉₉.₉)]:
   percentiles of the values the *float* model produces at that tensor on the
   calibration images, zero exactly representable (TFLite's post-training rule is
   min / max, ``percentile=100``; clipping the rarest values measured 13 points better
   top-1 on a trained BD-Net, see :data:`DEFAULT_PERCENTILE`).  Three kinds of tensors
   get a range that is not calibrated: the model input keeps its exact min / max;
   layers that move values without changing them (padding, reshapes, max-pooling,
   channel tiling / slicing / shifts, dropout) repeat their input's range, as TFLite
   requires; softmax and sigmoid outputs get TFLite's fixed :data:`UNIT_RANGE`.

Binarizers (±1) are unaffected by the ranges except at zero: a value that rounds to 0
takes the sign +1.  ``ConversionResult.int8_agreement`` measures what all this costs:
the top-1 agreement of the converted int8 flatbuffer with the float Keras model on real
images; where it is too low, quantization-aware fine-tuning of the clone
(:mod:`lq_ext.converters.int8_tuning`) recovers it.

**Scope.**  Functional and Sequential models of single-node layers (no shared layers,
no nested models).  Custom layers of several TF ops other than those lowered in 2. keep
float intermediates; :func:`lq_ext.converters.inspect` reports such ops as float.
"""

from __future__ import annotations

from dataclasses import dataclass

import larq as lq
import numpy as np
import tensorflow as tf

from lq_ext._serialization import register
from lq_ext.lce_rules import is_binary_quantizer as _is_binary_quantizer

__all__ = ["DEFAULT_PERCENTILE", "Int8Plan", "Int8Range", "PerTensorInt8Weights", "int8_model"]

#: Kernel layers int8 mode quantizes (exact types: subclasses may compute otherwise).
_FLOAT_KERNEL_LAYERS = (
    tf.keras.layers.Conv2D,
    tf.keras.layers.DepthwiseConv2D,
    tf.keras.layers.Dense,
    lq.layers.QuantConv2D,
    lq.layers.QuantDepthwiseConv2D,
    lq.layers.QuantDense,
)
#: Layers whose outputs keep the range of their input (TFLite requires it of most).
_RANGE_PRESERVING = (
    "ZeroPadding2D",
    "Cropping2D",
    "MaxPooling2D",
    "Reshape",
    "Flatten",
    "Dropout",
    "ChannelBroadcast",
    "ChannelSlice",
    "CircularShift",
)


@register
class Int8Range(tf.keras.layers.Layer):
    """Fake-quantize to 8 bits over the fixed range [low, high] (TFLite: one int8 scale
    and zero point per tensor).  The identity on the grid; made by :func:`int8_model`."""

    def __init__(self, low: float, high: float, **kwargs):
        super().__init__(**kwargs)
        if not (low <= 0.0 <= high and high > low):
            raise ValueError(f"Int8Range needs low ≤ 0 ≤ high and low < high, got low={low!r}, high={high!r}.")
        self.low, self.high = float(low), float(high)

    def call(self, inputs):
        return tf.quantization.fake_quant_with_min_max_args(inputs, self.low, self.high, num_bits=8)

    def compute_output_shape(self, input_shape):
        return tf.TensorShape(input_shape)

    def get_config(self):
        return {**super().get_config(), "low": self.low, "high": self.high}


@register
class PerTensorInt8Weights(lq.quantizers.Quantizer):
    """Symmetric 8-bit weights with one max|w| scale for the whole kernel (±127 levels)."""

    precision = 8

    def call(self, inputs):
        step = tf.maximum(tf.stop_gradient(tf.reduce_max(tf.abs(inputs))), 1e-12) / 127.0
        return tf.quantization.fake_quant_with_min_max_vars(
            inputs, -127.0 * step, 127.0 * step, num_bits=8, narrow_range=True
        )


@dataclass(frozen=True)
class Int8Plan:
    """What :func:`int8_model` did.

    # Attributes
        folded: ``(layer, batchnorm)`` name pairs folded together.
        quantized_kernels: layers whose float kernel got an 8-bit weight quantizer.
        lowered: layers written as single-op layers: BatchNorms as 1×1 depth-wise
            convs, RPReLU / DPReLU chains, RSign thresholds as biases, exact depth-wise
            scales as 1×1 convs, ES convs split from their tiles, ClampedMix as two
            scales and an add.
        ranges: ``{tensor: (low, high)}`` of the :class:`Int8Range` layers placed
            (calibrated; the input's after a range-preserving layer; TFLite's fixed
            :data:`UNIT_RANGE` after softmax and sigmoid), keyed by the name of the
            layer whose output they quantize (the input layer's name for the model
            input; ``"<layer>/<i>"`` for the i-th op of a lowered layer,
            ``"<layer>/threshold"`` for an RSign bias).
        calibration_images: how many images set the ranges.
        output_step: the largest int8 step of the model outputs (0 if an output has no
            range of its own).
        fine_tuned: what trained the clone after calibration (``convert(fine_tune=)``),
            e.g. ``"Int8Distillation(...)"``; empty for post-training int8.
    """

    folded: tuple[tuple[str, str], ...]
    quantized_kernels: tuple[str, ...]
    lowered: tuple[str, ...]
    ranges: dict
    calibration_images: int
    output_step: float = 0.0
    fine_tuned: str = ""


# --------------------------------------------------------------------------- layer kinds
def _is_float_kernel_layer(layer) -> bool:
    """A conv / depth-wise conv / dense layer computing in float (no quantizers)."""
    if type(layer) not in _FLOAT_KERNEL_LAYERS:
        return False
    quantizers = ("input_quantizer", "kernel_quantizer", "depthwise_quantizer")
    return all(getattr(layer, name, None) is None for name in quantizers)


def _is_binary_mac_layer(layer) -> bool:
    """A conv / dense layer with a binarized input: LCE runs it as ``LceBconv2d`` and
    fuses a BatchNorm after it (depth-wise ones excepted: LCE has no binary
    depth-wise op)."""
    if isinstance(layer, tf.keras.layers.DepthwiseConv2D):
        return False
    return _is_binary_quantizer(getattr(layer, "input_quantizer", None)) and (
        getattr(layer, "kernel_quantizer", None) is not None
    )


def _is_fake_quantized(layer) -> bool:
    """Whether the layer's output is fake-quantized already (TFLite runs its op in int8)."""
    from lq_ext.layers import BinaryDepthwiseConv2D

    if type(layer).__name__ == "IntActivationQuantizer":
        return True
    if isinstance(layer, BinaryDepthwiseConv2D) and layer.exact_int8:
        linear = layer.activation in (None, tf.keras.activations.linear)
        return linear and not layer.use_bias and not layer.scale_kernel
    return False


def _fuses_batchnorm(layer) -> bool:
    """A binary conv whose output LCE's ``LceBconv2d`` can scale and shift itself: not one
    that tiles its output (an ES conv with τ > 1), whose BN follows a ``TILE``."""
    return _is_binary_mac_layer(layer) and getattr(layer, "replicas", 1) == 1


def _foldable_batchnorm(layer) -> bool:
    config = layer.get_config()
    axis = config["axis"]
    axis = axis[0] if isinstance(axis, (list, tuple)) and len(axis) == 1 else axis
    return axis in (-1, len(layer.input_shape) - 1)


def _activation_name(layer) -> str:
    activation = getattr(layer, "activation", None)
    return getattr(activation, "__name__", "") if activation is not None else ""


def _softmax_output(layer) -> bool:
    return _activation_name(layer) == "softmax"


#: TFLite's fixed int8 range of a softmax or logistic output: scale 1/256, zero point −128.
UNIT_RANGE = (0.0, 255.0 / 256.0)


def _fixed_range(layer):
    """The int8 range TFLite fixes for ``layer``'s output (softmax, sigmoid), else None."""
    return UNIT_RANGE if _activation_name(layer) in ("softmax", "sigmoid") else None


# --------------------------------------------------------------------------- graph
def _as_functional(model):
    if not isinstance(model, tf.keras.Model):
        raise TypeError(f"int8 mode needs a tf.keras.Model, got {type(model).__name__}.")
    if not getattr(model, "_is_graph_network", False) and not isinstance(model, tf.keras.Sequential):
        raise ValueError(
            f"int8 mode rebuilds the model's layer graph; {model.name!r} is a subclassed "
            f"model, which has none. Build it with the functional API."
        )
    if not model.built or not model.inputs:
        raise ValueError(f"int8 mode needs a built model with known inputs; {model.name!r} has none.")
    model = tf.keras.Model(model.inputs, model.outputs, name=model.name)
    for layer in model.layers:
        if isinstance(layer, tf.keras.Model):
            raise ValueError(
                f"int8 mode does not rebuild nested models; layer {layer.name!r} of "
                f"{model.name!r} is a {type(layer).__name__}. Flatten it into the outer model."
            )
        if len(layer._inbound_nodes) > 1:
            raise ValueError(
                f"int8 mode does not rebuild shared layers; layer {layer.name!r} of "
                f"{model.name!r} is called {len(layer._inbound_nodes)} times."
            )
    return model


def _inputs_of(layer) -> list[str]:
    """Names of the layers whose outputs ``layer`` (single node) is called on."""
    return [t._keras_history.layer.name for t in layer._inbound_nodes[0].keras_inputs]


def _call_arguments(layer, tensors):
    """``(args, kwargs)`` of ``layer``'s call with every Keras tensor replaced by its
    counterpart in ``tensors`` (layer name → rebuilt output)."""
    node = layer._inbound_nodes[0]

    def replace(value):
        history = getattr(value, "_keras_history", None)
        if history is None:
            return value
        return tf.nest.flatten(tensors[history.layer.name])[history.tensor_index]

    return tf.nest.map_structure(replace, (node.call_args, node.call_kwargs))


class _Builder:
    """Rebuilds a functional model layer by layer with folds, lowerings and ranges."""

    def __init__(self, model, ranges):
        self.model = model
        self.ranges = ranges  # None: collect the tensors that need one
        self.probes = {}
        self.range_of = {}  # id(tensor) -> (low, high) of its Int8Range
        self.used = {}  # key -> (low, high) of the Int8Range placed
        self.folded, self.quantized, self.lowered = [], [], []
        self.absorbed = set()  # binary layers whose RSign threshold the BN before took
        self.consumers = {layer.name: [] for layer in model.layers}
        for layer in model.layers:
            if not isinstance(layer, tf.keras.layers.InputLayer):
                for name in _inputs_of(layer):
                    self.consumers[name].append(layer)
        self.folds = {}
        for layer in model.layers:
            after = self.consumers[layer.name]
            if (
                _is_float_kernel_layer(layer)
                and len(after) == 1
                and isinstance(after[0], tf.keras.layers.BatchNormalization)
                and _foldable_batchnorm(after[0])
                and layer.activation in (None, tf.keras.activations.linear)
            ):
                self.folds[after[0].name] = layer

    def _range(self, key, x, fixed=None):
        """``x`` followed by its Int8Range (or recorded as a probe on the first pass)."""
        if self.ranges is None:
            self.probes[key] = x
            return x
        low, high = fixed or self.ranges[key]
        y = Int8Range(low, high, name=_layer_name(key))(x)
        self.range_of[id(y)] = self.used[key] = (low, high)
        return y

    def _fused_by_lce(self, bn) -> bool:
        """Whether LCE fuses ``bn`` into the ``LceBconv2d`` before it."""
        producer = self.model.get_layer(_inputs_of(bn)[0])
        return _fuses_batchnorm(producer) and len(self.consumers[producer.name]) == 1

    def _skips_range(self, layer) -> bool:
        after = self.consumers[layer.name]
        only_bn = len(after) == 1 and isinstance(after[0], tf.keras.layers.BatchNormalization)
        if only_bn and (after[0].name in self.folds or _fuses_batchnorm(layer)):
            return True  # fused into the conv: by us (folded) or by LCE (LceBconv2d)
        return _is_fake_quantized(layer)

    def build(self):
        tensors = {}
        inputs = []
        for layer in self.model.layers:
            if isinstance(layer, tf.keras.layers.InputLayer):
                shape = layer.input_shape[0] if isinstance(layer.input_shape, list) else layer.input_shape
                x = tf.keras.Input(batch_shape=shape, dtype=layer.dtype, name=layer.name)
                inputs.append(x)
                tensors[layer.name] = self._range(layer.name, x)
        pending = [l for l in self.model.layers if not isinstance(l, tf.keras.layers.InputLayer)]
        while pending:
            progress = False
            for layer in list(pending):
                if not all(name in tensors for name in _inputs_of(layer)):
                    continue
                args, kwargs = _call_arguments(layer, tensors)
                tensors[layer.name] = self._layer(layer, args, kwargs)
                pending.remove(layer)
                progress = True
            if not progress:
                raise ValueError(f"int8 mode could not order the layers of {self.model.name!r}.")
        outputs = [
            tf.nest.flatten(tensors[t._keras_history.layer.name])[t._keras_history.tensor_index]
            for t in self.model.outputs
        ]
        self.output_steps = [
            (high - low) / 255.0 for low, high in (self.range_of.get(id(t), (0.0, 0.0)) for t in outputs)
        ]
        return tf.keras.Model(inputs, outputs if len(outputs) > 1 else outputs[0], name=f"{self.model.name}_int8")

    def _layer(self, layer, args, kwargs):
        """The rebuilt output of ``layer`` called as ``layer(*args, **kwargs)``."""
        x = args[0]
        if layer.name in self.folds:  # a BN folded into the layer before it
            return self._range(layer.name, x)
        lowering = _lowerings().get(type(layer))
        if lowering is not None and lowering.applies(layer):
            self.lowered.append(layer.name)
            for index, (new, weights) in enumerate(lowering.layers(layer)):
                if _is_zero_bias(new, weights):
                    continue  # the converter would fold x + 0 away, and its range with it
                y = new(x)
                new.set_weights(weights)
                x = self._output_range(f"{layer.name}/{index}", new, x, y)
            return x
        if _is_float_kernel_layer(layer):
            return self._float_kernel_layer(layer, x)
        if type(layer).__name__ == "ClampedMix" and len(layer.input_shape[0]) == 4:
            return self._clamped_mix(layer, *x)
        if (
            isinstance(layer, tf.keras.layers.BatchNormalization)
            and _lowerable_batchnorm(layer)
            and not self._fused_by_lce(layer)
        ):
            self.lowered.append(layer.name)
            after = self.consumers[layer.name]
            threshold = 0.0
            if len(after) == 1 and _rsign(after[0]) is not None:
                threshold = _rsign(after[0]).threshold.numpy()
                self.absorbed.add(after[0].name)
            new, weights = _batchnorm_as_depthwise(layer, threshold)
            y = new(x)
            new.set_weights(weights)
            return self._range(layer.name, y)
        config = layer.get_config()
        dropped = set()  # variables of the layer that the rebuilt one does not have
        if _rsign(layer) is not None:
            x, config = self._without_rsign(layer, x, config)
            args = (x, *args[1:])
            dropped.add(id(_rsign(layer).threshold))
        scale = None
        if _scaled_exact_depthwise(layer):
            self.lowered.append(layer.name)
            config = {**config, "scale_kernel": False, "use_bias": False}
            scale = _depthwise_scale(layer)
            if layer.use_bias:
                dropped.add(id(layer.bias))
        new = type(layer).from_config(config)
        y = new(*args, **kwargs)
        new.set_weights([w.numpy() for w in layer.weights if id(w) not in dropped])
        if scale is not None:  # integers (already int8), then the per-channel scale
            conv, weights = scale
            out = conv(y)
            conv.set_weights(weights)
            return self._range(layer.name, out)
        if len(tf.nest.flatten(y)) != 1:
            return y
        if self._skips_range(layer):
            return y
        return self._output_range(layer.name, layer, x, y)

    def _output_range(self, key, layer, x, y):
        """``y = layer(x)`` followed by its Int8Range: the input's for a layer that keeps
        it (TFLite requires the same scale on both sides of these ops), TFLite's fixed
        one for softmax / sigmoid, else the calibrated one."""
        if type(layer).__name__ in _RANGE_PRESERVING:
            same = self.range_of.get(id(x))
            return y if same is None else self._range(key, y, same)
        return self._range(key, y, _fixed_range(layer))

    def _clamped_mix(self, layer, a, b):
        """ClampedMix(a, b) = s'·a + (1 − s')·b, s' = clamp(s, 0, 1): a per-channel scale of
        each input (int8 1×1 depth-wise convs) and an int8 add."""
        self.lowered.append(layer.name)
        mix = np.clip(layer.scale.numpy(), 0.0, 1.0)
        terms = []
        for index, (value, scale) in enumerate(((a, mix), (b, 1.0 - mix))):
            conv, weights = _channel_affine(f"{layer.name}_scale{index}", scale, np.zeros_like(scale))
            y = conv(value)
            conv.set_weights(weights)
            terms.append(self._range(f"{layer.name}/{index}", y))
        return self._range(layer.name, tf.keras.layers.Add(name=f"{layer.name}_add")(terms))

    def _without_rsign(self, layer, x, config):
        """A binary layer with RSign, sign(x − β), as a bias −β (absorbed by the BN
        before when it has one) and the layer with a plain sign: the subtraction gets a
        range, which it cannot have inside the quantizer.  Returns the new input and the
        layer's new config."""
        rsign = _rsign(layer)
        if layer.name not in self.absorbed and np.any(rsign.threshold.numpy()):
            self.lowered.append(layer.name)
            bias, weights = _bias(layer, -rsign.threshold.numpy(), "threshold")
            y = bias(x)
            bias.set_weights(weights)
            x = self._range(f"{layer.name}/threshold", y)
        sign = lq.quantizers.SteSign(clip_value=rsign.clip_value)
        return x, {**config, "input_quantizer": tf.keras.utils.serialize_keras_object(sign)}

    def _float_kernel_layer(self, layer, x):
        config = layer.get_config()
        activation = config.get("activation", "linear")
        bn = next((b for b, conv in self.folds.items() if conv is layer), None)
        weights = layer.get_weights()
        if bn is not None:
            weights = _folded_weights(layer, self.model.get_layer(bn))
            self.folded.append((layer.name, bn))
            config["use_bias"] = True
        config["activation"] = None
        if isinstance(layer, tf.keras.layers.DepthwiseConv2D):
            new = lq.layers.QuantDepthwiseConv2D.from_config({**config, "depthwise_quantizer": PerTensorInt8Weights()})
        elif isinstance(layer, tf.keras.layers.Conv2D):
            from lq_ext.fake_quant import IntWeightQuantizer
            new = lq.layers.QuantConv2D.from_config({**config, "kernel_quantizer": IntWeightQuantizer(8)})
        else:
            new = lq.layers.QuantDense.from_config({**config, "kernel_quantizer": PerTensorInt8Weights()})
        y = new(x)
        new.set_weights(weights)
        self.quantized.append(layer.name)
        if bn is not None:
            return y  # its BN's range follows
        y = self._range(layer.name, y)
        if activation not in (None, "linear"):
            act = tf.keras.layers.Activation(activation, name=f"{layer.name}_activation")
            y = self._range(act.name, act(y), _fixed_range(act))
        return y


def _layer_name(key: str) -> str:
    return key.replace("/", "_") + "_int8"


def _batchnorm_affine(bn):
    """``(a, b)`` with inference-mode ``bn(x) = a·x + b`` per channel: a = γ/σ,
    b = β − μ·a (float64)."""
    params = dict(zip([w.name.split("/")[-1].split(":")[0] for w in bn.weights], bn.get_weights()))
    channels = params["moving_mean"].shape[0]
    gamma = params.get("gamma", np.ones(channels))
    beta = params.get("beta", np.zeros(channels))
    a = gamma.astype(np.float64) / np.sqrt(params["moving_variance"].astype(np.float64) + bn.epsilon)
    return a, beta - params["moving_mean"] * a


def _folded_weights(layer, bn):
    """``[kernel, bias]`` of ``layer`` followed by the inference-mode ``bn``."""
    weights = layer.get_weights()
    a, b = _batchnorm_affine(bn)
    kernel = weights[0].astype(np.float64)
    bias = weights[1].astype(np.float64) if layer.use_bias else np.zeros(a.shape[0])
    if isinstance(layer, tf.keras.layers.DepthwiseConv2D):
        kernel = kernel * a.reshape(kernel.shape[2], kernel.shape[3])
    else:
        kernel = kernel * a
    return [kernel.astype(np.float32), (bias * a + b).astype(np.float32)]


def _channel_affine(name, scale, bias):
    """``x·scale + bias`` per channel as a 1×1 depth-wise conv with int8 weights (one
    scale for the kernel): one int8 op.  Returns ``(layer, weights)``."""
    conv = lq.layers.QuantDepthwiseConv2D(1, depthwise_quantizer=PerTensorInt8Weights(), name=name)
    scale, bias = np.asarray(scale, np.float32), np.asarray(bias, np.float32)
    return conv, [scale.reshape(1, 1, -1, 1), bias]


# --------------------------------------------------------------------------- lowerings
def _prelu(layer, alpha):
    """A Keras PReLU sharing α over all but the channel axis (TFLite: one PRELU op)."""
    rank = len(layer.input_shape)
    prelu = tf.keras.layers.PReLU(shared_axes=list(range(1, rank - 1)), name=f"{layer.name}_prelu")
    return prelu, [np.reshape(alpha, (1,) * (rank - 2) + (-1,)).astype(np.float32)]


def _is_zero_bias(layer, weights) -> bool:
    from lq_ext.layers.embedding import LearnableBias

    return isinstance(layer, LearnableBias) and not np.any(weights[0])


def _bias(layer, bias, suffix):
    from lq_ext.layers.embedding import LearnableBias

    return LearnableBias(name=f"{layer.name}_{suffix}"), [np.asarray(bias, np.float32)]


class _RPReLULowering:
    """RPReLU(x) = PReLU_α(x − γ) + ζ: bias, PRELU, bias."""

    @staticmethod
    def applies(layer) -> bool:
        return True

    @staticmethod
    def layers(layer):
        shift_in, alpha, shift_out = (w.numpy() for w in (layer.shift_in, layer.alpha, layer.shift_out))
        return [_bias(layer, -shift_in, "shift_in"), _prelu(layer, alpha), _bias(layer, shift_out, "shift_out")]


class _DPReLULowering:
    """DPReLU(x) = p·PReLU_{n/p}(x − b_x) − b_y for positive slopes p: bias, PRELU, and a
    1×1 depth-wise conv for the per-channel scale and bias (one int8 op)."""

    @staticmethod
    def applies(layer) -> bool:
        return len(layer.input_shape) == 4 and bool(np.all(layer.pos_slope.numpy() > 0))

    @staticmethod
    def layers(layer):
        p, n = layer.pos_slope.numpy(), layer.neg_slope.numpy()
        return [
            _bias(layer, -layer.bias_x.numpy(), "shift_in"),
            _prelu(layer, n / p),
            _channel_affine(f"{layer.name}_scale", p, -layer.bias_y.numpy()),
        ]


class _ESConvLowering:
    """An ES conv (:class:`lq_ext.layers.ESQuantConv2D`) as the conv, its activation and
    the τ²·g tiling as a ``ChannelBroadcast`` (which keeps its input's range), so that the
    conv's output gets a range of its own.  A float one (ES-BNext's squeeze-and-excite,
    ES-BNN's shrunk shortcuts) gets 8-bit weights per output channel; a binary one that
    tiles (τ > 1) stays binary and writes int8 (else ``LceBconv2d`` writes float into a
    float ``TILE``).  RSign inputs are left to the general path."""

    @staticmethod
    def applies(layer) -> bool:
        if layer.input_quantizer is None and layer.kernel_quantizer is None:
            return layer.groups == 1
        return _is_binary_mac_layer(layer) and layer.replicas > 1 and _rsign(layer) is None

    @staticmethod
    def layers(layer):
        from lq_ext.fake_quant import IntWeightQuantizer
        from lq_ext.layers import ChannelBroadcast

        config = {k: v for k, v in layer.get_config().items() if k not in ("tau", "for_lce")}
        config.update(
            filters=layer.filters,  # the kernels; the config's "filters" counts the tiles
            activation=None,
            name=f"{layer.name}_conv",
        )
        if layer.kernel_quantizer is None:
            config["kernel_quantizer"] = IntWeightQuantizer(8)
        steps = [(lq.layers.QuantConv2D.from_config(config), layer.get_weights())]
        if _activation_name(layer) not in ("", "linear"):
            activation = tf.keras.layers.Activation(layer.activation, name=f"{layer.name}_activation")
            steps.append((activation, []))
        if layer.replicas > 1:
            steps.append((ChannelBroadcast(layer.output_channels, name=f"{layer.name}_tile"), []))
        return steps


def _lowerable_batchnorm(layer) -> bool:
    return len(layer.input_shape) == 4 and _foldable_batchnorm(layer)


def _rsign(layer):
    """The RSign input quantizer of a (binary) conv / dense layer, else None."""
    quantizer = getattr(layer, "input_quantizer", None)
    return quantizer if type(quantizer).__name__ == "RSign" else None


def _batchnorm_as_depthwise(layer, threshold):
    """An inference-mode BN, minus ``threshold``, as a 1×1 depth-wise conv: one int8 op.

    BN(x) − t = a·x + (b − t) with a = γ/σ, b = β − μ·a; ``threshold`` t is the RSign
    threshold of the BN's only consumer (0 otherwise).  The int8 kernel has one scale
    for all channels, so a channel with a small |a| loses relative precision.
    """
    a, b = _batchnorm_affine(layer)
    return _channel_affine(f"{layer.name}_affine", a, b - threshold)


def _scaled_exact_depthwise(layer) -> bool:
    """An exact-int8 depth-wise conv whose integer sums are then scaled (mean|w| per
    channel) or shifted (bias) in float, inside the layer."""
    from lq_ext.layers import BinaryDepthwiseConv2D

    if not (isinstance(layer, BinaryDepthwiseConv2D) and layer.exact_int8):
        return False
    linear = layer.activation in (None, tf.keras.activations.linear)
    return linear and (layer.scale_kernel or layer.use_bias)


def _depthwise_scale(layer):
    """The scale α (and bias) of a :func:`_scaled_exact_depthwise` layer as a 1×1
    depth-wise conv with int8 weights: TFLite quantizes a per-channel multiplier anyway,
    and the clone must compute with the same rounded α as the flatbuffer."""
    from lq_ext.layers.depthwise import DEPTHWISE_CHANNEL_AXES
    from lq_ext.quantizers import mean_abs

    latent = getattr(layer.depthwise_kernel, "latent_variable", layer.depthwise_kernel)
    channels = int(np.prod(latent.shape[-2:]))
    alpha = mean_abs(latent, DEPTHWISE_CHANNEL_AXES).numpy().reshape(-1) if layer.scale_kernel else np.ones(channels)
    bias = layer.bias.numpy() if layer.use_bias else np.zeros(channels)
    return _channel_affine(f"{layer.name}_scale", alpha, bias)


def _lowerings():
    from lq_ext.layers import ESQuantConv2D
    from lq_ext.layers.activations import DPReLU, RPReLU

    return {RPReLU: _RPReLULowering, DPReLU: _DPReLULowering, ESQuantConv2D: _ESConvLowering}


# --------------------------------------------------------------------------- entry point
def _check_images(images, model) -> np.ndarray:
    images = np.asarray(images, dtype=np.float32)
    expected = tuple(model.inputs[0].shape[1:])
    if images.ndim != len(expected) + 1 or tuple(images.shape[1:]) != expected or len(images) == 0:
        raise ValueError(
            f"calibration images must be an array (n ≥ 1, {', '.join(map(str, expected))}) "
            f"matching the model input, got shape {images.shape}."
        )
    if not np.all(np.isfinite(images)):
        raise ValueError("calibration images contain NaN or inf.")
    return images


def _check_padding(model):
    """LCE's optimized ``LceBconv2d`` writes int8 (or bit-packed) output only with
    one-padding: zero-padding needs float output (its kernel error: "Zero-padding is
    only supported by the reference kernel with an even number of input channels, or
    when using float output with no fused activation function")."""
    offenders = [
        layer.name
        for layer in model.layers
        if _is_binary_mac_layer(layer)
        and getattr(layer, "padding", "valid") == "same"
        and float(getattr(layer, "pad_values", 0.0)) == 0.0
        and any(k > 1 for k in getattr(layer, "kernel_size", (1,)))
    ]
    if offenders:
        raise ValueError(
            f"int8 mode needs one-padded binary convs: {', '.join(map(repr, offenders[:5]))}"
            f"{' ...' if len(offenders) > 5 else ''} pad with zeros (padding='same', "
            f"pad_values=0), and LCE's optimized kernel can write int8 output only with "
            f"pad_values=1.0 (zero-padding needs float output). Build the model with "
            f"pad_values=1.0, or convert it with int8=False."
        )


#: Widening of the model input's range.  Pixels mapped to [−1, 1] (p / 127.5 − 1) lie
#: exactly halfway between the grid points of the int8 range [−1, 1] (step 2/255, zero
#: exact); TFLite's QUANTIZE rounds such ties away from zero, TF's fake-quant op upwards,
#: so half of the negative pixels differed by one step between the flatbuffer and the
#: Keras clone (measured on Fashion-MNIST).  A range 0.1 % wider moves every pixel off
#: the ties, and both round alike.
INPUT_RANGE_MARGIN = 1.001


#: Values kept per tensor for the percentiles (a uniform sample of each batch).
_SAMPLE_PER_TENSOR = 2**18


def _calibrate(model, probes, images, batch_size, input_names, percentile):
    """``{key: (low, high)}``: the ``percentile`` of each probed tensor's values (its
    ``100 − percentile`` below zero), widened to include 0; the input's exact min / max
    (the images are what they are), widened by :data:`INPUT_RANGE_MARGIN`."""
    keys = list(probes)
    probe = tf.keras.Model(model.inputs, [probes[k] for k in keys])
    batches = -(-len(images) // batch_size)
    rng = np.random.default_rng(0)
    samples = {k: [] for k in keys}
    extremes = {k: (0.0, 0.0) for k in keys}
    for start in range(0, len(images), batch_size):
        values = probe(images[start : start + batch_size], training=False)
        values = values if isinstance(values, (list, tuple)) else [values]
        for key, value in zip(keys, values):
            flat = value.numpy().reshape(-1)
            extremes[key] = (min(extremes[key][0], float(flat.min())), max(extremes[key][1], float(flat.max())))
            keep = max(_SAMPLE_PER_TENSOR // batches, 1)
            samples[key].append(flat if flat.size <= keep else rng.choice(flat, keep, replace=False))
    ranges = {}
    for key in keys:
        if key in input_names or percentile == 100:
            low, high = extremes[key]
        else:
            values = np.concatenate(samples[key])
            low = min(0.0, float(np.percentile(values, 100.0 - percentile)))
            high = max(0.0, float(np.percentile(values, percentile)))
        # A tensor that is 0 on every image: any range holds it exactly.
        ranges[key] = (low, high) if high > low else (-1.0, 1.0)
    for name in input_names:
        ranges[name] = tuple(value * INPUT_RANGE_MARGIN for value in ranges[name])
    return ranges


#: Default :func:`int8_model` percentile: on the trained Fashion-MNIST BD-Net (α = 0.25,
#: 1 epoch, 500 training images for calibration, 2,000 test images, int8 Keras clone)
#: top-1 was 57.5 % with min / max ranges, 68.3 % at 99.99, 70.8 % at 99.9, 67.9 % at 99,
#: against 70.85 % in float: clipping the rare large values buys resolution near the
#: binarizers' thresholds.
DEFAULT_PERCENTILE = 99.9


def int8_model(model, images, *, batch_size: int = 8, percentile: float = DEFAULT_PERCENTILE):
    """A clone of ``model`` whose non-binary parts TFLite runs in int8; see the module.

    # Arguments
        model: a built functional or Sequential ``tf.keras.Model`` (single-node layers).
        images: calibration inputs ``(n, *input_shape)``, preprocessed as the model
            expects (e.g. :func:`lq_ext.data.load_samples` + :func:`lq_ext.data.preprocess`).
        batch_size: images per forward pass while calibrating.
        percentile: each activation range spans this percentile of the tensor's values
            on the images (and the mirror one below zero); 100 is TFLite's min / max
            rule. Default 99.9 (measured, see :data:`DEFAULT_PERCENTILE`).

    # Returns
        ``(clone, plan)``: the clone to convert with LCE, and an :class:`Int8Plan`.

    # Raises
        TypeError / ValueError: not a Keras model, a subclassed model, nested or shared
            layers, or images that do not match the model input.
    """
    functional = _as_functional(model)
    _check_padding(functional)
    images = _check_images(images, functional)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got batch_size={batch_size!r}.")
    if isinstance(percentile, bool) or not isinstance(percentile, (int, float)) or not 50 < percentile <= 100:
        raise ValueError(f"percentile must be a number in (50, 100], got percentile={percentile!r}.")
    first = _Builder(functional, ranges=None)
    structural = first.build()
    input_names = [layer.name for layer in functional.layers if isinstance(layer, tf.keras.layers.InputLayer)]
    ranges = _calibrate(structural, first.probes, images, batch_size, input_names, percentile)
    second = _Builder(functional, ranges=ranges)
    clone = second.build()
    plan = Int8Plan(
        folded=tuple(second.folded),
        quantized_kernels=tuple(second.quantized),
        lowered=tuple(second.lowered),
        ranges=second.used,
        calibration_images=len(images),
        output_step=max(second.output_steps),
    )
    return clone, plan
