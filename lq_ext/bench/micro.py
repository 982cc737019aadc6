"""TFLite Micro's Python interpreter (the ``tflite-micro`` package): run a portable
flatbuffer and read the tensor arena it needs. x86 reference kernels: relative figures
only. Guide: docs/guides/portable.md
"""

from __future__ import annotations

import os
import tempfile

__all__ = ["arena_bytes", "micro_interpreter"]


def micro_interpreter(flatbuffer: bytes):
    """A TFLite Micro interpreter of ``flatbuffer`` (needs the ``tflite-micro`` package)."""
    from tflite_micro.python.tflite_micro import runtime

    return runtime.Interpreter.from_bytes(flatbuffer)


def arena_bytes(interpreter) -> int:
    """The tensor arena ``interpreter`` allocated, in bytes: the "Arena allocation total"
    its recording allocator prints (to the C++ stderr, captured here)."""
    with tempfile.TemporaryFile() as log:
        saved = os.dup(2)
        os.dup2(log.fileno(), 2)
        try:
            interpreter.print_allocations()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        log.seek(0)
        text = log.read().decode()
    total = next((line for line in text.splitlines() if "Arena allocation total" in line), None)
    if total is None:
        raise RuntimeError(f"TFLite Micro printed no 'Arena allocation total' line: {text[-500:]!r}")
    return int(total.split("total")[1].split()[0])
