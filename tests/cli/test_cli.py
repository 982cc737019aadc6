"""``lq-ext``: every command on small inputs, exit codes and error messages."""

import os
import subprocess
import sys

import pytest

import lq_ext
from lq_ext.cli import main

SMALL = ["--input-shape", "32,32,3", "--num-classes", "10"]


def test_console_script_is_installed():
    script = os.path.join(os.path.dirname(sys.executable), "lq-ext")
    result = subprocess.run([script, "--help"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0
    for command in ("summary", "convert", "inspect", "bench", "demo", "list"):
        assert command in result.stdout


def test_list_shows_registered_models(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "bdnet_mobilenet " in out and "bdnet_mobilenet_naive" in out and "quicknet_small" in out


def test_unknown_model_name_exits_2(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["summary", "bdnet_mobilnet"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'bdnet_mobilnet'" in capsys.readouterr().err


def test_bad_input_shape_exits_2(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["summary", "bdnet_mobilenet", "--input-shape", "32x32"])
    assert exit_info.value.code == 2
    assert "expected H,W,C integers" in capsys.readouterr().err


def test_summary_prints_costs(capsys):
    assert main(["summary", "bdnet_mobilenet", *SMALL]) == 0
    out = capsys.readouterr().out
    assert "block13_pw_conv" in out and "OPs" in out and "ACE" in out


def test_library_errors_exit_1_without_traceback(tmp_path, capsys):
    garbage = tmp_path / "garbage.tflite"
    garbage.write_bytes(b"not a flatbuffer at all")
    assert main(["inspect", str(garbage)]) == 1
    assert main(["bench", str(tmp_path / "missing.tflite")]) == 1
    assert main(["summary", "bdnet_mobilenet", "--input-shape", "16,16,3"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "lq-ext inspect: error:" in err and "garbage.tflite" in err
    assert "lq-ext bench: error:" in err and "missing.tflite" in err
    assert "too small" in err


def test_convert_inspect_bench_and_overwrite_protection(tmp_path, capsys):
    path = str(tmp_path / "bdnet32.tflite")
    assert main(["convert", "bdnet_mobilenet", path, *SMALL]) == 0
    out = capsys.readouterr().out
    assert "passed" in out and "LceBconv2d" in out and "(target=arm, via graphdef)" in out
    size = os.path.getsize(path)
    assert main(["convert", "bdnet_mobilenet", path, *SMALL, "--no-verify"]) == 1
    assert "exists" in capsys.readouterr().err
    assert os.path.getsize(path) == size
    assert main(["inspect", path]) == 0
    assert "DEPTHWISE_CONV_2D" in capsys.readouterr().out
    assert main(["bench", path, "--runs", "2", "--warmup", "0"]) == 0
    assert "median" in capsys.readouterr().out
    int8_path = str(tmp_path / "bdnet32_int8.tflite")
    assert main(["convert", "bdnet_mobilenet", int8_path, *SMALL, "--int8", "--no-verify"]) == 0
    out = capsys.readouterr().out
    assert "int8 mode: " in out and "float 0 (0.0%)" in out


def test_demo_runs_end_to_end_and_writes_table(tmp_path, capsys):
    out_dir = tmp_path / "demo"
    assert main(["demo", "--output-dir", str(out_dir), *SMALL, "--runs", "2", "--warmup", "1"]) == 0
    out = capsys.readouterr().out
    assert "paper, abstract: ~33 M" in out
    assert "13 binary ops" in out and "run as EXACT INT8 ops after LceQuantize" in out
    table = (out_dir / "demo_table.md").read_text()
    for name in ("bdnet_mobilenet", "quicknet_small", "mobilenet_v1_float"):
        assert f"| {name} |" in table
        assert (out_dir / f"{name}.tflite").exists()


def test_model_args_reach_the_zoo_entry_point(capsys):
    small = ["--input-shape", "32,32,3", "--num-classes", "10"]
    lines = {}
    for tau in (1, 2):
        assert main(["summary", "es_resnet20", *small, "--model-arg", f"tau={tau}"]) == 0
        lines[tau] = [line for line in capsys.readouterr().out.splitlines() if "Element-wise ops" in line][0]
    # the same figure as the Python API gives for tau=1, and τ = 2 doubles the element-wise path
    elementwise = lq_ext.profile(lq_ext.zoo.create_model("es_resnet20", input_shape=(32, 32, 3), num_classes=10, tau=1)).elementwise
    assert f"{elementwise / 1e3:.1f} k" in lines[1] and lines[1] != lines[2]
    assert main(["summary", "es_resnet20", *small, "--model-arg", "tua=1"]) == 1
    assert "es_resnet20 takes no argument 'tua'; its arguments are: input_shape" in capsys.readouterr().err
