"""Convert a Keras model to a TFLite flatbuffer, verify it on real images, write it safely.

:func:`convert` is an orchestration: validate (:mod:`~lq_ext.converters.validation`) →
prepare (binary ``QuantDense`` as bit-packed ``LceBconv2d``,
:mod:`~lq_ext.converters.rewrite`; scaled-sign kernel quantizers folded into constants,
:mod:`~lq_ext.converters.fold`; the int8 clone, :mod:`~lq_ext.converters.int8`) →
flatbuffer (LCE or the standard TFLite converter) → verify
(:mod:`~lq_ext.converters.verify`) → write (atomically, never over an existing file
unless asked). Guide: docs/guides/conversion.md; int8 mode: docs/guides/int8.md.
"""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass

from lq_ext._validate import check_bool, check_choice
from lq_ext.converters._io import write_atomically
from lq_ext.converters.diagnose import Diagnosis, diagnosable, diagnose
from lq_ext.converters.engines import to_flatbuffer
from lq_ext.converters.fold import FOLD_MODES, fold_kernel_quantizers, fold_weight_quantizers
from lq_ext.converters.fold_elementwise import fold_batchnorm_thresholds
from lq_ext.converters.fold_shifts import fold_rprelu_shifts
from lq_ext.converters.int8 import Int8Plan, int8_model
from lq_ext.converters.op_report import OpReport, inspect
from lq_ext.converters.options import Int8Options
from lq_ext.converters.parity import ParityError, ParityReport
from lq_ext.converters.portable import ENGINE as PORTABLE
from lq_ext.converters.portable import check_builtin_only, portable_clone
from lq_ext.converters.rewrite import BINARY_DENSE_MODES, binary_dense_as_bconv
from lq_ext.converters.validation import check_convert_arguments
from lq_ext.converters.verify import (
    DEFAULT_RTOL,
    FLOAT_TOLERANCES,
    check_parity,
    int8_agreement,
    parity_inputs,
)
from lq_ext.progressive import hard_sign
from lq_ext.weight_phases import quantized_weights

__all__ = ["ConversionResult", "convert", "int8_reference"]


@dataclass(frozen=True)
class ConversionResult:
    """What :func:`convert` wrote and what it found.

    # Attributes
        path: the written ``.tflite`` file.
        size_bytes: its size.
        ops: the :class:`~lq_ext.converters.OpReport` of the flatbuffer.
        parity: the :class:`~lq_ext.converters.ParityReport` (``None`` if
            ``verify=False``); in int8 mode, against the int8 Keras clone.
        engine, target: the conversion settings.
        bconv_dense_layers: names of the binary ``QuantDense`` layers converted as
            1×1 ``LceBconv2d`` (``binary_dense="bconv"``); empty if none.
        folded_layers: names of the binary convs whose ±α kernel quantizer was folded
            into a ±1 kernel and a per-channel scale (``fold_weights``), or with
            ``engine="tflite"`` of the layers whose kernel quantizer was folded into its
            constant kernel; empty if none.
        folded_batchnorms: names of the BatchNormalization layers folded into the next
            binarizer's threshold (``fold_elementwise=True``); empty if none.
        folded_shifts: names of the RPReLU layers whose shifts were folded into their
            neighbours (``fold_elementwise=True``, :mod:`~lq_ext.converters.fold_shifts`).
        int8_plan: what int8 mode did (:class:`~lq_ext.converters.int8.Int8Plan`), or None.
        int8_agreement: in int8 mode with ``verify=True``, the flatbuffer against the
            float model (what int8 costs).
        via: the front end that made the file (:data:`~lq_ext.converters.engines.FRONT_ENDS`,
            or ``"tflite"``); ``fallback_reason`` says why the graph-def path was not used
            when it was asked for (None if it was).
        diagnosis: when the whole-output check failed and the per-layer diagnosis
            (:func:`~lq_ext.converters.diagnose`) explained every difference, that diagnosis
            (``parity`` then holds the failed whole-output figures); None otherwise.
            ``verified`` is True in both cases: read it, not ``parity.passed``, for "checked
            and agrees".
        hardened_layers: the layers whose :class:`~lq_ext.progressive.ProgressiveSign`
            kernels were still soft (temperature ≥ 1e-7, ``clamp(w/T, −1, 1)``): converted,
            and checked, as the hard-sign twin (the same model at T = 0); empty if none.
        switched_layers: the layers whose kernels were still float in the model (a switch
            of :mod:`lq_ext.weight_phases` at 0: PokeBNN before epoch 50): converted, and
            checked, with the switches at 1; empty if none.
    """

    path: str
    size_bytes: int
    ops: OpReport
    parity: ParityReport | None
    engine: str
    target: str
    bconv_dense_layers: tuple[str, ...] = ()
    folded_layers: tuple[str, ...] = ()
    folded_batchnorms: tuple[str, ...] = ()
    folded_shifts: tuple[str, ...] = ()
    int8_plan: Int8Plan | None = None
    int8_agreement: ParityReport | None = None
    via: str = "graphdef"
    fallback_reason: str | None = None
    diagnosis: Diagnosis | None = None
    hardened_layers: tuple[str, ...] = ()
    switched_layers: tuple[str, ...] = ()

    @property
    def verified(self) -> bool:
        """The flatbuffer was checked and agrees: the whole-output check passed, or it failed
        and the per-layer diagnosis explained every difference (False with ``verify=False``)."""
        if self.parity is None:
            return False
        return self.parity.passed or (self.diagnosis is not None and self.diagnosis.passed)

    def __str__(self) -> str:
        head = f"Converted with {self.engine}"
        if self.engine in ("lce", PORTABLE):
            head += f" (target={self.target}, via {self.via})"
        head += f" -> {self.path} ({self.size_bytes:,} bytes)"
        if self.fallback_reason is not None:
            head += f"\nThe graph-def path failed, so LCE converted a SavedModel: {self.fallback_reason.splitlines()[0]}"
        if self.bconv_dense_layers:
            head += (
                f"\nBinary QuantDense run as 1x1 LceBconv2d (lq_ext.layers.BinaryDense): "
                f"{', '.join(self.bconv_dense_layers)}"
            )
        if self.folded_layers:
            into = "into constant kernels" if self.engine == "tflite" else "to ±1 kernels and a scale"
            head += f"\nKernel quantizers folded {into}: {', '.join(self.folded_layers)}"
        if self.hardened_layers:
            head += f"\n{_soft_kernels_message(self.hardened_layers)}"
        if self.switched_layers:
            head += f"\n{_float_kernels_message(self.switched_layers)}"
        if self.folded_batchnorms:
            head += f"\nBatchNorms folded into binarizer thresholds: {len(self.folded_batchnorms)}"
        if self.folded_shifts:
            head += f"\nRPReLU shifts folded into neighbouring layers: {len(self.folded_shifts)}"
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
        if self.diagnosis is not None:
            lines.append("The whole-output check failed; the per-layer diagnosis explains every difference:")
            lines.append(self.diagnosis.format(whole=False))
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


def _soft_kernels_message(layers) -> str:
    return (
        f"{len(layers)} layer(s) with progressively binarized kernels not yet binary (temperature "
        f">= 1e-7: clamp(w/T, -1, 1)) were converted with sign(w) kernels, and parity checked "
        f"against the same model at temperature 0 (its hard-sign twin): {_first_names(layers)}"
    )


def _float_kernels_message(layers) -> str:
    return (
        f"{len(layers)} layer(s) still training with float kernels (a weight-quantization switch "
        f"at 0, e.g. PokeBNN before epoch 50) were converted, and parity checked, with quantized "
        f"kernels (switches at 1): {_first_names(layers)}"
    )


def _first_names(layers) -> str:
    return f"{', '.join(layers[:5])}{', ...' if len(layers) > 5 else ''}"


def _int8_clone(model, converted, options: Int8Options, calibration):
    """The calibrated (and optionally fine-tuned) int8 clone of ``converted``, and its plan."""
    clone, plan = int8_model(converted, calibration, percentile=options.percentile, batch_size=options.batch_size)
    if options.fine_tune is not None:
        options.fine_tune(clone, model)
        plan = dataclasses.replace(plan, fine_tuned=repr(options.fine_tune))
    return clone, plan


@dataclass(frozen=True)
class _Prepared:
    """What is converted in place of the model, and the rewrites that made it."""

    model: object
    plan: Int8Plan | None = None
    bconv_dense: tuple[str, ...] = ()
    folded: tuple[str, ...] = ()
    folded_batchnorms: tuple[str, ...] = ()
    folded_shifts: tuple[str, ...] = ()


def _prepare(model, engine, binary_dense, fold_weights, fold_elementwise, options, inputs) -> _Prepared:
    """Binary ``QuantDense`` as ``LceBconv2d``, weight-quantizer and element-wise folds (float
    mode), the int8 clone calibrated on ``options.calibration`` or ``inputs`` (int8 mode), the
    portable clone (``engine="builtin"``)."""
    converted, plan, found = model, None, {}
    if engine == "lce" and binary_dense == "bconv":
        converted, found["bconv_dense"] = binary_dense_as_bconv(model)
    if engine == "lce" and fold_weights and options is None:  # int8 mode: its own BN folds
        converted, found["folded"] = fold_weight_quantizers(converted, only_needed=fold_weights == "auto")
    if engine == "tflite" and fold_weights:  # no binary ops: any quantizer becomes its constant
        converted, found["folded"] = fold_kernel_quantizers(converted, only_needed=fold_weights == "auto")
    if engine == "lce" and fold_elementwise and options is None:
        converted, found["folded_batchnorms"] = fold_batchnorm_thresholds(converted)
        converted, found["folded_shifts"] = fold_rprelu_shifts(converted)
    if options is not None:
        calibration_images = inputs if options.calibration is None else options.calibration
        converted, plan = _int8_clone(model, converted, options, calibration_images)
    if engine == PORTABLE:
        converted, plan = portable_clone(converted, plan)
    return _Prepared(converted, plan, **found)


def int8_reference(model, int8: bool | Int8Options = True, *, engine: str = "lce", binary_dense: str = "bconv",
                   samples=None):
    """The int8 clone that ``convert(model, path, int8=int8, engine=engine,
    binary_dense=binary_dense, samples=samples)`` converts: what its flatbuffer computes,
    and what :func:`~lq_ext.converters.diagnose` compares that file with.

    Calibrated like ``convert``: on ``int8.calibration``, else on ``samples``, else on the
    built-in sample images; a file converted with other calibration images has other
    ranges (the diagnosis then reports them as mismatches). Returns ``(clone, plan)``.
    """
    check_choice("engine", engine, ("lce", PORTABLE))
    check_choice("binary_dense", binary_dense, BINARY_DENSE_MODES)
    if not isinstance(int8, Int8Options) and int8 is not True:
        raise ValueError(f"int8 must be True or an Int8Options, got int8={int8!r}.")
    options = Int8Options() if int8 is True else int8
    inputs = None if options.calibration is not None else parity_inputs(model, samples)[0]
    prepared = _prepare(model, engine, binary_dense, False, False, options, inputs)
    return prepared.model, prepared.plan


def convert(
    model,
    path,
    *,
    target: str = "arm",
    engine: str = "lce",
    via: str = "graphdef",
    verify: bool = True,
    overwrite: bool = False,
    samples=None,
    rtol: float = DEFAULT_RTOL,
    max_outlier_fraction: float | None = None,
    min_top1_agreement: float | None = None,
    atol: float | None = None,
    binary_dense: str = "bconv",
    fold_weights: bool | str = "auto",
    fold_elementwise: bool = False,
    int8: bool | Int8Options = False,
    calibration=None,
    fine_tune=None,
) -> ConversionResult:
    """Convert ``model`` to a ``.tflite`` file, report its ops and verify it on real images.

    # Arguments
        model: a ``tf.keras.Model`` (legacy Keras 2) with fixed non-batch input dims.
        path: the ``.tflite`` file to write; its directory must exist.
        target: LCE target, ``"arm"`` (default) or ``"xcore"``; ignored by ``engine="tflite"``.
        engine: ``"lce"`` (Larq Compute Engine's converter, binary ops become
            ``LceBconv2d``), ``"tflite"`` (``tf.lite.TFLiteConverter``, for float
            reference models such as ``tf.keras.applications.MobileNet``) or
            ``"builtin"``: the portable target, TFLite builtin int8 ops only (binary convs
            as int8 ``CONV_2D`` with ±127 weights and ±1 activations; int8 mode for the rest,
            ``int8`` defaults to ``Int8Options()``), for LiteRT and TFLite Micro
            (:mod:`lq_ext.converters.portable`, docs/guides/portable.md).
        via: how LCE receives the model: ``"graphdef"`` (default; a frozen concrete
            function, 4–13× faster on the zoo models measured in
            docs/results/conversion.md) or ``"saved_model"`` (what
            ``convert_keras_model`` does). Both give the same ops and outputs
            (:mod:`lq_ext.converters.engines`); a graph-def failure falls back to the
            SavedModel path with a warning. Ignored by ``engine="tflite"``.
        verify: run the flatbuffer in LCE's Python Interpreter and compare with
            ``model.predict`` (:mod:`lq_ext.converters.parity`) before writing.
        overwrite: replace an existing file at ``path``; by default an existing file
            makes :func:`convert` fail before converting.
        samples: the inputs for the check, an array (n, *input_shape) fed as is. Default:
            the 20 real sample images (ImageNet for inputs above 64 px, else CIFAR-10)
            resized to the model input and mapped to [-1, 1] by :func:`lq_ext.data.preprocess`.
        rtol: per-sample bound on max|tflite − keras| / max|keras| (default 1e-3; the
            measurements behind the defaults are in :mod:`lq_ext.converters.verify`).
        max_outlier_fraction: fraction of samples allowed above ``rtol``; None: the mode's
            default, 0 (a sample beyond ``rtol``, e.g. a binarizer input flipped on float
            round-off, sends the conversion to the per-layer diagnosis, which passes it when
            every difference is round-off or a tie, in int8 mode a rounding step), or
            ``Int8Options.max_outlier_fraction`` (also 0) in int8 mode (1.0 for the portable
            target, whose rewritten binary convs the diagnosis cannot compare yet).
        min_top1_agreement: least fraction of samples whose argmax agrees, for
            (batch, classes) outputs; None: 0.9, or ``Int8Options.min_top1_agreement``
            (also 0.9; 0.5 for the portable target) in int8 mode.
        atol: absolute error allowed on top of ``rtol``, for outputs TFLite quantizes (e.g.
            ``2 / 256`` for an int8 softmax); top-1 then agrees up to ties within
            ``2·atol``. None: 0, or ``Int8Options.atol`` (two output steps of the int8
            clone) in int8 mode. A value given here is used as given in every mode.
        binary_dense: ``"bconv"`` (default) converts every binary ``QuantDense`` as a
            bit-packed 1×1 ``LceBconv2d``, through a clone of the model in which it is an
            equivalent :class:`lq_ext.layers.BinaryDense`; ``"float"`` leaves it to LCE
            (a float ``FULLY_CONNECTED``). Ignored by ``engine="tflite"``.
        fold_elementwise: fold every BatchNormalization that only feeds an ``RSign``
            binarizer into its threshold (:mod:`lq_ext.converters.fold_elementwise`),
            then RPReLU's shifts into their readers and producers
            (:mod:`lq_ext.converters.fold_shifts`); LCE engine, float mode; default
            False for now.
        fold_weights: ``"auto"`` (default), True or False: fold binary ``QuantConv2D``
            layers whose kernel quantizer gives ±α·sign(W) per output channel
            (magnitude-aware sign, XNOR-Net's scale, ...) into a ±1 kernel and a
            per-channel scale that LCE fuses into ``LceBconv2d``
            (:mod:`lq_ext.converters.fold`). TensorFlow does not constant-fold large
            kernels (≥ 128 MiB measured), which LCE then runs as float ``CONV_2D``;
            ``"auto"`` folds those and kernels with a channel of zeros, True every
            foldable conv. With ``engine="tflite"`` (no binary ops) any kernel
            quantizer is folded into its constant kernel instead (``"auto"``: kernels of
            ≥ 64 MiB, whose quantizer TFLite would otherwise compute at every inference, in
            float32; :func:`~lq_ext.converters.fold.fold_kernel_quantizers`). Ignored in
            int8 mode (whose clone expects a BatchNorm right after a binary conv).
        int8: an :class:`~lq_ext.converters.options.Int8Options` (or True for its
            defaults) also runs everything that is not binary (stem, shortcuts, BatchNorm /
            activation chains, head) as int8 ops (``engine="lce"`` only). The parity check
            then compares the flatbuffer with the int8 Keras clone, and ``int8_agreement``
            of the result holds its comparison with the float model.
        calibration, fine_tune: deprecated spelling of ``Int8Options(calibration=...,
            fine_tune=...)`` with ``int8=True``.

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
        ParityError: (an ``AssertionError``) outputs differ beyond the tolerances and the
            per-layer diagnosis (against the int8 clone in int8 mode) finds a mismatch that
            no binarizer tie (int8: no rounding step) explains.
            Nothing is written then; the flatbuffer is on the error's ``.flatbuffer``
            (or convert again with ``verify=False``).
    """
    check_choice("fold_weights", fold_weights, FOLD_MODES)
    check_bool("fold_elementwise", fold_elementwise)
    given = dict(max_outlier_fraction=max_outlier_fraction, min_top1_agreement=min_top1_agreement, atol=atol)
    path, options = check_convert_arguments(
        model, path, target=target, engine=engine, via=via, verify=verify, overwrite=overwrite,
        binary_dense=binary_dense, int8=int8, calibration=calibration, fine_tune=fine_tune, rtol=rtol, **given,
    )  # fmt: skip
    inputs = description = None
    if verify or (options is not None and options.calibration is None):
        inputs, description = parity_inputs(model, samples)

    # A progressively binarized model (BNext's ProgressiveSign) is converted, and checked,
    # in its hard-sign state: LCE bit-packs ±1 kernels only.
    # A model in PokeBNN's float-kernel phase, in its quantized state (switches at 1).
    with hard_sign(model) as hardened, quantized_weights(model) as switched:
        if hardened:
            warnings.warn(_soft_kernels_message(hardened), stacklevel=2)
        if switched:
            warnings.warn(_float_kernels_message(switched), stacklevel=2)
        prepared = _prepare(model, engine, binary_dense, fold_weights, fold_elementwise, options, inputs)
        converted, plan = prepared.model, prepared.plan

        made = to_flatbuffer(converted, engine=engine, target=target, via=via)
        flatbuffer = made.data
        ops = dataclasses.replace(inspect(flatbuffer), source=path)
        if engine == PORTABLE:
            check_builtin_only(ops)

        parity = agreement = diagnosis = None
        if verify:
            kernel = "indirect_bgemm" if ops.has_grouped_bconv else "optimized"
            defaults = FLOAT_TOLERANCES if plan is None else options.tolerances(plan.output_step)
            tolerances = defaults.overridden(rtol=rtol, **given)
            reference = model if plan is None else converted
            try:
                parity = check_parity(
                    model, reference, flatbuffer, inputs, description, tolerances, kernel=kernel, engine=engine, path=path
                )
            except ParityError as error:
                if not diagnosable(converted):  # int8 mode: `converted` is the int8 clone
                    raise
                diagnosis = diagnose(converted, flatbuffer, inputs, kernel=kernel, whole=error.report)
                error.diagnosis = diagnosis
                if not diagnosis.passed:
                    error.args = (f"{error.args[0]}\n{diagnosis.format(whole=False)}",)
                    raise
                parity = error.report
            if plan is not None:
                agreement = int8_agreement(model, flatbuffer, inputs, description, rtol=rtol, kernel=kernel)

    write_atomically(flatbuffer, path, overwrite)
    return ConversionResult(
        path=path,
        size_bytes=len(flatbuffer),
        ops=ops,
        parity=parity,
        engine=engine,
        target=target,
        bconv_dense_layers=prepared.bconv_dense,
        folded_layers=prepared.folded,
        folded_batchnorms=prepared.folded_batchnorms,
        folded_shifts=prepared.folded_shifts,
        int8_plan=plan,
        int8_agreement=agreement,
        via=made.via,
        fallback_reason=made.fallback_reason,
        diagnosis=diagnosis,
        hardened_layers=hardened,
        switched_layers=switched,
    )
