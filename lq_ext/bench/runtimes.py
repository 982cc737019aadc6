"""Outputs of a flatbuffer in the stock runtimes a portable file is made for: LiteRT
(``ai-edge-litert``) and TFLite Micro (``tflite-micro``), one sample at a time as a device
runs it. Both packages are optional (the ``tests`` extra). Guide: docs/guides/portable.md
"""

from __future__ import annotations

import numpy as np

from lq_ext.bench.micro import arena_bytes, micro_interpreter

__all__ = ["litert_outputs", "micro_outputs"]


def litert_outputs(flatbuffer: bytes, inputs, *, xnnpack: bool = True, threads: int = 1) -> np.ndarray:
    """LiteRT's outputs of ``flatbuffer`` for each sample of ``inputs`` (batch axis first);
    ``xnnpack=False`` runs LiteRT's builtin kernels without its default delegate."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    resolver = OpResolverType.AUTO if xnnpack else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    interpreter = Interpreter(model_content=flatbuffer, num_threads=threads, experimental_op_resolver_type=resolver)
    interpreter.allocate_tensors()
    source, target = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    outputs = []
    for sample in np.asarray(inputs, np.float32):
        interpreter.set_tensor(source["index"], sample[None])
        interpreter.invoke()
        outputs.append(interpreter.get_tensor(target["index"])[0].copy())
    return np.array(outputs)


def micro_outputs(flatbuffer: bytes, inputs) -> tuple[np.ndarray, int]:
    """TFLite Micro's outputs of ``flatbuffer`` for each sample of ``inputs``, and the tensor
    arena it allocated (:func:`~lq_ext.bench.micro.arena_bytes`)."""
    interpreter = micro_interpreter(flatbuffer)
    outputs = []
    for sample in np.asarray(inputs, np.float32):
        interpreter.set_input(sample[None], 0)
        interpreter.invoke()
        outputs.append(interpreter.get_output(0)[0].copy())
    return np.array(outputs), arena_bytes(interpreter)
