"""The guards :func:`lq_ext.converters.convert` runs before converting: LCE conversion takes
seconds and its errors are C++ log lines, so every argument and every property of the
model that would make it fail is checked first, with an error that names the fix.

Generic argument guards come from :mod:`lq_ext._validate`, LCE's deployment rules from
:mod:`lq_ext.lce_rules`.
"""

from __future__ import annotations

import dataclasses
import os
import warnings

import larq as lq
import tensorflow as tf

from lq_ext._validate import check_bool, check_choice, check_number
from lq_ext.converters.engines import FRONT_ENDS
from lq_ext.converters.options import Int8Options
from lq_ext.converters.rewrite import BINARY_DENSE_MODES, all_layers
from lq_ext.fake_quant import uncalibrated
from lq_ext.lce_rules import ENGINES, grouped_bconv_error, is_binary_quantizer, small_map_bconv_error

__all__ = [
    "ENGINES",
    "TARGETS",
    "check_calibrated",
    "check_convert_arguments",
    "check_grouped_binary_convs",
    "check_input_shapes",
    "check_int8",
    "check_model",
    "check_path",
    "check_precision",
    "check_small_map_binary_convs",
    "check_tolerances",
]

TARGETS = ("arm", "xcore")


def check_model(model) -> None:
    """A ``tf.keras.Model`` (legacy Keras 2), with a hint for a Keras 3 model."""
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


def check_path(path, overwrite) -> str:
    """The absolute path to write: its directory exists, and it is no directory nor an
    existing file (unless ``overwrite``)."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, got path={path!r}.")
    check_bool("overwrite", overwrite)
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


def check_precision(model) -> None:
    """Every layer float32: TFLite cannot convert a mixed-precision model."""
    offenders = [
        f"{layer.name} ({layer.dtype_policy.name})"
        for layer in [model, *all_layers(model)]
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


def check_input_shapes(model) -> None:
    """Only the batch dimension of an input may be None."""
    for tensor in model.inputs:
        shape = tuple(tensor.shape)
        if None in shape[1:]:
            raise ValueError(
                f"Model input {tensor.name!r} has shape {shape}: only the batch dimension "
                f"may be None for TFLite. Build the model with a fixed input_shape, e.g. "
                f"input_shape={tuple(d if d is not None else 224 for d in shape[1:])}."
            )


def check_grouped_binary_convs(model) -> None:
    """Every grouped binary conv has a multiple of 32 input channels per group (LCE's rule,
    :func:`lq_ext.lce_rules.grouped_bconv_error`); float grouped convs are not concerned."""
    for layer in all_layers(model):
        if not isinstance(layer, lq.layers.QuantConv2D):
            continue
        groups = int(getattr(layer, "groups", 1) or 1)
        if groups <= 1 or not is_binary_quantizer(getattr(layer, "input_quantizer", None)):
            continue
        per_group = int(layer.kernel.shape[2])  # kernel (kh, kw, Cin/groups, filters)
        message = grouped_bconv_error(layer.name, type(layer).__name__, groups, per_group, layer.filters)
        if message:
            raise ValueError(message)


def check_small_map_binary_convs(model) -> None:
    """No binary conv with zero "same" padding sees a map smaller than its kernel (LCE computes
    it wrong: :func:`lq_ext.lce_rules.small_map_bconv_error`)."""
    for layer in all_layers(model):
        if not isinstance(layer, lq.layers.QuantConv2D) or layer.padding != "same":
            continue
        if float(getattr(layer, "pad_values", 0.0)) != 0.0 or not is_binary_quantizer(getattr(layer, "input_quantizer", None)):
            continue
        for node in layer.inbound_nodes:
            shape = tf.TensorShape(node.input_shapes)
            message = small_map_bconv_error(layer.name, type(layer).__name__, tuple(shape[1:3]), tuple(layer.kernel_size))
            if message:
                raise ValueError(message)


def check_calibrated(model) -> None:
    """Every 8-/4-bit activation quantizer has its bound (else TFLite runs it in float)."""
    missing = uncalibrated(model)
    if missing:
        raise ValueError(
            f"{len(missing)} 8-/4-bit activation quantizer(s) have no bound yet (first: "
            f"layer {missing[0]!r}), so TFLite would run those layers in float. Calibrate "
            f"them on real images first: lq_ext.fake_quant.calibrate(model, images) "
            f"(or train past their freeze_step)."
        )


def check_tolerances(rtol, max_outlier_fraction=None, min_top1_agreement=None, atol=None) -> None:
    """The parity tolerances; None stands for the mode's default."""
    check_number("rtol", rtol, low=0, low_inclusive=False)
    if atol is not None:
        check_number("atol", atol, low=0)
    for name, value in [("max_outlier_fraction", max_outlier_fraction), ("min_top1_agreement", min_top1_agreement)]:
        if value is not None:
            check_number(name, value, low=0, high=1)


def check_int8(int8, *, engine, calibration=None, fine_tune=None, **tolerances) -> Int8Options | None:
    """The int8 settings as one :class:`Int8Options` (None for a float conversion).

    ``int8=True`` with ``calibration=`` / ``fine_tune=`` is the deprecated spelling of
    ``int8=Int8Options(calibration=..., fine_tune=...)``. ``tolerances`` (name → value or
    None) are the ones given to ``convert``: one set differently in ``int8`` is refused.
    """
    if not isinstance(int8, (bool, Int8Options)):
        raise TypeError(f"int8 must be True or False, or an Int8Options(...), got int8={int8!r}.")
    if int8 is not False and engine not in ("lce", "builtin"):
        raise ValueError(
            f"int8=True needs engine='lce' or 'builtin' (it converts fake-quant ops; so does "
            f"int8=Int8Options(...)), got engine={engine!r}."
        )
    if engine == "builtin" and int8 is False:
        int8 = True  # the portable target is int8 throughout: Int8Options() by default
    if isinstance(int8, Int8Options):
        if calibration is not None or fine_tune is not None:
            raise ValueError(
                "With int8=Int8Options(...), pass calibration and fine_tune inside it, not "
                "to convert()."
            )
        _check_no_conflict(int8, tolerances)
        return int8
    if calibration is not None and not int8:
        raise ValueError("calibration images are only used with int8=True; pass int8=True or drop calibration.")
    if fine_tune is not None and not (int8 and callable(fine_tune)):
        raise ValueError(
            f"fine_tune must be a callable fine_tune(clone, model) and needs int8=True, got "
            f"fine_tune={fine_tune!r} with int8={int8!r}."
        )
    if not int8:
        return None
    if calibration is not None or fine_tune is not None:
        warnings.warn(
            "convert(int8=True, calibration=..., fine_tune=...) is deprecated; pass "
            "int8=Int8Options(calibration=..., fine_tune=...).",
            DeprecationWarning,
            stacklevel=4,  # check_int8 ← check_convert_arguments ← convert ← the caller
        )
    return Int8Options(calibration=calibration, fine_tune=fine_tune)


def _check_no_conflict(options: Int8Options, given: dict) -> None:
    defaults = {f.name: f.default for f in dataclasses.fields(Int8Options)}
    for name, value in given.items():
        mine = getattr(options, name)
        if value is not None and mine != defaults[name] and mine != value:
            raise ValueError(
                f"{name} is given twice: {name}={value!r} to convert() and {name}={mine!r} "
                f"in Int8Options; pass it once."
            )


def check_convert_arguments(
    model, path, *, target, engine, via, verify, overwrite, binary_dense, int8, calibration, fine_tune, **tolerances
) -> tuple[str, Int8Options | None]:
    """All of :func:`lq_ext.converters.convert`'s checks, in the order users meet them.

    Returns the absolute path and the int8 settings (None for a float conversion). The
    tolerances (``rtol``, ``max_outlier_fraction``, ``min_top1_agreement``, ``atol``) are
    checked only when ``verify`` is True, as they are only used then.
    """
    check_model(model)
    check_choice("engine", engine, ENGINES)
    check_choice("target", target, TARGETS)
    check_choice("via", via, FRONT_ENDS)
    check_choice("binary_dense", binary_dense, BINARY_DENSE_MODES)
    check_bool("verify", verify)
    path = check_path(path, overwrite)
    check_precision(model)
    check_input_shapes(model)
    if engine == "lce":
        check_grouped_binary_convs(model)
        check_small_map_binary_convs(model)
    check_calibrated(model)
    rtol = tolerances.pop("rtol")
    options = check_int8(int8, engine=engine, calibration=calibration, fine_tune=fine_tune, **tolerances)
    if verify:
        check_tolerances(rtol, **tolerances)
    return path, options
