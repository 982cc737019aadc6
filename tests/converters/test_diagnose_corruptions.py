"""Corruptions of issue 19 that test_diagnose.py does not cover, on the small converter BNN
(converter_models.build_small_bnn, converted once per session): a wrong padding value in an
``LceBconv2d``'s options is caught at that layer, with exactly the elements the padding
touches; the correct flatbuffer has no mismatch."""

import numpy as np
import pytest

from lq_ext.converters import diagnose
from lq_ext.converters._flatbuffer import parse
from lq_ext.converters._flatbuffer_edit import edit_custom_options
from lq_ext.converters.verify import parity_inputs

N_SAMPLES = 8


@pytest.fixture(scope="module")
def inputs(small_bnn):
    return parity_inputs(small_bnn, None)[0][:N_SAMPLES]


def _bconv_index(flatbuffer):
    ops = parse(flatbuffer).operators
    (index,) = [i for i, op in enumerate(ops) if op.op_type == "LceBconv2d"]
    return index, ops[index]


def _padded_nonzero(kernel_signs, side):
    """(position, channel) pairs of a 3×3 'same' conv on a side×side map whose output moves when
    the padding value changes by 1: the padded taps' kernel signs do not sum to zero."""
    count = 0
    for i in range(side):
        for j in range(side):
            padded = [
                (di, dj) for di in range(3) for dj in range(3)
                if not (0 <= i + di - 1 < side and 0 <= j + dj - 1 < side)
            ]
            if padded:
                total = sum(kernel_signs[di, dj].sum(axis=0) for di, dj in padded)  # per output channel
                count += int(np.count_nonzero(total))
    return count


def test_correct_small_bnn_has_no_mismatch(small_bnn, small_flatbuffer, inputs):
    report = diagnose(small_bnn, small_flatbuffer, inputs)
    assert report.passed and report.mismatches == 0 and report.taps_exact, str(report)
    assert "bconv_bn" in [s.layer for s in report.segments]


def test_wrong_padding_value_is_caught(small_bnn, small_flatbuffer, inputs):
    index, op = _bconv_index(small_flatbuffer)
    assert op.custom_options["pad_values"] == 1 and op.custom_options["padding"] == 0  # SAME, one-padded
    corrupted = edit_custom_options(small_flatbuffer, index, lambda options: {**options, "pad_values": 0})
    assert parse(corrupted).operators[index].custom_options["pad_values"] == 0
    report = diagnose(small_bnn, corrupted, inputs)
    first = report.first_divergence
    assert not report.passed and first is not None, str(report)
    assert (first.layer, first.op) == ("bconv_bn", "LceBconv2d"), str(report)
    # with binarized inputs, padding 0 instead of 1 moves a border output by its BN scale times
    # the sum of the kernel signs on the padded taps, whatever the image: every such element
    # with a non-zero sum differs, in every sample, and nothing else does (border 60 of 16×16)
    kernel = small_bnn.get_layer("bconv").kernel.numpy()
    signs = np.where(kernel >= 0, 1, -1)
    assert first.mismatches == N_SAMPLES * _padded_nonzero(signs, 16), str(report)
    assert first.mismatches <= N_SAMPLES * 60 * 32
    assert report.mismatches == first.mismatches  # teacher forcing: later segments match again


def test_edit_custom_options_refuses_a_builtin_op(small_flatbuffer):
    conv = next(i for i, op in enumerate(parse(small_flatbuffer).operators) if op.op_type == "CONV_2D")
    with pytest.raises(ValueError, match=f"op_index={conv} is not a custom op with options"):
        edit_custom_options(small_flatbuffer, conv, dict)
