"""load_dataset's optional augmentations (colour jitter, lighting, RandAugment, bicubic) on
the real Fashion-MNIST pipeline: checked keywords, a function of (seed, epoch), jitter in
the first epochs only, and the recipes' data options."""

import dataclasses
import json

import numpy as np
import pytest
from PIL import Image

from lq_ext.data import load_dataset
from lq_ext.data.epochs import data_epoch
from lq_ext.data.fashion_mnist import load_fashion_mnist
from lq_ext.training import RECIPES, Recipe

BASE = dict(batch_size=16, limit=48, seed=3, channels=3)


def _epoch(ds, epoch):
    """Epoch ``epoch`` of a training pipeline (its clock pinned there), as one array."""
    data_epoch(ds).pin(epoch)
    return np.concatenate([x.numpy() for x, _ in ds])


@pytest.fixture(scope="module")
def plain():
    return load_dataset("fashion_mnist", **BASE)


@pytest.mark.parametrize(
    "keyword, value, match",
    [("color_jitter", (0.2, 0.2), "color_jitter"), ("color_jitter", (0.2, 0.2, 0.2, 0.6), "hue ≤ 0.5"),
     ("color_jitter_epochs", 2, "needs color_jitter"), ("lighting", "alexnet", "lighting"),
     ("lighting", -0.1, "lighting"), ("randaugment", "rand-w0", "randaugment"),
     ("interpolation", "nearest", "interpolation"), ("crop_fraction", 1.2, "crop_fraction"),
     ("crop_fraction", 0, "crop_fraction")],
)
def test_bad_keywords_are_refused_before_reading_data(keyword, value, match):
    with pytest.raises(ValueError, match=match):
        load_dataset("fashion_mnist", data_dir="/nonexistent", **{keyword: value})


@pytest.mark.parametrize(
    "options",
    [dict(color_jitter=(0.2, 0.2, 0.2, 0.1)), dict(lighting=0.1), dict(randaugment="rand-m7-mstd0.5-inc1")],
    ids=["jitter", "lighting", "randaugment"],
)
def test_augmentations_are_a_function_of_seed_and_epoch(options, plain):
    ds = load_dataset("fashion_mnist", **BASE, **options)
    first, second, again = _epoch(ds, 0), _epoch(ds, 1), _epoch(ds, 0)
    np.testing.assert_array_equal(first, again)  # epoch 0 again: the same batches
    assert not np.array_equal(first, second)  # epoch 1 re-augmented
    for epoch, augmented in ((0, first), (1, second)):
        assert np.abs(augmented - _epoch(plain, epoch)).max() > 0.01  # the augmentation acted
        assert augmented.min() >= -1.0 and augmented.max() <= 1.0


def test_color_jitter_epochs_jitters_only_the_first_epochs(plain):
    ds = load_dataset("fashion_mnist", color_jitter=(0.2, 0.2, 0.2, 0.1), color_jitter_epochs=2, **BASE)
    assert np.abs(_epoch(ds, 1) - _epoch(plain, 1)).max() > 0.01
    np.testing.assert_array_equal(_epoch(ds, 2), _epoch(plain, 2))  # epoch 2: BCDNet's step 2, no jitter


def test_bicubic_resize_follows_pil():
    """A resized evaluation pipeline, bicubic: close to PIL's bicubic resize (TF's Keys
    cubic, a = −0.5, as PIL's; PIL rounds and clips between its two 1-D passes, so single
    pixels differ by up to ~20 levels at sharp edges) and closer than the bilinear one."""
    (_, _), (x_test, _) = load_fashion_mnist()
    kwargs = dict(split="test", batch_size=4, limit=4, image_size=48, channels=1)
    bicubic = next(iter(load_dataset("fashion_mnist", interpolation="bicubic", **kwargs)))[0].numpy()
    bilinear = next(iter(load_dataset("fashion_mnist", **kwargs)))[0].numpy()
    padded = np.pad(x_test[:4], [(0, 0), (2, 2), (2, 2)])  # the pipeline's 28 → 32 px padding
    reference = np.stack([np.asarray(Image.fromarray(p).resize((48, 48), Image.BICUBIC), np.float32) for p in padded])
    error = np.abs((bicubic[..., 0] + 1.0) * 127.5 - reference).mean()
    assert error < 0.5 < np.abs((bilinear[..., 0] + 1.0) * 127.5 - reference).mean()


def test_recipes_state_the_official_augmentations():
    assert RECIPES["bcdnet"].data_options() == {"color_jitter": [0.2, 0.2, 0.2, 0.1], "color_jitter_epochs": 60}
    assert RECIPES["bcdnet"].with_epochs(4).data_options()["color_jitter_epochs"] == 4
    assert RECIPES["bnext"].data_options() == {
        "randaugment": "rand-m7-mstd0.5-inc1", "interpolation": "bicubic", "crop_fraction": 0.95}
    assert RECIPES["bnext"].data_options("test") == {"interpolation": "bicubic", "crop_fraction": 0.95}
    assert RECIPES["pokebnn"].data_options("test") == {"interpolation": "bicubic"}
    assert RECIPES["pokebnn"].data_options() == {"interpolation": "bicubic"}
    assert RECIPES["reactnet"].data_options() == {"lighting": "reactnet"}
    assert RECIPES["quick"].data_options() == {} == RECIPES["bcdnet"].data_options("test")
    for recipe in RECIPES.values():  # recipe.json (the resume check) round-trips
        fields = dataclasses.asdict(recipe)
        assert json.loads(json.dumps(fields)) == fields


def test_recipe_augmentation_is_checked():
    with pytest.raises(ValueError, match="augmentation must be None or a dict"):
        Recipe(augmentation={"mixup": 0.2})
    with pytest.raises(ValueError, match="augmentation: lighting"):
        Recipe(augmentation={"lighting": "x"})
    with pytest.raises(ValueError, match="step 2 may only drop color_jitter"):
        Recipe(two_step=True, augmentation={"lighting": 0.1}, step2={"augmentation": {"lighting": 0.2}})
    recipe = Recipe(two_step=True, epochs=3, augmentation={"color_jitter": (0.4, 0.4, 0.4)},
                    step2={"augmentation": {}})
    assert recipe.data_options() == {"color_jitter": [0.4, 0.4, 0.4], "color_jitter_epochs": 3}


def test_optional_augmentations_and_crop_fraction_on_tfds_mock_data():
    """The random-resized-crop family (per image): colour jitter and lighting run and are a
    function of (seed, epoch) (RandAugment per image: tests/data/test_randaugment.py); the
    evaluation crop follows crop_fraction."""
    from tensorflow_datasets.testing import mock_data  # tfds' offline mock (the tests extra)

    extras = dict(color_jitter=(0.4, 0.4, 0.4, 0.1), lighting=0.1, interpolation="bicubic")
    kwargs = dict(batch_size=3, image_size=32, seed=2, download=False)
    test = dict(split="test", batch_size=3, download=False, interpolation="bicubic")
    with mock_data(num_examples=3):
        plain = load_dataset("stl10", "train", **kwargs)
        ds = load_dataset("stl10", "train", **kwargs, **extras)
        first, again = _epoch(ds, 0), _epoch(ds, 0)
        whole = next(iter(load_dataset("stl10", crop_fraction=1.0, image_size=96, **test)))[0].numpy()
        half = next(iter(load_dataset("stl10", crop_fraction=0.5, image_size=48, **test)))[0].numpy()
    np.testing.assert_array_equal(first, again)
    assert np.abs(first - _epoch(plain, 0)).max() > 0.05 and first.min() >= -1 and first.max() <= 1
    # stl10's 96-px images: crop_fraction 1 at 96 px is the image itself, 0.5 at 48 px its centre
    np.testing.assert_allclose(half, whole[:, 24:72, 24:72], atol=1e-5)
    assert np.abs(whole[:, 24:72, 24:72] - whole[:, :48, :48]).max() > 0.1
