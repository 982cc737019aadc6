"""Pre-conversion folds of RPReLU's shifts, y = PReLU(x − b₁) + b₂ (ReActNet's RPReLU).

- :func:`carry_output_shifts`: b₂ is a per-channel constant added to the residual
  stream. It is dropped and carried forward through every reader: a binarizer's
  threshold (``RSign``: t − b₂), a BatchNorm's moving mean (μ − b₂), a
  ``LearnableBias`` (b + b₂), the next RPReLU's b₁ (b₁ − b₂), a ``Dense`` bias
  (b + b₂·W); and through the layers a per-channel constant passes unchanged: ``Add``
  (offsets summed), average / max pooling (TensorFlow's and TFLite's averages exclude
  the padding), global pooling, ``Flatten`` of a 1×1 map, ``Concatenate`` and
  ``ChannelBroadcast`` on the channel axis. Folded only where every path ends in one of
  those readers (never at a model output).
- :func:`fold_input_shifts`: b₁ subtracted from the residual ``Add`` (read only by the
  RPReLU) moves into the bias of a conv branch of that ``Add`` which only the ``Add``
  reads: a float conv or an ``LceBconv2d``-bound ``QuantConv2D`` (its bias is fused into
  LCE's output transform), a ``BatchNormalization`` (β − b₁) or a ``LearnableBias``.
  An exact-int8 ``BinaryDepthwiseConv2D`` (whose int8 bias would round) with the mean|w|
  scale α instead gets a float 1×1 ``DepthwiseConv2D`` after it, kernel α and bias −b₁:
  one op for the ``MUL`` (α) and the ``SUB`` (b₁).
- :func:`plain_prelus`: an RPReLU left with b₁ = b₂ = 0 becomes a Keras ``PReLU`` (one
  ``PRELU`` op); with only b₁ ≠ 0, ``LearnableBias(−b₁)`` → ``PReLU``.

Each removes a ``SUB`` or ``ADD`` op per folded shift from the flatbuffer; outputs equal
the original's up to float round-off of the moved constants. Guide:
docs/guides/conversion.md
"""

from __future__ import annotations

import larq as lq
import numpy as np
import tensorflow as tf

from lq_ext.graph import all_layers, consumers, graph_of, producers, rebuild, source_layer
from lq_ext.layers import BinaryDepthwiseConv2D, ChannelBroadcast, LearnableBias, RPReLU
from lq_ext.layers.depthwise import DEPTHWISE_CHANNEL_AXES
from lq_ext.quantizers import RSign, mean_abs

__all__ = ["carry_output_shifts", "fold_input_shifts", "fold_rprelu_shifts", "plain_prelus"]

#: :func:`fold_input_shifts` on an exact-int8 depth-wise conv: scale and b₁ in one float op.
_AFFINE = "affine"

_POOLS = (
    tf.keras.layers.AveragePooling2D,
    tf.keras.layers.MaxPooling2D,
    tf.keras.layers.GlobalAveragePooling2D,
    tf.keras.layers.GlobalMaxPooling2D,
)


# --------------------------------------------------------------------------- weights
def _short(variable) -> str:
    return variable.name.split("/")[-1].split(":")[0]


def _named_uniquely(layer) -> bool:
    """Each of ``layer``'s weights has its own short name (how the folds address them)."""
    names = [_short(w) for w in layer.weights]
    return len(set(names)) == len(names)


def _weights(layer) -> dict[str, np.ndarray]:
    """``{short weight name: float64 array}`` (``kernel``, ``bias``, ``threshold``, ...)."""
    return {_short(w): np.asarray(w.numpy(), dtype=np.float64) for w in layer.weights}


def _relayer(call, new_weights: dict, config: dict | None = None):
    """The call's layer rebuilt from ``config`` with its weights, ``new_weights`` (by short
    name) replacing some."""
    layer = call.layer
    new = type(layer).from_config(layer.get_config() if config is None else config)
    outputs = new(*call.args, **call.kwargs)
    old = {_short(w): w.numpy() for w in layer.weights}
    new.set_weights([np.asarray(new_weights.get(_short(w), old.get(_short(w))), dtype=np.float32)
                     for w in new.weights])
    return outputs


def _graph(model):
    graph = graph_of(model)
    readers = consumers(model)
    outputs = {id(source_layer(t)) for t in graph.outputs}
    return graph.layers, producers(model), readers, outputs


def _channels(layer) -> int:
    return int(layer.output.shape[-1])


# --------------------------------------------------------------------------- b₂ forward
def _absorbs(layer) -> bool:
    """``layer`` can take a per-channel offset of its (only) input into its weights."""
    if not _named_uniquely(layer):
        return False
    if isinstance(layer, (lq.layers.QuantConv2D, lq.layers.QuantDepthwiseConv2D)):
        return isinstance(layer.input_quantizer, RSign)
    if type(layer) is tf.keras.layers.BatchNormalization:
        return list(layer.axis) in ([-1], [len(layer.input_shape) - 1])
    if type(layer) is tf.keras.layers.Dense:
        return len(layer.input_shape) == 2
    return isinstance(layer, (RPReLU, LearnableBias))


def _passes(layer) -> bool:
    """A per-channel constant on ``layer``'s inputs comes out as a per-channel constant."""
    if isinstance(layer, _POOLS):
        return layer.data_format == "channels_last"
    if isinstance(layer, (tf.keras.layers.Add, ChannelBroadcast, tf.keras.layers.Dropout)):
        return True
    if isinstance(layer, tf.keras.layers.Concatenate):
        return layer.axis in (-1, len(layer.output_shape) - 1)
    if isinstance(layer, tf.keras.layers.Flatten):
        return all(d == 1 for d in layer.input_shape[1:-1])
    return False


def _passed(layer, offsets: list) -> np.ndarray | None:
    """The offset of ``layer``'s output for the offsets of its inputs (None: zero)."""
    if all(o is None for o in offsets):
        return None
    if isinstance(layer, tf.keras.layers.Concatenate):
        widths = [int(t.shape[-1]) for t in layer.input]
        return np.concatenate([np.zeros(w) if o is None else o for o, w in zip(offsets, widths)])
    if isinstance(layer, tf.keras.layers.Add):
        return sum(o for o in offsets if o is not None)
    (offset,) = offsets
    if isinstance(layer, ChannelBroadcast):
        extra = layer.filters - offset.size
        return np.tile(offset, layer.filters // offset.size) if layer.mode == "tile" else np.pad(offset, (0, extra))
    return offset


def _absorbed(layer, offset: np.ndarray, weights: dict) -> dict:
    """``layer``'s weights such that it reads x − offset as it read x before."""
    if isinstance(layer, (lq.layers.QuantConv2D, lq.layers.QuantDepthwiseConv2D)):
        return {"threshold": weights["threshold"] - offset}
    if isinstance(layer, tf.keras.layers.BatchNormalization):
        return {"moving_mean": weights["moving_mean"] - offset}
    if isinstance(layer, RPReLU):
        return {"shift_in": weights["shift_in"] - offset}
    if isinstance(layer, LearnableBias):
        return {"bias": weights["bias"] + offset}
    return {"bias": weights.get("bias", 0.0) + offset @ weights["kernel"]}  # Dense


def _carried(model) -> list:
    """The RPReLUs whose b₂ can be carried forward (see the module docstring)."""
    layers, _, readers, outputs = _graph(model)
    ok: dict[str, bool] = {}

    def sinks(layer) -> bool:  # every reader of layer's output absorbs or passes on
        if layer.name not in ok:
            ok[layer.name] = id(layer) not in outputs and all(
                _absorbs(r) or (_passes(r) and sinks(r)) for r in readers[layer.name]
            )
        return ok[layer.name]

    return [
        layer for layer in reversed(layers)  # deepest first: short recursions
        if isinstance(layer, RPReLU) and np.any(layer.shift_out.numpy() != 0) and sinks(layer)
    ][::-1]


def carry_output_shifts(model) -> tuple[tf.keras.Model, tuple[str, ...]]:
    """A clone of ``model`` in which every RPReLU's b₂ that can be is carried forward into
    its readers (see the module docstring). ``model`` is never modified.

    # Returns
        ``(model, ())`` — the same object — when nothing is carried, else ``(clone, names
        of the RPReLUs whose b₂ is now 0)``.
    """
    carried = _carried(model)
    if not carried:
        return model, ()
    chosen = {id(layer) for layer in carried}
    layers, sources, _, _ = _graph(model)
    offsets: dict[str, np.ndarray | None] = {}
    updates: dict[int, dict] = {}
    for layer in layers:
        incoming = [offsets.get(s.name) for s in sources[layer.name]]
        offset = None
        if _passes(layer):
            offset = _passed(layer, incoming)
        elif any(o is not None for o in incoming):  # an absorber (checked by _carried)
            (offset_in,) = incoming
            updates[id(layer)] = _absorbed(layer, offset_in, _weights(layer))
            offset = None
        if id(layer) in chosen:
            weights = {**_weights(layer), **updates.get(id(layer), {})}
            offset = weights["shift_out"]
            updates[id(layer)] = {**updates.get(id(layer), {}), "shift_out": np.zeros_like(offset)}
        offsets[layer.name] = offset

    def rule(call):
        update = updates.get(id(call.layer))
        if update is None:
            return None
        config = call.layer.get_config()
        if type(call.layer) is tf.keras.layers.Dense and not config["use_bias"]:
            config["use_bias"] = True
        return _relayer(call, update, config)

    return rebuild(model, rule), tuple(layer.name for layer in carried)


# --------------------------------------------------------------------------- b₁ backward
def _biased(layer) -> str | None:
    """The short name of the weight that shifts ``layer``'s output channels, None if it
    cannot take a shift exactly: ``bias`` (convs, LearnableBias), ``beta`` (BatchNorm)."""
    if not _named_uniquely(layer):
        return None
    if type(layer) is tf.keras.layers.BatchNormalization:
        return "beta" if layer.center and list(layer.axis) in ([-1], [len(layer.input_shape) - 1]) else None
    if isinstance(layer, LearnableBias):
        return "bias"
    if isinstance(layer, BinaryDepthwiseConv2D) and layer.exact_int8:
        plain = not layer.use_bias and layer.activation is tf.keras.activations.linear
        return _AFFINE if plain and layer.scale_kernel else None
    convs = (tf.keras.layers.Conv2D, tf.keras.layers.DepthwiseConv2D, lq.layers.QuantConv2D,
             lq.layers.QuantDepthwiseConv2D)
    if isinstance(layer, convs) and getattr(layer, "groups", 1) == 1 and layer.activation is tf.keras.activations.linear:
        return "bias"
    return None


def _affine(call, shift: np.ndarray):
    """An exact-int8 depth-wise conv (mean|w| scale α) rebuilt without its scale, then a
    float 1×1 ``DepthwiseConv2D`` (kernel α, bias −b₁, named ``<name>_affine``)."""
    layer = call.layer
    integers = _relayer(call, {}, {**layer.get_config(), "scale_kernel": False})
    latent = getattr(layer.depthwise_kernel, "latent_variable", layer.depthwise_kernel)
    alpha = np.reshape(mean_abs(latent, DEPTHWISE_CHANNEL_AXES).numpy(), (1, 1, -1, 1))
    affine = tf.keras.layers.DepthwiseConv2D(1, use_bias=True, name=f"{layer.name}_affine")
    outputs = affine(integers)
    affine.set_weights([alpha, (-shift).astype(np.float32)])
    return outputs


def _input_folds(model) -> dict[int, tuple]:
    """``{id(rprelu): (branch layer, its bias weight name)}`` for :func:`fold_input_shifts`."""
    _, sources, readers, outputs = _graph(model)
    folds = {}
    for layer in all_layers(model):
        if not isinstance(layer, RPReLU) or layer.name not in sources or not np.any(layer.shift_in.numpy() != 0):
            continue
        (add,) = sources[layer.name]
        if not isinstance(add, tf.keras.layers.Add) or len(readers[add.name]) != 1 or id(add) in outputs:
            continue
        for branch in sources[add.name]:
            if readers[branch.name] == [add] and id(branch) not in outputs and _biased(branch) is not None:
                folds[id(layer)] = (branch, _biased(branch))
                break
    return folds


def fold_input_shifts(model) -> tuple[tf.keras.Model, tuple[str, ...]]:
    """A clone of ``model`` in which every RPReLU's b₁ that can be is subtracted in a conv
    branch's bias instead (see the module docstring). ``model`` is never modified.

    # Returns
        ``(model, ())`` when nothing is folded, else ``(clone, names of the RPReLUs whose
        b₁ is now 0)``.
    """
    folds = _input_folds(model)
    if not folds:
        return model, ()
    rprelus = {id(layer): layer for layer in all_layers(model) if id(layer) in folds}
    branches = {id(branch): (rprelus[key], weight) for key, (branch, weight) in folds.items()}

    def rule(call):
        if id(call.layer) in folds:
            return _relayer(call, {"shift_in": np.zeros(_channels(call.layer))})
        if id(call.layer) not in branches:
            return None
        rprelu, weight = branches[id(call.layer)]
        shift = rprelu.shift_in.numpy().astype(np.float64)
        if weight == _AFFINE:
            return _affine(call, shift)
        config = call.layer.get_config()
        if weight == "bias":
            config["use_bias"] = True
        return _relayer(call, {weight: _weights(call.layer).get(weight, 0.0) - shift}, config)

    names = tuple(layer.name for layer in all_layers(model) if id(layer) in folds)
    return rebuild(model, rule), names


# --------------------------------------------------------------------------- lowering
def plain_prelus(model) -> tuple[tf.keras.Model, tuple[str, ...]]:
    """A clone in which every RPReLU with b₂ = 0 is a Keras ``PReLU`` (same name), after a
    ``LearnableBias(−b₁)`` (named ``<name>_shift_in``) where b₁ ≠ 0."""
    lowered = {id(layer) for layer in all_layers(model)
               if isinstance(layer, RPReLU) and not np.any(layer.shift_out.numpy() != 0)}
    if not lowered:
        return model, ()

    def rule(call):
        layer = call.layer
        if id(layer) not in lowered:
            return None
        (x,) = call.args
        shift_in = layer.shift_in.numpy()
        if np.any(shift_in != 0):
            bias = LearnableBias(name=f"{layer.name}_shift_in")
            x = bias(x)
            bias.set_weights([-shift_in])
        rank = len(layer.input_shape)
        prelu = tf.keras.layers.PReLU(shared_axes=list(range(1, rank - 1)) or None, name=layer.name)
        outputs = prelu(x)
        prelu.set_weights([layer.alpha.numpy()])
        return outputs

    names = tuple(layer.name for layer in all_layers(model) if id(layer) in lowered)
    return rebuild(model, rule), names


def fold_rprelu_shifts(model) -> tuple[tf.keras.Model, tuple[str, ...]]:
    """:func:`carry_output_shifts`, then :func:`fold_input_shifts`, then :func:`plain_prelus`.

    # Returns
        ``(model, ())`` when no RPReLU changes, else ``(clone, names of the RPReLUs with
        a shift folded)``.
    """
    carried, out_names = carry_output_shifts(model)
    folded, in_names = fold_input_shifts(carried)
    if not out_names and not in_names:
        return model, ()
    lowered, _ = plain_prelus(folded)
    names = set(out_names) | set(in_names)
    return lowered, tuple(layer.name for layer in all_layers(model) if layer.name in names)
