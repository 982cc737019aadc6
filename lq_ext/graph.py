"""The one graph-rewrite mechanism: a topological rebuild of a functional Keras model.

Every rewrite in lq_ext goes through :func:`rebuild`: two-step training's real-weight
twin (:mod:`lq_ext.training.two_step`), binary dense → bit-packed conv
(:mod:`lq_ext.converters.rewrite`), full-int8 mode (:mod:`lq_ext.converters.int8`) and
the benchmarks' "LCE alone" model (:mod:`lq_ext.bench.compare`).  One policy for all:

- **Layers.** A *rule* sees each layer call in topological order (input layers
  included) as a :class:`Call` and returns the call's new outputs, built from one or
  more new layers; or None, which rebuilds the layer 1:1 (:meth:`Call.keep`).
- **Weights.** ``weights="copy"`` gives each rebuilt layer the original's weights,
  ``"fresh"`` leaves them as initialised; layers a rule makes get the weights it passes.
- **Nested functional / Sequential models** are recursed: the rule sees their layers,
  and the rebuilt inner model keeps its name.  A Sequential model comes back as a
  functional one with the same layers (its input layer among them).
- **Names.** A rebuilt layer keeps its name, layers a rule adds are named by the rule,
  and the model is named ``name`` (default: the original's).
- **Refused**, with one error naming the model and the layer: subclassed models (they
  have no layer graph) and shared layers (one layer called more than once).

This is the only module of lq_ext that reads Keras' private node structure; those
reads are confined to the three helpers under "Keras internals" below.

Architecture notes: docs/architecture.md
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import tensorflow as tf

from lq_ext._validate import check_choice

__all__ = ["WEIGHT_POLICIES", "Call", "RebuildError", "all_layers", "apply", "consumers", "graph_of", "map_layers",
           "producers", "rebuild", "source_layer"]

#: ``rebuild(weights=)``: ``"copy"`` the original weights, or keep ``"fresh"`` ones.
WEIGHT_POLICIES = ("copy", "fresh")


class RebuildError(ValueError):
    """A model the graph rewrite cannot rebuild (subclassed, shared layers, no inputs)."""


# --------------------------------------------------------------------------- Keras internals
def _is_functional(model) -> bool:
    return isinstance(model, tf.keras.Model) and bool(getattr(model, "_is_graph_network", False))


def _calls(graph, layer) -> list[tuple[int, Any]]:
    """``[(node_index, node)]``: the calls of ``layer`` that belong to ``graph``."""
    return [
        (index, node)
        for index, node in enumerate(layer._inbound_nodes)
        if f"{layer.name}_ib-{index}" in graph._network_nodes
    ]


def _history(value):
    """``(layer, node_index, tensor_index)`` where the Keras tensor ``value`` was made;
    None for anything else."""
    history = getattr(value, "_keras_history", None)
    return None if history is None else (history.layer, history.node_index, history.tensor_index)


# --------------------------------------------------------------------------- the graph
def _check_model(model) -> None:
    if not isinstance(model, tf.keras.Model):
        raise TypeError(f"model must be a tf.keras.Model, got {type(model).__name__}.")


def graph_of(model):
    """``model`` as a functional model over the same layers and calls (a Sequential's
    input layer among its ``layers``), after the checks every rebuild makes.

    # Raises
        TypeError: not a ``tf.keras.Model``.
        RebuildError: a subclassed model (or nested one), no known inputs, or a shared
            layer; the message names the model and the layer.
    """
    _check_model(model)
    if not _is_functional(model):
        if isinstance(model, tf.keras.Sequential):
            raise RebuildError(
                f"Cannot rebuild {model.name!r}: it has no known input shape. Give it an "
                f"Input layer (or build it) first."
            )
        raise RebuildError(
            f"Cannot rebuild {model.name!r}: it is a subclassed model, which has no layer "
            f"graph to rebuild. Build it with the functional API."
        )
    graph = tf.keras.Model(model.inputs, model.outputs, name=model.name)
    for layer in graph.layers:
        if isinstance(layer, tf.keras.Model) and not _is_functional(layer):
            raise RebuildError(
                f"Cannot rebuild {model.name!r}: its layer {layer.name!r} is a subclassed "
                f"model, which has no layer graph to rebuild. Build it with the functional API."
            )
        calls = len(_calls(graph, layer))
        if calls > 1:
            raise RebuildError(
                f"Cannot rebuild {model.name!r}: the graph rewrite does not handle shared "
                f"layers; layer {layer.name!r} is called {calls} times. Give each call its "
                f"own layer."
            )
    return graph


def all_layers(model):
    """Every layer of ``model``, nested models' layers included, each once (breadth first)."""
    seen, stack = set(), list(model.layers)
    while stack:
        layer = stack.pop(0)
        if id(layer) in seen:
            continue
        seen.add(id(layer))
        yield layer
        stack.extend(getattr(layer, "layers", []) or [])


def source_layer(tensor):
    """The layer whose output the Keras (symbolic) tensor ``tensor`` is."""
    history = _history(tensor)
    if history is None:
        raise TypeError(f"expected a Keras symbolic tensor, got {type(tensor).__name__}.")
    return history[0]


def _producers(graph) -> dict[str, list]:
    return {
        layer.name: [source_layer(t) for t in _calls(graph, layer)[0][1].keras_inputs]
        for layer in graph.layers
    }


def producers(model) -> dict[str, list]:
    """``{layer name: [the layers whose outputs its call takes, in order]}`` (input
    layers: ``[]``) over ``model``'s graph; a nested model counts as one layer."""
    return _producers(graph_of(model))


def consumers(model) -> dict[str, list]:
    """``{layer name: [the layers that take its output]}`` over ``model``'s graph (a
    layer that takes an output twice is listed twice)."""
    graph = graph_of(model)
    result = {layer.name: [] for layer in graph.layers}
    for name, sources in _producers(graph).items():
        for source in sources:
            result[source.name].append(graph.get_layer(name))
    return result


def apply(layer, inputs, weights=None):
    """``layer(inputs)``, then ``layer.set_weights(weights)`` unless ``weights`` is None."""
    outputs = layer(inputs)
    if weights is not None:
        layer.set_weights(weights)
    return outputs


# --------------------------------------------------------------------------- rebuild
@dataclass
class Call:
    """One layer call of the model being rebuilt, as a rule sees it.

    # Attributes
        layer: the original layer (an ``InputLayer`` for a model input).
        args, kwargs: the call's arguments, every Keras tensor replaced by its rebuilt
            counterpart (for an input layer: ``(new_input,)``).
        weights: the rebuild's weight policy, ``"copy"`` or ``"fresh"``.
    """

    layer: Any
    args: tuple
    kwargs: dict = field(default_factory=dict)
    weights: str = "copy"

    def keep(self, cls=None, config=None, *, weights=None, args=None):
        """The layer rebuilt 1:1 as ``cls.from_config(config)`` (default: its own class
        and config), called on the rebuilt arguments (``args`` replaces the positional
        ones); returns its outputs.  ``weights``: ``"copy"`` (the original's),
        ``"fresh"``, or a list of arrays; default the rebuild's policy."""
        if isinstance(self.layer, tf.keras.layers.InputLayer):
            return self.args[0]
        cls = type(self.layer) if cls is None else cls
        new = cls.from_config(self.layer.get_config() if config is None else config)
        outputs = new(*(self.args if args is None else args), **self.kwargs)
        weights = self.weights if weights is None else weights
        if isinstance(weights, str):
            check_choice("weights", weights, WEIGHT_POLICIES)
            if weights == "copy":
                new.set_weights(self.layer.get_weights())
        else:
            new.set_weights(weights)
        return outputs


def _new_input(layer):
    config = layer.get_config()
    return tf.keras.Input(
        batch_shape=config["batch_input_shape"],
        dtype=config.get("dtype"),
        sparse=config.get("sparse", False),
        ragged=config.get("ragged", False),
        name=layer.name,
    )


def rebuild(model, rule: Callable[[Call], Any] | None = None, *, name: str | None = None, weights: str = "copy"):
    """A new model in which ``rule`` rebuilds each layer call of ``model``; see the module.

    ``rule(call)`` gets every :class:`Call` in topological order and returns the call's
    new outputs (made from the rebuilt ``call.args`` by one or more new layers; see
    :func:`apply`) or None for :meth:`Call.keep`.  Nested functional models are rebuilt
    by the same rule.  ``model`` itself is never modified.

    # Raises
        TypeError: ``model`` is not a ``tf.keras.Model``.
        RebuildError (a ValueError): a subclassed model (or nested one), a model without
            known inputs, or a shared layer; the message names the layer.
    """
    check_choice("weights", weights, WEIGHT_POLICIES)
    graph = graph_of(model)
    rebuilt_outputs, new_inputs = {}, {}

    def rebuilt(value):
        history = _history(value)
        if history is None:
            return value
        layer, node_index, tensor_index = history
        return tf.nest.flatten(rebuilt_outputs[(id(layer), node_index)])[tensor_index]

    for layer in graph.layers:
        ((node_index, node),) = _calls(graph, layer)
        if isinstance(layer, tf.keras.layers.InputLayer):
            new_inputs[id(layer)] = _new_input(layer)
            call = Call(layer, (new_inputs[id(layer)],), {}, weights)
        else:
            args, kwargs = tf.nest.map_structure(rebuilt, (node.call_args, node.call_kwargs))
            call = Call(layer, tuple(args), dict(kwargs), weights)
        if _is_functional(layer):  # a nested model: its layers go through the rule
            outputs = rebuild(layer, rule, weights=weights)(*call.args, **call.kwargs)
        else:
            outputs = rule(call) if rule is not None else None
            outputs = call.keep() if outputs is None else outputs
        rebuilt_outputs[(id(layer), node_index)] = outputs
    inputs = [new_inputs[id(source_layer(t))] for t in graph.inputs]
    outputs = [rebuilt(t) for t in graph.outputs]
    return tf.keras.Model(
        inputs if len(inputs) > 1 else inputs[0],
        outputs if len(outputs) > 1 else outputs[0],
        name=model.name if name is None else name,
    )


def map_layers(model, fn, *, weights: str = "copy", name_suffix: str | None = None):
    """The 1:1 special case of :func:`rebuild`: ``fn(layer)`` returns ``(cls, config)`` to
    rebuild that layer as ``cls.from_config(config)``, or None to rebuild it as it is.

    ``fn`` sees every layer but the input layers, nested models' layers included (not
    the nested models themselves).  With ``weights="copy"`` a replacement must keep the
    layer's weights.  The model is named ``"<name>_<name_suffix>"``, or as the original.

    # Returns
        ``(clone, names)``: the rebuilt model and the names of the replaced layers, in
        :func:`all_layers` order.
    """
    _check_model(model)
    replaced = set()

    def rule(call):
        if isinstance(call.layer, tf.keras.layers.InputLayer):
            return None
        choice = fn(call.layer)
        if choice is None:
            return None
        replaced.add(id(call.layer))
        cls, config = choice
        return call.keep(cls, config)

    name = None if name_suffix is None else f"{model.name}_{name_suffix}"
    clone = rebuild(model, rule, name=name, weights=weights)
    return clone, tuple(layer.name for layer in all_layers(model) if id(layer) in replaced)
