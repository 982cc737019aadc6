"""``lq-ext train`` with several teachers (BNext) and BCDNet's dual head chosen by the recipe."""

import pytest
import tensorflow as tf

from lq_ext.cli import main
from lq_ext.cli import train as cli_train
from lq_ext.cli.train import distillation_head_kwargs
from lq_ext.data import dataset_info
from lq_ext.training import RECIPES
from lq_ext.zoo import get_model_spec

TINY = ["--dataset", "fashion_mnist", "--limit", "128", "--epochs", "1", "--verbose", "0", "--no-convert"]


def _teacher(path, seed):
    info = dataset_info("fashion_mnist")
    tf.keras.utils.set_random_seed(seed)
    inputs = tf.keras.Input((*info.image_size, info.channels))
    logits = tf.keras.layers.Dense(info.num_classes)(tf.keras.layers.Flatten()(inputs))
    tf.keras.Model(inputs, logits).save(path)
    return str(path)


def test_two_teachers_reach_train_as_a_list_with_the_chosen_reduction(tmp_path, capsys, monkeypatch):
    """The CLI's part only (the training itself: tests/test_distillation_official.py)."""
    teachers = [_teacher(tmp_path / f"t{i}.h5", i) for i in range(2)]
    seen = {}

    def fake_train(model_fn, train_data, val_data, **kwargs):
        seen.update(kwargs)
        raise ValueError("stopped by the test")

    monkeypatch.setattr(cli_train, "train", fake_train)
    argv = ["train", "bcdnet_a", *TINY, "--recipe", "bcdnet", "--output-dir", str(tmp_path / "run"),
            "--teacher", teachers[0], "--teacher", teachers[1], "--kd-reduction", "released"]
    assert main(argv) == 1 and "stopped by the test" in capsys.readouterr().err
    assert seen["teacher"] == teachers and seen["recipe"].kd_reduction == "released"
    argv[argv.index("--teacher") : argv.index("--kd-reduction") + 2] = ["--teacher", teachers[0]]
    assert main(argv) == 1
    assert seen["teacher"] == teachers[0] and seen["recipe"].kd_reduction == "per_sample"


def test_the_bcdnet_recipe_asks_for_the_dual_head_with_one_teacher():
    bcdnet, bdnet = get_model_spec("bcdnet_a"), get_model_spec("bdnet_mobilenet")
    assert distillation_head_kwargs(bcdnet, RECIPES["bcdnet"], ["t.h5"]) == {"distillation_head": True}
    assert distillation_head_kwargs(bcdnet, RECIPES["bcdnet"], None) == {}
    assert distillation_head_kwargs(bcdnet, RECIPES["bcdnet"], ["a.h5", "b.h5"]) == {}
    assert distillation_head_kwargs(bcdnet, RECIPES["reactnet"], ["t.h5"]) == {}
    assert distillation_head_kwargs(bdnet, RECIPES["bcdnet"], ["t.h5"]) == {}  # one head takes both terms


def test_kd_reduction_needs_a_teacher_and_a_missing_teacher_exits_1(tmp_path, capsys):
    out = ["--output-dir", str(tmp_path / "run")]
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "bdnet_mobilenet", *TINY, *out, "--kd-reduction", "released"])
    assert exit_info.value.code == 2 and "--kd-reduction needs --teacher" in capsys.readouterr().err
    present = _teacher(tmp_path / "t.h5", 0)
    argv = ["train", "bdnet_mobilenet", *TINY, *out, "--teacher", present, "--teacher", str(tmp_path / "no.h5")]
    assert main(argv) == 1
    assert f"--teacher {tmp_path / 'no.h5'}: no such model file" in capsys.readouterr().err
