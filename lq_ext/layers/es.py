r"""ES-BNN's expanding-and-shrinking (τ) convolution with binary group convolution (g).

Shi, Sun, Qi, Hao, Yang, "Expanding-and-Shrinking Binary Neural Networks",
arXiv:2503.23709, Fig. 2 (b) ES and (c) ES + binary group conv.

:class:`ESQuantConv2D` replaces a ``QuantConv2D(C_out)`` of a C-wide network whose
feature maps run τ·g× wide: its conv keeps ``C_out / τ`` kernels in ``g`` groups and its
output is tiled τ²·g times (whole-tensor ``[y, y, …]``, the official code's
``repeat``), so the binary MACs stay ``C_in·C_out·k²`` for any τ, g.  τ = g = 1 is
exactly ``QuantConv2D``.  A grouped binary conv needs a multiple of 32 input channels
per group for LCE, checked at build with :func:`lq_ext.lce_rules.grouped_bconv_error`.

Provenance and reconstruction notes: docs/models/esbnn.md
"""

from __future__ import annotations

import tensorflow as tf

from lq_ext._serialization import register
from lq_ext._validate import check_bool, is_int
from lq_ext.layers.channels import ChannelSlice  # re-exported: its old home
from lq_ext.layers.grouped import GroupedQuantConv2D
from lq_ext.lce_rules import grouped_bconv_error, is_binary_quantizer, valid_groups

__all__ = ["ChannelSlice", "ESQuantConv2D", "check_es_factors", "nearest_divisors"]


def _is_positive_int(value) -> bool:
    return is_int(value) and value > 0


def nearest_divisors(value: int, target: int, count: int = 2) -> list[int]:
    """The ``count`` divisors of ``value`` closest to ``target`` (ties: the smaller first)."""
    divisors = [d for d in range(1, value + 1) if value % d == 0]
    return sorted(divisors, key=lambda d: (abs(d - target), d))[:count]


def check_es_factors(tau, groups, *, where="ES"):
    """τ and g are positive ints; errors name ``where`` and the value."""
    for arg, value in (("tau", tau), ("groups", groups)):
        if not _is_positive_int(value):
            raise ValueError(f"{where}: {arg} must be a positive int, got {arg}={value!r}.")


@register
class ESQuantConv2D(GroupedQuantConv2D):
    r"""Expanding-and-shrinking ``QuantConv2D``: ``filters / tau`` kernels in ``groups``
    groups, output tiled ``tau² · groups`` times to ``filters · tau · groups`` channels.

    A drop-in for ``QuantConv2D(filters, …)`` in a network whose feature maps are
    expanded τ·g× (module docstring). With ``tau=1, groups=1`` it *is* that
    ``QuantConv2D``; like :class:`~lq_ext.layers.GroupedQuantConv2D`, in training its
    groups are ordinary convs. The Keras attribute ``self.filters`` is the kernel count
    ``filters // tau`` (what the kernel variable holds); ``get_config()`` stores the
    constructor's ``filters``.

    # Arguments
        filters: C_out of the layer ES replaces (the un-expanded output width).
        kernel_size, strides, padding, pad_values, quantizers, …: as
            ``lq.layers.QuantConv2D``, same defaults. ``input_quantizer=None`` gives a
            float ES conv (used for shrunk real-valued 1×1 shortcuts).
        tau: expansion factor τ; must divide ``filters``.
        groups: binary group conv g; must divide the input channels and ``filters / tau``.
        for_lce: with a binary input quantizer and ``groups > 1``, require a multiple of
            32 input channels per group (LCE rejects anything else) at build.

    # Raises
        ValueError: at construction for τ, g that do not divide ``filters``; at build
            for input channels that g does not divide or, with ``for_lce``, that give
            a per-group count LCE cannot run. Messages name the layer, the numbers
            and the nearest valid choice.

    # References
        - ES-BNN, arXiv:2503.23709, Fig. 2 (b) ES, (c) ES + binary group conv.
    """

    def __init__(self, filters, kernel_size, *, tau=1, groups=1, for_lce=True, **kwargs):
        name = kwargs.get("name") or type(self).__name__
        check_es_factors(tau, groups, where=f"{type(self).__name__} {name!r}")
        if not _is_positive_int(filters):
            raise ValueError(f"{name}: filters must be a positive int, got filters={filters!r}.")
        for_lce = check_bool("for_lce", for_lce)
        if filters % tau:
            raise ValueError(
                f"{type(self).__name__} {name!r}: tau={tau} must divide filters={filters} "
                f"(the conv keeps filters/tau kernels); nearest valid tau: "
                f"{nearest_divisors(filters, tau)}."
            )
        kernels = filters // tau
        if kernels % groups:
            raise ValueError(
                f"{type(self).__name__} {name!r}: groups={groups} must divide the "
                f"filters/tau = {filters}/{tau} = {kernels} kernels; nearest valid groups: "
                f"{nearest_divisors(kernels, groups)}."
            )
        self.tau = int(tau)
        self.for_lce = for_lce
        self.es_filters = int(filters)
        super().__init__(int(kernels), kernel_size, groups=int(groups), **kwargs)

    @property
    def replicas(self) -> int:
        """τ²·g: how many copies of the conv output the layer emits."""
        return self.tau * self.tau * self.groups

    @property
    def output_channels(self) -> int:
        return self.filters * self.replicas

    def build(self, input_shape):
        input_shape = tf.TensorShape(input_shape)
        channels = input_shape[-1]
        where = f"{type(self).__name__} {self.name!r} (tau={self.tau}, groups={self.groups})"
        if channels is None:
            raise ValueError(f"{where} needs a known channel dimension (last axis).")
        if channels % self.groups:
            raise ValueError(
                f"{where}: groups={self.groups} must divide the {channels} input channels; "
                f"nearest valid groups: {nearest_divisors(channels, self.groups)}."
            )
        if self.for_lce and is_binary_quantizer(self.input_quantizer):
            message = grouped_bconv_error(
                self.name, type(self).__name__, self.groups, channels // self.groups, self.filters
            )
            if message:
                valid = valid_groups(channels, self.filters)
                raise ValueError(
                    f"{message} With ES the channels per group are C_in·tau: pick tau or "
                    f"the widths so that they are a multiple of 32 (valid groups for these "
                    f"{channels} input channels: {valid or 'none'}), or pass for_lce=False "
                    f"to build it for training only."
                )
        super().build(input_shape)

    def call(self, inputs, training=None):
        # Keras' Conv.call checks its result against compute_output_shape: answer with
        # the conv's own (un-tiled) shape while it runs. In training the groups are
        # computed as plain convs (GroupedQuantConv2D).
        self._computing_conv = True
        try:
            outputs = super().call(inputs, training=training)
        finally:
            self._computing_conv = False
        if self.replicas == 1:
            return outputs
        return tf.tile(outputs, [1] * (outputs.shape.rank - 1) + [self.replicas])

    def compute_output_shape(self, input_shape):
        shape = super().compute_output_shape(input_shape)
        if getattr(self, "_computing_conv", False):
            return shape
        return tf.TensorShape(shape[:-1]).concatenate([self.output_channels])

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.es_filters,
            "tau": self.tau,
            "for_lce": self.for_lce,
        }

