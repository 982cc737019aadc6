"""Binary dense layer that LCE runs bit-packed: a ``QuantDense`` computed as a 1×1 conv.

LCE 0.16 has no binary fully-connected op (larq/compute-engine#53, #806): a binary
``lq.layers.QuantDense`` converts to ``LceQuantize → LceDequantize → FULLY_CONNECTED``
in **float**.  LCE's ``LceBconv2d`` pattern needs the conv input to come *directly* from
the binarizer (larq/compute-engine#692), so :class:`BinaryDense` — a ``QuantDense``
with the same arguments, weights and outputs — computes

.. code-block:: text

    x (N, ..., C) → reshape (N, 1, P, C) → input_quantizer → conv2d 1×1 with the
    quantized kernel viewed as (1, 1, C, units) → + bias → activation → reshape (N, ..., units)

(P = product of the dims between batch and channels), which LCE converts to one
``LceBconv2d``.  :func:`lq_ext.converters.convert` applies the same rewrite to plain
binary ``QuantDense`` layers (``binary_dense="bconv"``, the default).

Design choices (not measured facts): ``"ste_sign"`` for inputs and kernel with
``WeightClip(1.0)`` by default; other arguments and defaults are ``QuantDense``'s.

Conversion notes and measurements: docs/guides/conversion.md
"""

from __future__ import annotations

import math

import larq as lq
import tensorflow as tf

from lq_ext._serialization import register
from lq_ext._validate import is_int
from lq_ext.quantizers import MaxAbsSign, ScaledSign

__all__ = ["BinaryDense", "binary_quantizer_problem", "is_binary_dense"]

#: Binarizers that LCE's ``LceQuantize`` pattern matches (``larq.math.sign`` forward),
#: named in error messages; any 1-bit ±1 quantizer works.
INPUT_QUANTIZER_EXAMPLES = ("ste_sign", "approx_sign", "swish_sign", "lq_ext RSign", "lq_ext BoundedSign")
#: Kernel quantizers LCE accepts (±α per output channel).
KERNEL_QUANTIZER_EXAMPLES = ("ste_sign", "magnitude_aware_sign", "lq_ext ScaledSign", "lq_ext MaxAbsSign")


#: 1-bit quantizers whose values are not ±1 (so LCE cannot bit-pack them).
_NOT_PLUS_MINUS_ONE = (lq.quantizers.SteHeaviside, lq.quantizers.DoReFa, lq.quantizers.NoOp)
#: ±α quantizers: fine for a kernel (α folds into the bconv), not for activations.
_SCALED_SIGNS = (lq.quantizers.MagnitudeAwareSign, ScaledSign, MaxAbsSign)


def binary_quantizer_problem(quantizer, role: str) -> str | None:
    """Why ``quantizer`` cannot binarize the ``role`` (``"input"`` / ``"kernel"``) of a
    bit-packed dense layer, or None if it can.

    Measured rule (LCE 0.16): ``LceBconv2d`` needs ±1 activations from a
    ``larq.math.sign``-style binarizer and a ±α kernel (α per output channel).
    """
    if quantizer is None:
        return "no quantizer (the layer would be real-valued)"
    precision = getattr(quantizer, "precision", None)
    if precision != 1:
        what = getattr(quantizer, "__name__", None) or type(quantizer).__name__
        return f"{what} has precision {precision!r}, not 1"
    if isinstance(quantizer, _NOT_PLUS_MINUS_ONE):
        return f"{type(quantizer).__name__} does not output ±1"
    if role == "input" and isinstance(quantizer, _SCALED_SIGNS):
        return f"{type(quantizer).__name__} scales its output (a kernel quantizer, not an activation binarizer)"
    return None


def is_binary_dense(layer) -> bool:
    """True for a ``QuantDense`` with ±1 input and ±α kernel quantizers (what LCE could
    run bit-packed), :class:`BinaryDense` included."""
    return (
        isinstance(layer, lq.layers.QuantDense)
        and binary_quantizer_problem(layer.input_quantizer, "input") is None
        and binary_quantizer_problem(layer.kernel_quantizer, "kernel") is None
    )


def _resolve(name, value, role, getter, examples):
    try:
        quantizer = getter(value)
    except (ValueError, TypeError) as error:
        reason = str(error).split(". ")[0]  # larq's first sentence, without its scope hint
        raise ValueError(
            f"BinaryDense: {name}={value!r} is not a known quantizer ({reason}); expected a "
            f"1-bit ±1 quantizer such as {', '.join(examples)}."
        ) from None
    problem = binary_quantizer_problem(quantizer, role)
    if problem:
        raise ValueError(
            f"BinaryDense: {name}={value!r} cannot be bit-packed by LCE: {problem}. Expected "
            f"a 1-bit ±1 quantizer such as {', '.join(examples)} (use lq.layers.QuantDense "
            f"for other precisions; LCE runs it in float)."
        )
    return quantizer


@register
class BinaryDense(lq.layers.QuantDense):
    """``QuantDense`` with binary inputs and kernel, computed as a 1×1 conv so that LCE
    converts it to a bit-packed ``LceBconv2d`` (see the module docstring).

    Same weights, configuration and outputs as ``lq.layers.QuantDense`` with the same
    arguments: ``BinaryDense.from_config(quant_dense.get_config())`` plus
    ``set_weights(quant_dense.get_weights())`` is a drop-in replacement. Outputs agree
    exactly for ±1 kernels (integer sums) and to float round-off of the summation
    order for ±α kernels.

    # Arguments
        units: output features, a positive int.
        input_quantizer: a ±1 binarizer (default ``"ste_sign"``).
        kernel_quantizer: a ±1 / ±α kernel quantizer (default ``"ste_sign"``).
        kernel_constraint: default ``"weight_clip"`` (``WeightClip(1.0)``).
        activation, use_bias, initializers, regularizers, ...: as ``QuantDense``.

    # Raises
        ValueError: ``units`` not a positive int, or a quantizer LCE cannot bit-pack
            (not 1-bit, not ±1, or missing); at build, an input of rank < 2.
    """

    def __init__(
        self,
        units,
        activation=None,
        use_bias=True,
        input_quantizer="ste_sign",
        kernel_quantizer="ste_sign",
        kernel_constraint="weight_clip",
        **kwargs,
    ):
        if not is_int(units) or units < 1:
            raise ValueError(f"BinaryDense: units must be a positive int, got units={units!r}.")
        input_quantizer = _resolve(
            "input_quantizer", input_quantizer, "input", lq.quantizers.get, INPUT_QUANTIZER_EXAMPLES
        )
        kernel_quantizer = _resolve(
            "kernel_quantizer", kernel_quantizer, "kernel", lq.quantizers.get_kernel_quantizer, KERNEL_QUANTIZER_EXAMPLES
        )
        super().__init__(
            units,
            activation=activation,
            use_bias=use_bias,
            input_quantizer=input_quantizer,
            kernel_quantizer=kernel_quantizer,
            kernel_constraint=kernel_constraint,
            **kwargs,
        )

    def build(self, input_shape):
        rank = tf.TensorShape(input_shape).rank
        if rank is not None and rank < 2:
            raise ValueError(
                f"BinaryDense {self.name!r}: the input must have rank >= 2 (batch, ..., "
                f"features), got input_shape={tuple(tf.TensorShape(input_shape).as_list())}."
            )
        super().build(input_shape)

    def call(self, inputs):
        inputs = tf.convert_to_tensor(inputs)
        if inputs.dtype != self.compute_dtype:
            inputs = tf.cast(inputs, self.compute_dtype)
        channels = int(self.kernel.shape[0])
        inner = inputs.shape[1:-1]
        if inner.is_fully_defined():
            positions = math.prod(inner.as_list())
            out_shape = [-1, *inner.as_list(), self.units]
        else:  # dynamic dims between batch and features (Keras only; TFLite needs static)
            dynamic = tf.shape(inputs)
            positions = tf.reduce_prod(dynamic[1:-1])
            out_shape = tf.concat([dynamic[:-1], [self.units]], axis=0)
        view = tf.stack([-1, 1, positions, channels]) if tf.is_tensor(positions) else (-1, 1, positions, channels)
        x = tf.reshape(inputs, view)
        # The binarizer sits right before the conv: LCE's LceBconv2d pattern.
        if self.input_quantizer:
            x = self.input_quantizer(x)
        with lq.context.quantized_scope(True):
            kernel = tf.reshape(self.kernel, (1, 1, channels, self.units))
        y = tf.nn.conv2d(x, kernel, strides=1, padding="VALID")
        if self.use_bias:
            y = tf.nn.bias_add(y, self.bias)
        if self.activation is not None:
            y = self.activation(y)
        return tf.reshape(y, out_shape)
