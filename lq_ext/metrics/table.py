"""Printing only: a fixed-width table of a :class:`ModelCost`, and :func:`summary`.

Nothing here counts; :func:`lq_ext.metrics.profile` does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lq_ext.metrics.cost import ModelCost
from lq_ext.metrics.profile import profile
from lq_ext.precision import MAC_CLASSES, PARAM_CLASSES

__all__ = ["CONVENTIONS", "format_cost", "readable", "summary"]

CONVENTIONS = (
    "Conventions: OPs = BOPs/64 + FLOPs (Bi-Real Net, ReActNet; conv/FC only); "
    "1.58-bit MAC = 2 BOPs (dual-binary); 8-bit MACs count as FLOPs; "
    "ACE = sum of MACs x w_bits x a_bits, float = 16x16 = 256, ternary = 2 bits (PokeBNN); "
    "element-wise ops are not in OPs or ACE."
)

_UNITS = ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"))


def readable(value: float) -> str:
    """A count with 4 significant digits and an SI suffix: ``557.4 M``, ``1.156 G``, ``832``."""
    if value == 0:
        return "0"
    for scale, unit in _UNITS:
        if abs(value) >= scale:
            return f"{value / scale:#.4g} {unit}"
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.4g}"


def _readable_bytes(num_bytes: float) -> str:
    for scale, unit in ((1024**3, "GiB"), (1024**2, "MiB"), (1024, "KiB")):
        if num_bytes >= scale:
            return f"{num_bytes / scale:.2f} {unit}"
    return f"{num_bytes:g} B"


def _shape(shape) -> str:
    if shape is None:
        return "?"
    if isinstance(shape, list):
        return ", ".join(_shape(s) for s in shape)
    dims = ["?" if dim is None else str(dim) for dim in shape[1:]]
    return "x".join(dims) if dims else "scalar"


def _breakdown(counts: dict, keys) -> str:
    return " | ".join(f"{key} {readable(counts[key])}" for key in keys)


def _columns(cost: ModelCost):
    """(header 1, header 2, value of a record) per numeric column; unused classes hidden."""
    params = [key for key in PARAM_CLASSES if cost.params[key]] or ["32-bit"]
    macs = [key for key in MAC_CLASSES if cost.macs[key]] or ["float"]
    columns = [("Params", key, lambda c, k=key: c.params[k]) for key in params]
    columns += [("MACs", key, lambda c, k=key: c.macs[k]) for key in macs]
    columns += [
        ("BOPs", "", lambda c: c.bops),
        ("FLOPs", "", lambda c: c.flops),
        ("ACE", "", lambda c: c.ace),
        ("Elem.", "ops", lambda c: c.elementwise),
    ]
    return columns


def _layer_table(cost: ModelCost) -> list[str]:
    columns = _columns(cost)
    rows = [
        ["Layer", "Type", "Output shape", *(c[0] for c in columns)],
        ["", "", "", *(c[1] for c in columns)],
    ]
    for layer in cost.layers:
        name = layer.name + (" *" if layer.note else "")
        shape = _shape(layer.output_shape) + (f" (x{layer.calls})" if layer.calls > 1 else "")
        rows.append([name, layer.type, shape, *(readable(c[2](layer)) for c in columns)])
    total = ["Total", "", "", *(readable(c[2](cost)) for c in columns)]

    widths = [max(len(row[i]) for row in [*rows, total]) for i in range(len(total))]

    def line(row):
        left = [row[i].ljust(widths[i]) for i in range(3)]
        right = [row[i].rjust(widths[i]) for i in range(3, len(row))]
        return "  ".join(left + right).rstrip()

    rule = "-" * len(line(["x" * w for w in widths]))
    return [line(rows[0]), line(rows[1]), rule, *map(line, rows[2:]), rule, line(total)]


def format_cost(cost: ModelCost) -> str:
    """The per-layer table, the totals and the conventions line, as one string."""
    lines = [f"Model: {cost.name}", *_layer_table(cost), ""]
    totals = [
        ("Parameters", readable(cost.params_total), _breakdown(cost.params, PARAM_CLASSES)),
        (
            "Memory",
            _readable_bytes(cost.memory_bytes),
            f"{cost.memory_bits:,} bits "
            "(per value: binary 1, ternary 2, 2-8-bit ceil(bits), float 32)",
        ),
        ("MACs", readable(cost.macs_total), _breakdown(cost.macs, MAC_CLASSES)),
        ("BOPs", readable(cost.bops), "1-bit MACs + 2 x 1.58-bit MACs"),
        ("FLOPs", readable(cost.flops), "float MACs + 8-bit MACs"),
        ("OPs", readable(cost.ops), "BOPs/64 + FLOPs"),
        ("ACE", readable(cost.ace), "sum of MACs x w_bits x a_bits"),
        ("Element-wise ops", readable(cost.elementwise), "BN, adds, activations; not in OPs"),
    ]
    label_width = max(len(label) for label, _, _ in totals)
    value_width = max(len(value) for _, value, _ in totals)
    lines.append(f"Totals of {cost.name}")
    lines += [
        f"  {label.ljust(label_width)}  {value.rjust(value_width)}   {detail}"
        for label, value, detail in totals
    ]
    skipped = [layer for layer in cost.layers if layer.note]
    if skipped:
        lines.append("* " + "; ".join(f"{layer.name}: {layer.note}" for layer in skipped))
    lines.append(CONVENTIONS)
    return "\n".join(lines)


def summary(model, print_fn: Callable[[str], Any] | None = print) -> ModelCost:
    """Print a cost table of ``model`` and return its :class:`~lq_ext.metrics.ModelCost`.

    The table lists, per layer: name, type, output shape (without batch axis; ``(xN)``
    if the layer runs N times), parameters and MACs by precision class (classes unused
    by the model are hidden), BOPs, FLOPs, ACE and element-wise ops; then the totals
    (parameters, memory, MACs, BOPs, FLOPs, OPs, ACE, element-wise ops) and the
    conventions.  Layers marked ``*`` were not fully counted (reason below the totals).

    # Arguments
        model: a built ``tf.keras.Model`` (see :func:`lq_ext.metrics.profile`).
        print_fn: called once with the whole table; ``None`` prints nothing.

    # Returns
        The same :class:`~lq_ext.metrics.ModelCost` that ``profile(model)`` returns.
    """
    cost = profile(model)
    if print_fn is not None:
        print_fn(format_cost(cost))
    return cost
