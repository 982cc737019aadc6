"""``lq-ext train --recipe bnext``: the recipe's progressive weight binarization builds
ES-BNext with ProgressiveSign kernels, and a model without that option is a usage error."""

import argparse

import pytest

from lq_ext.cli import main
from lq_ext.cli.train import progressive_kwargs
from lq_ext.training import RECIPES
from lq_ext.zoo import get_model_spec


def test_bnext_recipe_asks_es_bnext_for_progressive_kernels():
    parser = argparse.ArgumentParser()
    spec = get_model_spec("es_bnext_tiny")
    assert progressive_kwargs(spec, RECIPES["bnext"], "bnext", parser) == {"kernel_quantizer": "progressive"}
    assert progressive_kwargs(spec, RECIPES["quick"], "quick", parser) == {}


def test_a_model_without_the_option_is_a_usage_error(tmp_path, capsys):
    argv = ["train", "bdnet_mobilenet", "--dataset", "fashion_mnist", "--limit", "256", "--epochs", "1",
            "--recipe", "bnext", "--output-dir", str(tmp_path / "run")]
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "--recipe bnext anneals ProgressiveSign kernels" in err and "'bdnet_mobilenet' has no kernel_quantizer" in err
    assert not (tmp_path / "run").exists()
