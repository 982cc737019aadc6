"""Delayed weight quantization: kernels that train in float before they are quantized.

PokeBNN trains its first 50 epochs with float kernels (Zhang et al. 2022,
arXiv:2112.00133; AQT's ``weight_quant_start_step=50``). In the official code the gate is
``ConvAqt``'s ``quantize_weights`` (``aqt/jax_legacy/jax/flax_layers.py:697``,
``quantization.py:479-480``): it holds for every conv, so the binary kernels
(:class:`~lq_ext.quantizers.MaxAbsSign`) and the 8-/4-bit ones of PokeInit and the SE gate
(:class:`~lq_ext.fake_quant.IntWeightQuantizer` with a ``quantized`` switch) start
together; ``DenseAqt`` has no gate, so the 8-bit classifier is quantized from step 0.

Each such quantizer holds a non-trainable switch variable (changed without retracing,
saved with the weights). :func:`weight_switches` finds them; the callback that sets them
by epoch is :class:`lq_ext.training.WeightBinarization`; :func:`quantized_weights` is the
state the converter deploys. Guide: docs/guides/training.md ("The recipes against the
official scripts", ``pokebnn``).
"""

from __future__ import annotations

import contextlib

from lq_ext._model_walk import assigned, built_quantizers, owner_names
from lq_ext.fake_quant import IntWeightQuantizer, deployed_kernels
from lq_ext.quantizers import MaxAbsSign

__all__ = ["quantized_weights", "switched_quantizers", "weight_switches"]


def switched_quantizers(model) -> list:
    """The kernel quantizers of ``model`` that have a switch: every
    :class:`~lq_ext.quantizers.MaxAbsSign` and every
    :class:`~lq_ext.fake_quant.IntWeightQuantizer` built with ``quantized=True/False``."""
    return [q for q in built_quantizers(model, (MaxAbsSign, IntWeightQuantizer)) if hasattr(q, "switch")]


def weight_switches(model) -> list:
    """The switch variables of :func:`switched_quantizers` (1: quantized kernels)."""
    return [quantizer.switch for quantizer in switched_quantizers(model)]


@contextlib.contextmanager
def quantized_weights(model):
    """Inside the block every switch of ``model`` is 1 and models are traced without the
    switches (:func:`lq_ext.fake_quant.deployed_kernels`): the state LCE converts. The
    previous values are restored on exit, also after an error. Yields the names of the
    layers whose kernels were not quantized before (the quantizer's own name for one that
    is no layer's ``kernel_quantizer``)."""
    quantizers = switched_quantizers(model)
    with assigned([q.switch for q in quantizers], 1.0) as saved, deployed_kernels():
        yield tuple(name for name, value in zip(owner_names(model, quantizers), saved) if value < 0.5)
