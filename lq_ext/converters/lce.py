"""Convert a Keras model to a TFLite flatbuffer, write it safely, verify it on real images.

:func:`convert` validates every argument *before* calling the converter (LCE conversion
takes seconds and its errors are C++ log lines), converts with Larq Compute Engine
(``engine="lce"``) or the standard TFLite converter (``engine="tflite"``, for float
reference models), reports the ops of the result (:func:`lq_ext.converters.inspect`),
checks its outputs against Keras on real sample images and only then writes the file,
atomically and never over an existing file unless ``overwrite=True``.

Before an LCE conversion, binary ``QuantDense`` layers (which LCE 0.16 runs as float
``FULLY_CONNECTED``) are replaced in a clone of the model by the equivalent
:class:`lq_ext.layers.BinaryDense`, which LCE runs as a bit-packed 1×1 ``LceBconv2d``
(``binary_dense="bconv"``, :mod:`lq_ext.converters.rewrite`); the parity check compares
the flatbuffer with the model as given.

With ``int8=True`` (LCE engine) the model is first rewritten into a clone whose
non-binary parts carry calibrated int8 fake-quant ops (:mod:`lq_ext.converters.int8`);
the parity check then compares the flatbuffer with that clone (the conversion must be
exact up to an int8 step), and :attr:`ConversionResult.int8_agreement` compares it with
the float model (what int8 costs).  ``fine_tune=`` trains that clone before it is
converted (quantization-aware fine-tuning, :mod:`lq_ext.converters.int8_tuning`).
"""

from __future__ import annotations

import dataclasses
import os
import secrets
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from lq_ext.converters.inspect import OpReport, inspect
from lq_ext.converters.parity import (
    ParityError,
    ParityReport,
    compare_outputs,
    run_interpreter,
    run_parity,
)
from lq_ext.converters.rewrite import BINARY_DENSE_MODES, binary_dense_as_bconv
from lq_ext.converters.rewrite import all_layers as _layers
from lq_ext.lce_rules import grouped_bconv_error, is_binary_quantizer, valid_groups

__all__ = [
    "BINARY_DENSE_MODES",
    "ConversionResult",
    "DEFAULT_MAX_OUTLIER_FRACTION",
    "DEFAULT_MIN_TOP1_AGREEMENT",
    "DEFAULT_MIN_TOP1_AGREEMENT_INT8",
    "DEFAULT_RTOL",
    "ENGINES",
    "TARGETS",
    "convert",
]

ENGINES = ("lce", "tflite")
TARGETS = ("arm", "xcore")

# Default tolerances, from measurements on this stack (TF 2.16.2, LCE 0.16.0, x86-64,
# optimized kernel; per-sample relative error e_i = max|tflite − keras| / max|keras|,
# see lq_ext.converters.parity):
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
# above round-off in small nets); DEFAULT_MAX_OUTLIER_FRACTION = 0.25 lets up to 5 of
# the 20 samples carry a flip (QuickNet's worst: 4); DEFAULT_MIN_TOP1_AGREEMENT = 0.9
# With int8=True the flatbuffer is compared with its int8 Keras clone, which TFLite's
# integer kernels do not reproduce bit for bit (one int8 step in ~0.1 % of values per
# layer); a deep BNN turns those steps into sign flips. Measured top-1 agreement with
# the clone on 20 test images: 85-95 % for five trained Fashion-MNIST BD-Nets, 45 % for
# a trained naive baseline, 60-100 % with random weights; another model's weights give
# chance level (10 %). 0.5 catches a broken conversion, not rounding.
DEFAULT_MIN_TOP1_AGREEMENT_INT8 = 0.5
# (flips never changed a class; the padding bug changed 15-20 % in 2 of 5 seeds).
# They catch every error of order 1 (another model's weights: e_i ~ 1) and each of
# the two deliberate bugs in 3 of 5 seeds, but no check on 20 images can tell a 1e-3
# conversion error from a sign flip in a deep BNN. Tighten rtol for float or shallow
# models (1e-5 works); compare softmax outputs rather than raw logits of deep BNNs.
DEFAULT_RTOL = 1e-3
DEFAULT_MAX_OUTLIER_FRACTION = 0.25
DEFAULT_MIN_TOP1_AGREEMENT = 0.9
# With int8=True the flatbuffer is compared with its int8 Keras clone, which TFLite's
# integer kernels do not reproduce bit for bit (one int8 step in ~0.1 % of values per
# layer); a deep BNN turns those steps into sign flips. Measured top-1 agreement with
# the clone on 20 test images: 85-95 % for five trained Fashion-MNIST BD-Nets, 45 % for
# a trained naive baseline, 60-100 % with random weights; another model's weights give
# chance level (10 %). 0.5 catches a broken conversion, not rounding.
DEFAULT_MIN_TOP1_AGREEMENT_INT8 = 0.5


@dataclass(frozen=True)
class ConversionResult:
    """What :func:`convert` wrote and what it found.

    # Attributes
        path: the written ``.tflite`` file.
        size_bytes: its size.
        ops: the :class:`~lq_ext.converters.OpReport` of the flatbuffer.
        parity: the :class:`~lq_ext.converters.ParityReport` (``None`` if
            ``verify=False``).
        engine, target: the conversion settings.
        bconv_dense_layers: names of the binary ``QuantDense`` layers converted as
            1×1 ``LceBconv2d`` (``binary_dense="bconv"``); empty if none.
    """

    path: str
    size_bytes: int
    ops: OpReport
    parity: ParityReport | None
    engine: str
    target: str
    bconv_dense_layers: tuple[str, ...] = ()
    int8_plan: object = None  # lq_ext.converters.int8.Int8Plan, with int8=True
    int8_agreement: ParityReport | None = None

    def __str__(self) -> str:
        head = f"Converted with {self.engine}"
        if self.engine == "lce":
            head += f" (target={self.target})"
        head += f" -> {self.path} ({self.size_bytes:,} bytes)"
        if self.bconv_dense_layers:
            head += (
                f"\nBinary QuantDense run as 1x1 LceBconv2d (lq_ext.layers.BinaryDense): "
                f"{', '.join(self.bconv_dense_layers)}"
            )
        if self.int8_plan is not None:
            plan = self.int8_plan
            head += (
                f"\nint8 mode: {len(plan.ranges)} calibrated ranges ({plan.calibration_images} "
                f"images), {len(plan.folded)} BatchNorm(s) folded, {len(plan.lowered)} layer(s) "
                f"lowered, {len(plan.quantized_kernels)} float kernel(s) in int8"
            )
            if plan.fine_tuned:
                head += f", fine-tuned by {plan.fine_tuned}"
        parity = str(self.parity) if self.parity is not None else "Parity: not checked (verify=False)"
        if self.parity is not None and self.int8_plan is not None:
            parity = "Against the int8 Keras clone (conversion check):\n" + parity
        lines = [head, self.ops.format(), parity]
        if self.int8_agreement is not None:
            a = self.int8_agreement
            lines.append(
                f"int8 vs the float model on {a.n_samples} {a.samples}: top-1 agreement "
                f"{100 * a.top1_agreement:.1f} %, max |difference| {a.max_abs_error:.3g}"
                if a.top1_agreement is not None
                else f"int8 vs the float model on {a.n_samples} {a.samples}: max |difference| "
                f"{a.max_abs_error:.3g} (max relative {a.max_rel_error:.3g})"
            )
        return "\n".join(lines)


# --------------------------------------------------------------------------- validation
def _check_choice(name, value, allowed):
    if not isinstance(value, str) or value not in allowed:
        raise ValueError(f"{name}={value!r} is not supported; expected one of {list(allowed)}.")


def _check_model(model):
    if not isinstance(model, tf.keras.Model):
        hint = ""
        module = type(model).__module__
        if module.startswith("keras") and not module.startswith("keras._tf_keras"):
            hint = (
                " It is a Keras 3 model: build it with tf.keras (legacy Keras 2) after "
                "`import lq_ext`, never `import keras`."
            )
        raise TypeError(
            f"model must be a tf.keras.Model (legacy Keras 2 / tf-keras), got "
            f"{type(model).__module__}.{type(model).__name__}.{hint}"
        )


def _check_path(path, overwrite) -> str:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, got path={path!r}.")
    if not isinstance(overwrite, bool):
        raise TypeError(f"overwrite must be True or False, got overwrite={overwrite!r}.")
    path = os.path.abspath(os.fspath(path))
    directory = os.path.dirname(path)
    if not os.path.isdir(directory):
        raise FileNotFoundError(
            f"path={path!r}: the directory {directory!r} does not exist; create it first "
            f"(convert() does not create directories)."
        )
    if os.path.isdir(path):
        raise IsADirectoryError(f"path={path!r} is a directory; give a file name such as 'model.tflite'.")
    if os.path.exists(path) and not overwrite:
        raise FileExistsError(
            f"path={path!r} already exists; pass overwrite=True to replace it "
            f"(convert() never replaces a file silently)."
        )
    return path


def _check_precision(model):
    offenders = [
        f"{layer.name} ({layer.dtype_policy.name})"
        for layer in [model, *_layers(model)]
        if getattr(getattr(layer, "dtype_policy", None), "name", "float32") != "float32"
    ]
    if offenders:
        raise ValueError(
            "Mixed-precision models cannot be converted (TFLite needs float32 layers); "
            f"dtype policy is not 'float32' for: {', '.join(offenders[:5])}"
            + (" ..." if len(offenders) > 5 else "")
            + ". Rebuild the model under tf.keras.mixed_precision.set_global_policy('float32') "
            "and copy the weights over."
        )


def _check_input_shapes(model):
    for tensor in model.inputs:
        shape = tuple(tensor.shape)
        if None in shape[1:]:
            raise ValueError(
                f"Model input {tensor.name!r} has shape {shape}: only the batch dimension "
                f"may be None for TFLite. Build the model with a fixed input_shape, e.g. "
                f"input_shape={tuple(d if d is not None else 224 for d in shape[1:])}."
            )


# The LCE rules live below the layers (lq_ext.lce_rules); the old private names stay.
_is_binary_quantizer = is_binary_quantizer
_valid_groups = valid_groups


def _check_grouped_binary_convs(model):
    import larq as lq

    for layer in _layers(model):
        if not isinstance(layer, lq.layers.QuantConv2D):
            continue
        groups = int(getattr(layer, "groups", 1) or 1)
        if groups <= 1 or not _is_binary_quantizer(getattr(layer, "input_quantizer", None)):
            continue
        per_group = int(layer.kernel.shape[2])  # kernel (kh, kw, Cin/groups, filters)
        message = grouped_bconv_error(layer.name, type(layer).__name__, groups, per_group, layer.filters)
        if message:
            raise ValueError(message)


def _check_calibrated(model):
    from lq_ext.fake_quant import uncalibrated

    missing = uncalibrated(model)
    if missing:
        raise ValueError(
            f"{len(missing)} 8-/4-bit activation quantizer(s) have no bound yet (first: "
            f"layer {missing[0]!r}), so TFLite would run those layers in float. Calibrate "
            f"them on real images first: lq_ext.fake_quant.calibrate(model, images) "
            f"(or train past their freeze_step)."
        )


def _is_number(value) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float))


def _check_tolerances(rtol, max_outlier_fraction, min_top1_agreement, atol=0.0):
    if not _is_number(rtol) or not rtol > 0:
        raise ValueError(f"rtol must be a positive number, got rtol={rtol!r}.")
    if not _is_number(atol) or not atol >= 0:
        raise ValueError(f"atol must be a non-negative number, got atol={atol!r}.")
    for name, value in [
        ("max_outlier_fraction", max_outlier_fraction),
        ("min_top1_agreement", min_top1_agreement),
    ]:
        if not _is_number(value) or not 0.0 <= value <= 1.0:
            raise ValueError(f"{name} must be a fraction in [0, 1], got {name}={value!r}.")


def _parity_inputs(model, samples) -> tuple[np.ndarray, str]:
    """The arrays to compare on, and a description of where they came from."""
    if len(model.inputs) != 1:
        raise ValueError(
            f"verify=True needs a single-input model, this one has {len(model.inputs)} "
            f"inputs; pass verify=False."
        )
    input_shape = tuple(model.inputs[0].shape[1:])
    if samples is None:
        from lq_ext.data import load_samples, preprocess
        from lq_ext.data.samples import AUTO_IMAGENET_ABOVE_PX

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


def _untrained_batchnorm(model) -> list[str]:
    """BatchNormalization layers still at their initial moving statistics (0, 1)."""
    names = []
    for layer in _layers(model):
        if isinstance(layer, tf.keras.layers.BatchNormalization):
            mean, variance = layer.moving_mean.numpy(), layer.moving_variance.numpy()
            if not mean.any() and np.all(variance == 1.0):
                names.append(layer.name)
    return names


def _parity_hint(model) -> str:
    names = _untrained_batchnorm(model)
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


# --------------------------------------------------------------------------- writing
def _write_atomically(data: bytes, path: str, overwrite: bool) -> None:
    """Write to a temporary file next to ``path``, then move it into place."""
    directory, name = os.path.split(path)
    tmp = os.path.join(directory, f".{name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if overwrite:
            os.replace(tmp, path)
            return
        try:
            os.link(tmp, path)  # atomic and fails if path appeared meanwhile
        except FileExistsError:
            raise FileExistsError(
                f"path={path!r} was created while converting; pass overwrite=True to replace it."
            ) from None
        except OSError:  # file system without hard links
            if os.path.exists(path):
                raise FileExistsError(
                    f"path={path!r} was created while converting; pass overwrite=True to replace it."
                ) from None
            os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


# --------------------------------------------------------------------------- convert
def _to_flatbuffer(model, engine: str, target: str) -> bytes:
    if engine == "lce":
        import larq_compute_engine as lce

        return lce.convert_keras_model(model, target=target)
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    return converter.convert()


def convert(
    model,
    path,
    *,
    target: str = "arm",
    engine: str = "lce",
    verify: bool = True,
    overwrite: bool = False,
    samples=None,
    rtol: float = DEFAULT_RTOL,
    max_outlier_fraction: float = DEFAULT_MAX_OUTLIER_FRACTION,
    min_top1_agreement: float | None = None,
    atol: float = 0.0,
    binary_dense: str = "bconv",
    int8: bool = False,
    calibration=None,
    fine_tune=None,
) -> ConversionResult:
    """Convert ``model`` to a ``.tflite`` file, report its ops and verify it on real images.

    # Arguments
        model: a ``tf.keras.Model`` (legacy Keras 2) with fixed non-batch input dims.
        path: the ``.tflite`` file to write; its directory must exist.
        target: LCE target, ``"arm"`` (default) or ``"xcore"``; ignored by
            ``engine="tflite"``.
        engine: ``"lce"`` (``larq_compute_engine.convert_keras_model``, binary ops
            become ``LceBconv2d``) or ``"tflite"`` (``tf.lite.TFLiteConverter``, for
            float reference models such as ``tf.keras.applications.MobileNet``).
        verify: run the flatbuffer in LCE's Python Interpreter and compare with
            ``model.predict`` (see :mod:`lq_ext.converters.parity`) before writing.
        overwrite: replace an existing file at ``path``; by default an existing file
            makes :func:`convert` fail before converting.
        samples: the inputs for the check, an array (n, *input_shape) fed as is. Default:
            the 20 real sample images (ImageNet for inputs above 64 px, else CIFAR-10)
            resized to the model input and mapped to [-1, 1] by
            :func:`lq_ext.data.preprocess`.
        rtol: per-sample bound on max|tflite − keras| / max|keras| (default 1e-3; the
            measurements behind the defaults are in this module's source).
        max_outlier_fraction: fraction of samples allowed above ``rtol`` (default
            0.25): float round-off can flip a binarizer input that sits right at its
            threshold, which moves that sample's output far beyond round-off in a
            deep BNN.
        min_top1_agreement: least fraction of samples whose argmax agrees, for
            (batch, classes) outputs; default 0.9, and 0.5 with ``int8=True``
            (:data:`DEFAULT_MIN_TOP1_AGREEMENT_INT8`).
        atol: absolute error allowed on top of ``rtol`` (default 0), for outputs that
            TFLite quantizes: e.g. ``2 / 256`` (two steps) for a model whose int8
            softmax output has steps of 1/256.  Top-1 then agrees up to ties within
            ``2·atol`` (see :mod:`lq_ext.converters.parity`).
        binary_dense: ``"bconv"`` (default) converts every binary ``QuantDense`` (±1
            input binarizer, ±α kernel) as a bit-packed 1×1 ``LceBconv2d``, by
            converting a clone of the model in which it is an equivalent
            :class:`lq_ext.layers.BinaryDense` (same weights, same outputs); ``"float"``
            leaves it to LCE, which runs it as a float ``FULLY_CONNECTED``. Ignored by
            ``engine="tflite"``.
        int8: also run everything that is not binary (stem, shortcuts, BatchNorm /
            activation chains, head) as int8 ops (:mod:`lq_ext.converters.int8`;
            ``engine="lce"`` only). The parity check then compares the flatbuffer with
            the int8 Keras clone by top-1 agreement only (``min_top1_agreement``,
            default 0.5; see the source for why), and ``int8_agreement`` of the result holds its
            comparison with the float model.
        calibration: with ``int8=True``, the images (n, *input_shape) that set the
            int8 ranges; default: the parity check's images (so the agreement is then
            measured on the calibration images; pass held-out ones for a fair figure).
        fine_tune: with ``int8=True``, a callable ``fine_tune(clone, model)`` that trains
            the calibrated int8 clone in place before it is converted, e.g.
            :class:`lq_ext.converters.int8_tuning.Int8Distillation` (quantization-aware
            fine-tuning by distillation from ``model``); default None: post-training
            int8 only.

    # Returns
        A :class:`ConversionResult`; ``print`` it for the op table and parity numbers.

    # Raises
        TypeError / ValueError: invalid arguments or an unconvertible model (non-float32
            dtype policy, None in non-batch input dims, grouped binary conv whose input
            channels per group are not a multiple of 32, 8-/4-bit activation quantizers
            not calibrated, or ``binary_dense="bconv"`` on a model with binary
            ``QuantDense`` layers that cannot be cloned), before converting.
        FileNotFoundError: the directory of ``path`` does not exist.
        FileExistsError: ``path`` exists and ``overwrite`` is False.
        ParityError: (an ``AssertionError``) outputs differ beyond the tolerances.
            Nothing is written then; the flatbuffer is on the error's ``.flatbuffer``
            (or convert again with ``verify=False``).
    """
    _check_model(model)
    _check_choice("engine", engine, ENGINES)
    _check_choice("target", target, TARGETS)
    _check_choice("binary_dense", binary_dense, BINARY_DENSE_MODES)
    if not isinstance(verify, bool):
        raise TypeError(f"verify must be True or False, got verify={verify!r}.")
    path = _check_path(path, overwrite)
    _check_precision(model)
    _check_input_shapes(model)
    if engine == "lce":
        _check_grouped_binary_convs(model)
    _check_calibrated(model)
    if not isinstance(int8, bool):
        raise TypeError(f"int8 must be True or False, got int8={int8!r}.")
    if int8 and engine != "lce":
        raise ValueError(f"int8=True needs engine='lce' (it converts fake-quant ops), got engine={engine!r}.")
    if calibration is not None and not int8:
        raise ValueError("calibration images are only used with int8=True; pass int8=True or drop calibration.")
    if fine_tune is not None and not (int8 and callable(fine_tune)):
        raise ValueError(
            f"fine_tune must be a callable fine_tune(clone, model) and needs int8=True, got "
            f"fine_tune={fine_tune!r} with int8={int8!r}."
        )
    if min_top1_agreement is None:
        min_top1_agreement = DEFAULT_MIN_TOP1_AGREEMENT_INT8 if int8 is True else DEFAULT_MIN_TOP1_AGREEMENT
    if verify:
        _check_tolerances(rtol, max_outlier_fraction, min_top1_agreement, atol)
        inputs, description = _parity_inputs(model, samples)
    if int8 and calibration is None:
        calibration = inputs if verify else _parity_inputs(model, samples)[0]
    converted, bconv_dense = model, ()
    if engine == "lce" and binary_dense == "bconv":
        converted, bconv_dense = binary_dense_as_bconv(model)
    plan = None
    if int8:
        from lq_ext.converters.int8 import int8_model

        converted, plan = int8_model(converted, calibration)
        if fine_tune is not None:
            fine_tune(converted, model)
            plan = dataclasses.replace(plan, fine_tuned=repr(fine_tune))
    flatbuffer = _to_flatbuffer(converted, engine, target)
    ops = dataclasses.replace(inspect(flatbuffer), source=path)

    parity = agreement = None
    if verify:
        kernel = "indirect_bgemm" if ops.has_grouped_bconv else "optimized"
        if plan is not None:
            # TFLite's integer kernels round a few % of values one int8 step away from
            # the fake-quant clone (3.5 % of the stem outputs of the Fashion-MNIST
            # BD-Net); binarizers turn such steps into sign flips that grow through a
            # deep BNN (95 % of its logits differ, top-1 agrees on 95 %). Per-sample
            # errors say nothing then: only the classes are checked against the clone.
            atol = max(atol, 2 * plan.output_step)
            max_outlier_fraction = 1.0
        parity = run_parity(
            converted if plan is not None else model,
            flatbuffer,
            inputs,
            rtol=rtol,
            min_top1_agreement=min_top1_agreement,
            max_outlier_fraction=max_outlier_fraction,
            samples=description,
            kernel=kernel,
            atol=atol,
        )
        if not parity.passed:
            raise ParityError(
                parity,
                f"The converted model ({engine}) does not match Keras; nothing was written "
                f"to {path!r}. The flatbuffer is on this error's .flatbuffer attribute; "
                f"convert(..., verify=False) writes it anyway." + _parity_hint(model),
                flatbuffer=flatbuffer,
            )
        if plan is not None:
            agreement = compare_outputs(
                model.predict(inputs, verbose=0),
                run_interpreter(flatbuffer, inputs, kernel=kernel),
                rtol=rtol,
                min_top1_agreement=0.0,
                max_outlier_fraction=1.0,
                samples=description,
                kernel=kernel,
            )

    _write_atomically(flatbuffer, path, overwrite)
    return ConversionResult(
        path=path,
        size_bytes=len(flatbuffer),
        ops=ops,
        parity=parity,
        engine=engine,
        target=target,
        bconv_dense_layers=bconv_dense,
        int8_plan=plan,
        int8_agreement=agreement,
    )
