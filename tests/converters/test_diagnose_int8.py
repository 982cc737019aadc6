"""Per-layer parity in int8 mode (lq_ext.converters.diagnose against the int8 Keras clone), on
the small int8 BNN of converter_models (random weights and BatchNorm statistics): the correct
conversion passes with no mismatch, every int8 tensor compared to one quantization step; a
kernel's int8 scale one step off (× 128/127, the largest weight one step larger) is caught by
``diagnose`` at the layer whose op reads it, and ``convert`` diagnoses a failed whole-output
check against the clone."""

import numpy as np
import pytest
from converter_models import build_int8_bnn, uniform_images

import lq_ext.converters.conversion as conversion_module
from lq_ext.cli import main
from lq_ext.converters import ParityError, convert, diagnose, int8_reference
from lq_ext.converters._flatbuffer import parse
from lq_ext.converters._flatbuffer_edit import edit_quantization
from lq_ext.converters.engines import Flatbuffer
from lq_ext.converters.int8 import int8_model

#: convert's whole-output check made strict, so that any difference goes to the diagnosis
STRICT = dict(rtol=1e-6, max_outlier_fraction=0.0, atol=0.0)


@pytest.fixture(scope="module")
def int8_case(tmp_path_factory):
    model = build_int8_bnn()
    images = uniform_images((16, 16, 3), n=20, seed=1)
    path = tmp_path_factory.mktemp("diagnose_int8") / "small_int8.tflite"
    result = convert(model, path, int8=True, samples=images, **STRICT)
    with open(path, "rb") as handle:
        flatbuffer = handle.read()
    clone, _ = int8_model(model, images)  # the clone convert built: same images, same ranges
    return model, clone, flatbuffer, images, result


def _one_step_larger(channel, factor=128 / 127):
    def change(scales):
        scales[channel] *= factor
        return scales

    return change


def _kernel(flatbuffer, op_type):
    (op,) = [op for op in parse(flatbuffer).operators if op.op_type == op_type]
    return op.inputs[1]


def test_correct_int8_conversion_has_no_mismatch(int8_case):
    _, clone, flatbuffer, images, result = int8_case
    assert result.parity.passed and result.diagnosis is None  # the whole output agrees exactly
    report = diagnose(clone, flatbuffer, images)
    assert report.passed and report.taps_exact and report.mismatches == 0, str(report)
    by_layer = {s.layer: s for s in report.segments}
    # every int8 tensor is compared on its own grid: stem, the BN affine, the binary conv's
    # int8 output, the residual add, each op of the lowered RPReLU, the pool, the head
    for layer in ("stem_bn_int8", "pre_bn_int8", "bconv_bn_int8", "add_int8", "act_1_int8", "pool_int8", "head_int8"):
        assert by_layer[layer].step > 0, str(report)
    # TFLite rounds some values one step the other way (0.1-1 % of the elements here), never
    # more than one step, and only where the clone's value before rounding lies next to the
    # midpoint between the two grid values (measured ≤ 0.013 steps; the PRELU's 0.27 before its
    # slope was put on TFLite's int8 grid)
    assert by_layer["act_1_int8"].steps > 0 and by_layer["pre_bn_int8"].steps > 0
    assert max(s.midpoint for s in report.segments) <= 0.05, str(report)
    assert all(s.max_abs_diff <= 1.001 * s.step + 1e-5 * s.scale for s in report.segments if s.step), str(report)
    assert "int8 step" in str(report)


def test_wrong_kernel_scale_is_caught_by_convert(int8_case, tmp_path, monkeypatch):
    """convert diagnoses when the whole output differs: the head's scale doubled moves the
    softmax (a one-step error does not, on these saturated outputs: the tests below call
    diagnose)."""
    model, _, flatbuffer, images, _ = int8_case
    corrupted = edit_quantization(flatbuffer, _kernel(flatbuffer, "FULLY_CONNECTED"), _one_step_larger(0, 2.0))
    monkeypatch.setattr(conversion_module, "to_flatbuffer", lambda *a, **k: Flatbuffer(data=corrupted, via="graphdef"))
    with pytest.raises(ParityError, match="first divergence: head_int8") as caught:
        convert(model, tmp_path / "bad.tflite", int8=True, samples=images, **STRICT)
    first = caught.value.diagnosis.first_divergence
    assert (first.layer, first.op) == ("head_int8", "FULLY_CONNECTED")
    assert not (tmp_path / "bad.tflite").exists()


def test_channel_scale_one_step_off_is_caught(int8_case):
    """One output channel's kernel scale of the stem: every difference stays within one int8
    step (the whole output agrees exactly), but it is not TFLite's rounding: the clone's value
    before rounding is far from the midpoint between the two grid values."""
    _, clone, flatbuffer, images, _ = int8_case
    corrupted = edit_quantization(flatbuffer, _kernel(flatbuffer, "CONV_2D"), _one_step_larger(5))
    report = diagnose(clone, corrupted, images)
    first = report.first_divergence
    assert first is not None and (first.layer, first.op) == ("stem_bn_int8", "CONV_2D"), str(report)
    assert first.max_abs_diff <= 1.001 * first.step and first.mismatches > 0


def test_per_tensor_scale_one_step_off_is_caught(int8_case):
    """The head's per-tensor kernel scale × 128/127: the logits move, beyond one step in places."""
    _, clone, flatbuffer, images, _ = int8_case
    corrupted = edit_quantization(flatbuffer, _kernel(flatbuffer, "FULLY_CONNECTED"), _one_step_larger(0))
    report = diagnose(clone, corrupted, images)
    first = report.first_divergence
    assert first is not None and (first.layer, first.op) == ("head_int8", "FULLY_CONNECTED"), str(report)
    assert all(s.mismatches == 0 for s in report.segments[: report.segments.index(first)])


def test_edit_quantization_refuses_a_float_tensor(int8_case):
    _, _, flatbuffer, _, _ = int8_case
    graph = parse(flatbuffer)
    (index,) = [t.index for t in graph.tensors[0] if t.name == "Identity"]  # the float output
    with pytest.raises(ValueError, match=f"tensor_index={index} has no quantization scale"):
        edit_quantization(flatbuffer, index, np.asarray)


def test_int8_reference_is_the_clone_convert_checks_and_the_cli_uses_it(tmp_path, capsys):
    model = build_int8_bnn()
    path = tmp_path / "default_int8.tflite"
    convert(model, path, int8=True)  # calibrated on the built-in sample images
    clone, plan = int8_reference(model)  # the same images: the same ranges
    assert plan.calibration_images == 20
    report = diagnose(clone, str(path))
    assert report.passed and report.mismatches == 0, str(report)
    # per layer: the stem, BatchNorms, binary conv, add, activation, pool and head apart
    assert len(report.segments) >= 7 and len(diagnose(model, str(path)).segments) == 1
    saved = str(tmp_path / "int8_bnn.h5")
    model.save(saved)
    assert main(["diagnose", saved, str(path), "--int8"]) == 0
    out = capsys.readouterr().out
    assert ": passed" in out and "first divergence: none" in out
    with pytest.raises(ValueError, match=r"int8 must be True or an Int8Options, got int8=False\."):
        int8_reference(model, False)
    with pytest.raises(ValueError, match="engine"):
        int8_reference(model, engine="tflite")
