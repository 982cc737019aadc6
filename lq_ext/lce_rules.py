"""What Larq Compute Engine can bit-pack: the deployment rules layers and the zoo check
at construction time and the converters check again before conversion.

This module sits below :mod:`lq_ext.layers`, :mod:`lq_ext.zoo` and
:mod:`lq_ext.converters`, so a layer can refuse an undeployable configuration without
importing its converter.
"""

from __future__ import annotations

from lq_ext.precision import is_one_bit

__all__ = [
    "BCONV_CHANNEL_MULTIPLE",
    "ENGINES",
    "grouped_bconv_error",
    "is_binary_quantizer",
    "small_map_bconv_error",
    "valid_groups",
]

#: The converters a model can go through: LCE's (binary models, bit-packed), the standard
#: TFLite converter (float reference models), or "builtin": the portable target, TFLite
#: builtin int8 ops only (docs/guides/portable.md).  The zoo's registry names one per model.
ENGINES = ("lce", "tflite", "builtin")

#: LCE packs 32 binary channels in one word: a grouped ``LceBconv2d`` needs a multiple of
#: 32 input channels per group ("Invalid binary grouped convolution").
BCONV_CHANNEL_MULTIPLE = 32


def is_binary_quantizer(quantizer) -> bool:
    """Whether LCE binarizes (bit-packs) a tensor quantized by ``quantizer``: 1 bit exactly."""
    return is_one_bit(quantizer)


def valid_groups(channels_in: int, filters: int) -> list[int]:
    """Every group count LCE accepts for a binary conv with these channel counts."""
    return [
        g
        for g in range(1, channels_in + 1)
        if channels_in % g == 0
        and (channels_in // g) % BCONV_CHANNEL_MULTIPLE == 0
        and filters % g == 0
    ]


def grouped_bconv_error(layer_name, layer_type, groups, per_group, filters) -> str | None:
    """The error message for a grouped binary conv LCE rejects, or None if it is valid.

    ``per_group`` input channels per group, ``filters`` output channels (kernels).
    Shared by :func:`lq_ext.converters.convert` and the construction-time check of
    lq_ext layers (:class:`lq_ext.layers.ESQuantConv2D`).
    """
    if groups <= 1 or per_group % BCONV_CHANNEL_MULTIPLE == 0:
        return None
    channels_in = per_group * groups
    valid = valid_groups(channels_in, filters)
    nearest_groups = min(valid, key=lambda g: (abs(g - groups), g)) if valid else 1
    nearest_per_group = max(32, 32 * round(per_group / 32))
    return (
        f"Layer {layer_name!r} ({layer_type}, groups={groups}) is a grouped "
        f"binary conv with {per_group} input channels per group ({channels_in} input "
        f"channels / {groups} groups); LCE needs a multiple of 32 per group "
        f"(\"Invalid binary grouped convolution\"). Nearest valid choice: "
        f"groups={nearest_groups} ({channels_in // nearest_groups} channels per group), "
        f"or {nearest_per_group} channels per group ({nearest_per_group * groups} input "
        f"channels at groups={groups})."
    )


def small_map_bconv_error(layer_name, layer_type, map_size, kernel_size) -> str | None:
    """The error message for a binary conv with zero "same" padding on a map smaller than its
    kernel, or None if the map is large enough.

    LCE 0.16's ``LceBconv2d`` computes such a conv wrong: 94–97 % of the outputs differ on
    2×2 and 1×1 maps under a 3×3 kernel, while 3×3 and 4×4 maps and one-padding are exact
    (experiments/lce_same_zero_small_input.py; found by the PokeBNN Fashion-MNIST study,
    whose 32-px networks with the official 4×4/4 stem reach 2×2 maps in stage 4).
    ``map_size`` and ``kernel_size`` are (height, width); an unknown size is None.
    """
    small = [m is not None and m < k for m, k in zip(map_size, kernel_size)]
    if not any(small):
        return None
    h, w = ("?" if m is None else m for m in map_size)
    kh, kw = kernel_size
    return (
        f"Layer {layer_name!r} ({layer_type}) is a binary conv with padding='same' and "
        f"pad_values=0 on a {h}x{w} map, smaller than its {kh}x{kw} kernel: LCE computes it "
        f"wrong there (94-97 % of the outputs differ on 2x2 and 1x1 maps; "
        f"experiments/lce_same_zero_small_input.py), so it is not converted. Options: a larger "
        f"input, so that every binary conv sees a map at least its kernel's size; "
        f"pad_values=1.0 (LCE's native padding, exact, but another function: retrain or "
        f"fine-tune); or engine='tflite', a float file that is not bit-packed."
    )
