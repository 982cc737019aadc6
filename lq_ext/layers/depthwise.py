"""Binarized depth-wise convolution: binary activations, 1.58-bit or 1-bit kernel."""

import larq as lq

from lq_ext._serialization import register
from lq_ext.quantizers import ScaledSign, Ternary

KERNEL_BITS = (1, 1.58)

#: Kernel axes of a depth-wise kernel (kh, kw, C, multiplier) that index an output channel.
DEPTHWISE_CHANNEL_AXES = (-2, -1)


def depthwise_kernel_quantizer(kernel_bits, threshold="absmean", clip_value=1.0, scale=False):
    """The depth-wise kernel quantizer for ``kernel_bits`` ∈ {1, 1.58}.

    ``scale=True`` multiplies each channel by mean|w| (ScaledSign / Ternary(scale=True)).
    """
    if kernel_bits not in KERNEL_BITS:
        raise ValueError(
            f"kernel_bits must be one of {list(KERNEL_BITS)}, got kernel_bits={kernel_bits!r}."
        )
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

    LCE has no binary depth-wise op: it converts this layer to
    ``LceQuantize → LceDequantize → DEPTHWISE_CONV_2D`` (float).
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
        **kwargs,
    ):
        quantizer = depthwise_kernel_quantizer(kernel_bits, threshold, clip_value, scale_kernel)
        kwargs.pop("depthwise_quantizer", None)  # derived from kernel_bits
        kwargs.setdefault("depthwise_constraint", lq.constraints.WeightClip(clip_value or 1.0))
        self.kernel_bits = kernel_bits
        self.threshold = threshold
        self.clip_value = clip_value
        self.scale_kernel = scale_kernel
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
        }
