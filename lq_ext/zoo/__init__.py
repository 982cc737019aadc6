"""Zoo: the papers' networks with larq-zoo / keras.applications signatures.

``lq_ext.zoo.BDNetMobileNet()`` builds a model; ``list_models()`` and
``create_model(name, **kwargs)`` go through the registry (the CLI uses it);
:mod:`lq_ext.zoo.catalog` holds each model's paper, status and published figures.
"""

from lq_ext.zoo import catalog, references
from lq_ext.zoo._common import preprocess_input
from lq_ext.zoo._registry import ModelSpec, create_model, get_model_spec, list_models
from lq_ext.zoo.bcdnet import BCDNetA, BCDNetB, fold_distillation_head
from lq_ext.zoo.bdnet import BDNetMobileNet, BDNetMobileNetNaive
from lq_ext.zoo.es_bnext import ESBNextTiny
from lq_ext.zoo.esbnn import ESReActNet, ESResNet18, ESResNet20
from lq_ext.zoo.pokebnn import PokeBNN, PokeBNN075, PokeBNN1_0, PokeBNN10, PokeBNN14
from lq_ext.zoo.reactnet import ReActNetA

__all__ = [
    "BCDNetA",
    "BCDNetB",
    "BDNetMobileNet",
    "BDNetMobileNetNaive",
    "ESBNextTiny",
    "ESReActNet",
    "ESResNet18",
    "ESResNet20",
    "ModelSpec",
    "PokeBNN",
    "PokeBNN075",
    "PokeBNN10",
    "PokeBNN1_0",
    "PokeBNN14",
    "ReActNetA",
    "catalog",
    "create_model",
    "fold_distillation_head",
    "get_model_spec",
    "list_models",
    "preprocess_input",
    "references",
]
