"""Binarized depth-wise convolution: binary activations, 1.58-bit or 1-bit kernel.

BD-Net, arXiv:2511.17633 (abstract: "1.58-bit convolution"); the ternary threshold rule
is a reconstruction (:class:`lq_ext.quantizers.Ternary`).
Provenance and reconstruction notes: docs/models/bdnet.md
"""

import larq as lq
import tensorflow as tf

from lq_ext._serialization import register
from lq_ext._validate import check_bool, check_choice, is_int
from lq_ext.quantizers import ScaledSign, Ternary, mean_abs

KERNEL_BITS = (1, 1.58)

#: Kernel axes of a depth-wise kernel (kh, kw, C, multiplier) that index an output channel.
DEPTHWISE_CHANNEL_AXES = (-2, -1)


def depthwise_kernel_quantizer(kernel_bits, threshold="absmean", clip_value=1.0, scale=False):
    """The depth-wise kernel quantizer for ``kernel_bits`` ∈ {1, 1.58}.

    ``scale=True`` multiplies each channel by mean|w| (ScaledSign / Ternary(scale=True)).
    """
    check_choice("kernel_bits", kernel_bits, KERNEL_BITS)
    if kernel_bits == 1:
        if scale:
            return ScaledSign(clip_value=clip_value, channel_axes=DEPTHWISE_CHANNEL_AXES)
        return lq.quantizers.SteSign(clip_value=clip_value)
    return Ternary(
        threshold=threshold,
        clip_value=clip_value,
        channel_axes=DEPTHWISE_CHANNEL_AXES,
        scale=scale,
    )


@register
class BinaryDepthwiseConv2D(lq.layers.QuantDepthwiseConv2D):
    """Depth-wise conv on binary activations with a ternary (1.58-bit) or binary kernel.

    A ``QuantDepthwiseConv2D`` whose kernel quantizer follows from ``kernel_bits``:
    ``1.58`` → :class:`lq_ext.quantizers.Ternary` with a per-channel threshold
    (BD-Net's reconstructed default), ``1`` → ``SteSign`` (the naive baseline), with a
    ``WeightClip(clip_value)`` constraint either way.  Every other argument is
    ``QuantDepthwiseConv2D``'s.

    # Arguments
        kernel_size, strides, padding, ...: as ``lq.layers.QuantDepthwiseConv2D``.
        kernel_bits: 1.58 (default) or 1.
        threshold: the ternary threshold rule, see :class:`~lq_ext.quantizers.Ternary`.
        clip_value: straight-through clip of the kernel quantizer and the weight clip.
        scale_kernel: multiply each channel's kernel by its mean|w| (parameter-free;
            needed where no BatchNorm follows, e.g. BD-Net's pre-BN residual).
        input_quantizer: the activation binarizer (default ``"ste_sign"``; BD-Net's
            block passes :class:`~lq_ext.quantizers.RSign`).
        exact_int8: compute the conv on integers so that TFLite runs it in int8
            (see below); the outputs are the same numbers.

    LCE has no binary depth-wise op: it converts this layer to
    ``LceQuantize → LceDequantize → DEPTHWISE_CONV_2D`` in **float**, with float
    weights.  With ``exact_int8=True`` the activations (±1), the unscaled kernel
    ({−1, 0, 1} or ±1) and the conv's sums (|sum| ≤ k_h·k_w ≤ 127) pass through 8-bit
    fake-quant ops of step 1, which represent them without rounding; the converter
    then emits ``LceQuantize → LceDequantize (int8) → DEPTHWISE_CONV_2D (int8) →
    DEQUANTIZE``, and the per-channel mean|w| of ``scale_kernel`` multiplies the exact
    integer result afterwards, in float.  Zero padding only (``pad_values=0``).
    """

    def __init__(
        self,
        kernel_size=3,
        *,
        kernel_bits=1.58,
        threshold="absmean",
        clip_value=1.0,
        scale_kernel=False,
        input_quantizer="ste_sign",
        use_bias=False,
        exact_int8=False,
        **kwargs,
    ):
        exact_int8 = check_bool("exact_int8", exact_int8)
        if exact_int8:
            size = (kernel_size,) * 2 if is_int(kernel_size) else tuple(kernel_size)
            if size[0] * size[1] > 127:
                raise ValueError(
                    f"exact_int8=True needs |sum| ≤ 127: kernel_size={size} sums "
                    f"{size[0] * size[1]} values of ±1; use a kernel with at most 127 taps."
                )
        if exact_int8 and input_quantizer is None:
            raise ValueError(
                "exact_int8=True computes on ±1 activations and needs an input binarizer; got "
                "input_quantizer=None. Pass a binarizer (e.g. 'ste_sign', lq_ext.quantizers.RSign()) "
                "or exact_int8=False."
            )
        if exact_int8 and kwargs.get("pad_values", 0.0) != 0.0:
            raise ValueError(
                f"exact_int8=True pads with zeros (TFLite's int8 zero point); got "
                f"pad_values={kwargs['pad_values']!r}, use pad_values=0.0."
            )
        # In int8 mode the kernel quantizer stays unscaled; mean|w| is applied after the conv.
        quantizer = depthwise_kernel_quantizer(
            kernel_bits, threshold, clip_value, scale_kernel and not exact_int8
        )
        kwargs.pop("depthwise_quantizer", None)  # derived from kernel_bits
        kwargs.setdefault("depthwise_constraint", lq.constraints.WeightClip(clip_value or 1.0))
        self.kernel_bits = kernel_bits
        self.threshold = threshold
        self.clip_value = clip_value
        self.scale_kernel = scale_kernel
        self.exact_int8 = exact_int8
        super().__init__(
            kernel_size,
            input_quantizer=input_quantizer,
            depthwise_quantizer=quantizer,
            use_bias=use_bias,
            **kwargs,
        )

    def get_config(self):
        config = super().get_config()
        config.pop("depthwise_quantizer")
        return {
            **config,
            "kernel_bits": self.kernel_bits,
            "threshold": self.threshold,
            "clip_value": self.clip_value,
            "scale_kernel": self.scale_kernel,
            "exact_int8": self.exact_int8,
        }

    def call(self, inputs):
        if not self.exact_int8:
            return super().call(inputs)
        x = _exact_int8(self.input_quantizer(inputs))
        latent = getattr(self.depthwise_kernel, "latent_variable", self.depthwise_kernel)
        kernel = _exact_int8(self.depthwise_quantizer(latent))
        y = tf.nn.depthwise_conv2d(
            x,
            kernel,
            strides=(1, *self.strides, 1),
            padding=self.padding.upper(),
            dilations=self.dilation_rate,
        )
        y = _exact_int8(y)
        if self.scale_kernel:
            alpha = tf.stop_gradient(mean_abs(latent, DEPTHWISE_CHANNEL_AXES))
            y = y * tf.reshape(alpha, (-1,))
        if self.use_bias:
            y = tf.nn.bias_add(y, self.bias)
        return self.activation(y) if self.activation is not None else y


def _exact_int8(x):
    """Integers in [−127, 127] through an 8-bit fake-quant op of step 1: unchanged."""
    return tf.quantization.fake_quant_with_min_max_args(x, -127.0, 127.0, num_bits=8, narrow_range=True)
