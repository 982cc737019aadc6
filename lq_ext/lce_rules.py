"""What Larq Compute Engine can bit-pack: the deployment rules layers and the zoo check
at construction time and the converters check again before conversion.

This module sits below :mod:`lq_ext.layers`, :mod:`lq_ext.zoo` and
:mod:`lq_ext.converters`, so a layer can refuse an undeployable configuration without
importing its converter.
"""

from __future__ import annotations

from lq_ext.precision import is_one_bit

__all__ = ["BCONV_CHANNEL_MULTIPLE", "ENGINES", "grouped_bconv_error", "is_binary_quantizer", "valid_groups"]

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
