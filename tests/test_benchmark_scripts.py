"""Every script in benchmarks/ and experiments/ starts: imports in an order that selects
legacy Keras, and a usage text (a fresh interpreter each, as a user runs them)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
SCRIPTS = sorted((ROOT / "benchmarks").glob("bench_*.py"))
EXPERIMENTS = sorted(p for p in (ROOT / "experiments").glob("*.py") if "__main__" in p.read_text())


def test_there_are_benchmark_scripts():
    assert {p.name for p in SCRIPTS} >= {"bench_conversion.py", "bench_depthwise.py", "bench_models.py", "bench_paired.py"}


def _usage(script) -> str:
    env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}  # as in a fresh shell
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    done = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("usage: ")
    return done.stdout


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_script_prints_its_usage(script):
    assert "--output" in _usage(script)


@pytest.mark.parametrize("script", EXPERIMENTS, ids=lambda p: p.name)
def test_experiment_prints_its_usage(script):
    _usage(script)
