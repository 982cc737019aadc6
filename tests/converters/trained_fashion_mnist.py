"""The trained Fashion-MNIST BD-Net and naive baseline (weights in fixtures/, written by
experiments/portable_trained_fixtures.py) and real Fashion-MNIST images, for the tests."""

import functools
import json
from pathlib import Path

import numpy as np

from lq_ext.data import load_fashion_mnist, preprocess, to_cifar_shape
from lq_ext.zoo import BDNetMobileNet

FIXTURES = Path(__file__).resolve().parent / "fixtures"
#: config of experiments/fashion_mnist_bdnet.py -> BDNetMobileNet keyword arguments
CONFIGS = {"bdnet": {}, "naive": {"baseline": True}}


def record() -> dict:
    """What the fixture script recorded: command, files, sha256, test top-1."""
    return json.loads((FIXTURES / "fashion_mnist_trained.json").read_text())


def trained_model(config: str):
    """The trained network (logits) of ``config``, built as the training script builds it."""
    model = BDNetMobileNet(
        input_shape=(32, 32, 1),
        num_classes=10,
        classifier_activation=None,
        width_multiplier=0.25,
        name=f"bdnet_{config}",
        **CONFIGS[config],
    )
    model.load_weights(str(FIXTURES / record()["configs"][config]["file"]))
    return model


@functools.lru_cache(maxsize=1)
def _arrays():
    (x_train, _), (x_test, y_test) = load_fashion_mnist()
    return x_train, x_test, y_test


def fashion_images(split: str, n: int):
    """The first ``n`` images of ``split`` as the model takes them (32×32×1 in [-1, 1]), and
    their labels."""
    x_train, x_test, y_test = _arrays()
    images = x_train if split == "train" else x_test
    labels = None if split == "train" else y_test[:n]
    return preprocess(to_cifar_shape(images[:n])).astype(np.float32), labels
