"""Quantizers that Larq lacks: 1.58-bit ternary weights, RSign, ScaledSign, and PokeBNN's
BoundedSign (activations, clip bound B) and MaxAbsSign (weights, switchable).

Each quantizer is a pure function holding the forward/backward math plus a thin,
serializable Keras layer (``lq.quantizers.Quantizer``) that stores the arguments,
exactly as Larq's own quantizers do.  ``precision`` is the integer Larq's
``lq.models.summary`` reads; ``bits`` is the (possibly fractional) bit width
``lq_ext.summary`` reads.

All forward passes are built from ``tf.sign`` / ``larq.math.sign`` so that Larq
Compute Engine recognises the activation binarizers (``RSign``, ``BoundedSign``) as
``LceQuantize``.  k-bit integer quantizers live in :mod:`lq_ext.fake_quant`.

References: BD-Net (arXiv:2511.17633), ReActNet (arXiv:2003.03488), PokeBNN
(arXiv:2112.00133); each class cites its own.
Provenance and reconstruction notes: docs/models/bdnet.md, docs/models/reactnet.md,
docs/models/pokebnn.md
"""

from __future__ import annotations

import larq as lq
import tensorflow as tf

from lq_ext._serialization import register
from lq_ext._validate import check_bool, check_choice, is_number

__all__ = [
    "THRESHOLD_MODES",
    "BoundedSign",
    "MaxAbsSign",
    "RSign",
    "ScaledSign",
    "Ternary",
    "bounded_sign",
    "max_abs_sign",
    "ternarize",
    "switch_variable",
]

#: Named threshold rules of :class:`Ternary`: Δ = factor · mean|w|.
THRESHOLD_MODES = {"absmean": 0.5, "twn": 0.7}

_GRANULARITIES = ("per_channel", "per_tensor")


def _check_clip_value(clip_value):
    if clip_value is not None and (not is_number(clip_value) or clip_value <= 0):
        raise ValueError(
            f"clip_value must be a positive number or None (no clipping), got "
            f"clip_value={clip_value!r}."
        )


def _check_threshold(threshold):
    named = isinstance(threshold, str) and threshold in THRESHOLD_MODES
    fixed = is_number(threshold) and threshold >= 0
    if not (named or fixed):
        raise ValueError(
            f"threshold must be one of {sorted(THRESHOLD_MODES)} or a non-negative "
            f"float, got threshold={threshold!r}."
        )


def _clipped_identity(x, dy, clip_value):
    if clip_value is None:
        return dy
    return tf.where(tf.abs(x) <= clip_value, dy, tf.zeros_like(dy))


def reduction_axes(rank: int, channel_axes=(-1,)) -> list[int]:
    """The axes of a rank-``rank`` kernel that are not ``channel_axes``: what a
    per-output-channel statistic reduces over."""
    keep = {axis % rank for axis in channel_axes}
    return [axis for axis in range(rank) if axis not in keep]


def mean_abs(w, channel_axes=(-1,), granularity="per_channel"):
    """mean|w| per output channel (over every axis but ``channel_axes``) or per tensor."""
    abs_w = tf.abs(w)
    if granularity == "per_tensor":
        return tf.reduce_mean(abs_w)
    return tf.reduce_mean(abs_w, axis=reduction_axes(w.shape.rank, channel_axes), keepdims=True)


def ternary_threshold(w, threshold="absmean", channel_axes=(-1,), granularity="per_channel"):
    """Δ for :func:`ternarize`: a fixed float, or ``factor · mean|w|``."""
    if not isinstance(threshold, str):
        return tf.constant(float(threshold), dtype=w.dtype)
    return THRESHOLD_MODES[threshold] * mean_abs(w, channel_axes, granularity)


def ternarize(
    w: tf.Tensor,
    threshold="absmean",
    clip_value: float | None = 1.0,
    channel_axes=(-1,),
    granularity: str = "per_channel",
    scale: bool = False,
) -> tf.Tensor:
    r"""Dual-binary ternarization t = (sign(w + Δ) + sign(w − Δ)) / 2 ∈ {−1, 0, +1}.

    Forward: ``t = sign(w)`` where ``|w| > Δ``, else 0 (Δ under ``stop_gradient``).
    Backward: straight-through, ``∂t/∂w = 1[|w| ≤ clip_value]`` (identity if None).
    With ``scale=True`` the result is multiplied by α = mean|w| (same granularity, no
    gradient through α): a parameter-free magnitude, exact to fold into a following
    multiplier.

    With ``threshold="absmean"`` (Δ = 0.5·mean|w|) this equals BitNet b1.58's
    ``RoundClip(w / mean|w|, −1, 1)``.
    """

    @tf.custom_gradient
    def _call(w):
        delta = tf.stop_gradient(
            ternary_threshold(w, threshold, channel_axes, granularity)
        )
        # (sign(w+Δ) + sign(w−Δ)) / 2, written as sign(sign + sign) like Larq's SteTern;
        # the outer sign maps {−2, −1, 0, 1, 2} sums onto {−1, 0, +1}.
        t = tf.sign(tf.sign(w + delta) + tf.sign(w - delta))
        if scale:
            t = t * tf.stop_gradient(mean_abs(w, channel_axes, granularity))

        def grad(dy):
            return _clipped_identity(w, dy, clip_value)

        return t, grad

    return _call(tf.convert_to_tensor(w))  # a variable read inside would need grad(variables=)


@register
class Ternary(lq.quantizers.Quantizer):
    r"""1.58-bit ("dual-binary") ternary weight quantizer, BD-Net's depth-wise kernel.

    \\[ t = \tfrac12\left(\mathrm{sign}(w+\Delta) + \mathrm{sign}(w-\Delta)\right) \in \{-1, 0, 1\} \\]

    so a ternary conv equals the mean of two binary (XNOR-popcount) convs. BD-Net's
    paper body was not available: the threshold rule is a reconstruction and all
    three readings are offered.

    # Arguments
        threshold: ``"absmean"`` (default, Δ = 0.5·mean|w|, BitNet b1.58's rounding),
            ``"twn"`` (Δ = 0.7·mean|w|, Ternary Weight Networks) or a non-negative
            float (fixed Δ, Larq's ``SteTern`` uses 0.05).
        clip_value: straight-through gradient passes where |w| ≤ clip_value; ``None``
            for an unclipped identity.
        granularity: ``"per_channel"`` (one Δ per output channel, default) or
            ``"per_tensor"``.
        channel_axes: the kernel axes that index an output channel: ``(-1,)`` for
            Conv2D/Dense kernels, ``(-2, -1)`` for depth-wise kernels.
        scale: multiply by α = mean|w| (per channel / per tensor like the threshold).
            Off by default: a following BatchNorm absorbs it exactly.

    # References
        - BD-Net, arXiv:2511.17633 (abstract: "1.58-bit convolution")
        - BitNet b1.58, arXiv:2402.17764 (absmean rounding)
        - Ternary Weight Networks, arXiv:1605.04711
    """

    precision = 2  # what lq.models.summary can express: a ternary value needs 2 bits
    bits = 1.58  # log2(3), what lq_ext.summary reports

    def __init__(
        self,
        threshold="absmean",
        clip_value: float | None = 1.0,
        granularity: str = "per_channel",
        channel_axes=(-1,),
        scale: bool = False,
        **kwargs,
    ):
        _check_threshold(threshold)
        _check_clip_value(clip_value)
        check_choice("granularity", granularity, _GRANULARITIES)
        self.threshold = threshold
        self.clip_value = clip_value
        self.granularity = granularity
        self.channel_axes = tuple(int(axis) for axis in channel_axes)
        self.scale = bool(scale)
        super().__init__(**kwargs)

    def call(self, inputs):
        return ternarize(
            inputs,
            self.threshold,
            self.clip_value,
            self.channel_axes,
            self.granularity,
            self.scale,
        )

    def get_config(self):
        return {
            **super().get_config(),
            "threshold": self.threshold,
            "clip_value": self.clip_value,
            "granularity": self.granularity,
            "channel_axes": list(self.channel_axes),
            "scale": self.scale,
        }


def scaled_sign(w, clip_value=1.0, channel_axes=(-1,)):
    """sign(w) · mean|w| per output channel, clipped straight-through gradient."""

    @tf.custom_gradient
    def _call(w):
        alpha = tf.stop_gradient(mean_abs(w, channel_axes))

        def grad(dy):
            return _clipped_identity(w, dy, clip_value)

        return lq.math.sign(w) * alpha, grad

    return _call(tf.convert_to_tensor(w))  # a variable read inside would need grad(variables=)


@register
class ScaledSign(lq.quantizers.Quantizer):
    r"""Binary weights with a per-output-channel magnitude α_c = mean|w_c|.

    \\[ q(w) = \alpha_c\,\mathrm{sign}(w), \quad \partial q / \partial w = 1[|w| \le
    \texttt{clip\_value}] \\]

    Like Larq's ``MagnitudeAwareSign`` (XNOR-Net / Bi-Real Net scaling) but with a
    configurable channel axis, so it also scales depth-wise kernels per channel. LCE
    accepts ±α_c kernels and folds α into ``LceBconv2d``'s multiplier.

    # References
        - XNOR-Net, arXiv:1603.05279; ReActNet's binarizer, arXiv:2003.03488
    """

    precision = 1
    bits = 1

    def __init__(self, clip_value: float | None = 1.0, channel_axes=(-1,), **kwargs):
        _check_clip_value(clip_value)
        self.clip_value = clip_value
        self.channel_axes = tuple(int(axis) for axis in channel_axes)
        super().__init__(**kwargs)

    def call(self, inputs):
        return scaled_sign(inputs, self.clip_value, self.channel_axes)

    def get_config(self):
        return {
            **super().get_config(),
            "clip_value": self.clip_value,
            "channel_axes": list(self.channel_axes),
        }


@register
class RSign(lq.quantizers.Quantizer):
    r"""Sign with a learnable per-channel threshold (ReActNet's RSign).

    \\[ q(x) = \mathrm{sign}(x - \beta_c), \quad
        \frac{\partial q}{\partial x} = 1[|x - \beta_c| \le \texttt{clip\_value}] \\]

    β (one value per channel, initialised to 0) learns through the same
    straight-through gradient.  The sign is ``larq.math.sign`` (+1 at 0), so LCE turns
    ``RSign`` followed by a binary conv into ``LceQuantize`` → ``LceBconv2d``.

    # Arguments
        clip_value: straight-through gradient clip; ``None`` for no clipping.

    # References
        - ReActNet, arXiv:2003.03488, Section 3.2
    """

    precision = 1
    bits = 1

    def __init__(self, clip_value: float | None = 1.0, **kwargs):
        _check_clip_value(clip_value)
        self.clip_value = clip_value
        super().__init__(**kwargs)

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is None:
            raise ValueError("RSign needs a known channel dimension (last axis).")
        self.threshold = self.add_weight(
            name="threshold", shape=(channels,), initializer="zeros", trainable=True
        )
        super().build(input_shape)

    def call(self, inputs):
        return lq.quantizers.ste_sign(inputs - self.threshold, clip_value=self.clip_value)

    def get_config(self):
        return {**super().get_config(), "clip_value": self.clip_value}


def _check_bound(name, value):
    if not is_number(value) or not value > 0:
        raise ValueError(f"{name} must be a positive number, got {name}={value!r}.")


def bounded_sign(x, bound=3.0):
    """``larq.math.sign(x)`` (+1 at 0) with a straight-through gradient where |x| < ``bound``."""

    @tf.custom_gradient
    def _call(x):
        def grad(dy):
            return tf.where(tf.abs(x) < bound, dy, tf.zeros_like(dy))

        return lq.math.sign(x), grad

    return _call(tf.convert_to_tensor(x))


@register
class BoundedSign(lq.quantizers.Quantizer):
    r"""Activation sign with clip bound B: PokeBNN's binary activation quantizer.

    \\[ q(x) = \mathrm{sign}(x), \quad \partial q/\partial x = 1[|x| < B] \\]

    PokeBNN's official code (AQT, ``fixed_bound = 3.0``, ``half_shift``) outputs
    ±B/2 and passes the gradient where |x| < B·(1 − 2⁻⁷) ≈ 2.977; here the output is
    ±1 — every PokeBNN binary conv is followed by BatchNorm, which absorbs the
    magnitude exactly — and the mask is |x| < B.  The forward pass is
    ``larq.math.sign``, so LCE turns it into ``LceQuantize``.  The abstract's
    "under-explored hyper-parameter controlling the binarization gradient
    approximation" is B; Larq's ``SteSign`` fixes it to 1.

    # Arguments
        bound: B > 0 (PokeBNN: 3.0).

    # References
        - PokeBNN, arXiv:2112.00133; google/aqt ``pokebnn_config.py``
    """

    precision = 1
    bits = 1

    def __init__(self, bound: float = 3.0, **kwargs):
        _check_bound("bound", bound)
        self.bound = float(bound)
        super().__init__(**kwargs)

    def call(self, inputs):
        return bounded_sign(inputs, self.bound)

    def get_config(self):
        return {**super().get_config(), "bound": self.bound}


def max_abs_sign(w, channel_axes=(-1,)):
    """sign(w) · max|w_c| / 2 per output channel, identity straight-through gradient."""

    @tf.custom_gradient
    def _call(w):
        axes = reduction_axes(w.shape.rank, channel_axes)
        scale = tf.stop_gradient(tf.reduce_max(tf.abs(w), axis=axes, keepdims=True)) / 2

        def grad(dy):
            return dy

        return lq.math.sign(w) * scale, grad

    return _call(tf.convert_to_tensor(w))  # a variable read inside would need grad(variables=)


def switch_variable(layer, name: str, on: bool):
    """A quantizer's non-trainable scalar switch (1.0: quantized kernels), created with
    ``layer.add_weight``; a callback sets it without retracing (:mod:`lq_ext.weight_phases`)."""
    return layer.add_weight(
        name=name, shape=(), initializer=tf.keras.initializers.Constant(float(on)), trainable=False
    )


@register
class MaxAbsSign(lq.quantizers.Quantizer):
    r"""Binary weights ±max|w_c|/2 per output channel with an identity gradient (PokeBNN).

    \\[ q(w) = \mathrm{sign}(w)\,\tfrac12\max_{k}|w_{c,k}|, \quad \partial q/\partial w = 1 \\]

    This is AQT's 1-bit weight quantizer with ``half_shift``: never clipped (|w| ≤
    max|w| by construction), the scale under ``stop_gradient``.  LCE accepts per-channel
    ±α kernels and folds α into ``LceBconv2d``.

    PokeBNN trains the first 50 epochs with real-valued kernels.  ``binarized`` is a
    non-trainable scalar variable: while it is 0 the quantizer passes ``w`` through
    unchanged (identity gradient either way).  :class:`lq_ext.callbacks.WeightBinarization`
    sets it from a given epoch; ``binarized=True`` (the default) is the inference state,
    the only one LCE can turn into ``LceBconv2d``.

    # Arguments
        binarized: initial state of the switch.
        channel_axes: the kernel axes that index an output channel (``(-1,)`` for Conv2D).
    """

    precision = 1
    bits = 1

    def __init__(self, binarized: bool = True, channel_axes=(-1,), **kwargs):
        self.binarized = check_bool("binarized", binarized)
        self.channel_axes = tuple(int(axis) for axis in channel_axes)
        super().__init__(**kwargs)

    def build(self, input_shape):
        self.switch = switch_variable(self, "binarized", self.binarized)
        super().build(input_shape)

    def call(self, inputs):
        # Both branches pass the gradient through unchanged (max_abs_sign's is the
        # identity), so the switch does not change the backward pass.
        return tf.where(self.switch > 0.5, max_abs_sign(inputs, self.channel_axes), inputs)

    def get_config(self):
        return {
            **super().get_config(),
            "binarized": self.binarized,
            "channel_axes": list(self.channel_axes),
        }
