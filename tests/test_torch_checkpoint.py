"""lq_ext.torch_checkpoint on files written by real ``torch.save`` (tools/golden/reactnet_a.py).

The fixtures (tests/fixtures/torch_checkpoint/) are tiny: a state dict saved bare and the
way ReActNet's train.py saves it (nested under ``state_dict``, nn.DataParallel's
``module.`` prefix, epoch, accuracy, Adam state), each in the zip and the legacy format,
and a dict with every dtype and strided views; ``reader_expected.npz`` holds the values
torch had. No torch is needed here.
"""

import io
import os
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest

from lq_ext import torch_checkpoint
from lq_ext.torch_checkpoint import CheckpointError

FIXTURES = Path(__file__).parent / "fixtures" / "torch_checkpoint"
FORMATS = ("zip", "legacy")


@pytest.fixture(scope="module")
def expected():
    with np.load(FIXTURES / "reader_expected.npz") as data:
        return {k: data[k] for k in data.files}


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_dtype_and_strided_view(fmt, expected):
    tensors = torch_checkpoint.load(FIXTURES / f"dtypes_{fmt}.pth")
    names = sorted(k.split("/", 1)[1] for k in expected if k.startswith("dtypes/"))
    assert sorted(tensors) == names
    for name, array in tensors.items():
        want = expected[f"dtypes/{name}"]
        assert array.dtype == want.dtype and array.shape == want.shape, name
        np.testing.assert_array_equal(array, want, err_msg=name)
    # views share one storage in the file: offsets and strides resolved, copies returned
    np.testing.assert_array_equal(tensors["transposed"], tensors["base"].T)
    np.testing.assert_array_equal(tensors["sliced"], tensors["base"][1:3, 2:5])
    np.testing.assert_array_equal(tensors["strided"], tensors["base"][:, ::2])
    assert tensors["bf16"].dtype == np.float32 and tensors["f16"].dtype == np.float16


@pytest.mark.parametrize("fmt", FORMATS)
def test_training_checkpoint_nested_with_data_parallel_prefix(fmt, expected):
    path = FIXTURES / f"tiny_train_{fmt}.pth.tar"
    raw = torch_checkpoint.load(path)
    assert sorted(raw) == ["best_top1_acc", "epoch", "optimizer", "state_dict"]
    assert raw["epoch"] == 255 and raw["best_top1_acc"] == 69.4
    assert all(k.startswith("module.") for k in raw["state_dict"])
    assert raw["optimizer"]["param_groups"][0]["lr"] == 5e-4
    state = torch_checkpoint.load_state_dict(path)
    tiny = {k.split("/", 1)[1]: v for k, v in expected.items() if k.startswith("tiny/")}
    assert sorted(state) == sorted(tiny)  # prefix gone, num_batches_tracked kept
    for key, value in state.items():
        np.testing.assert_array_equal(value, tiny[key], err_msg=key)
    assert state["weights"].shape == (144, 1) and state["bn1.num_batches_tracked"].dtype == np.int64


@pytest.mark.parametrize("fmt", FORMATS)
def test_bare_state_dict_equals_the_nested_one(fmt):
    bare = torch_checkpoint.load_state_dict(FIXTURES / f"tiny_bare_{fmt}.pth")
    nested = torch_checkpoint.load_state_dict(FIXTURES / f"tiny_train_{fmt}.pth.tar")
    assert sorted(bare) == sorted(nested)
    assert all(np.array_equal(bare[k], nested[k]) for k in bare)


def test_unwrap_under_model_key_and_partial_prefix():
    a = np.zeros(2, np.float32)
    assert list(torch_checkpoint.unwrap_state_dict({"model": {"module.x": a}})) == ["x"]
    # the prefix is removed only when every key has it
    assert sorted(torch_checkpoint.unwrap_state_dict({"module.x": a, "y": a})) == ["module.x", "y"]
    with pytest.raises(CheckpointError, match=r"holds no state_dict .* found \['epoch'\]"):
        torch_checkpoint.unwrap_state_dict({"epoch": 3})


def test_is_torch_checkpoint(tmp_path):
    for path in FIXTURES.glob("*.pth*"):
        assert torch_checkpoint.is_torch_checkpoint(path), path
    junk = tmp_path / "weights.h5"
    junk.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(100))
    assert not torch_checkpoint.is_torch_checkpoint(junk)
    assert not torch_checkpoint.is_torch_checkpoint(tmp_path / "missing.pth")
    plain_zip = tmp_path / "a.zip"
    with zipfile.ZipFile(plain_zip, "w") as archive:
        archive.writestr("readme.txt", "hello")
    assert not torch_checkpoint.is_torch_checkpoint(plain_zip)


class _Payload:
    """Unpickling this would create a directory (stands for any code a pickle could run)."""

    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (os.makedirs, (self.target,))


def test_refuses_globals_that_could_run_code(tmp_path):
    target = str(tmp_path / "pwned")
    legacy = tmp_path / "evil_legacy.pth"
    legacy.write_bytes(pickle.dumps(_Payload(target), protocol=2))
    evil_zip = tmp_path / "evil.pth"
    with zipfile.ZipFile(evil_zip, "w") as archive:
        archive.writestr("archive/data.pkl", pickle.dumps({"w": _Payload(target)}, protocol=2))
    with pytest.raises(CheckpointError, match=r"refusing to load global (posix|os|nt)\.makedirs"):
        torch_checkpoint.load(evil_zip)
    with pytest.raises(CheckpointError, match="magic number|refusing to load global"):
        torch_checkpoint.load(legacy)
    # a legacy stream whose object (after a valid header) holds the payload
    stream = io.BytesIO()
    for obj in (torch_checkpoint.LEGACY_MAGIC, 1001, {"little_endian": True}):
        pickle.dump(obj, stream, protocol=2)
    pickle.dump({"w": _Payload(target)}, stream, protocol=2)
    legacy.write_bytes(stream.getvalue())
    with pytest.raises(CheckpointError, match=r"refusing to load global (posix|os|nt)\.makedirs"):
        torch_checkpoint.load(legacy)
    assert not os.path.exists(target)


def test_not_a_checkpoint_says_so(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("not a checkpoint")
    with pytest.raises(CheckpointError, match=r"is not a PyTorch checkpoint \(neither a torch.save zip"):
        torch_checkpoint.load(text)
    plain_zip = tmp_path / "a.zip"
    with zipfile.ZipFile(plain_zip, "w") as archive:
        archive.writestr("readme.txt", "hello")
    with pytest.raises(CheckpointError, match="without a '<name>/data.pkl' record"):
        torch_checkpoint.load(plain_zip)
    whole = (FIXTURES / "tiny_train_legacy.pth.tar").read_bytes()
    cut = tmp_path / "cut.pth"
    cut.write_bytes(whole[: len(whole) - 100])
    with pytest.raises(CheckpointError, match="ends inside storage|ends before the bytes"):
        torch_checkpoint.load(cut)
    listing = tmp_path / "list.pth"
    listing.write_bytes(pickle.dumps([1, 2, 3], protocol=2))
    with pytest.raises(CheckpointError, match="magic number"):
        torch_checkpoint.load(listing)


def test_zip_with_a_missing_storage_record(tmp_path):
    source = FIXTURES / "tiny_bare_zip.pth"
    broken = tmp_path / "broken.pth"
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(broken, "w") as dst:
        for item in src.infolist():
            if "/data/" not in item.filename or not item.filename.endswith("/0"):
                dst.writestr(item, src.read(item.filename))
    with pytest.raises(CheckpointError, match=r"storage '0' is missing from the archive"):
        torch_checkpoint.load(broken)
