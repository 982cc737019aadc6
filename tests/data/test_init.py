"""The lq_ext.data package: its public names, where they live, and ``lq_ext.data``
after a bare ``import lq_ext``."""

import ast
import json
import pathlib
import subprocess
import sys

import lq_ext
import lq_ext.data as data
from lq_ext.data import augment, datasets, pipelines, preprocessing, samples, tfds

PUBLIC = {  # name in lq_ext.data -> the module that defines it
    "DATASETS": datasets,
    "DatasetInfo": datasets,
    "DatasetNotAvailableError": datasets,
    "dataset_info": datasets,
    "load_dataset": pipelines,
    "load_fashion_mnist": data.fashion_mnist,
    "to_cifar_shape": data.fashion_mnist,
    "load_samples": samples,
    "preprocess": preprocessing,
    "to_unit_range": preprocessing,
}


def test_public_names_and_their_modules():
    assert sorted(data.__all__) == sorted([*PUBLIC, "SAMPLE_DATASETS"])
    for name, module in PUBLIC.items():
        assert getattr(data, name) is getattr(module, name), name
    assert data.SAMPLE_DATASETS is samples.DATASETS
    assert data.DATASETS is not data.SAMPLE_DATASETS


def test_the_old_module_keeps_its_names():
    # lq_ext.data.pipelines held all of these before the split (and samples held preprocess)
    for name in pipelines.__all__:
        assert getattr(pipelines, name) is getattr(data, name), name
    assert sorted(pipelines.__all__) == [
        "DATASETS", "DatasetInfo", "DatasetNotAvailableError", "dataset_info", "load_dataset",
    ]
    constants = {"PAD": 4, "CROP_FRACTION": 0.875, "RRC_SCALE": (0.08, 1.0),
                 "RRC_RATIO": (0.75, 4.0 / 3.0), "RRC_ATTEMPTS": 10}
    for name, value in constants.items():
        assert getattr(pipelines, name) == getattr(augment, name) == value, name
    assert samples.preprocess is data.preprocess
    assert issubclass(data.DatasetNotAvailableError, FileNotFoundError)
    assert tfds.tfds_dataset is pipelines.tfds_dataset


def test_lq_ext_data_after_a_bare_import_lq_ext():
    script = (
        "import json, sys, lq_ext; "
        "print(json.dumps([lq_ext.data.load_dataset.__module__, 'data' in lq_ext.__all__]))"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == ["lq_ext.data.pipelines", True]
    assert lq_ext.data is data


def test_no_module_of_lq_ext_data_imports_tensorflow_datasets_at_import_time():
    # tfds costs about a second at import: only lq_ext.data.tfds imports it, when called
    package = pathlib.Path(data.__file__).parent
    for path in sorted(package.glob("*.py")):
        tree = ast.parse(path.read_text())
        for node in tree.body:  # module level only
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            assert not any(n.split(".")[0] == "tensorflow_datasets" for n in names), path.name
