"""``lq-ext train``: one real (tiny) run end to end, then the refusals and their exit codes."""

import json
import re

import pytest

from lq_ext.cli import main

TINY = ["--dataset", "fashion_mnist", "--limit", "256", "--epochs", "1", "--verbose", "0"]


def _usage_error(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    return capsys.readouterr().err


def test_train_converts_records_and_refuses_a_finished_run(tmp_path, capsys):
    out_dir = tmp_path / "run"
    argv = ["train", "bdnet_mobilenet", *TINY, "--width-multiplier", "0.25", "--output-dir", str(out_dir)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    for name in ("model.h5", "model.tflite", "result.json", "train/log.csv", "train/weights.h5"):
        assert (out_dir / name).is_file(), name
        assert name in out  # the printed listing of the output directory
    result = json.loads((out_dir / "result.json").read_text())
    assert result["recipe"]["epochs"] == 1 and result["recipe"]["learning_rate"] == 2e-3  # quick, epochs replaced
    assert result["steps_per_epoch"] == 2 and result["seed"] == 0
    printed = re.search(r"test top-1: ([\d.]+) % \(val_accuracy ([\d.e-]+),", out)
    assert printed, out
    assert float(printed.group(2)) == result["val_accuracy"]
    assert float(printed.group(1)) == pytest.approx(100 * result["val_accuracy"], abs=0.005)
    assert "train epoch 1: " in out
    assert "LceBconv2d" in out and "Binary MACs run bit-packed" in out and "passed" in out

    size = (out_dir / "model.h5").stat().st_size
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("lq-ext train: error:") and "--overwrite" in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert (out_dir / "model.h5").stat().st_size == size


def test_bad_hyper_parameter_exits_1_naming_it_before_any_work(tmp_path, capsys):
    out_dir = tmp_path / "run"
    argv = ["train", "bdnet_mobilenet", *TINY, "--output-dir", str(out_dir), "--learning-rate", "-1"]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "lq-ext train: error: learning_rate must be a number > 0" in err and "-1" in err
    assert err.count("\n") == 1
    assert not out_dir.exists()


def test_resuming_with_another_recipe_exits_1_pointing_to_overwrite(tmp_path, capsys):
    out_dir = tmp_path / "run"
    out_dir.mkdir()
    (out_dir / "recipe.json").write_text('{"epochs": 99}')  # an unfinished run's record
    assert main(["train", "bdnet_mobilenet", *TINY, "--output-dir", str(out_dir)]) == 1
    err = capsys.readouterr().err
    assert "another recipe" in err and "--overwrite" in err and "overwrite=True" not in err
    assert err.count("\n") == 1


def test_missing_data_exits_1_on_one_line(tmp_path, capsys):
    argv = ["train", "bdnet_mobilenet", *TINY, "--output-dir", str(tmp_path / "run"),
            "--data-dir", str(tmp_path / "no_data")]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "lq-ext train: error: Dataset 'fashion_mnist' is not available" in err and "no_data" in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_usage_errors_exit_2(tmp_path, capsys):
    out = ["--output-dir", str(tmp_path / "run")]
    err = _usage_error(["train", "bdnet_mobilnet", *TINY, *out], capsys)
    assert "invalid choice: 'bdnet_mobilnet'" in err
    err = _usage_error(["train", "bdnet_mobilenet", *TINY[2:], *out], capsys)
    assert "--dataset" in err
    # Models without a width multiplier: a fixed signature, and **kwargs (PokeBNN075 fixes it).
    for model in ("es_reactnet", "pokebnn_075"):
        err = _usage_error(["train", model, *TINY, *out, "--width-multiplier", "0.5"], capsys)
        assert f"--width-multiplier: model '{model}' has no width_multiplier argument" in err
    err = _usage_error(["train", "quicknet_small", *TINY, *out], capsys)
    assert "cannot output logits" in err
    err = _usage_error(["train", "bdnet_mobilenet", *TINY, *out, "--kd-temperature", "4"], capsys)
    assert "--kd-temperature needs --teacher" in err
    assert not (tmp_path / "run").exists()
