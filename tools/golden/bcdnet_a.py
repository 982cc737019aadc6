"""Golden outputs of the official BCDNet-A (PyTorch, ``prototype/model/a_3.py``) for lq_ext's tests.

Needs PyTorch and NumPy and a copy of https://github.com/Sense-GVT/BCDNet (never
committed here):

    python tools/golden/bcdnet_a.py /path/to/BCDNet [--full-checkpoint-dir DIR]

``a_3.py`` imports ``get_bn`` from the repository's ``prototype.utils.misc``, which needs
SenseTime's ``linklink``; this script provides a stand-in module whose ``get_bn`` returns
``torch.nn.BatchNorm2d`` (the config's ``use_sync_bn=False`` branch; SyncBN has the same
parameters and inference arithmetic). The model code itself runs unchanged.

Writes tests/zoo/fixtures/official/bcdnet_a_golden.npz: the official network with the
deterministic weights of tests/zoo/official_state.py (``SEED``) in eval mode (output
``(fc + fc_dist) / 2``): logits on the 20 ImageNet sample images (plus the float64
forward of the images where float32 round-off flips a binarizer, and how far each
image moves when every BN variance is perturbed by 1e-6 relative), and a shift block and
a point block on a 7×7 input (output channels 0–63, every 16th binarizer input). With ``--full-checkpoint-dir`` also the checkpoint the way
``prototype/solver/cls_solver_dist.py`` saves it (``{'model', 'optimizer', 'last_iter'}``,
DistModule's ``module.`` keys; not committed). CI never runs this script.
"""

from __future__ import annotations

import argparse
import copy
import importlib.util
import pathlib
import sys
import types

import numpy as np
import torch
import torch.nn as nn

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "tests" / "zoo" / "fixtures" / "official"
sys.path.insert(0, str(ROOT / "tests" / "zoo"))
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from official_state import SEED, official_like_state  # noqa: E402
from reactnet_a import MEAN, STD, float64_comparison, sample_images  # noqa: E402

UNITS = {"shift": "mlp_layer.1.mlp_layer.2", "point": "mlp_layer.2.mlp_layer.3"}


def official_model(code):
    misc = types.ModuleType("prototype.utils.misc")
    misc.get_bn = lambda config: nn.BatchNorm2d
    misc.get_logger = lambda *a, **k: None
    for name in ("prototype", "prototype.utils"):
        sys.modules.setdefault(name, types.ModuleType(name))
    sys.modules["prototype.utils.misc"] = misc
    spec = importlib.util.spec_from_file_location("a_3", pathlib.Path(code) / "prototype" / "model" / "a_3.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    torch.manual_seed(0)
    model = module.a_3(bn=None)
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    state = official_like_state(shapes, SEED)
    model.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in state.items()}, strict=True)
    return model.eval()


def unit_goldens(model):
    out = {}
    rng = np.random.default_rng(SEED + 1)
    for name, key in UNITS.items():
        unit = model.get_submodule(key)
        x = rng.normal(0.0, 1.0, (1, 7, 7, 1024)).astype(np.float32).transpose(0, 3, 1, 2).copy()
        seen = {}
        hook = unit.move0.register_forward_hook(lambda m, a, o, seen=seen: seen.__setitem__("sign_in", o))
        with torch.no_grad():
            y = unit(torch.from_numpy(x))
        hook.remove()
        nhwc = lambda t: t.detach().numpy().transpose(0, 2, 3, 1)  # noqa: E731
        # 1024 channels at 7x7 are 200 KB per tensor: the tests regenerate the input from
        # the seed (its first values are stored to check that) and compare a channel subset.
        out[f"{name}_input_head"] = x.transpose(0, 2, 3, 1).reshape(-1)[:16]
        out[f"{name}_output"] = nhwc(y)[..., :64]
        out[f"{name}_sign_in"] = nhwc(seen["sign_in"])[..., ::16]
    return out


def network_golden(model):
    x = (sample_images() / 255.0 - MEAN) / STD
    x = torch.from_numpy(x.transpose(0, 3, 1, 2).astype(np.float32))
    with torch.no_grad():
        logits = model(x).numpy()
        logits64 = copy.deepcopy(model).double()(x.double()).numpy()
        # and with every BN variance perturbed by 1e-6 relative (round-off-sized)
        perturbed = copy.deepcopy(model)
        generator = torch.Generator().manual_seed(SEED)
        for module in perturbed.modules():
            if isinstance(module, nn.BatchNorm2d):
                noise = torch.randn(module.running_var.shape, generator=generator)
                module.running_var.mul_(1 + 1e-6 * noise)
        logits_perturbed = perturbed(x).numpy()
    return {
        **float64_comparison(logits, logits64),
        "perturbed_max_abs_diff": np.abs(logits_perturbed - logits).max(axis=1).astype(np.float32),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("official_code", help="checkout of github.com/Sense-GVT/BCDNet")
    parser.add_argument("--full-checkpoint-dir", help="also save the full checkpoint here")
    args = parser.parse_args()
    model = official_model(args.official_code)
    golden = {**unit_goldens(model), **network_golden(model)}
    np.savez_compressed(OUT / "bcdnet_a_golden.npz", **golden, torch_version=np.array(torch.__version__))
    if args.full_checkpoint_dir:
        directory = pathlib.Path(args.full_checkpoint_dir)
        directory.mkdir(parents=True, exist_ok=True)
        wrapped = nn.DataParallel(model)  # DistModule's keys: module.*
        optimizer = torch.optim.AdamW(wrapped.parameters(), lr=5e-4)
        state = {"model": wrapped.state_dict(), "optimizer": optimizer.state_dict(), "last_iter": 1000}
        torch.save(state, directory / "bcdnet_a_ckpt.pth.tar")
    print(OUT / "bcdnet_a_golden.npz", (OUT / "bcdnet_a_golden.npz").stat().st_size, "bytes")
    print("float64-sensitive images:", golden["float64_images"], golden["float64_max_abs_diff"].max())
    scale = np.abs(golden["logits"]).max(axis=1)
    print("moved by the BN perturbation:", np.flatnonzero(golden["perturbed_max_abs_diff"] > 1e-3 * scale))


if __name__ == "__main__":
    main()
