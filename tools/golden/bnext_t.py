"""Golden outputs of the official BNext-T (hpi-xnor/BNext) and ES-BNext-T (imfinethanks/ESBNN).

Needs PyTorch and NumPy (not TensorFlow, not lq_ext) and copies of the official code
(https://github.com/hpi-xnor/BNext, https://github.com/imfinethanks/ESBNN; never
committed here):

    python tools/golden/bnext_t.py /path/to/BNext /path/to/ESBNN [--full-checkpoint-dir DIR]

The model files import ``torchinfo``, ``einops`` and ``timm`` without using them in the
network; this script provides empty stand-ins so that only PyTorch is needed. Three
official networks, weights from ``bnext_like_state`` (tests/zoo/official_state.py):

- ``bnext``: ``src/bnext.py`` ``BNext(size="tiny")``, weight temperature 0.9**511 (what
  512 epochs of the BNext script leave: ``HardBinaryConv`` uses ``sign(w)``);
- ``es``: ``src/bnext_rep_ops.py`` ``BNext(size="tiny", rep_beta=2)``, same temperature;
- ``es_real``: the same ES network with temperature 1, as the released ES script leaves
  it (it never anneals: ``clamp(w, −1, 1)``, real-valued weights). Also run with those
  weights binarized: ``sign`` (temperature below 1e-7) and ``scaled`` (``α_c·sign(w)``,
  α_c = mean|clamp(w)| of each output kernel, what lq_ext's loader deploys).

BN statistics are calibrated in one eval forward of the 20 sample images: a pre-hook on
every BatchNorm measures its input's mean and std and sets
``running_mean = mean + N(0, 0.3²)·std``, ``running_var = U(0.5, 2)·std²`` (per channel,
from the key and ``SEED``), so the tests regenerate every array from the stored
``(mean, std)`` pairs. Writes tests/zoo/fixtures/official/bnext_t_golden.npz: per
network the pairs, sub-blocks (given inputs, outputs, binarizer inputs), logits of
images 1 and 3 (float32 and float64), top-1 of all 20. CI never runs this script.
"""

from __future__ import annotations

import argparse
import copy
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

from official_state import BNEXT_FINAL_TEMPERATURE, SEED, bnext_bn_arrays, bnext_like_state  # noqa: E402
from reactnet_a import MEAN, STD, sample_images  # noqa: E402

#: sub-block name → (module path, input side): every sub-block kind, stride 1 and 2
UNITS = {
    "attn_s2": ("feature.2", 4),  # Attention stride 2, then FFN_1 / FFN_2 concatenated
    "ffn3": ("feature.3.Attention", 3),  # FFN_3x3 (mode "bias")
    "ffn1": ("feature.3.FFN", 3),
    "attn_s1": ("feature.8.Attention", 3),  # Attention stride 1, 512 channels
}
#: images whose logits are stored (the fixture keeps the top-1 of all 20)
LOGIT_IMAGES = [1, 3]


def _stub_imports():
    for name in ("torchinfo", "einops", "timm", "timm.models", "timm.models.layers"):
        sys.modules.setdefault(name, types.ModuleType(name))
    sys.modules["torchinfo"].summary = None
    sys.modules["einops"].rearrange = None
    sys.modules["timm.models.layers"].trunc_normal_ = None
    sys.modules["timm.models.layers"].DropPath = None


def _module(path, name):
    _stub_imports()
    sys.path.insert(0, str(pathlib.Path(path) / "src"))
    try:
        module = __import__(name)
    finally:
        sys.path.pop(0)
    return module


def official_inputs():
    x = (sample_images() / 255.0 - MEAN) / STD
    return torch.from_numpy(x.transpose(0, 3, 1, 2).astype(np.float32))


def calibrated(model, temperature):
    """Load ``bnext_like_state`` with BN statistics measured on the sample images."""
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    bn_names = [n for n, m in model.named_modules() if isinstance(m, nn.BatchNorm2d)]
    provisional = bnext_like_state(shapes, {n: (0.0, 1.0) for n in bn_names}, temperature=temperature)
    model.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in provisional.items()}, strict=True)
    model.eval()
    stats, hooks = {}, []
    for name, module in model.named_modules():
        if isinstance(module, nn.BatchNorm2d):
            def hook(m, args, name=name):
                x = args[0].double()
                stats[name] = (float(x.mean()), float(x.std()))
                arrays = bnext_bn_arrays(name, m.num_features, *stats[name])
                for k in ("weight", "bias", "running_mean", "running_var"):
                    getattr(m, k).data.copy_(torch.from_numpy(arrays[k].astype(np.float32)))

            hooks.append(module.register_forward_pre_hook(hook))
    with torch.no_grad():
        model(official_inputs())
    for h in hooks:
        h.remove()
    state = bnext_like_state(shapes, stats, temperature=temperature)
    model.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in state.items()}, strict=True)
    return model.eval(), stats


def unit_goldens(model, tag, tau):
    out = {}
    for index, (name, (path, side)) in enumerate(UNITS.items()):
        unit = model.get_submodule(path)
        sub = unit.Attention if hasattr(unit, "Attention") else unit
        channels = sub.move.bias.shape[1]
        rng = np.random.default_rng([SEED, tau, index])
        x = rng.normal(0.0, 1.0, (1, side, side, channels)).astype(np.float32)
        seen = {}
        hook = sub.move.register_forward_hook(lambda m, a, o, seen=seen: seen.__setitem__("sign_in", o))
        tap = sub.register_forward_hook(lambda m, a, o, seen=seen: seen.__setitem__("sub_out", o))
        with torch.no_grad():
            y = unit(torch.from_numpy(x.transpose(0, 3, 1, 2).copy()))
        hook.remove()
        tap.remove()
        nhwc = lambda t: t.detach().numpy().transpose(0, 2, 3, 1)  # noqa: E731
        out[f"{tag}_{name}_input_head"] = x.reshape(-1)[:16]
        out[f"{tag}_{name}_output"] = nhwc(y)[..., ::4]
        out[f"{tag}_{name}_sub_output"] = nhwc(seen["sub_out"])[..., ::4]
        out[f"{tag}_{name}_sign_in"] = nhwc(seen["sign_in"])[..., ::4]
    return out


def forward(model):
    with torch.no_grad():
        return model(official_inputs()).numpy()


def network_goldens(model, tag, *, store_logits=True):
    logits = forward(model)
    with torch.no_grad():
        logits64 = copy.deepcopy(model).double()(official_inputs().double()).numpy()
    out = {
        f"{tag}_top1": logits.argmax(1),
        f"{tag}_top1_64": logits64.argmax(1),
        f"{tag}_float64_rel_diff": (np.abs(logits64 - logits).max(1) / np.abs(logits).max(1)).astype(np.float32),
    }
    if store_logits:
        out[f"{tag}_logits"] = logits[LOGIT_IMAGES]
        out[f"{tag}_logits64"] = logits64[LOGIT_IMAGES].astype(np.float32)
    return out


def binarized(model, *, scaled):
    """The ES network with its real-valued weights binarized: ``α_c·sign(w)`` or ``sign(w)``."""
    model = copy.deepcopy(model)
    for name, module in model.named_modules():
        if name.endswith("binary_conv"):
            w = module.weight.data
            if scaled:
                real = (w / module.temperature.clamp(min=1e-8)).clamp(-1, 1)
                alpha = real.abs().mean(dim=(1, 2, 3), keepdim=True)
                module.weight.data = alpha * w.sign()
                module.temperature.fill_(1.0)
            else:
                module.temperature.fill_(BNEXT_FINAL_TEMPERATURE)
    return model.eval()


def stats_arrays(stats, tag):
    keys = sorted(stats)
    return {f"{tag}_bn_keys": np.array(keys), f"{tag}_bn_stats": np.array([stats[k] for k in keys])}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bnext_code", help="checkout of github.com/hpi-xnor/BNext")
    parser.add_argument("esbnn_code", help="checkout of github.com/imfinethanks/ESBNN")
    parser.add_argument("--full-checkpoint-dir", help="also save the checkpoints as the training scripts do")
    args = parser.parse_args()
    torch.manual_seed(0)
    bnext = _module(args.bnext_code, "bnext")
    sys.modules.pop("bnext")
    es = _module(args.esbnn_code, "bnext_rep_ops")
    golden = {"logit_images": np.array(LOGIT_IMAGES)}
    models = {
        "bnext": (bnext.BNext(num_classes=1000, size="tiny"), 1, BNEXT_FINAL_TEMPERATURE),
        "es": (es.BNext(num_classes=1000, size="tiny", rep_beta=2), 2, BNEXT_FINAL_TEMPERATURE),
        "es_real": (es.BNext(num_classes=1000, size="tiny", rep_beta=2), 2, 1.0),
    }
    built = {}
    for tag, (model, tau, temperature) in models.items():
        model, stats = calibrated(model, temperature)
        built[tag] = model
        golden.update(stats_arrays(stats, tag))
        golden.update(network_goldens(model, tag, store_logits=tag != "es_real"))
        if tag != "es_real":
            golden.update(unit_goldens(model, tag, tau))
    real = golden["es_real_top1"]
    for kind in ("scaled", "sign"):
        variant = binarized(built["es_real"], scaled=kind == "scaled")
        golden.update(network_goldens(variant, f"es_real_{kind}", store_logits=kind == "scaled"))
        agree = int((golden[f"es_real_{kind}_top1"] == real).sum())
        print(f"ES-BNext-T, real-valued weights vs {kind}-binarized: top-1 agrees on {agree}/20")
    np.savez_compressed(OUT / "bnext_t_golden.npz", **golden, torch_version=np.array(torch.__version__))
    if args.full_checkpoint_dir:
        directory = pathlib.Path(args.full_checkpoint_dir)
        directory.mkdir(parents=True, exist_ok=True)
        for tag, model in built.items():
            wrapped = nn.DataParallel(model)  # DistributedDataParallel's keys: module.*
            optimizer = torch.optim.AdamW(wrapped.parameters(), lr=1e-3)
            torch.save({"epoch": 511, "state_dict": wrapped.state_dict(), "best_top1_acc": 72.4,
                        "optimizer": optimizer.state_dict(), "temp": [1.0, 0.9], "alpha": 0.0},
                       directory / f"{tag}_checkpoint.pth.tar")
    path = OUT / "bnext_t_golden.npz"
    print(path, path.stat().st_size, "bytes")
    for tag in ("bnext", "es", "es_real"):
        print(tag, "float64-sensitive images:", np.flatnonzero(golden[f"{tag}_float64_rel_diff"] > 1e-4),
              "max", golden[f"{tag}_float64_rel_diff"].max())


if __name__ == "__main__":
    main()
