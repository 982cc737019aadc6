"""Official PyTorch checkpoints → zoo models: key layout, fingerprints and the ReActNet-A mapping.

ReActNet-A (``liuzechun/ReActNet``, ``mobilenet/2_step2/reactnet.py``): ``feature.0`` is
the stem, ``feature.1``–``feature.13`` the basic blocks, ``fc`` the classifier. Every array
is checked (names and shapes) before the first one is assigned, so a failed load leaves
nothing half-loaded. Guide: docs/guides/pretrained_weights.md.
"""

from __future__ import annotations

import numpy as np

from lq_ext.torch_checkpoint import CheckpointError

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "OfficialWeightsError",
    "describe",
    "reactnet_a_assignments",
    "reactnet_a_block_assignments",
    "check_keys",
    "reactnet_a_shapes",
]

#: torchvision's ImageNet normalisation, used by the official training scripts.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

_BN = ("weight", "bias", "running_mean", "running_var")


class OfficialWeightsError(CheckpointError):
    """An official checkpoint that does not fit the model (keys or shapes; the message lists them)."""


#: One key that identifies each official network's state dict (first match wins).
_FINGERPRINTS = (
    ("mlp_layer.0.mlp_layer.0.binary_conv1.weight",
     "BCDNet-A (Sense-GVT/BCDNet prototype/model/a_3.py); no lq_ext entry loads it yet"),
    ("feature.1.binary_3x3.weights", "ReActNet-A (liuzechun/ReActNet mobilenet/2_step2) → lq_ext.zoo.ReActNetA"),
    ("feature.1.binary_3x3.weight",
     "ReActNet-A's step-1 checkpoint (real-valued weights, liuzechun/ReActNet mobilenet/1_step1); "
     "load the step-2 checkpoint"),
    ("layer1.0.binary_conv.weight",
     "ReActNet's ResNet-18 (liuzechun/ReActNet resnet); no lq_ext entry loads it yet"),
)


def describe(state) -> str:
    """What architecture ``state`` (``{name: array}``) looks like, for error messages."""
    for key, label in _FINGERPRINTS:
        if key in state:
            return label
    return f"an unknown architecture (first keys: {sorted(state)[:5]})"


def _bn_shapes(prefix, channels):
    return {f"{prefix}.{p}": (channels,) for p in _BN}


def reactnet_a_shapes(widths, num_classes=1000) -> dict:
    """``{key: shape}`` of the official ReActNet-A ``state_dict`` (``num_batches_tracked`` aside).

    The binary convs store their weights flat, ``(C_out·C_in·k·k, 1)``, named ``weights``.
    """
    shapes = {"feature.0.conv1.weight": (widths[0], 3, 3, 3), **_bn_shapes("feature.0.bn1", widths[0])}
    for i, (c_in, c_out) in enumerate(zip(widths[:-1], widths[1:]), start=1):
        p = f"feature.{i}"
        shapes[f"{p}.binary_3x3.weights"] = (c_in * c_in * 9, 1)
        shapes.update(_bn_shapes(f"{p}.bn1", c_in))
        for name in ("move11", "move12", "move13", "move21"):
            shapes[f"{p}.{name}.bias"] = (1, c_in, 1, 1)
        shapes[f"{p}.prelu1.weight"] = (c_in,)
        if c_in == c_out:
            shapes[f"{p}.binary_pw.weights"] = (c_in * c_in, 1)
            shapes.update(_bn_shapes(f"{p}.bn2", c_out))
        else:
            for j in (1, 2):
                shapes[f"{p}.binary_pw_down{j}.weights"] = (c_in * c_in, 1)
                shapes.update(_bn_shapes(f"{p}.bn2_{j}", c_in))
        for name in ("move22", "move23"):
            shapes[f"{p}.{name}.bias"] = (1, c_out, 1, 1)
        shapes[f"{p}.prelu2.weight"] = (c_out,)
    shapes["fc.weight"] = (num_classes, widths[-1])
    shapes["fc.bias"] = (num_classes,)
    return shapes


def check_keys(state, expected, *, entry):
    """Raise :class:`OfficialWeightsError` listing missing / unexpected keys and shape mismatches."""
    state = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    if missing and len(missing) > len(expected) // 2:
        raise OfficialWeightsError(
            f"this checkpoint is not {entry}'s official network: it looks like {describe(state)}; "
            f"{len(missing)} of {len(expected)} expected keys are missing (e.g. {missing[:3]})."
        )
    problems = []
    if missing:
        problems.append(f"missing keys: {missing}")
    if unexpected:
        problems.append(f"unexpected keys: {unexpected}")
    for key, shape in expected.items():
        if key in state and tuple(state[key].shape) != tuple(shape):
            problems.append(f"{key}: checkpoint shape {tuple(state[key].shape)}, model expects {tuple(shape)}")
    if problems:
        raise OfficialWeightsError(f"checkpoint does not fit {entry}: " + "; ".join(problems))
    return state


def _f32(array):
    return np.asarray(array, dtype=np.float32)


def _conv(state, key, shape, flip):
    """OIHW (or the flat binary layout) → HWIO, spatially flipped for a flipped-input model."""
    kernel = _f32(state[key]).reshape(shape).transpose(2, 3, 1, 0)
    return kernel[::-1, ::-1] if flip else kernel


def _channels(state, key):
    return _f32(state[key]).reshape(-1)


def _assigner(model, out):
    def layer_weights(name, values):
        layer = model.get_layer(name)
        by_name = {v.name.split("/")[-1].split(":")[0]: v for v in layer.weights}
        for weight_name, array in values.items():
            variable = by_name[weight_name]
            out.append((variable, np.asarray(array, dtype=np.float32).reshape(variable.shape)))

    return layer_weights


def _bn(prefix, sl=slice(None)):
    return lambda state: {
        "gamma": _channels(state, f"{prefix}.weight")[sl],
        "beta": _channels(state, f"{prefix}.bias")[sl],
        "moving_mean": _channels(state, f"{prefix}.running_mean")[sl],
        "moving_variance": _channels(state, f"{prefix}.running_var")[sl],
    }


def _rprelu(p, shift_in, alpha, shift_out, sl=slice(None)):
    return lambda state: {
        "shift_in": -_channels(state, f"{p}.{shift_in}")[sl],
        "alpha": _channels(state, f"{p}.{alpha}")[sl],
        "shift_out": _channels(state, f"{p}.{shift_out}")[sl],
    }


def reactnet_a_block_assignments(state, model, index, c_in, c_out, *, flip, name=None):
    """``[(keras variable, array)]`` of official block ``feature.{index}`` → lq_ext block ``name``
    (default ``block{index}``, layers of :func:`lq_ext.zoo._blocks.reactnet_block`).

    Conventions: LearnableBias ``move11`` / ``move21`` are the thresholds (``x + b``);
    RPReLU is ``move12`` → PReLU → ``move13`` (lq_ext's ``shift_in`` subtracts:
    ``shift_in = −move12``); the channel doubling's ``move22`` / ``prelu2`` / ``move23``
    split into the two halves' RPReLUs; 3×3 kernels are flipped when ``flip``.
    """
    out = []
    assign = _assigner(model, out)
    p, b = f"feature.{index}", name or f"block{index}"
    assign(f"{b}_3x3_bias", {"bias": _channels(state, f"{p}.move11.bias")})
    assign(f"{b}_3x3_conv", {"kernel": _conv(state, f"{p}.binary_3x3.weights", (c_in, c_in, 3, 3), flip)})
    assign(f"{b}_3x3_bn", _bn(f"{p}.bn1")(state))
    assign(f"{b}_3x3_act", _rprelu(p, "move12.bias", "prelu1.weight", "move13.bias")(state))
    assign(f"{b}_pw_bias", {"bias": _channels(state, f"{p}.move21.bias")})
    if c_in == c_out:
        assign(f"{b}_pw_conv", {"kernel": _conv(state, f"{p}.binary_pw.weights", (c_in, c_in, 1, 1), False)})
        assign(f"{b}_pw_bn", _bn(f"{p}.bn2")(state))
        assign(f"{b}_pw_act", _rprelu(p, "move22.bias", "prelu2.weight", "move23.bias")(state))
        return out
    for j in (1, 2):
        half = slice((j - 1) * c_in, j * c_in)
        kernel = _conv(state, f"{p}.binary_pw_down{j}.weights", (c_in, c_in, 1, 1), False)
        assign(f"{b}_pw{j}_conv", {"kernel": kernel})
        assign(f"{b}_pw{j}_bn", _bn(f"{p}.bn2_{j}")(state))
        assign(f"{b}_pw{j}_act", _rprelu(p, "move22.bias", "prelu2.weight", "move23.bias", half)(state))
    return out


def reactnet_a_assignments(state, model, *, widths, flip):
    """``[(keras variable, array)]`` for every ReActNet-A weight of ``model`` from ``state``
    (which passed :func:`check_keys`): stem, blocks (:func:`reactnet_a_block_assignments`)
    and, when ``model`` has its ``logits`` layer, the classifier."""
    out = []
    assign = _assigner(model, out)
    assign("stem_conv", {"kernel": _conv(state, "feature.0.conv1.weight", (widths[0], 3, 3, 3), flip)})
    assign("stem_bn", _bn("feature.0.bn1")(state))
    for i, (c_in, c_out) in enumerate(zip(widths[:-1], widths[1:]), start=1):
        out += reactnet_a_block_assignments(state, model, i, c_in, c_out, flip=flip)
    if any(layer.name == "logits" for layer in model.layers):
        assign("logits", {"kernel": _f32(state["fc.weight"]).T, "bias": _channels(state, "fc.bias")})
    return out
