"""Full-int8 mode: a clone of a BNN in which everything that is not binary runs in int8.

LCE runs a Larq model's binary convs bit-packed and the rest in float; it has no
post-training calibration, only fake-quant ops in the Keras graph (as in
quantization-aware training).  :func:`int8_model` writes those ops into a clone of the
model — BatchNorms folded into float convs, 8-bit kernels, multi-op layers lowered to
single ops (:mod:`~lq_ext.converters.int8.lowerings`), an
:class:`~lq_ext.converters.int8.layers.Int8Range` after every tensor, calibrated on real
images — so ``lq_ext.converters.convert(model, int8=True)`` emits a flatbuffer whose
non-binary parts are int8 too.  Fine-tuning: :mod:`lq_ext.converters.int8.tuning`.

Modules: ``layers`` (the Keras layers added), ``kinds`` (layer-kind predicates),
``lowerings`` (the registry and the BatchNorm arithmetic), ``rule`` (the rule of the
rebuild, :func:`lq_ext.graph.rebuild`), ``calibrate``, ``tuning``.

Guide (what the clone changes, why, and what it costs): docs/guides/int8.md
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from lq_ext._validate import check_int, check_number
from lq_ext.converters.int8.calibrate import DEFAULT_PERCENTILE, INPUT_RANGE_MARGIN, calibrate_ranges
from lq_ext.converters.int8.kinds import UNIT_RANGE, is_binary_mac_layer, softmax_output
from lq_ext.converters.int8.layers import Int8Range, PerTensorInt8Grid, PerTensorInt8Weights
from lq_ext.converters.int8.lowerings import LOWERINGS, Lowering, batchnorm_as_depthwise
from lq_ext.converters.int8.rule import Int8Rule
from lq_ext.graph import graph_of, rebuild

__all__ = [
    "DEFAULT_PERCENTILE",
    "INPUT_RANGE_MARGIN",
    "LOWERINGS",
    "UNIT_RANGE",
    "Int8Plan",
    "Int8Range",
    "Lowering",
    "PerTensorInt8Grid",
    "PerTensorInt8Weights",
    "batchnorm_as_depthwise",
    "int8_model",
    "softmax_output",
]


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
    ranges: dict[str, tuple[float, float]]
    calibration_images: int
    output_step: float = 0.0
    fine_tuned: str = ""


def _check_model(model):
    """``model`` as a functional model int8 mode can rebuild (no nested models: each
    tensor's range is calibrated as an output of the outer model)."""
    functional = graph_of(model)
    for layer in functional.layers:
        if isinstance(layer, tf.keras.Model):
            raise ValueError(
                f"int8 mode does not rebuild nested models; layer {layer.name!r} of "
                f"{model.name!r} is a {type(layer).__name__}. Flatten it into the outer model."
            )
    return functional


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
        if is_binary_mac_layer(layer)
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
    functional = _check_model(model)
    _check_padding(functional)
    images = _check_images(images, functional)
    check_int("batch_size", batch_size, low=1)
    check_number("percentile", percentile, low=50, high=100, low_inclusive=False)
    name = f"{functional.name}_int8"
    first = Int8Rule(functional)  # no ranges yet: it collects the tensors that need one
    structural = rebuild(functional, first, name=name)
    input_names = [layer.name for layer in functional.layers if isinstance(layer, tf.keras.layers.InputLayer)]
    ranges = calibrate_ranges(structural, first.probes, images, batch_size, input_names, percentile)
    second = Int8Rule(functional, ranges)
    clone = rebuild(functional, second, name=name)
    output_ranges = [second.range_of.get(id(t), (0.0, 0.0)) for t in clone.outputs]
    plan = Int8Plan(
        folded=tuple(second.folded),
        quantized_kernels=tuple(second.quantized),
        lowered=tuple(second.lowered),
        ranges=second.used,
        calibration_images=len(images),
        output_step=max((high - low) / 255.0 for low, high in output_ranges),
    )
    return clone, plan
