"""The larq-zoo contract, run on every registered model (present and future entries alike).

Per entry: the default build, ``input_tensor`` with ``include_top=False`` and ``pooling``,
``num_classes``, ``get_config`` (through ``.h5``) / SavedModel round trips with identical
outputs, the published costs its catalog card says we reproduce, and an LCE conversion
at 32 px with every 1-bit MAC bit-packed. Paper-specific assertions stay in the paper's
test file. The small-input conversion of each entry is a module fixture parametrized by
name, so pytest runs every test of one entry in a row and drops its model before the next
entry (holding all of them grew the worker past 9 GB); full-size builds and profiles come
from the file's cache in conftest.py.
"""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

import lq_ext
from lq_ext.layers import BinaryDepthwiseConv2D
from lq_ext.zoo import catalog, get_model_spec, list_models
from lq_ext.zoo.references import BlurPoolInitializer

#: Keras' initializer lookup goes by bare class name, not the registered "lq_ext>" one.
CUSTOM_OBJECTS = {"BlurPoolInitializer": BlurPoolInitializer}

NAMES = list_models()
CATALOG_PATH = Path(lq_ext.__file__).parent / "zoo" / "catalog.py"


def _x(n=2, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, size=(n, 32, 32, 3)).astype(np.float32)


def _outputs(model, x):
    return model(x, training=False).numpy()  # eager: tracing a few hundred layers is slow


def significant_digits(figure: float) -> int:
    """Significant digits of a figure as printed (``0.87e8`` → 2, ``4.82e9`` → 3)."""
    digits = f"{figure:.15g}".split("e")[0].replace(".", "").replace("-", "")
    return len(digits.strip("0"))


def at_paper_precision(measured: float, figure: float) -> float:
    """``measured`` rounded to ``figure``'s significant digits."""
    return float(f"{measured:.{significant_digits(figure)}g}")


def test_significant_digits_by_hand():
    assert [significant_digits(f) for f in (0.87e8, 4.82e9, 33e6, 2.6e9, 4_222_541_824, 69.4)] == [2, 3, 2, 2, 10, 3]
    assert at_paper_precision(87_126_016, 0.87e8) == 0.87e8
    assert at_paper_precision(88_608_512, 0.89e8) == 0.89e8 and at_paper_precision(88_608_512, 0.886e8) == 0.886e8


# --- the catalog --------------------------------------------------------------------------


def test_catalog_names_every_registered_model():
    assert catalog.MODEL_NAMES == tuple(NAMES)
    assert NAMES == sorted(NAMES) and len(NAMES) == len(set(NAMES))


@pytest.mark.parametrize("name", NAMES)
def test_spec_reads_its_card(name):
    spec, card = get_model_spec(name), catalog.card(name)
    assert spec.card is card
    assert (spec.description, spec.engine, spec.reference) == (card.description, card.engine, card.reference)
    assert spec.paper == f"arXiv:{card.arxiv}"
    assert card.status in catalog.STATUSES and card.official and card.paper
    assert (card.status == "reference") == (not card.reconstructed)
    assert set(card.reproduced) <= {k for k, v in card.figures().items() if k != "top1"}
    if not card.reference:
        assert card.docs == f"docs/models/{card.docs.rsplit('/', 1)[-1]}" and card.docs.endswith(".md")
        entry = card.entry.rsplit(".", 1)[-1]
        assert getattr(lq_ext.zoo, entry) is spec.fn


def test_catalog_imports_without_tensorflow_or_lq_ext():
    """``lq-ext list`` loads catalog.py by its path, before (and instead of) TensorFlow."""
    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('zoo_catalog', {str(CATALOG_PATH)!r})\n"
        "module = importlib.util.module_from_spec(spec)\n"
        "sys.modules['zoo_catalog'] = module\n"
        "spec.loader.exec_module(module)\n"
        "print(module.format_table())\n"
        "assert 'tensorflow' not in sys.modules and 'lq_ext' not in sys.modules, sorted(sys.modules)\n"
        "print(len(module.MODEL_NAMES))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[-1] == str(len(NAMES))
    table = "\n".join(lines[:-1])
    assert table.splitlines()[0].split()[:3] == ["name", "status", "paper"]
    for name in NAMES:
        assert any(line.split()[0] == name for line in table.splitlines()[2:])
    assert "69.4 %" in table and "arXiv:2209.01404" in table


def test_registry_lists_references_and_rejects_unknown_names():
    assert "quicknet_small" in list_models() and "quicknet_small" not in list_models(include_references=False)
    with pytest.raises(KeyError, match="Unknown model name 'bdnet_mobilnet'. Did you mean bdnet_mobilenet"):
        get_model_spec("bdnet_mobilnet")


def test_format_table_without_references():
    table = catalog.format_table(include_references=False)
    names = [line.split()[0] for line in table.splitlines()[2:]]
    assert names == list_models(include_references=False)


def test_deprecated_figure_constants_come_from_the_catalog():
    from lq_ext.zoo import bcdnet, bdnet

    with pytest.warns(DeprecationWarning, match="PAPER_OPS is deprecated"):
        assert bdnet.PAPER_OPS == 33e6
    with pytest.warns(DeprecationWarning, match="PAPER_COSTS is deprecated"):
        costs = bcdnet.PAPER_COSTS
    assert costs == {
        "bcdnet_a": {"bops": 4.82e9, "flops": 0.12e8, "ops": 0.87e8, "top1": 71.8},
        "bcdnet_b": {"bops": 4.82e9, "flops": 0.14e8, "ops": 0.89e8, "top1": 72.3},
        "reactnet_a": {"bops": 4.82e9, "flops": 0.12e8, "ops": 0.87e8, "top1": 69.4},
    }


# --- the larq-zoo contract ----------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_default_build(name, zoo):
    model = zoo.build(name)
    assert model.input_shape == (None, 224, 224, 3)
    assert model.output_shape == (None, 1000)


@pytest.mark.parametrize("name", NAMES)
def test_input_tensor_without_top_and_pooling(name):
    tensor = tf.keras.Input((32, 32, 3))
    model = lq_ext.zoo.create_model(name, input_tensor=tensor, include_top=False, pooling="avg")
    assert model.inputs[0] is tensor
    assert len(model.output_shape) == 2  # pooled features (N, C)
    features = _outputs(model, _x())
    assert features.shape == (2, model.output_shape[-1]) and np.all(np.isfinite(features))


@pytest.fixture(scope="module", params=NAMES)
def converted(request, tmp_path_factory, convert_small):
    """``(model, ConversionResult)`` of one entry at 32 px (conftest.py's recipe)."""
    return convert_small(request.param, tmp_path_factory.mktemp(request.param))


def test_num_classes_and_round_trips(converted, tmp_path):
    model, _ = converted  # built at 32 px with num_classes=10, weights prepared
    assert model.output_shape == (None, 10)
    x = _x()
    expected = _outputs(model, x)
    # .h5 loading is get_config → from_config → set weights: the config round trip itself
    model.save(tmp_path / "model.h5")
    np.testing.assert_array_equal(_outputs(tf.keras.models.load_model(tmp_path / "model.h5", custom_objects=CUSTOM_OBJECTS), x), expected)
    # save_traces=False: the layers are rebuilt from their configs (all registered), which
    # skips tracing every layer's call (minutes for the deep entries).
    model.save(tmp_path / "saved", save_format="tf", save_traces=False)
    np.testing.assert_array_equal(_outputs(tf.keras.models.load_model(tmp_path / "saved", custom_objects=CUSTOM_OBJECTS), x), expected)


REPRODUCED = [n for n in NAMES if get_model_spec(n).card is not None and get_model_spec(n).card.reproduced]


@pytest.mark.parametrize("name", REPRODUCED)
def test_costs_reproduce_the_published_figures(name, zoo):
    card = catalog.card(name)
    size = card.input_size
    cost = zoo.profile(name) if size == 224 else zoo.profile(name, input_shape=(size, size, 3))
    for figure in card.reproduced:
        published = getattr(card, figure)
        assert at_paper_precision(getattr(cost, figure), published) == published, (figure, getattr(cost, figure))


def test_conversion_bitpacks_every_binary_mac(converted):
    model, result = converted
    ops, cost = result.ops, lq_ext.profile(model)
    # every 1-bit MAC LCE can bit-pack is bit-packed: all but depth-wise ones (LCE has no
    # binary depth-wise kernel; BD-Net's naive baseline runs them as exact int8)
    depthwise_layers = {l.name for l in model.layers if isinstance(l, BinaryDepthwiseConv2D)}
    depthwise = sum(l.macs["1-bit"] for l in cost.layers if l.name in depthwise_layers)
    assert ops.macs_by_class["bitpacked"] == cost.macs["1-bit"] - depthwise
    assert not ops.unpacked_outputs  # every re-binarized bconv output is bit-packed
    assert not any(op.startswith("Flex") for op in ops.op_counts)
    if cost.macs["1-bit"]:
        assert ops.count("LceBconv2d") > 0
    if cost.macs["1-bit"] and cost.macs["1.58-bit"] == 0 and not depthwise:
        assert ops.bitpacked_share == 1.0
