"""Pre-conversion fold: a binary conv whose kernel quantizer computes ±α·sign(W) in the
graph becomes a ±1 conv (``ste_sign`` on the constant sign(W)) and a per-channel scale.

LCE bit-packs a conv only when its kernel is a constant ±α tensor after TensorFlow's
constant folding; TensorFlow does not fold large tensors, so a big kernel whose
quantizer (Larq's ``MagnitudeAwareSign``, larq-zoo's ``xnor_weight_scale``, lq_ext's
``ScaledSign`` / ``MaxAbsSign``, ...) computes the scale in the graph runs as a float
``CONV_2D`` (larq-zoo's XNORNet at 224 px: a 37.7 M-MAC 6×6 conv). The quantizer is
recognised by its *values*, not its class: it is evaluated on the kernel, and folded when
the result is ±α_c in every output channel c (α_c ≥ 0; a channel of zeros has α_c = 0).
:class:`lq_ext.layers.ChannelScale` carries α (and the conv's bias); LCE fuses it into
``LceBconv2d``'s output multiplier.

For the stock TFLite converter, which has no binary ops, :func:`fold_kernel_quantizers`
folds any kernel quantizer into the constant kernel it computes. Guide:
docs/guides/conversion.md
"""

from __future__ import annotations

import larq as lq
import numpy as np
import tensorflow as tf

from lq_ext.graph import all_layers, apply, rebuild
from lq_ext.layers.scale import ChannelScale
from lq_ext.lce_rules import is_binary_quantizer

__all__ = [
    "AUTO_MIN_KERNEL_BYTES", "FOLD_MODES", "FOLD_RTOL", "fold_kernel_quantizers", "fold_weight_quantizers",
    "foldable_layers", "sign_and_scale",
]

#: How far |q(W)| may stray from α_c inside one output channel (float round-off only).
FOLD_RTOL = 1e-6

#: ``convert(fold_weights=...)``: ``"auto"`` folds only where LCE would not bit-pack the
#: conv otherwise (:data:`AUTO_MIN_KERNEL_BYTES`, or a channel of zeros); True folds
#: every foldable conv; False none.
FOLD_MODES = ("auto", True, False)

#: ``"auto"`` folds kernels of at least this many float32 bytes. Measured with LCE 0.16
#: (one ``ScaledSign`` 1×1 conv, no fold): TensorFlow folds the quantizer of a 96 MiB
#: kernel (bit-packed) but not of a 128 MiB one (float ``CONV_2D``); half the smaller
#: size leaves a margin. Below it the fold changes nothing in the file (measured on four
#: zoo models) and only costs a graph rebuild (16–50 s for a deep zoo model).
AUTO_MIN_KERNEL_BYTES = 64 * 2**20

#: The ±1 kernel quantizer of a folded conv; LCE bit-packs it as it is.
_SIGN = "ste_sign"


def _latent_kernel(layer) -> np.ndarray:
    kernel = layer.kernel
    return np.asarray(getattr(kernel, "latent_variable", kernel).numpy())


def sign_and_scale(layer) -> tuple[np.ndarray, np.ndarray] | None:
    """``(S, α)`` with ``q(W) = α · S`` (S = ±1, α ≥ 0 per output channel, last axis) for
    a ``QuantConv2D``'s quantized kernel ``q(W)``; None if ``q(W)`` is not of that form,
    or if α is 1 everywhere (a ±1 kernel, nothing to fold).

    S takes the sign of ``q(W)`` (+1 where it is 0, in a channel with α_c = 0), so a
    negative scale (``−α·sign(W)``) folds as well.
    """
    quantizer = layer.kernel_quantizer
    if quantizer is None:
        return None
    quantized = np.asarray(quantizer(tf.constant(_latent_kernel(layer))), dtype=np.float32)
    magnitude = np.abs(quantized).reshape(-1, quantized.shape[-1])
    alpha = magnitude.max(axis=0)
    if not np.all(np.abs(magnitude - alpha) <= FOLD_RTOL * alpha) or np.all(alpha == 1.0):
        return None
    return np.where(quantized < 0, -1.0, 1.0).astype(np.float32), alpha.astype(np.float32)


def _is_binary_conv(layer) -> bool:
    # Exactly QuantConv2D: a subclass may change what its output channels are (ES tiling).
    # The kernel quantizer's declared precision is not asked: its values decide.
    return type(layer) is lq.layers.QuantConv2D and is_binary_quantizer(layer.input_quantizer)


def foldable_layers(model) -> list:
    """The ``QuantConv2D`` layers of ``model`` (nested models included) with a 1-bit input
    quantizer whose kernel quantizer gives ±α_c·sign with α not all 1
    (:func:`sign_and_scale`), whatever precision the quantizer declares."""
    return [layer for layer in all_layers(model) if _is_binary_conv(layer) and sign_and_scale(layer) is not None]


def _folded_call(call, sign, alpha):
    """The outputs of ``call.layer`` rebuilt as a ±1 conv → ChannelScale (→ activation)."""
    layer = call.layer
    config = dict(layer.get_config(), kernel_quantizer=_SIGN, use_bias=False, activation="linear")
    skipped = {id(layer.kernel)} | {id(w) for w in getattr(layer.kernel_quantizer, "weights", [])}
    if layer.use_bias:
        skipped.add(id(layer.bias))
    others = [w.numpy() for w in layer.weights if id(w) not in skipped]  # e.g. RSign thresholds
    conv = type(layer).from_config(config)
    outputs = conv(*call.args, **call.kwargs)
    conv.set_weights([sign, *others])
    scale = ChannelScale(use_bias=layer.use_bias, name=f"{layer.name}_scale")
    outputs = apply(scale, outputs, [alpha, layer.bias.numpy()] if layer.use_bias else [alpha])
    activation = tf.keras.activations.serialize(layer.activation)
    if activation != "linear":
        outputs = tf.keras.layers.Activation(layer.activation, name=f"{layer.name}_activation")(outputs)
    return outputs


def _needed(layer, alpha) -> bool:
    """True if LCE would not bit-pack ``layer`` unfolded: a kernel TensorFlow does not
    constant-fold (:data:`AUTO_MIN_KERNEL_BYTES`), or a channel with α = 0 (LCE takes a
    kernel as binary only if every channel's scale is non-zero)."""
    return 4 * int(np.prod(layer.kernel.shape)) >= AUTO_MIN_KERNEL_BYTES or bool(np.any(alpha == 0))


def fold_weight_quantizers(model, *, only_needed: bool = False) -> tuple[tf.keras.Model, tuple[str, ...]]:
    """A clone of ``model`` in which every foldable binary conv (:func:`foldable_layers`)
    is a ±1 ``QuantConv2D`` (same name and input quantizer, ``kernel_quantizer="ste_sign"``
    on the constant kernel sign(q(W)), no bias, no activation) followed by a
    :class:`~lq_ext.layers.ChannelScale` ``<name>_scale`` (α, and the conv's bias) and,
    if the conv had one, its activation as ``<name>_activation``. Outputs equal the
    original's to float round-off; ``model`` itself is never modified. With
    ``only_needed=True`` (``convert(fold_weights="auto")``) only the convs LCE would
    otherwise run in float are folded (:data:`AUTO_MIN_KERNEL_BYTES`, zero channels).

    # Returns
        ``(model, ())`` — the same object — when nothing is foldable, else
        ``(clone, names of the folded layers)``.

    # Raises
        Whatever :func:`lq_ext.graph.rebuild` raises (subclassed models, shared layers).
    """
    targets = {}
    for layer in all_layers(model):
        if _is_binary_conv(layer):
            folded = sign_and_scale(layer)
            if folded is not None and (not only_needed or _needed(layer, folded[1])):
                targets[id(layer)] = folded
    return _rebuilt(model, targets, _folded_call)


def _rebuilt(model, targets, make_call):
    """``(model, ())`` when ``targets`` ({id(layer): arguments}) is empty, else the clone of
    ``model`` in which ``make_call(call, *arguments)`` rebuilds each targeted layer's call,
    and the names of those layers."""
    if not targets:
        return model, ()

    def rule(call):
        arguments = targets.get(id(call.layer))
        return None if arguments is None else make_call(call, *arguments)

    return rebuild(model, rule), tuple(layer.name for layer in all_layers(model) if id(layer) in targets)


#: (kernel attribute, its quantizer's attribute and config key) of the layers
#: :func:`fold_kernel_quantizers` folds: larq's quantized convs and dense layers.
_KERNELS = (("kernel", "kernel_quantizer"), ("depthwise_kernel", "depthwise_quantizer"))


def _quantized_kernel(layer):
    """``(kernel attribute, quantizer attribute)`` of a layer with a constant kernel and a
    kernel quantizer, else None."""
    for kernel, quantizer in _KERNELS:
        if getattr(layer, quantizer, None) is not None and getattr(layer, kernel, None) is not None:
            return kernel, quantizer
    return None


def _constant_kernel_call(call, kernel, quantizer):
    """The outputs of ``call.layer`` rebuilt with the constant q(W) and no kernel quantizer."""
    layer = call.layer
    variable = getattr(layer, kernel)
    latent = getattr(variable, "latent_variable", variable)
    values = np.asarray(getattr(layer, quantizer)(tf.convert_to_tensor(latent)), np.float32)
    skipped = {id(w) for w in getattr(getattr(layer, quantizer), "weights", [])}
    weights = [values if w is latent or w is variable else w.numpy() for w in layer.weights if id(w) not in skipped]
    clone = type(layer).from_config(dict(layer.get_config(), **{quantizer: None}))
    outputs = clone(*call.args, **call.kwargs)
    clone.set_weights(weights)
    return outputs


def fold_kernel_quantizers(model, *, only_needed: bool = False) -> tuple[tf.keras.Model, tuple[str, ...]]:
    """A clone of ``model`` in which every layer with a kernel quantizer (larq's
    ``QuantConv2D``, ``QuantDense``, ``QuantDepthwiseConv2D``, ...) holds the quantized kernel
    q(W) as its constant kernel and has no kernel quantizer: what the stock TFLite converter
    (``convert(engine="tflite")``) is given. TensorFlow does not constant-fold a large
    kernel's quantizer, and TFLite then computes it at every inference, in float32: larq-zoo
    DoReFaNet's 9216 × 4096 dense kernel, whose scale is the mean |W| of its 37.7 M weights,
    gets a scale 9.9 % low from TFLite's ``MEAN`` (0.3594 against 0.3989). With
    ``only_needed=True`` (``fold_weights="auto"``) only kernels of at least
    :data:`AUTO_MIN_KERNEL_BYTES` are folded. Returns ``(model, ())`` when nothing is
    folded, else ``(clone, names of the folded layers)``; ``model`` is never modified."""
    targets = {}
    for layer in all_layers(model):
        found = _quantized_kernel(layer)
        if found and (not only_needed or 4 * int(np.prod(getattr(layer, found[0]).shape)) >= AUTO_MIN_KERNEL_BYTES):
            targets[id(layer)] = found
    return _rebuilt(model, targets, _constant_kernel_call)
