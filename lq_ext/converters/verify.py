"""The verification step of :func:`lq_ext.converters.convert`: run the flatbuffer and Keras
on real images and refuse a conversion whose outputs differ beyond the tolerances.

:mod:`lq_ext.converters.parity` is the comparison engine (the metrics and the report);
this module chooses the images, holds the default tolerances with the measurements
behind them, and phrases the error.  Derivations and tables: docs/guides/parity.md.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import tensorflow as tf

from lq_ext.converters import parity
from lq_ext.converters.parity import ParityError, ParityReport
from lq_ext.converters.rewrite import all_layers
from lq_ext.data import load_samples, preprocess
from lq_ext.data.samples import AUTO_IMAGENET_ABOVE_PX

__all__ = [
    "DEFAULT_ATOL",
    "DEFAULT_MAX_OUTLIER_FRACTION",
    "DEFAULT_MAX_OUTLIER_FRACTION_INT8",
    "DEFAULT_MIN_TOP1_AGREEMENT",
    "DEFAULT_MIN_TOP1_AGREEMENT_INT8",
    "DEFAULT_RTOL",
    "FLOAT_TOLERANCES",
    "Tolerances",
    "check_parity",
    "int8_agreement",
    "parity_inputs",
]

# The measurements behind the defaults (TF 2.16.2, LCE 0.16.0, x86-64, optimized kernel;
# per-sample relative error e_i = max|tflite − keras| / max|keras|, lq_ext.converters.parity):
#
# * Small binary models, 32×32, the 20 real CIFAR-10 images: 50 models (5 structures:
#   residual bconvs, chained bconvs with bit-packed outputs, 1.58-bit depth-wise +
#   1×1 bconv, RSign grouped bconv, QuickNet-style conv→ReLU→BN; random weights,
#   random non-trivial BN statistics): max e_i 4.7e-6 (logits 1.5e-6), top-1 100 %.
#   The standard TFLite converter on float models: ~1e-6.
# * Sign flips. A binarizer input within float round-off of its threshold can take the
#   other sign in TFLite (BN folded into multiplier/bias, fused thresholds, other
#   summation order), and a deep BNN amplifies that one bit. QuickNetSmall / QuickNet /
#   QuickNetLarge at 224×224 (random weights and BN statistics, 2 seeds each, the 20
#   ImageNet samples): unflipped samples ≤ 4e-5 (softmax outputs; logits ≤ 3e-6),
#   flipped ones 1e-3 .. 0.13 in up to 4 of 20 samples (logits 5e-4 .. 4.6e-2, up to
#   14 of 20 for QuickNetLarge), top-1 always 100 %. Keras does the same to itself:
#   scaling QuickNetSmall's BN variances by (1 + 1e-6·N(0, 1)) moves one sample by
#   6e-3 / 3.8e-2. With default BN statistics (mean 0, variance 1) exact ties occur:
#   flips up to 1.8e-4 in small bconv nets, and after a ternary depth-wise conv
#   (integer outputs, exactly 0 often) e_max 0.3 .. 0.7 with top-1 70-90 %.
# * Deliberate bugs on a small residual BNN (5 seeds): pad_values 0 instead of 1 gives
#   e_i of 1e-5 .. 0.43, in most samples; the last BN's mean +10 % gives 1e-6 .. 4e-2.
#
# Hence: DEFAULT_RTOL = 1e-3 per sample (25× above the worst unflipped sample, 200×
# above round-off in small nets); DEFAULT_MIN_TOP1_AGREEMENT = 0.9
# (flips never changed a class; the padding bug changed 15-20 % in 2 of 5 seeds).
# They catch every error of order 1 (another model's weights: e_i ~ 1) and each of
# the two deliberate bugs in 3 of 5 seeds, but no check on 20 images can tell a 1e-3
# conversion error from a sign flip in a deep BNN. Tighten rtol for float or shallow
# models (1e-5 works); compare softmax outputs rather than raw logits of deep BNNs.
# No sample may exceed rtol (DEFAULT_MAX_OUTLIER_FRACTION = 0): a failed whole-output check
# goes to the per-layer diagnosis (functional models), which tells flips from bugs; every
# verified zoo model passes through it at 32 px (docs/guides/parity.md, "Allowances"). It
# was 0.25 (5 of 20 samples, QuickNet's worst flips: 4) before the diagnosis existed.
#
# int8 mode: the flatbuffer is compared with its int8 Keras clone, which TFLite's
# integer kernels do not reproduce bit for bit: they round some values one int8 step away
# from the fake-quant clone (0.1-1 % of the values per layer, where the clone's value lies
# next to the midpoint between two grid values), and binarizers turn such steps into sign
# flips that grow through a deep BNN (BDNetMobileNet 32 px, random weights: 12 of 20
# samples beyond rtol, top-1 60 %). The defaults are float mode's (no sample beyond rtol,
# top-1 ≥ 0.9), plus atol two output steps: a failed whole-output check goes to the
# per-layer diagnosis against the clone, which allows one step exactly where the clone
# could round either way (BDNetMobileNet: 183 segments, 0 mismatches). They were
# max_outlier_fraction 1.0 and top-1 ≥ 0.5 (measured top-1 agreement with the clone: 85-95 %
# for five trained Fashion-MNIST BD-Nets, 45 % for a trained naive baseline, 60-100 % with
# random weights, chance level (10 %) with another model's weights) before the clone
# computed what TFLite computes at average pools, PReLU slopes and symmetric ranges
# (docs/guides/parity.md, "Per-layer diagnosis in int8 mode").
DEFAULT_RTOL = 1e-3
DEFAULT_MAX_OUTLIER_FRACTION = 0.0
DEFAULT_MIN_TOP1_AGREEMENT = 0.9
DEFAULT_ATOL = 0.0
DEFAULT_MAX_OUTLIER_FRACTION_INT8 = DEFAULT_MAX_OUTLIER_FRACTION
DEFAULT_MIN_TOP1_AGREEMENT_INT8 = DEFAULT_MIN_TOP1_AGREEMENT


@dataclass(frozen=True)
class Tolerances:
    """The bounds of the parity check (see :func:`lq_ext.converters.parity.compare_outputs`)."""

    rtol: float
    max_outlier_fraction: float
    min_top1_agreement: float
    atol: float

    def overridden(self, **given) -> Tolerances:
        """These tolerances with every value the caller gave (not None) in place."""
        return replace(self, **{name: value for name, value in given.items() if value is not None})


#: The defaults of a float (``int8=False``) conversion.
FLOAT_TOLERANCES = Tolerances(
    rtol=DEFAULT_RTOL,
    max_outlier_fraction=DEFAULT_MAX_OUTLIER_FRACTION,
    min_top1_agreement=DEFAULT_MIN_TOP1_AGREEMENT,
    atol=DEFAULT_ATOL,
)


def parity_inputs(model, samples) -> tuple[np.ndarray, str]:
    """The arrays to compare on, and a description of where they came from."""
    if len(model.inputs) != 1:
        raise ValueError(
            f"verify=True needs a single-input model, this one has {len(model.inputs)} "
            f"inputs; pass verify=False."
        )
    input_shape = tuple(model.inputs[0].shape[1:])
    if samples is None:
        if len(input_shape) != 3 or input_shape[-1] not in (1, 3):
            raise ValueError(
                f"The built-in sample images fit (height, width, 1 or 3) inputs, the model "
                f"takes {input_shape}; pass samples=<array of shape (n, *{input_shape})> "
                f"or verify=False."
            )
        images, _ = load_samples("auto", input_shape=input_shape)
        dataset = "imagenet" if max(input_shape[:2]) > AUTO_IMAGENET_ABOVE_PX else "cifar10"
        size = "x".join(map(str, input_shape))
        return preprocess(images), f"real {dataset} images at {size}, [-1, 1]"
    array = np.asarray(samples, dtype=np.float32)
    if array.ndim != len(input_shape) + 1 or tuple(array.shape[1:]) != input_shape or len(array) == 0:
        raise ValueError(
            f"samples must be a non-empty array of shape (n, {', '.join(map(str, input_shape))}) "
            f"matching the model input, got shape {array.shape}."
        )
    return array, "user samples"


def untrained_batchnorm(model) -> list[str]:
    """BatchNormalization layers still at their initial moving statistics (0, 1)."""
    names = []
    for layer in all_layers(model):
        if isinstance(layer, tf.keras.layers.BatchNormalization):
            mean, variance = layer.moving_mean.numpy(), layer.moving_variance.numpy()
            if not mean.any() and np.all(variance == 1.0):
                names.append(layer.name)
    return names


def parity_hint(model) -> str:
    """Why parity may fail on an untrained model ("" when nothing points to it)."""
    names = untrained_batchnorm(model)
    if not names:
        return ""
    return (
        f"\nHint: {len(names)} BatchNormalization layer(s) still have their initial moving "
        f"statistics (mean 0, variance 1): {', '.join(names[:4])}{' ...' if len(names) > 4 else ''}. "
        "With them, integer-valued outputs of binary layers (e.g. a ternary depth-wise "
        "conv) that are exactly 0 reach the next binarizer as exactly 0 in Keras (sign +1) "
        "but as tiny non-zero values in TFLite, where BN is folded into the conv weights, "
        "so signs flip. Check parity on a trained model, or set non-trivial BN statistics "
        "first."
    )


def check_parity(
    model, reference, flatbuffer: bytes, inputs, samples: str, tolerances: Tolerances, *, kernel: str, engine: str, path: str
) -> ParityReport:
    """Compare ``flatbuffer`` with ``reference`` (``model`` itself, or what was converted
    in its place: the int8 clone); raise :class:`ParityError` when they differ, with a
    hint drawn from ``model``."""
    report = parity.run_parity(
        reference,
        flatbuffer,
        inputs,
        rtol=tolerances.rtol,
        min_top1_agreement=tolerances.min_top1_agreement,
        max_outlier_fraction=tolerances.max_outlier_fraction,
        samples=samples,
        kernel=kernel,
        atol=tolerances.atol,
    )
    if not report.passed:
        raise ParityError(
            report,
            f"The converted model ({engine}) does not match Keras; nothing was written "
            f"to {path!r}. The flatbuffer is on this error's .flatbuffer attribute; "
            f"convert(..., verify=False) writes it anyway." + parity_hint(model),
            flatbuffer=flatbuffer,
        )
    return report


def int8_agreement(model, flatbuffer: bytes, inputs, samples: str, *, rtol: float, kernel: str) -> ParityReport:
    """What int8 costs: the flatbuffer against the float ``model``, measured, never failed."""
    return parity.compare_outputs(
        model.predict(inputs, verbose=0),
        parity.run_interpreter(flatbuffer, inputs, kernel=kernel),
        rtol=rtol,
        min_top1_agreement=0.0,
        max_outlier_fraction=1.0,
        samples=samples,
        kernel=kernel,
    )
