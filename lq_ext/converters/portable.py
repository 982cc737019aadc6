"""The portable target, ``convert(model, path, engine="builtin")``: a flatbuffer of TFLite
builtin int8 ops only, which runs on stock TFLite / LiteRT and on TFLite Micro.

The model goes through full-int8 mode's clone (:mod:`lq_ext.converters.int8`), whose
binary layers :mod:`lq_ext.converters.int8.binary` then writes as int8 ``CONV_2D`` /
``DEPTHWISE_CONV_2D`` (weights ±127 for ±1, so sums are exact; ±1 activations); LCE's MLIR converter (its
graph-def front end, 10× faster here than the stock converter's SavedModel path, same ops)
turns the clone into the flatbuffer, in which no ``Lce*`` op is left (checked).

Guide: docs/guides/portable.md
"""

from __future__ import annotations

import dataclasses

from lq_ext.converters.int8 import Int8Plan
from lq_ext.converters.int8.binary import portable_model
from lq_ext.converters.op_report import OpReport

__all__ = ["ENGINE", "check_builtin_only", "portable_clone"]

#: The ``engine`` of :func:`lq_ext.converters.convert` that selects the portable target.
ENGINE = "builtin"


def portable_clone(clone, plan: Int8Plan):
    """``(model, plan)``: the int8 ``clone`` with its binary layers as builtin int8 ops, and
    ``plan`` with those layers added to ``lowered``.

    # Raises
        ValueError: a layer the portable target cannot write, named with the reason.
    """
    model, lowered = portable_model(clone)
    return model, dataclasses.replace(plan, lowered=(*plan.lowered, *lowered))


def check_builtin_only(ops: OpReport) -> None:
    """Raise ``RuntimeError`` if the flatbuffer of the portable target has a custom op."""
    if ops.custom_ops:
        raise RuntimeError(
            f"the portable flatbuffer has custom op(s) {', '.join(ops.custom_ops)}; the lowering "
            f"missed a layer (please report it with the model)."
        )
