"""Golden outputs of the official distillation losses, for tests/test_distillation_official.py.

Runs the released loss classes with PyTorch on hand-made logits and writes
``tests/fixtures/official_kd_golden.json``:

- BNext / ES-BNN (imfinethanks/ESBNN @ 972eecd): ``utils/KD_loss.py`` ``DistributionLoss``
  (imported from the checkout) and the multi-teacher weighting of
  ``src/train_assistant_group_amp_rep_ops.py:758-785``, restated below line by line (that
  code sits inside ``train()`` and cannot be imported). ``--hard_knowledge_grains`` at its
  default ``"Instance"`` (the released run) and at ``"instance"`` (which raises, recorded);
  the intended per-sample reading keeps both reductions per sample (and flattens the
  ``[N, 1, 1]`` per-sample KD, which otherwise broadcasts against α's ``[N]`` into an
  outer product whose mean is the released batch-mean form again: recorded too).
- BCDNet (Sense-GVT/BCDNet @ 243ee07): ``prototype/loss_functions/loss.py``
  ``LabelSmoothCELoss`` (imported) and the dual-head loss of
  ``prototype/solver/cls_solver_dist.py:304-313`` (restated; its ``DistributionLoss``,
  ``:31-61``, is the same formula as ESBNN's, whose class is used).

Loss values and the gradients with respect to the student's logits are recorded.

Usage (any Python with torch; the checkouts are not part of this repository)::

    python experiments/official_kd_golden.py --esbnn /path/to/ESBNN --bcdnet /path/to/BCDNet

PyTorch is imported only after the arguments are read (``--help`` needs none; the project's
environment has no torch).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "official_kd_golden.json"

# Hand-made logits: 3 samples, 4 classes, two teachers.
STUDENT = [[1.0, 2.0, 3.0, 0.0], [0.5, -1.0, 0.0, 2.0], [-2.0, 1.0, 1.5, 0.0]]
TEACHERS = [
    [[2.0, 0.0, 1.0, -1.0], [0.0, 0.0, 3.0, 1.0], [1.0, 1.0, 1.0, 1.0]],
    [[0.0, 4.0, 0.0, 0.0], [1.0, -2.0, 0.5, 2.5], [-1.0, 2.0, 0.0, 3.0]],
]
LABELS = [2, 3, 1]
FC_DIST = [[0.0, -1.0, 2.0, 1.0], [1.0, 1.0, 0.0, -1.0], [0.5, 0.0, 2.0, -0.5]]


def _load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def bnext_loss(criterion, grains: str, *, per_sample: bool = False, squeeze: bool = False):
    """``train_assistant_group_amp_rep_ops.py:758-785`` with two teachers (hard_knowledge
    True, ``:332-333``). ``per_sample`` keeps both reductions per sample; ``squeeze`` then
    flattens ``DistributionLoss(reduce=False)``'s ``[N, 1, 1]`` to ``[N]`` (the intended
    reading: unsqueezed, ``[N, 1, 1] * [N]`` broadcasts to ``[N, 1, N]``)."""
    import torch
    from torch import nn

    student = torch.tensor(STUDENT, requires_grad=True)
    kd_reduce = (False if grains == "instance" else True)  # :768
    ce_reduce = (False if grains == "Instance" else True)  # :772
    if per_sample:
        kd_reduce = ce_reduce = False
    loss_entropy, alpha = [], []
    teachers = [torch.tensor(t) for t in TEACHERS]
    for teacher in teachers:
        kd = criterion(student, teacher, reduce=kd_reduce)
        loss_entropy.append(kd.reshape(-1) if squeeze else kd)
    for teacher in teachers:
        ce = nn.CrossEntropyLoss(reduce=ce_reduce)  # the deprecated argument, as :772
        alpha.append(ce(student, torch.softmax(teacher, dim=-1)).unsqueeze(-1))
    alpha = torch.softmax(torch.cat(alpha, dim=-1), dim=-1).detach()
    terms = [loss_entropy[i] * alpha[:, i] for i in range(len(teachers))]  # :783
    loss = torch.mean(sum(terms) / len(terms))  # :785
    loss.backward()
    return {
        "loss": loss.item(),
        "alpha": alpha.tolist(),
        "grad": student.grad.tolist(),
        "kd_shape": list(loss_entropy[0].shape),
    }


def bcdnet_loss(criterion_kd, label_smooth_ce):
    """``cls_solver_dist.py:304-313`` at world size 1, label smoothing 0.1 (config.yaml)."""
    import torch

    logits = torch.tensor(STUDENT, requires_grad=True)
    logits_dist = torch.tensor(FC_DIST, requires_grad=True)
    teacher = torch.tensor(TEACHERS[0])
    ce = label_smooth_ce(0.1, 4)(logits, torch.tensor(LABELS))
    loss = (ce + criterion_kd(logits_dist, teacher.detach())) / 2.0
    loss.backward()
    return {"loss": loss.item(), "grad_fc": logits.grad.tolist(), "grad_fc_dist": logits_dist.grad.tolist()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--esbnn", type=Path, required=True, help="checkout of imfinethanks/ESBNN @ 972eecd")
    parser.add_argument("--bcdnet", type=Path, required=True, help="checkout of Sense-GVT/BCDNet @ 243ee07")
    args = parser.parse_args()
    import torch

    kd = _load(args.esbnn / "utils" / "KD_loss.py", "esbnn_kd_loss").DistributionLoss()
    smooth = _load(args.bcdnet / "prototype" / "loss_functions" / "loss.py", "bcdnet_loss").LabelSmoothCELoss

    record = {
        "source": "experiments/official_kd_golden.py, torch " + torch.__version__,
        "student": STUDENT, "teachers": TEACHERS, "labels": LABELS, "fc_dist": FC_DIST,
        "bnext_released": bnext_loss(kd, "Instance"),
        "bnext_per_sample": bnext_loss(kd, "Instance", per_sample=True, squeeze=True),
        "bnext_per_sample_unsqueezed": bnext_loss(kd, "Instance", per_sample=True),
    }
    try:
        bnext_loss(kd, "instance")
        record["bnext_grains_instance_error"] = None
    except IndexError as error:
        record["bnext_grains_instance_error"] = f"IndexError: {error}"
    record["bcdnet_dual_head"] = bcdnet_loss(kd, smooth)
    OUT.write_text(json.dumps(record, indent=1) + "\n")
    print(json.dumps({k: v for k, v in record.items() if k.startswith(("bnext", "bcdnet"))}, indent=1))
    assert math.isfinite(record["bnext_released"]["loss"])


if __name__ == "__main__":
    main()
