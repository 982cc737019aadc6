"""Official BNext-T (``hpi-xnor/BNext``) and ES-BNext-T (``imfinethanks/ESBNN``) checkpoints → ``ESBNextTiny``.

Both repositories build the network the same way (``feature.0`` stem, ``feature.1``–
``feature.13`` ``BasicBlock``s of an ``Attention`` (or ``FFN_3x3``) sub-block and one
``FFN`` or two ``FFN_1`` / ``FFN_2``, ``prelu``, ``fc``); BNext's SE names its second conv
``se.se.3``, ES-BNN's ``se.se.4`` (a repeat layer sits in between). τ is read from the
stem BN's width. Guide: docs/guides/pretrained_weights.md.
"""

from __future__ import annotations

import warnings

import numpy as np

from lq_ext import torch_checkpoint
from lq_ext.zoo import official_weights
from lq_ext.zoo.official_weights import OfficialWeightsError

__all__ = [
    "BINARY_TEMPERATURE",
    "bnext_shapes",
    "bnext_assignments",
    "checkpoint_layout",
    "read_bnext_checkpoint",
    "sub_block_assignments",
    "weight_scales",
]

#: The official ``HardBinaryConv`` uses ``sign(w)`` below this temperature, else
#: ``clamp(w / T, −1, 1)`` (real-valued weights).
BINARY_TEMPERATURE = 1e-7

_BN = ("weight", "bias", "running_mean", "running_var")
#: official sub-module name → lq_ext sub-block suffix, per kind of block
_LAYOUTS = {"bnext": ("se.se.3", "BNext-T (hpi-xnor/BNext)"), "esbnn": ("se.se.4", "ES-BNext-T (imfinethanks/ESBNN)")}


def _sub_blocks(layout):
    """``(official prefix, lq_ext name, C, kernel size, attention)`` per sub-block."""
    out = []
    for i, (c_in, c_out, _, kind) in enumerate(layout, start=1):
        attention = kind == "attention"
        out.append((f"feature.{i}.Attention", f"block{i}_{'attn' if attention else 'ffn3'}", c_in, 3, attention))
        if c_in == c_out:
            out.append((f"feature.{i}.FFN", f"block{i}_ffn1", c_in, 1, False))
        else:
            out.append((f"feature.{i}.FFN_1", f"block{i}_ffn1a", c_in, 1, False))
            out.append((f"feature.{i}.FFN_2", f"block{i}_ffn1b", c_in, 1, False))
    return out


def bnext_shapes(layout, widths, tau, num_classes=1000, *, code="esbnn") -> dict:
    """``{key: shape}`` of the official ``state_dict`` (``num_batches_tracked`` aside):
    ``code="bnext"`` (hpi-xnor/BNext ``bnext.py``, τ = 1) or ``"esbnn"`` (``bnext_rep_ops.py``)."""
    se2 = _LAYOUTS[code][0]
    c0 = widths[0] * tau
    shapes = {"feature.0.conv1.weight": (widths[0], 3, 3, 3), "feature.0.prelu.weight": (c0,)}
    shapes.update({f"feature.0.bn1.{p}": (c0,) for p in _BN})
    for p, _, c, k, _ in _sub_blocks(layout):
        ct = c * tau
        shapes[f"{p}.move.bias"] = (1, ct, 1, 1)
        shapes[f"{p}.binary_activation.temperature"] = (1,)
        shapes[f"{p}.binary_conv.weight"] = (c // tau, ct, k, k)
        shapes[f"{p}.binary_conv.temperature"] = (1,)
        for norm in ("norm1", "norm2"):
            shapes.update({f"{p}.{norm}.{q}": (ct,) for q in _BN})
        shapes[f"{p}.activation1.weight"] = (ct,)
        shapes[f"{p}.activation2.weight"] = (ct,)
        shapes[f"{p}.se.se.1.weight"] = (c // 8 // tau, ct, 1, 1)
        shapes[f"{p}.se.se.1.bias"] = (c // 8 // tau,)
        shapes[f"{p}.{se2}.weight"] = (c // tau, c // 8 * tau, 1, 1)
        shapes[f"{p}.{se2}.bias"] = (c // tau,)
        shapes[f"{p}.scale"] = (1, ct, 1, 1)
    shapes["prelu.weight"] = (widths[-1],)
    shapes["fc.weight"] = (num_classes, widths[-1])
    shapes["fc.bias"] = (num_classes,)
    return shapes


def checkpoint_layout(state):
    """``(code, τ)`` of a BNext-family state dict, or None."""
    if "feature.1.Attention.binary_conv.weight" not in state or "feature.0.bn1.weight" not in state:
        return None
    code = "bnext" if "feature.1.Attention.se.se.3.weight" in state else "esbnn"
    return code, int(np.shape(state["feature.0.bn1.weight"])[0]) // 32


def read_bnext_checkpoint(weights, layout, widths, tau, *, num_classes, include_top, entry):
    """The checked state dict of an official BNext / ES-BNext checkpoint for ``tau``."""
    state = torch_checkpoint.load_state_dict(weights)
    found = checkpoint_layout(state)
    if found is None:
        raise OfficialWeightsError(
            f"this checkpoint is not {entry}'s official network: it looks like {official_weights.describe(state)}."
        )
    code, found_tau = found
    if found_tau != tau:
        raise OfficialWeightsError(
            f"this checkpoint is {_LAYOUTS[code][1]} with tau={found_tau} (its stem BN has "
            f"{32 * found_tau} channels); load it with {entry}(tau={found_tau}, weights=...), got tau={tau}."
        )
    expected = bnext_shapes(layout, widths, tau, num_classes, code=code)
    if not include_top:
        expected = {k: v for k, v in expected.items() if not k.startswith("fc")}
        state = {k: v for k, v in state.items() if not k.startswith("fc")}
    return official_weights.check_keys(state, expected, entry=entry), code


def weight_scales(state, prefix):
    """Per output kernel, mean|clamp(w / T, −1, 1)| of a real-valued (T ≥ 1e-7) binary conv,
    else None (the official conv uses ``sign(w)``)."""
    temperature = float(np.asarray(state[f"{prefix}.binary_conv.temperature"]).reshape(-1)[0])
    if temperature < BINARY_TEMPERATURE:
        return None
    w = np.asarray(state[f"{prefix}.binary_conv.weight"], dtype=np.float64)
    real = np.clip(w / max(temperature, 1e-8), -1.0, 1.0)
    return np.abs(real).reshape(real.shape[0], -1).mean(axis=1)


def _bn(state, prefix, alpha=None, epsilon=official_weights.OFFICIAL_BN_EPSILON):
    """BN arrays; with ``alpha`` (per channel) the BN of ``α·y`` rewritten as a BN of ``y``."""
    g, b, m, v = (np.asarray(state[f"{prefix}.{p}"], dtype=np.float64).reshape(-1) for p in _BN)
    if alpha is not None:
        m, v = m / alpha, (v + epsilon) / alpha**2 - epsilon
    return {"gamma": g, "beta": b, "moving_mean": m, "moving_variance": v}


def sub_block_assignments(state, model, prefix, name, *, kernel_size, attention, tau, code, flip):
    """``[(keras variable, array)]`` of official sub-block ``prefix`` (``feature.3.FFN``)
    → lq_ext sub-block ``name`` (:func:`lq_ext.zoo.es_bnext.bnext_sub_block`), and
    whether its binary conv held real-valued weights (see :func:`bnext_assignments`)."""
    out = []
    assign = official_weights._assigner(model, out)
    alpha = weight_scales(state, prefix)
    if alpha is not None:
        alpha = np.tile(alpha, tau * tau)
    assign(f"{name}_bias", {"bias": np.asarray(state[f"{prefix}.move.bias"]).reshape(-1)})
    assign(f"{name}_conv", {"kernel": _conv(state, f"{prefix}.binary_conv.weight", flip and kernel_size == 3)})
    assign(f"{name}_bn1", _bn(state, f"{prefix}.norm1", alpha))
    assign(f"{name}_act2", {"alpha": state[f"{prefix}.activation2.weight"]})
    if attention:
        assign(f"{name}_act1", {"alpha": state[f"{prefix}.activation1.weight"]})
    assign(f"{name}_mix", {"scale": np.asarray(state[f"{prefix}.scale"]).reshape(-1)})
    for layer, key in ((f"{name}_se_conv1", "se.se.1"), (f"{name}_se_conv2", _LAYOUTS[code][0])):
        assign(layer, {"kernel": _conv(state, f"{prefix}.{key}.weight", False), "bias": state[f"{prefix}.{key}.bias"]})
    assign(f"{name}_bn2", _bn(state, f"{prefix}.norm2"))
    return out, alpha is not None


def _conv(state, key, flip):
    """OIHW → HWIO, spatially flipped for a flipped-input model."""
    kernel = np.asarray(state[key], dtype=np.float32).transpose(2, 3, 1, 0)
    return kernel[::-1, ::-1] if flip else kernel


def bnext_assignments(state, model, *, layout, widths, tau, code, flip):
    """``[(keras variable, array)]`` for every weight of ``model`` (an ``ESBNextTiny``).

    Conventions: ``move`` is the threshold (``x + b``); ``activation1`` (the Attention's
    residual PReLU; unused, and not loaded, in the FFNs) and ``activation2``; ``scale``
    is ClampedMix's ``s`` (``s·input + (1 − s)·x``); SE convs in order; OIHW → HWIO, 3×3
    kernels flipped when ``flip``. A conv whose temperature is ≥ 1e-7 holds real-valued
    weights: it is binarized to ``α_c·sign(w)`` with α_c = mean|clamp(w / T, −1, 1)| of
    its output kernel, α folded into the next BN (repeated τ² times, as the conv output).
    """
    out = []
    assign = official_weights._assigner(model, out)
    assign("stem_conv", {"kernel": _conv(state, "feature.0.conv1.weight", flip)})
    assign("stem_bn", _bn(state, "feature.0.bn1"))
    real, unclamped = [], []
    for p, name, _, k, attention in _sub_blocks(layout):
        scale = np.asarray(state[f"{p}.scale"])
        if k == 3 and (scale.min() < 0 or scale.max() > 1):
            unclamped.append(f"{p}.scale in [{scale.min():.4g}, {scale.max():.4g}]")
        pairs, is_real = sub_block_assignments(
            state, model, p, name, kernel_size=k, attention=attention, tau=tau, code=code, flip=flip
        )
        out += pairs
        if is_real:
            real.append(p)
    assign("head_prelu", {"alpha": state["prelu.weight"]})
    if any(layer.name == "logits" for layer in model.layers):
        assign("logits", {"kernel": np.asarray(state["fc.weight"], dtype=np.float32).T, "bias": state["fc.bias"]})
    if unclamped:
        warnings.warn(
            f"mix scales outside [0, 1]: {unclamped}; the official Attention / FFN_3x3 use them "
            f"unclamped in eval (clamped only in training), lq_ext's ClampedMix clamps them.",
            UserWarning,
            stacklevel=3,
        )
    if real:
        warnings.warn(
            f"{len(real)} of {len(_sub_blocks(layout))} binary convs of this checkpoint hold real-valued "
            f"weights (weight temperature ≥ {BINARY_TEMPERATURE}: the released ES-BNN script never anneals "
            f"it, e.g. {real[0]}); the official forward uses clamp(w / T, −1, 1), lq_ext binarizes them "
            f"to α·sign(w) (α = mean|clamp(w / T)| per output kernel, folded into the next BN). "
            f"This changes the network; see docs/guides/pretrained_weights.md.",
            UserWarning,
            stacklevel=3,
        )
    return out
