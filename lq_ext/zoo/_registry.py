"""Model registry: names → zoo entry points, for the CLI, benchmarks and tests."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Callable

import tensorflow as tf

ENGINES = ("lce", "tflite")


@dataclass(frozen=True)
class ModelSpec:
    """One registered model.

    # Attributes
        name: registry key (snake_case).
        fn: the entry point; keyword-only larq-zoo signature.
        description: one line for listings.
        paper: arXiv id or citation of the defining paper.
        engine: the converter that suits it: ``"lce"`` (binary models) or ``"tflite"``
            (float reference models, standard TFLite converter).
        reference: True for third-party reference models (larq-zoo, Keras applications).
    """

    name: str
    fn: Callable[..., tf.keras.Model]
    description: str
    paper: str = ""
    engine: str = "lce"
    reference: bool = False

    def build(self, **kwargs) -> tf.keras.Model:
        return self.fn(**kwargs)


_MODELS: dict[str, ModelSpec] = {}


def register_model(name, *, description, paper="", engine="lce", reference=False):
    """Decorator registering a zoo entry point under ``name``."""
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {list(ENGINES)}, got engine={engine!r}.")

    def decorator(fn):
        if name in _MODELS:
            raise ValueError(f"A model named {name!r} is already registered.")
        _MODELS[name] = ModelSpec(name, fn, description, paper, engine, reference)
        return fn

    return decorator


def list_models(*, include_references: bool = True) -> list[str]:
    """Registered model names, sorted; ``include_references=False`` keeps lq_ext's own."""
    return sorted(n for n, s in _MODELS.items() if include_references or not s.reference)


def get_model_spec(name: str) -> ModelSpec:
    """The :class:`ModelSpec` of ``name``; a KeyError lists the close matches."""
    try:
        return _MODELS[name]
    except KeyError:
        close = difflib.get_close_matches(name, _MODELS, n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise KeyError(
            f"Unknown model name {name!r}.{hint} Available: {', '.join(list_models())}."
        ) from None


def create_model(name: str, **kwargs) -> tf.keras.Model:
    """Build the registered model ``name`` with the zoo keyword arguments ``kwargs``."""
    return get_model_spec(name).build(**kwargs)
