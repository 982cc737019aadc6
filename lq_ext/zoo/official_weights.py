"""Official PyTorch checkpoints → zoo models: key layouts, fingerprints, ReActNet-A / BCDNet-A mappings.

ReActNet-A (``liuzechun/ReActNet``, ``mobilenet/2_step2/reactnet.py``): ``feature.0`` is
the stem, ``feature.1``–``feature.13`` the basic blocks, ``fc`` the classifier. Every array
is checked (names and shapes) before the first one is assigned, so a failed load leaves
nothing half-loaded. Guide: docs/guides/pretrained_weights.md.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from lq_ext import torch_checkpoint
from lq_ext.layers import SpatialFlip
from lq_ext.torch_checkpoint import CheckpointError

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "NUMERICS",
    "OFFICIAL_BN_EPSILON",
    "OfficialWeightsError",
    "describe",
    "reactnet_a_assignments",
    "reactnet_a_block_assignments",
    "bcdnet_a_assignments",
    "bcdnet_a_shapes",
    "mlp_unit_assignments",
    "check_full_width",
    "check_keys",
    "check_official_shape",
    "official_input",
    "read_checkpoint",
    "reactnet_a_shapes",
]

#: torchvision's ImageNet normalisation, used by the official training scripts.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

_BN = ("weight", "bias", "running_mean", "running_var")

#: ``numerics=`` choices: the zoo's LCE-friendly defaults, or the official PyTorch network's.
NUMERICS = ("lce", "official")

#: PyTorch's BatchNorm epsilon (the zoo's default is Keras' 1e-3).
OFFICIAL_BN_EPSILON = 1e-5

#: Inputs up to this side use the zoo's small-input layout (``_common.SMALL_INPUT_MAX``).
_SMALL_INPUT_MAX = 64


def official_input(inputs):
    """Zoo input in [−1, 1] → ``(x01 − mean) / std``, then :class:`SpatialFlip`
    (layers ``official_input_norm``, ``official_input_flip``)."""
    mean = np.asarray(IMAGENET_MEAN, dtype=np.float32)
    std = np.asarray(IMAGENET_STD, dtype=np.float32)
    # ((x + 1) / 2 − m) / s  ==  (x − (2m − 1)) / (2s)
    x = tf.keras.layers.Normalization(
        axis=-1, mean=2 * mean - 1, variance=(2 * std) ** 2, name="official_input_norm"
    )(inputs)
    return SpatialFlip(name="official_input_flip")(x)


def check_official_shape(input_shape, *, entry):
    """The flip reproduces PyTorch's stride-2 windows when every strided map is even."""
    height, width = input_shape[:2]
    if height % 32 or width % 32 or max(height, width) <= _SMALL_INPUT_MAX:
        raise ValueError(
            f"{entry}: numerics='official' reproduces the official network for inputs whose "
            f"height and width are multiples of 32 and larger than {_SMALL_INPUT_MAX} px "
            f"(e.g. 224); got input_shape={tuple(input_shape)}."
        )


def check_full_width(width_multiplier, *, entry):
    """Official checkpoints hold the paper's widths: they load only at ``width_multiplier=1.0``."""
    if width_multiplier != 1:
        raise ValueError(
            f"{entry}: official PyTorch checkpoints hold the full-width network and load only "
            f"with width_multiplier=1.0, got width_multiplier={width_multiplier!r}."
        )


def read_checkpoint(weights, expected, *, include_top, entry):
    """The checkpoint's state dict, checked against ``expected`` (``{key: shape}``); the
    classifier keys are dropped without the top."""
    state = torch_checkpoint.load_state_dict(weights)
    if not include_top:
        expected = {k: v for k, v in expected.items() if not k.startswith("fc")}
        state = {k: v for k, v in state.items() if not k.startswith("fc")}
    return check_keys(state, expected, entry=entry)


class OfficialWeightsError(CheckpointError):
    """An official checkpoint that does not fit the model (keys or shapes; the message lists them)."""


#: One key that identifies each official network's state dict (first match wins).
_FINGERPRINTS = (
    ("mlp_layer.0.mlp_layer.0.binary_conv1.weight",
     "BCDNet-A (Sense-GVT/BCDNet prototype/model/a_3.py) → lq_ext.zoo.BCDNetA"),
    ("feature.1.binary_3x3.weights", "ReActNet-A (liuzechun/ReActNet mobilenet/2_step2) → lq_ext.zoo.ReActNetA"),
    ("feature.1.binary_3x3.weight",
     "ReActNet-A's step-1 checkpoint (real-valued weights, liuzechun/ReActNet mobilenet/1_step1); "
     "load the step-2 checkpoint"),
    ("feature.1.Attention.binary_conv.weight",
     "BNext-T / ES-BNext-T (hpi-xnor/BNext, imfinethanks/ESBNN) → lq_ext.zoo.ESBNextTiny"),
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


def reactnet_a_shapes(widths, num_classes=1000, *, flat=True) -> dict:
    """``{key: shape}`` of the official ReActNet-A ``state_dict`` (``num_batches_tracked`` aside).

    ReActNet's binary convs store their weights flat, ``(C_out·C_in·k·k, 1)``, named
    ``weights``; ``flat=False`` gives BCDNet's copy of the blocks (OIHW ``weight``).
    """
    name, shape = ("weights", lambda o, i, k: (o * i * k * k, 1)) if flat else ("weight", lambda o, i, k: (o, i, k, k))
    shapes = {"feature.0.conv1.weight": (widths[0], 3, 3, 3), **_bn_shapes("feature.0.bn1", widths[0])}
    for i, (c_in, c_out) in enumerate(zip(widths[:-1], widths[1:]), start=1):
        p = f"feature.{i}"
        shapes[f"{p}.binary_3x3.{name}"] = shape(c_in, c_in, 3)
        shapes.update(_bn_shapes(f"{p}.bn1", c_in))
        for bias in ("move11", "move12", "move13", "move21"):
            shapes[f"{p}.{bias}.bias"] = (1, c_in, 1, 1)
        shapes[f"{p}.prelu1.weight"] = (c_in,)
        if c_in == c_out:
            shapes[f"{p}.binary_pw.{name}"] = shape(c_in, c_in, 1)
            shapes.update(_bn_shapes(f"{p}.bn2", c_out))
        else:
            for j in (1, 2):
                shapes[f"{p}.binary_pw_down{j}.{name}"] = shape(c_in, c_in, 1)
                shapes.update(_bn_shapes(f"{p}.bn2_{j}", c_in))
        for bias in ("move22", "move23"):
            shapes[f"{p}.{bias}.bias"] = (1, c_out, 1, 1)
        shapes[f"{p}.prelu2.weight"] = (c_out,)
    shapes["fc.weight"] = (num_classes, widths[-1])
    shapes["fc.bias"] = (num_classes,)
    return shapes


def _rprelu_shapes(p, c):
    return {f"{p}.move1.bias": (1, c, 1, 1), f"{p}.prelu.weight": (c,), f"{p}.move2.bias": (1, c, 1, 1)}


def bcdnet_a_shapes(widths, num_classes=1000, *, mlp_blocks=3, shift_blocks=3) -> dict:
    """``{key: shape}`` of the official BCDNet-A (``a_3.py``) ``state_dict``: ReActNet-A's
    blocks ``feature.*`` (OIHW ``weight``), ``mlp_layer.{m}.mlp_layer.{j}`` (shift blocks,
    then a point block), ``fc`` and ``fc_dist``."""
    shapes = reactnet_a_shapes(widths, num_classes, flat=False)
    c = widths[-1]
    for m in range(mlp_blocks):
        for j in range(shift_blocks + 1):
            p = f"mlp_layer.{m}.mlp_layer.{j}"
            convs = ("binary_conv", "binary_conv1", "binary_conv2") if j < shift_blocks else ("binary_conv",)
            shapes[f"{p}.move0.bias"] = (1, c, 1, 1)
            shapes.update({f"{p}.{conv}.weight": (c, c, 1, 1) for conv in convs})
            shapes.update(_bn_shapes(f"{p}.bn1", c))
            shapes.update(_rprelu_shapes(p, c))
    shapes["fc_dist.weight"] = (num_classes, c)
    shapes["fc_dist.bias"] = (num_classes,)
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


def reactnet_a_block_assignments(state, model, index, c_in, c_out, *, flip, name=None, weights="weights"):
    """``[(keras variable, array)]`` of official block ``feature.{index}`` → lq_ext block ``name``
    (default ``block{index}``, layers of :func:`lq_ext.zoo._blocks.reactnet_block`).

    Conventions: LearnableBias ``move11`` / ``move21`` are the thresholds (``x + b``);
    RPReLU is ``move12`` → PReLU → ``move13`` (lq_ext's ``shift_in`` subtracts:
    ``shift_in = −move12``); the channel doubling's ``move22`` / ``prelu2`` / ``move23``
    split into the two halves' RPReLUs; 3×3 kernels are flipped when ``flip``.
    ``weights`` names the binary convs' parameter (BCDNet's copy: ``"weight"``).
    """
    out = []
    assign = _assigner(model, out)
    p, b = f"feature.{index}", name or f"block{index}"
    assign(f"{b}_3x3_bias", {"bias": _channels(state, f"{p}.move11.bias")})
    assign(f"{b}_3x3_conv", {"kernel": _conv(state, f"{p}.binary_3x3.{weights}", (c_in, c_in, 3, 3), flip)})
    assign(f"{b}_3x3_bn", _bn(f"{p}.bn1")(state))
    assign(f"{b}_3x3_act", _rprelu(p, "move12.bias", "prelu1.weight", "move13.bias")(state))
    assign(f"{b}_pw_bias", {"bias": _channels(state, f"{p}.move21.bias")})
    if c_in == c_out:
        assign(f"{b}_pw_conv", {"kernel": _conv(state, f"{p}.binary_pw.{weights}", (c_in, c_in, 1, 1), False)})
        assign(f"{b}_pw_bn", _bn(f"{p}.bn2")(state))
        assign(f"{b}_pw_act", _rprelu(p, "move22.bias", "prelu2.weight", "move23.bias")(state))
        return out
    for j in (1, 2):
        half = slice((j - 1) * c_in, j * c_in)
        kernel = _conv(state, f"{p}.binary_pw_down{j}.{weights}", (c_in, c_in, 1, 1), False)
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


def mlp_unit_assignments(state, model, prefix, name, c):
    """``[(keras variable, array)]`` of BCDNet's ``ShiftBlock`` / ``PointBlock`` ``prefix``
    → lq_ext's :func:`~lq_ext.zoo.bcdnet.shift_block` / ``point_block`` ``name``:
    ``binary_conv`` (unshifted), ``binary_conv1`` (``Shift``, 1 px) and ``binary_conv2``
    (``GlobalShift``) → ``{name}_conv``, ``_conv_short``, ``_conv_long``; ``move0`` is
    the threshold, ``move1`` → PReLU → ``move2`` the RPReLU."""
    out = []
    assign = _assigner(model, out)
    assign(f"{name}_bias", {"bias": _channels(state, f"{prefix}.move0.bias")})
    for conv, suffix in (("binary_conv", ""), ("binary_conv1", "_short"), ("binary_conv2", "_long")):
        if f"{prefix}.{conv}.weight" in state:
            assign(f"{name}_conv{suffix}", {"kernel": _conv(state, f"{prefix}.{conv}.weight", (c, c, 1, 1), False)})
    assign(f"{name}_bn", _bn(f"{prefix}.bn1")(state))
    assign(f"{name}_act", _rprelu(prefix, "move1.bias", "prelu.weight", "move2.bias")(state))
    return out


def bcdnet_a_assignments(state, model, *, widths, flip, mlp_blocks=3, shift_blocks=3):
    """``[(keras variable, array)]`` for BCDNet-A: the conv blocks as ReActNet-A's
    (OIHW ``weight``), the MLP stage (:func:`mlp_unit_assignments`), and the head: with
    ``logits_dist`` both classifiers, else ``fc`` and ``fc_dist`` folded into ``logits``
    as the official inference output ``(fc(f) + fc_dist(f)) / 2``."""
    out = []
    assign = _assigner(model, out)
    assign("stem_conv", {"kernel": _conv(state, "feature.0.conv1.weight", (widths[0], 3, 3, 3), flip)})
    assign("stem_bn", _bn("feature.0.bn1")(state))
    for i, (c_in, c_out) in enumerate(zip(widths[:-1], widths[1:]), start=1):
        out += reactnet_a_block_assignments(state, model, i, c_in, c_out, flip=flip, weights="weight")
    for m in range(mlp_blocks):
        for j in range(shift_blocks + 1):
            name = f"mlp{m + 1}_shift{j + 1}" if j < shift_blocks else f"mlp{m + 1}_point"
            out += mlp_unit_assignments(state, model, f"mlp_layer.{m}.mlp_layer.{j}", name, widths[-1])
    names = {layer.name for layer in model.layers}
    heads = {"fc": _f32(state["fc.weight"]).T, "fc_dist": _f32(state["fc_dist.weight"]).T}
    biases = {"fc": _channels(state, "fc.bias"), "fc_dist": _channels(state, "fc_dist.bias")}
    if "logits_dist" in names:
        assign("logits", {"kernel": heads["fc"], "bias": biases["fc"]})
        assign("logits_dist", {"kernel": heads["fc_dist"], "bias": biases["fc_dist"]})
    elif "logits" in names:
        assign("logits", {"kernel": (heads["fc"] + heads["fc_dist"]) / 2, "bias": (biases["fc"] + biases["fc_dist"]) / 2})
    return out
