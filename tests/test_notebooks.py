"""The notebooks run top to bottom (each in a temporary working directory)."""

import pathlib

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOK_DIR = pathlib.Path(__file__).parents[1] / "notebooks"

#: What each notebook must show, so a silently empty run cannot pass.
EXPECTED_OUTPUT = {
    "quickstart.ipynb": ["verified: True", "LceBconv2d", "bit-packed share of binary MACs: 9", "median"],
    "train_fashion_mnist.ipynb": [
        "augmented training batch: images (128, 32, 32, 1) float32",
        "step1 epoch 1: accuracy",
        "step2 epoch 1: accuracy",
        "test top-1: ",
        "same sign as step 1's weights: ",
        "LceBconv2d",
        "verified: True",
        "on 20 user samples: ",
        "bit-packed share of binary MACs: ",
    ],
}


def test_every_notebook_is_checked():
    assert sorted(p.name for p in NOTEBOOK_DIR.glob("*.ipynb")) == sorted(EXPECTED_OUTPUT)


@pytest.mark.parametrize("name", sorted(EXPECTED_OUTPUT))
def test_notebook_executes(name, tmp_path):
    notebook = nbformat.read(NOTEBOOK_DIR / name, as_version=4)
    # timeout: per cell, a guard against hangs. train_fashion_mnist's training cell takes
    # ~2 min on a lightly loaded 2-core machine, 30 min on one shared with training jobs.
    client = NotebookClient(
        notebook, timeout=3600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()
    text = "".join(
        output.get("text", "") + str(output.get("data", {}).get("text/plain", ""))
        for cell in notebook.cells
        for output in cell.get("outputs", [])
    )
    for expected in EXPECTED_OUTPUT[name]:
        assert expected in text
