"""``lq_ext_cli``: the TensorFlow-free launcher of ``lq-ext`` (help, list, usage errors,
quiet TensorFlow logs), and the agreement of its TF-free lists with the library's."""

import argparse
import configparser
import importlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import setuptools

import lq_ext_cli
from lq_ext.bench.interpreter import KERNEL_CHOICES
from lq_ext.converters.engines import FRONT_ENDS
from lq_ext.data import DATASETS
from lq_ext.distillation import KD_REDUCTIONS
from lq_ext.training import OPTIMIZERS, RECIPES, STRATEGIES
from lq_ext.training.schedules import DECAYS
from lq_ext.zoo import get_model_spec, list_models
from lq_ext_cli import choices
from lq_ext_cli.arguments import parse_model_arg

ROOT = Path(__file__).resolve().parents[2]
#: A line of TensorFlow's C++ log ("2026-12-06 06:56:38.043106: I tensorflow/...") or the
#: second line of its CPU-feature message.
TF_LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: [IWEF] |^To enable the following instructions", re.MULTILINE)
#: Runs ``lq_ext_cli.main(argv)`` like the console script, then reports what got imported.
WRAPPER = """
import sys
from lq_ext_cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as exit:
    code = exit.code
print("IMPORTED tensorflow=%s lq_ext=%s" % ("tensorflow" in sys.modules, "lq_ext" in sys.modules))
sys.exit(code)
"""


def _lq_ext(*argv, timeout=60, python_args=("-c", WRAPPER)):
    """``lq-ext *argv`` in a fresh Python with this checkout first on the path, and
    TF_CPP_MIN_LOG_LEVEL unset (the test session sets it)."""
    env = {key: value for key, value in os.environ.items() if key != "TF_CPP_MIN_LOG_LEVEL"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
    return subprocess.run(
        [sys.executable, *python_args, *argv], capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT, check=False
    )


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["--help"], ["usage: lq-ext [-h] [--verbose] COMMAND", "summary", "convert", "inspect", "bench", "demo", "train", "list"]),
        (["convert", "--help"], ["usage: lq-ext convert", "bdnet_mobilenet", "--int8", "--no-verify"]),
        (["train", "--help"], ["usage: lq-ext train", "fashion_mnist", "--kd-temperature"]),
        (["bench", "--help"], ["--kernel {auto,optimized,indirect_bgemm,reference}", "--ssh USER@HOST"]),
        (["list"], ["bdnet_mobilenet ", "bdnet_mobilenet_naive", "quicknet_small"]),
        (["--verbose", "list"], ["bdnet_mobilenet ", "quicknet_small"]),
    ],
)
def test_help_and_list_answer_without_tensorflow(argv, expected):
    result = _lq_ext(*argv)
    assert result.returncode == 0, result.stderr
    for text in expected:
        assert text in result.stdout
    assert "IMPORTED tensorflow=False lq_ext=False" in result.stdout
    assert TF_LOG_LINE.search(result.stdout + result.stderr) is None


def test_usage_errors_exit_2_without_tensorflow():
    result = _lq_ext("summary", "bdnet_mobilnet")
    assert result.returncode == 2 and "invalid choice: 'bdnet_mobilnet'" in result.stderr
    result = _lq_ext("bench", "model.tflite", "--ssh", "pi@raspberrypi.local")
    assert result.returncode == 2 and "--ssh needs --tool PATH" in result.stderr
    result = _lq_ext("train", "bdnet_mobilenet", "--dataset", "fashion_mnist", "--output-dir", "run", "--kd-temperature", "4")
    assert result.returncode == 2 and "--kd-temperature needs --teacher" in result.stderr
    assert result.stdout.count("IMPORTED tensorflow=False lq_ext=False") == 1


def test_tensorflow_logs_are_quiet_by_default_and_back_with_verbose(tmp_path):
    missing = str(tmp_path / "missing.tflite")
    quiet = _lq_ext("inspect", missing, timeout=300)
    assert quiet.returncode == 1 and "IMPORTED tensorflow=True" in quiet.stdout  # the command did load TF
    assert quiet.stderr.splitlines() == [
        f"lq-ext inspect: error: No TFLite model at path={missing!r}: the file does not exist."
    ]
    verbose = _lq_ext("--verbose", "inspect", missing, timeout=300)
    assert verbose.returncode == 1 and "lq-ext inspect: error: No TFLite model" in verbose.stderr
    assert TF_LOG_LINE.search(verbose.stderr) is not None  # e.g. oneDNN's or the CPU-feature line


def test_log_level_set_before_tensorflow_loads(monkeypatch, capsys):
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
    assert lq_ext_cli.main(["list"]) == 0
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "3"
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "1")  # the user's own setting wins
    assert lq_ext_cli.main(["list"]) == 0
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "1"
    assert lq_ext_cli.main(["--verbose", "list"]) == 0
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "0"
    assert capsys.readouterr().out.count("quicknet_small") == 3


def test_python_dash_m_runs_lq_ext():
    for module in ("lq_ext_cli", "lq_ext.cli"):
        result = _lq_ext("list", python_args=("-m", module), timeout=300)
        assert result.returncode == 0, result.stderr
        assert "bdnet_mobilenet_naive" in result.stdout and "reactnet_a" in result.stdout


def test_catalog_lists_every_registered_model():
    catalog = choices.load_catalog()
    assert catalog.MODEL_NAMES == tuple(list_models())
    table = catalog.format_table(include_references=True)
    for name in list_models():
        assert name in table and get_model_spec(name).description in table


def test_catalog_loads_by_path_without_lq_ext():
    code = "import sys; from lq_ext_cli.choices import load_catalog; c = load_catalog(); print(len(c.MODEL_NAMES), 'lq_ext' in sys.modules)"
    result = _lq_ext(python_args=("-c", code))
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [str(len(list_models())), "False"]


def test_catalog_read_by_path_may_define_dataclasses(tmp_path):
    """A catalog with a dataclass (``from __future__ import annotations``) loads by path:
    the loader registers the module in ``sys.modules`` before running it, as dataclasses need."""
    package = tmp_path / "lq_ext"
    (package / "zoo").mkdir(parents=True)
    (package / "__init__.py").write_text("raise ImportError('the launcher must not run lq_ext/__init__.py')\n")
    (package / "zoo" / "catalog.py").write_text(
        "from __future__ import annotations\n"
        "from dataclasses import dataclass\n\n"
        "@dataclass(frozen=True)\n"
        "class Card:\n"
        "    name: str\n\n"
        "MODEL_NAMES = ('toy_a', 'toy_b')\n\n"
        "def format_table(include_references: bool = True) -> str:\n"
        "    return '\\n'.join('card ' + Card(n).name for n in MODEL_NAMES)\n"
    )
    env = {key: value for key, value in os.environ.items() if key != "TF_CPP_MIN_LOG_LEVEL"}
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), str(ROOT)])
    result = subprocess.run(
        [sys.executable, "-c", WRAPPER, "list"], capture_output=True, text=True, timeout=60, env=env, cwd=tmp_path,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[:2] == ["card toy_a", "card toy_b"]
    result = subprocess.run(
        [sys.executable, "-c", WRAPPER, "summary", "toy_c"], capture_output=True, text=True, timeout=60, env=env,
        cwd=tmp_path, check=False,
    )
    assert result.returncode == 2 and "invalid choice: 'toy_c' (choose from 'toy_a', 'toy_b')" in result.stderr


def test_tf_free_choices_equal_the_library_constants():
    assert choices.KERNEL_CHOICES == KERNEL_CHOICES
    assert choices.FRONT_ENDS == FRONT_ENDS
    assert choices.DATASETS == DATASETS
    assert choices.RECIPES == tuple(RECIPES)
    assert choices.OPTIMIZERS == OPTIMIZERS
    assert choices.DECAYS == DECAYS
    assert choices.STRATEGIES == STRATEGIES
    assert choices.KD_REDUCTIONS == KD_REDUCTIONS


def test_every_command_is_in_the_table_once():
    names = [command.name for command in lq_ext_cli.COMMANDS]
    assert names == ["list", "summary", "convert", "inspect", "diagnose", "bench", "demo", "train"]
    for command in lq_ext_cli.COMMANDS:
        module, function = command.run.split(":")
        assert module in ("lq_ext_cli", "lq_ext.cli.commands", "lq_ext.cli.train")
        assert callable(getattr(importlib.import_module(module), function))


def test_console_script_entry_point_is_the_launcher():
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    assert config["options.entry_points"]["console_scripts"].strip() == "lq-ext = lq_ext_cli:main"
    include = config["options.packages.find"]["include"].split()
    packages = setuptools.find_packages(where=str(ROOT), include=include)
    assert "lq_ext_cli" in packages and "lq_ext.cli" in packages and "lq_ext.bench" in packages
    assert not any(package.startswith("tests") for package in packages)


@pytest.mark.parametrize(
    "text, expected",
    [("tau=1", ("tau", 1)), ("rtol=1e-3", ("rtol", 1e-3)), ("flag=True", ("flag", True)),
     ("pad_values=none", ("pad_values", None)), ("numerics=official", ("numerics", "official"))],
)
def test_model_arg_values_are_typed(text, expected):
    assert parse_model_arg(text) == expected


@pytest.mark.parametrize(
    "text, message",
    [("tau", "expected NAME=VALUE"), ("1x=2", "expected NAME=VALUE"), ("weights=a.h5", "use --weights"),
     ("input_shape=32", "use --input-shape")],
)
def test_bad_model_args_exit_2_naming_the_flag(text, message):
    with pytest.raises(argparse.ArgumentTypeError, match=message):
        parse_model_arg(text)
    result = _lq_ext("summary", "es_resnet20", "--model-arg", text)
    assert result.returncode == 2 and message in result.stderr
