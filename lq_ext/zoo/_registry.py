"""Model registry: names → zoo entry points, for the CLI, benchmarks and tests.

Each registered name has a card in :mod:`lq_ext.zoo.catalog` (paper, status, published
figures); :class:`ModelSpec` carries it next to the entry point.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable
from dataclasses import dataclass

import tensorflow as tf

from lq_ext._validate import check_choice
from lq_ext.lce_rules import ENGINES
from lq_ext.zoo import catalog
from lq_ext.zoo.catalog import ModelCard


@dataclass(frozen=True)
class ModelSpec:
    """One registered model.

    # Attributes
        name: registry key (snake_case).
        fn: the entry point; keyword-only larq-zoo signature.
        description: one line for listings.
        paper: arXiv id (``arXiv:…``) or citation of the defining paper.
        engine: the converter that suits it: ``"lce"`` (binary models) or ``"tflite"``
            (float reference models, standard TFLite converter).
        reference: True for third-party reference models (larq-zoo, Keras applications).
        card: the model's :class:`~lq_ext.zoo.catalog.ModelCard` (paper, status,
            published figures), or None for a model registered without one.
    """

    name: str
    fn: Callable[..., tf.keras.Model]
    description: str
    paper: str = ""
    engine: str = "lce"
    reference: bool = False
    card: ModelCard | None = None

    def parameters(self) -> tuple[str, ...] | None:
        """The keyword arguments the entry point takes, or None if it takes any (``**kwargs``)."""
        params = inspect.signature(self.fn).parameters.values()
        if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
            return None
        return tuple(p.name for p in params if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD))

    def build(self, **kwargs) -> tf.keras.Model:
        """Build the model; an argument the entry point does not take is refused by name."""
        known = self.parameters()
        unknown = sorted(set(kwargs) - set(known)) if known is not None else []
        if unknown:
            raise TypeError(
                f"{self.name} takes no argument {unknown[0]!r}; its arguments are: "
                f"{', '.join(known)}."
            )
        return self.fn(**kwargs)


_MODELS: dict[str, ModelSpec] = {}


def register_model(name, *, description=None, paper=None, engine=None, reference=None):
    """Decorator registering a zoo entry point under ``name``.

    The metadata comes from ``name``'s card in :mod:`lq_ext.zoo.catalog`; a model
    without a card must pass ``description`` (and may pass ``paper``, ``engine``,
    ``reference``), which also override the card's.
    """
    card = catalog.CARDS.get(name)
    if card is None and description is None:
        raise ValueError(
            f"{name!r} has no card in lq_ext/zoo/catalog.py: add one (paper, status, "
            f"published figures) or pass description=."
        )
    if card is not None:
        description = card.description if description is None else description
        paper = (f"arXiv:{card.arxiv}" if card.arxiv else card.paper) if paper is None else paper
        engine = card.engine if engine is None else engine
        reference = card.reference if reference is None else reference
    engine = check_choice("engine", "lce" if engine is None else engine, ENGINES)

    def decorator(fn):
        if name in _MODELS:
            raise ValueError(f"A model named {name!r} is already registered.")
        _MODELS[name] = ModelSpec(name, fn, description, paper or "", engine, bool(reference), card)
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
