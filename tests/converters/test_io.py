"""Atomic file writing (lq_ext.converters._io)."""

import os

import pytest

from lq_ext.converters._io import write_atomically


def test_writes_and_leaves_no_temporary_file(tmp_path):
    path = tmp_path / "m.tflite"
    write_atomically(b"TFL3 data", str(path), overwrite=False)
    assert path.read_bytes() == b"TFL3 data"
    assert os.listdir(tmp_path) == ["m.tflite"]


def test_a_file_that_appeared_is_kept_unless_overwrite(tmp_path):
    path = tmp_path / "m.tflite"
    path.write_bytes(b"precious")
    with pytest.raises(FileExistsError, match=r"m\.tflite' was created while converting; pass overwrite=True"):
        write_atomically(b"new", str(path), overwrite=False)
    assert path.read_bytes() == b"precious" and os.listdir(tmp_path) == ["m.tflite"]
    write_atomically(b"new", str(path), overwrite=True)
    assert path.read_bytes() == b"new" and os.listdir(tmp_path) == ["m.tflite"]


def test_without_hard_links_it_still_refuses_and_writes(tmp_path, monkeypatch):
    def no_links(src, dst):
        raise OSError("hard links not supported")

    monkeypatch.setattr(os, "link", no_links)
    path = tmp_path / "m.tflite"
    write_atomically(b"data", str(path), overwrite=False)
    assert path.read_bytes() == b"data"
    with pytest.raises(FileExistsError, match="was created while converting"):
        write_atomically(b"other", str(path), overwrite=False)
    assert path.read_bytes() == b"data" and os.listdir(tmp_path) == ["m.tflite"]
