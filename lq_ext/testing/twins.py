"""Keyword parity of a quantized layer with its Keras / Larq twin (larq's ``test_layer_kwargs``).

A layer such as :class:`lq_ext.layers.BinaryDense` must accept every keyword argument of
the layer it stands in for (``lq.layers.QuantDense``), with the same default, apart from
what is listed: its own extra arguments and the defaults it changes on purpose.
Arguments it passes on through ``**kwargs`` count as accepted; their defaults are
compared on the configurations of the two layers built with the same required
arguments.
"""

from __future__ import annotations

import inspect

__all__ = ["keyword_mismatches"]

_SKIP = {"self", "kwargs"}


def _parameters(cls) -> dict[str, inspect.Parameter]:
    return {
        name: parameter
        for name, parameter in inspect.signature(cls.__init__).parameters.items()
        if name not in _SKIP and parameter.kind is not inspect.Parameter.VAR_POSITIONAL
    }


def _default(parameter) -> str:
    return "required" if parameter.default is inspect.Parameter.empty else repr(parameter.default)


def _takes_var_keyword(cls) -> bool:
    return any(
        parameter.kind is inspect.Parameter.VAR_KEYWORD
        for parameter in inspect.signature(cls.__init__).parameters.values()
    )


def keyword_mismatches(
    layer_cls,
    twin_cls,
    *,
    required=None,
    extras=(),
    changed_defaults=(),
    replaced=(),
) -> list[str]:
    """What keeps ``layer_cls`` from taking ``twin_cls``'s keyword arguments and defaults.

    # Arguments
        layer_cls, twin_cls: the quantized layer and the Keras / Larq layer it replaces.
        required: arguments both need to be built (e.g. ``{"units": 4}``), used to
            compare the defaults of the arguments ``layer_cls`` passes on as ``**kwargs``.
        extras: arguments of ``layer_cls`` the twin does not have.
        changed_defaults: twin arguments whose default ``layer_cls`` changes on purpose.
        replaced: twin arguments that ``layer_cls`` derives from its own (e.g. a kernel
            quantizer chosen by ``kernel_bits``).

    # Returns
        One sentence per mismatch; an empty list when the layers agree.
    """
    ours, theirs = _parameters(layer_cls), _parameters(twin_cls)
    extras, changed, replaced = set(extras), set(changed_defaults), set(replaced)
    problems = []
    for name in sorted(set(ours) - set(theirs) - extras):
        problems.append(f"{name}: not an argument of {twin_cls.__name__} and not listed as an extra")
    for name in sorted(extras & set(theirs)):
        problems.append(f"{name}: listed as an extra but {twin_cls.__name__} has it")
    for name in sorted(changed - set(theirs)):
        problems.append(f"{name}: listed as a changed default but {twin_cls.__name__} has no such argument")
    passed_on = []
    for name, parameter in theirs.items():
        if name in replaced:
            continue
        if name not in ours:
            if _takes_var_keyword(layer_cls):
                passed_on.append(name)
            else:
                problems.append(f"{name}: {twin_cls.__name__} takes it, {layer_cls.__name__} does not")
            continue
        same = ours[name].default == parameter.default
        if same and name in changed:
            problems.append(f"{name}: listed as a changed default but both default to {_default(parameter)}")
        elif not same and name not in changed:
            problems.append(
                f"{name}: default {_default(ours[name])}, {twin_cls.__name__}'s is {_default(parameter)}"
            )
    if passed_on:
        required = dict(required or {})
        our_config = layer_cls(**required).get_config()
        twin_config = twin_cls(**required).get_config()
        for name in passed_on:
            if name not in twin_config:
                continue  # not part of the configuration: nothing to compare
            if name not in our_config:
                problems.append(f"{name}: missing from {layer_cls.__name__}'s configuration")
                continue
            same = our_config[name] == twin_config[name]
            if same and name in changed:
                problems.append(f"{name}: listed as a changed default but both configure {twin_config[name]!r}")
            elif not same and name not in changed:
                problems.append(
                    f"{name}: configured {our_config[name]!r} by default, "
                    f"{twin_cls.__name__} {twin_config[name]!r}"
                )
    return problems
