"""Golden outputs of the official ReActNet-A (PyTorch) for lq_ext's checkpoint tests.

Needs PyTorch and NumPy (not TensorFlow, not lq_ext) and a copy of the official code
(https://github.com/liuzechun/ReActNet; never committed here):

    python tools/golden/reactnet_a.py /path/to/ReActNet [--full-checkpoint-dir DIR]

It writes, under tests/zoo/fixtures/official/ and tests/fixtures/torch_checkpoint/:

- ``reactnet_a_golden.npz``: the official network with the deterministic weights of
  tests/zoo/official_state.py (``SEED``): logits on the 20 ImageNet sample images, and
  per block type (32→64 stride 1, 64→128 stride 2, 128→128 stride 1) a small input, the
  block's output and both binarizers' inputs;
- tiny checkpoints written by real ``torch.save``, zip and legacy format, with and
  without nn.DataParallel's ``module.`` prefix, nested like the training script's
  checkpoint, plus one with every dtype and strided views; their values in
  ``reader_expected.npz``.

With ``--full-checkpoint-dir`` it also saves the full network's checkpoint exactly as
``mobilenet/2_step2/train.py`` does (zip and legacy; ~117 MB each, not committed).
CI never runs this script.
"""

from __future__ import annotations

import argparse
import collections
import copy
import pathlib
import sys

import numpy as np
import torch
import torch.nn as nn

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "tests" / "zoo" / "fixtures" / "official"
READER_OUT = ROOT / "tests" / "fixtures" / "torch_checkpoint"
sys.path.insert(0, str(ROOT / "tests" / "zoo"))

from official_state import SEED, official_like_state  # noqa: E402

MEAN = np.array([0.485, 0.456, 0.406], np.float32)
STD = np.array([0.229, 0.224, 0.225], np.float32)
BLOCKS = {"block1": (1, 4), "block2": (2, 4), "block3": (3, 3)}  # name → (feature index, input side)


def official_model(code):
    sys.path.insert(0, str(pathlib.Path(code) / "mobilenet" / "2_step2"))
    import reactnet  # the official module

    torch.manual_seed(0)
    model = reactnet.reactnet()
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    state = official_like_state(shapes, SEED)
    model.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in state.items()}, strict=True)
    return model.eval()


def save_training_checkpoint(model, path, *, zip_format):
    """The checkpoint the way train.py saves it: DataParallel state dict, nested, with the optimizer."""
    wrapped = nn.DataParallel(model)
    optimizer = torch.optim.Adam(wrapped.parameters(), lr=5e-4)
    torch.save(
        {"epoch": 255, "state_dict": wrapped.state_dict(), "best_top1_acc": 69.4, "optimizer": optimizer.state_dict()},
        path,
        _use_new_zipfile_serialization=zip_format,
    )


def sample_images():
    """The 20 ImageNet photos lq_ext ships (what ``lq_ext.data.load_samples("imagenet")`` returns)."""
    with np.load(ROOT / "lq_ext" / "data" / "samples" / "imagenet_samples_224.npz") as data:
        return data["imagenet_x"].astype(np.float32)


def block_goldens(model):
    out = {}
    rng = np.random.default_rng(SEED)
    for name, (index, side) in BLOCKS.items():
        block = model.feature[index]
        x = rng.normal(0.0, 1.0, (1, block.inplanes, side, side)).astype(np.float32)
        seen = {}
        hooks = [
            block.move11.register_forward_hook(lambda m, a, o, seen=seen: seen.__setitem__("sign_in1", o)),
            block.move21.register_forward_hook(lambda m, a, o, seen=seen: seen.__setitem__("sign_in2", o)),
        ]
        with torch.no_grad():
            y = block(torch.from_numpy(x))
        for h in hooks:
            h.remove()
        nhwc = lambda t: t.detach().numpy().transpose(0, 2, 3, 1)  # noqa: E731
        out[f"{name}_input"] = nhwc(torch.from_numpy(x))
        out[f"{name}_output"] = nhwc(y)
        out[f"{name}_sign_in1"] = nhwc(seen["sign_in1"])
        out[f"{name}_sign_in2"] = nhwc(seen["sign_in2"])
    return out


def network_golden(model):
    images = sample_images()
    x = (images / 255.0 - MEAN) / STD
    x = torch.from_numpy(x.transpose(0, 3, 1, 2).astype(np.float32))
    with torch.no_grad():
        logits = model(x).numpy()
        # The official network's own sensitivity to round-off: the same forward in float64.
        logits64 = copy.deepcopy(model).double()(x.double()).numpy()
    return float64_comparison(logits, logits64)


def float64_comparison(logits, logits64):
    """The float32 logits and, per image, how far the official float64 forward is from them."""
    diff = np.abs(logits64 - logits).max(axis=1)
    sensitive = np.flatnonzero(diff > 1e-3 * np.abs(logits).max())
    return {
        "logits": logits.astype(np.float32),
        "float64_max_abs_diff": diff.astype(np.float32),
        # images on which float32 round-off flips binarizers of the official network itself
        "float64_images": sensitive,
        "float64_logits": logits64[sensitive].astype(np.float32),
    }


class Tiny(nn.Module):
    """A few parameters of every kind ReActNet-A has (names like the official ones)."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(4)
        self.move11 = nn.Parameter(torch.randn(1, 4, 1, 1))
        self.weights = nn.Parameter(torch.randn(4 * 4 * 9, 1) * 0.001)
        self.prelu1 = nn.PReLU(4)
        self.fc = nn.Linear(4, 3)


def reader_fixtures():
    torch.manual_seed(1)
    expected = {}
    tiny = Tiny()
    tiny.bn1.running_mean.uniform_(-1, 1)
    tiny.bn1.running_var.uniform_(0.5, 2)
    for k, v in tiny.state_dict().items():
        expected[f"tiny/{k}"] = v.numpy()
    for zip_format, suffix in ((True, "zip"), (False, "legacy")):
        save_training_checkpoint(tiny, READER_OUT / f"tiny_train_{suffix}.pth.tar", zip_format=zip_format)
        torch.save(tiny.state_dict(), READER_OUT / f"tiny_bare_{suffix}.pth", _use_new_zipfile_serialization=zip_format)
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6) / 7
    tensors = collections.OrderedDict(
        f32=torch.randn(2, 3),
        f64=torch.randn(3, dtype=torch.float64),
        f16=torch.randn(5).half(),
        bf16=torch.randn(5).bfloat16(),
        i64=torch.arange(-3, 4, dtype=torch.int64),
        i32=torch.tensor([7, -8], dtype=torch.int32),
        i16=torch.tensor([300, -2], dtype=torch.int16),
        i8=torch.tensor([-5, 6], dtype=torch.int8),
        u8=torch.tensor([0, 255], dtype=torch.uint8),
        b=torch.tensor([True, False, True]),
        scalar=torch.tensor(3.5),
        empty=torch.zeros(0, 4),
        base=base,
        transposed=base.t(),  # shares base's storage, non-contiguous
        sliced=base[1:3, 2:5],  # offset into base's storage
        strided=base[:, ::2],
    )
    for k, v in tensors.items():
        expected[f"dtypes/{k}"] = v.float().numpy() if v.dtype == torch.bfloat16 else v.numpy()
    for zip_format, suffix in ((True, "zip"), (False, "legacy")):
        torch.save(tensors, READER_OUT / f"dtypes_{suffix}.pth", _use_new_zipfile_serialization=zip_format)
    np.savez_compressed(READER_OUT / "reader_expected.npz", **expected)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("official_code", help="checkout of github.com/liuzechun/ReActNet")
    parser.add_argument("--full-checkpoint-dir", help="also save the full checkpoint here (~117 MB per format)")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    READER_OUT.mkdir(parents=True, exist_ok=True)
    model = official_model(args.official_code)
    golden = {**block_goldens(model), **network_golden(model)}
    np.savez_compressed(OUT / "reactnet_a_golden.npz", **golden, torch_version=np.array(torch.__version__))
    reader_fixtures()
    if args.full_checkpoint_dir:
        directory = pathlib.Path(args.full_checkpoint_dir)
        directory.mkdir(parents=True, exist_ok=True)
        save_training_checkpoint(model, directory / "checkpoint.pth.tar", zip_format=True)
        save_training_checkpoint(model, directory / "checkpoint_legacy.pth.tar", zip_format=False)
    for path in sorted([*OUT.iterdir(), *READER_OUT.iterdir()]):
        print(f"{path.relative_to(ROOT)}  {path.stat().st_size} bytes")


if __name__ == "__main__":
    main()
