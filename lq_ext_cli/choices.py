"""What ``lq-ext``'s arguments accept, known without importing lq_ext (or TensorFlow).

The model names come from ``lq_ext/zoo/catalog.py`` (standard library only), loaded by
file path so that the ``lq_ext`` package itself is not executed. The other lists are
copies of library constants that live in modules importing TensorFlow; ``tests/cli``
checks that each copy equals the library's.
"""

from __future__ import annotations

import importlib.util
import os
import sys

#: ``lq_ext.converters.engines.FRONT_ENDS``
FRONT_ENDS = ("graphdef", "saved_model")
#: ``lq_ext.bench.interpreter.KERNEL_CHOICES``
KERNEL_CHOICES = ("auto", "optimized", "indirect_bgemm", "reference")
#: ``lq_ext.data.DATASETS``
DATASETS = (
    "fashion_mnist", "cifar10", "cifar100", "stl10", "oxford_flowers102", "imagenet2012", "imagenet_resized/64x64",
)
#: ``tuple(lq_ext.training.RECIPES)``
RECIPES = ("reactnet", "pokebnn", "bnext", "bcdnet", "quick")
#: ``lq_ext.training.OPTIMIZERS``
OPTIMIZERS = ("adam", "adamw")
#: ``lq_ext.training.schedules.DECAYS``
DECAYS = ("cosine", "linear", "constant")
#: ``lq_ext.distillation.KD_REDUCTIONS``
KD_REDUCTIONS = ("per_sample", "released")
#: ``lq_ext.training.STRATEGIES``
STRATEGIES = ("default", "mirrored", "multi_worker")

_CATALOG = "lq_ext.zoo.catalog"
#: The name it gets when read by path (not ``lq_ext.zoo.catalog``: its package is not imported).
_LOADED_AS = "lq_ext_cli._zoo_catalog"


def load_catalog():
    """The module ``lq_ext/zoo/catalog.py``, without running ``lq_ext/__init__.py``.

    If lq_ext is already imported (``lq_ext.cli.main``), the imported module is used; a
    module read by path is read once.
    """
    for name in (_CATALOG, _LOADED_AS):
        if name in sys.modules:
            return sys.modules[name]
    spec = importlib.util.find_spec("lq_ext")  # finds the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("lq-ext: the lq_ext package is not installed (no 'lq_ext' on sys.path).")
    for root in spec.submodule_search_locations:
        path = os.path.join(root, "zoo", "catalog.py")
        if os.path.isfile(path):
            break
    else:
        raise ImportError(f"lq-ext: no zoo/catalog.py in {list(spec.submodule_search_locations)}.")
    module_spec = importlib.util.spec_from_file_location(_LOADED_AS, path)
    module = importlib.util.module_from_spec(module_spec)
    # Registered before it runs, as an import would: dataclasses look their module up there.
    sys.modules[_LOADED_AS] = module
    try:
        module_spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[_LOADED_AS]
        raise
    return module
