"""k-bit integer fake quantization (2–8 bits) that LCE turns into int8 TFLite ops.

PokeBNN's 8-bit and 4-bit layers (PokeInit, the squeeze-and-excitation convs, the
classifier) quantize both operands:

- :class:`IntWeightQuantizer` — weights, symmetric, one max|w| scale per output
  channel, 2^(b−1) − 1 levels each side (127 for 8 bits, 7 for 4 bits), identity
  straight-through gradient; AQT's ``half_shift=False`` weight quantizer.
- :class:`IntActivationQuantizer` — activations, symmetric (``signed=True``:
  ±(2^(b−1) − 1) levels) or positive (``signed=False``: 0 … 2^b − 1 levels, floor
  rounding like AQT's ``'positive'`` distribution), with a *calibrated* bound B.

Both are written with ``tf.quantization.fake_quant_with_min_max_vars*``, the ops the
TFLite/LCE converter turns into int8 tensors, so ``b`` bits are carried in int8
(TFLite has no 4-bit kernels).

**Bound of an activation quantizer.**  AQT sets B from a running mean of the per-batch
max |x|; before the bound is frozen (official: step 7500) the layer runs in float and
only collects statistics.  Here ``bound`` is a variable: ``0`` means "not calibrated,
pass through"; during ``fit`` the quantizer tracks the EMA of max |x| and copies it into
``bound`` at step ``freeze_step``.  :func:`calibrate` sets every bound of a model from
real images instead (what a converted random-init or pre-freeze model needs).

**Deviation (TFLite):** AQT's activation bounds are per channel; TFLite int8
activations have one scale per tensor, so the bound here is per tensor (the max over
channels).  Weight scales stay per output channel.

Reference: PokeBNN, arXiv:2112.00133; google/aqt (``pokebnn_config.py``).
Provenance and reconstruction notes: docs/models/pokebnn.md; int8 conversion:
docs/guides/int8.md
"""

from __future__ import annotations

import contextlib
import warnings

import larq as lq
import numpy as np
import tensorflow as tf

from lq_ext._serialization import register
from lq_ext._validate import check_bool, is_int, is_number
from lq_ext.quantizers import switch_variable

__all__ = [
    "BIT_CHOICES",
    "IntActivationQuantizer",
    "IntWeightQuantizer",
    "calibrate",
    "deployed_kernels",
    "int_quantizers",
    "kernel_step",
    "uncalibrated",
]

#: Bit widths the fake-quant ops (and int8 TFLite kernels) can carry.
BIT_CHOICES = tuple(range(2, 9))
ROUNDINGS = ("nearest", "floor")


_TINY = 1e-12
#: Bound given by :func:`calibrate` to a quantizer that saw only zeros.
FALLBACK_BOUND = 1.0


def kernel_step(bound, levels):
    """The step a k-bit kernel is rounded to (k < 8), ``levels`` levels up to ``bound``:
    ``bound · (1/levels)``.

    Written as the converter computes it: TFLite's converter folds ``bound / levels`` into
    ``bound · (1/levels)``, a float one ulp off now and then, and a weight at a rounding tie
    (``w / step`` within an ulp of k + ½) then took another level in the file than in Keras:
    one 4-bit SE weight of 2,060,480 int weights in 2 of 6 random-initialised PokeBNN-0.75,
    which failed ``convert(verify=True)`` (an output channel off by up to 5 int8 steps). In
    this form every level agrees (0 differ in both; tests/test_fake_quant.py builds a tie).
    """
    return bound * (1.0 / levels)


def _round_to_grid(x, step):
    """round(x / step) · step with an identity gradient."""
    return x + tf.stop_gradient(tf.round(x / step) * step - x)


def _unsigned_top(levels, step, shift):
    """Where an unsigned k-bit range (k < 8) clips its input less the floor ``shift``.

    The floor rule's top after the shift, 14.5 steps for uint4, is a midpoint the converter
    rounds either way once it is an int8 constant (to 14: TFLite then clipped at the level
    below); any clip in (14.5, 15.5) steps gives the same levels here, and 14.75 becomes 15 in
    the file (the straight-through gradient stops at 15.25 steps of the input instead of 15).
    """
    return levels * step - shift / 2


def _fake_quant(x, bound, bits, signed, rounding):
    r"""``bits``-bit fake quantization of ``x``, carried by an 8-bit fake-quant op.

    The k-bit range is clipped in float first, then fake-quantized with an int8 range
    of the same step, so TFLite stores the k-bit values exactly in int8 (it has no
    int4 tensors).  No custom gradient, so that the converter sees the bare op: the
    fake-quant op passes the gradient inside its range and the clip zeroes it outside,
    a straight-through estimator on the k-bit range.
    """
    if signed:
        levels = 2 ** (bits - 1) - 1
        step = bound / levels
        if bits < 8:
            x = tf.clip_by_value(x, -levels * step, levels * step)
        return tf.quantization.fake_quant_with_min_max_vars(
            x, -127 * step, 127 * step, num_bits=8, narrow_range=True
        )
    levels = 2**bits - 1
    step = bound / 2**bits
    # fake_quant rounds half up: round(y − ½) = floor(y) for the floor rule.
    shift = step / 2 if rounding == "floor" else 0.0
    x = x - shift
    if bits < 8:
        x = tf.minimum(x, _unsigned_top(levels, step, shift))
    return tf.quantization.fake_quant_with_min_max_vars(
        x, tf.zeros_like(step), 255 * step, num_bits=8, narrow_range=False
    )


def _check_bits(bits):
    if not is_int(bits) or bits not in BIT_CHOICES:
        raise ValueError(f"bits must be an int in {list(BIT_CHOICES)}, got bits={bits!r}.")


@register
class IntWeightQuantizer(lq.quantizers.Quantizer):
    r"""Symmetric ``bits``-bit weights with a per-output-channel max-abs scale.

    \\[ q(w) = \mathrm{round}\!\left(\frac{w}{s_c}\right) s_c,\quad
        s_c = \frac{\max_k |w_{c,k}|}{2^{b-1}-1},\quad \partial q/\partial w = 1 \\]

    # Arguments
        bits: 2–8 (PokeBNN: 8 for PokeInit and the classifier, 4 for SE).
        quantized: ``None`` (default): always quantized. ``True`` / ``False``: the
            initial state of a non-trainable ``quantized`` switch variable; while it is 0
            the kernel passes through in float (identity gradient either way). PokeBNN's
            convs train with float kernels until epoch 50
            (:class:`lq_ext.training.WeightBinarization` sets the switch). In the graph
            the switch is a select after the fake-quant op, which TFLite's int8 converter
            cannot fold; the converter traces the model inside :func:`deployed_kernels`,
            where the select is left out (the state LCE converts: quantized).

    The output channel is the kernel's last axis (Conv2D, grouped Conv2D).  Two layer
    types need another form for TFLite: a depth-wise kernel's channels span its last
    two axes (write it as a grouped ``Conv2D``), and the converter of TF 2.16 cannot
    keep per-channel scales on a ``Dense`` kernel (write it as a 1×1 conv).
    """

    def __init__(self, bits: int = 8, quantized: bool | None = None, **kwargs):
        _check_bits(bits)
        self.bits = int(bits)
        self.precision = self.bits
        if quantized is not None and not isinstance(quantized, (bool, np.bool_)):
            raise ValueError(
                f"quantized must be None (no switch), True or False (a switch's initial state), "
                f"got quantized={quantized!r}."
            )
        self.quantized = None if quantized is None else bool(quantized)
        super().__init__(**kwargs)

    def build(self, input_shape):
        if self.quantized is not None:
            self.switch = switch_variable(self, "quantized", self.quantized)
        super().build(input_shape)

    def call(self, inputs):
        quantized = self._quantize(inputs)
        if self.quantized is None or _DEPLOYING:
            return quantized
        return tf.where(self.switch > 0.5, quantized, inputs)

    def _quantize(self, inputs):
        rank = inputs.shape.rank
        reduce_axes = list(range(rank - 1))
        levels = 2 ** (self.bits - 1) - 1
        bound = tf.stop_gradient(tf.reduce_max(tf.abs(inputs), axis=reduce_axes))
        bound = tf.maximum(bound, _TINY)
        step = bound / levels
        # The k-bit grid as an int8 range of the same step, so TFLite stores it exactly.
        # The op passes the gradient inside [−max|w|, max|w|], i.e. everywhere: AQT's
        # identity straight-through estimator (with 127 · (bound · 1/127) a max|w| one ulp
        # above the range would lose its gradient: the range keeps the division).
        return tf.quantization.fake_quant_with_min_max_vars_per_channel(
            inputs if self.bits == 8 else _round_to_grid(inputs, kernel_step(bound, levels)),
            -127 * step,
            127 * step,
            num_bits=8,
            narrow_range=True,
        )

    def get_config(self):
        return {**super().get_config(), "bits": self.bits, "quantized": self.quantized}


@contextlib.contextmanager
def deployed_kernels():
    """Models traced inside the block leave out the ``quantized`` switch of every
    :class:`IntWeightQuantizer`: the fake-quant op feeds the conv directly, the graph
    TFLite's int8 converter folds into an int8 kernel. Set the switches to 1 first
    (:func:`lq_ext.weight_phases.quantized_weights` does both), or the traced graph
    computes other values than the Keras model."""
    global _DEPLOYING
    previous, _DEPLOYING = _DEPLOYING, True
    try:
        yield
    finally:
        _DEPLOYING = previous


#: True inside :func:`deployed_kernels`.
_DEPLOYING = False


@register
class IntActivationQuantizer(lq.quantizers.Quantizer):
    r"""``bits``-bit activations with one calibrated bound B per tensor.

    - ``signed=True``: ``round(clip(x/B, −1, 1)·(2^(b−1) − 1))`` levels (int8: ±127,
      int4: ±7), AQT's ``'symmetric'``.
    - ``signed=False``: ``floor(clip(x·2^b/B, 0, 2^b − 1))`` levels of B/2^b (uint4:
      0 … 15), AQT's ``'positive'``; ``rounding="nearest"`` rounds instead.

    Straight-through gradient inside the clip range, zero outside.  While ``bound`` is
    0 the quantizer is the identity (AQT's "collect statistics only" phase).

    # Arguments
        bits: 2–8.
        signed: symmetric (True) or non-negative (False) range.
        rounding: ``"nearest"`` or ``"floor"``; default: nearest when signed, floor
            when not (AQT's choices).
        momentum: EMA coefficient of the running max |x| collected during training.
        freeze_step: training step at which the running max becomes the bound
            (PokeBNN: 7500); ``None`` never freezes during training (use
            :func:`calibrate`).
        initial_bound: a fixed starting bound; ``None`` starts uncalibrated.
    """

    def __init__(
        self,
        bits: int = 8,
        signed: bool = True,
        rounding: str | None = None,
        momentum: float = 0.9,
        freeze_step: int | None = 7500,
        initial_bound: float | None = None,
        **kwargs,
    ):
        _check_bits(bits)
        signed = check_bool("signed", signed)
        if rounding is None:
            rounding = "nearest" if signed else "floor"
        if rounding not in ROUNDINGS:
            raise ValueError(
                f"rounding must be one of {list(ROUNDINGS)} or None, got rounding={rounding!r}."
            )
        if not is_number(momentum) or not 0 <= momentum < 1:
            raise ValueError(f"momentum must be in [0, 1), got momentum={momentum!r}.")
        if freeze_step is not None and (not is_int(freeze_step) or freeze_step < 1):
            raise ValueError(
                f"freeze_step must be a positive int or None, got freeze_step={freeze_step!r}."
            )
        if initial_bound is not None and (not is_number(initial_bound) or not initial_bound > 0):
            raise ValueError(
                f"initial_bound must be a positive number or None (uncalibrated), got "
                f"initial_bound={initial_bound!r}."
            )
        self.bits = int(bits)
        self.precision = self.bits
        self.signed = signed
        self.rounding = rounding
        self.momentum = float(momentum)
        self.freeze_step = None if freeze_step is None else int(freeze_step)
        self.initial_bound = None if initial_bound is None else float(initial_bound)
        super().__init__(**kwargs)

    def build(self, input_shape):
        scalar = dict(shape=(), trainable=False)
        self.bound = self.add_weight(
            name="bound",
            initializer=tf.keras.initializers.Constant(self.initial_bound or 0.0),
            **scalar,
        )
        self.running_max = self.add_weight(name="running_max", initializer="zeros", **scalar)
        self.steps = self.add_weight(name="steps", initializer="zeros", **scalar)
        super().build(input_shape)

    def quantize(self, x, bound):
        """Fake-quantize ``x`` with ``bound`` (a positive scalar); see the class docstring."""
        return _fake_quant(x, bound, self.bits, self.signed, self.rounding)

    def unsigned_top(self):
        """Where :meth:`quantize` clips its input less :meth:`floor_shift` (unsigned, k < 8)."""
        return _unsigned_top(2**self.bits - 1, tf.maximum(self.bound, _TINY) / 2**self.bits, self.floor_shift())

    def floor_shift(self):
        """What :meth:`quantize` subtracts before rounding to the nearest level: half a step
        for floor rounding of a non-negative range (a tensor), else 0.0."""
        if self.signed or self.rounding != "floor":
            return 0.0
        return tf.maximum(self.bound, _TINY) / 2**self.bits / 2

    def _track(self, x):
        """Training step: update the EMA of max |x|; at ``freeze_step`` it becomes the bound."""
        batch_max = tf.reduce_max(tf.abs(x))
        step = self.steps + 1.0
        running = tf.where(
            step > 1.0, self.momentum * self.running_max + (1 - self.momentum) * batch_max, batch_max
        )
        bound = self.bound
        if self.freeze_step is not None:
            bound = tf.where(tf.equal(step, float(self.freeze_step)), running, bound)
        return [
            self.running_max.assign(running),
            self.steps.assign(step),
            self.bound.assign(bound),
        ]

    def call(self, inputs, training=None):
        record = _RECORDING.get(id(self))
        if record is not None:  # calibrate() is running: statistics only
            record.append(float(tf.reduce_max(tf.abs(inputs))))
            return inputs
        if training:
            with tf.control_dependencies(self._track(inputs)):
                inputs = tf.identity(inputs)
        # Uncalibrated (bound 0): identity.  Once the bound is a constant (conversion),
        # the converter folds this select away.
        bound = tf.maximum(self.bound, _TINY)
        return tf.where(self.bound > 0, self.quantize(inputs, bound), inputs)

    def get_config(self):
        return {
            **super().get_config(),
            "bits": self.bits,
            "signed": self.signed,
            "rounding": self.rounding,
            "momentum": self.momentum,
            "freeze_step": self.freeze_step,
            "initial_bound": self.initial_bound,
        }


def _quantizers_of(layer):
    if isinstance(layer, lq.quantizers.Quantizer):  # a quantizer used as a layer
        yield layer
    for attribute in ("input_quantizer", "kernel_quantizer", "depthwise_quantizer"):
        quantizer = getattr(layer, attribute, None)
        if quantizer is not None:
            yield quantizer


def _walk_layers(model):
    for layer in model.layers:
        yield layer
        if isinstance(layer, tf.keras.Model):
            yield from _walk_layers(layer)


def int_quantizers(model, kind=IntActivationQuantizer) -> list:
    """The ``kind`` quantizers of every (nested) layer of ``model``, as ``(layer, q)``."""
    return [
        (layer, quantizer)
        for layer in _walk_layers(model)
        for quantizer in _quantizers_of(layer)
        if isinstance(quantizer, kind)
    ]


def uncalibrated(model) -> list[str]:
    """Names of the layers whose activation quantizer has no bound yet (bound ≤ 0)."""
    return [
        layer.name
        for layer, quantizer in int_quantizers(model)
        if not quantizer.built or float(quantizer.bound.numpy()) <= 0
    ]


#: id(quantizer) → its batch maxima while :func:`calibrate` runs.  Kept outside the
#: layers: Keras would track (and save) a list attribute of a layer.
_RECORDING: dict[int, list] = {}


@contextlib.contextmanager
def _calibrating(quantizers):
    for quantizer in quantizers:
        _RECORDING[id(quantizer)] = []
    try:
        yield
    finally:
        for quantizer in quantizers:
            _RECORDING.pop(id(quantizer), None)


def calibrate(model, images, batch_size: int = 8) -> dict:
    """Set every :class:`IntActivationQuantizer` bound of ``model`` from ``images``.

    Runs ``model`` eagerly in inference mode with the quantizers passing their inputs
    through (as during AQT's statistics phase) and sets each bound to the mean over
    batches of the batch max |x| — AQT's "mean of max" statistic.

    # Arguments
        model: a built Keras model.
        images: array ``(n, *input_shape)`` of preprocessed inputs (e.g. the packaged
            real samples: ``lq_ext.data.load_samples`` + ``preprocess``).
        batch_size: images per batch (the statistic is a mean of per-batch maxima).

    # Returns
        ``{layer name: bound}`` for every calibrated quantizer.

    # Raises
        ValueError: for empty ``images``, a bad ``batch_size``, or a model without
            activation quantizers.
    """
    images = np.asarray(images, dtype=np.float32)
    if images.ndim < 2 or len(images) == 0:
        raise ValueError(
            f"images must be a non-empty batch (n, *input_shape), got shape {images.shape}."
        )
    if not is_int(batch_size) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got batch_size={batch_size!r}.")
    pairs = int_quantizers(model)
    if not pairs:
        raise ValueError(f"Model {model.name!r} has no IntActivationQuantizer to calibrate.")
    quantizers = [quantizer for _, quantizer in pairs]
    with _calibrating(quantizers):
        for start in range(0, len(images), batch_size):
            model(images[start : start + batch_size], training=False)
        bounds = {}
        for layer, quantizer in pairs:
            record = _RECORDING[id(quantizer)]
            bound = float(np.mean(record)) if record else 0.0
            if not bound > 0:
                # Only zeros reached it (e.g. a ReLU that never fires on these images):
                # any bound represents them exactly; 1.0 keeps the layer usable.
                warnings.warn(
                    f"calibrate: layer {layer.name!r} saw only zeros on the calibration "
                    f"images; its bound is set to {FALLBACK_BOUND}.",
                    stacklevel=2,
                )
                bound = FALLBACK_BOUND
            quantizer.bound.assign(bound)
            bounds[layer.name] = bound
    return bounds
