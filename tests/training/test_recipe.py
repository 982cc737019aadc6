"""lq_ext.training.recipe: the Recipe guards and the papers' recipes."""

import dataclasses
import json

import numpy as np
import pytest

from lq_ext.training import RECIPES, Recipe


@pytest.mark.parametrize(
    "changes, word",
    [
        (dict(epochs=0), "epochs"),
        (dict(optimizer="sgd"), "optimizer"),
        (dict(learning_rate=-1.0), "learning_rate"),
        (dict(schedule="step"), "schedule"),
        (dict(epochs=3, warmup_epochs=3), "warmup_epochs"),
        (dict(weight_decay=-1e-5), "weight_decay"),
        (dict(two_step="yes"), "two_step"),
        (dict(kd_temperature=0), "kd_temperature"),
        (dict(kd_label_weight=-1), "kd_label_weight"),
        (dict(weight_binarization_epoch=-1), "weight_binarization_epoch"),
    ],
)
def test_recipe_errors_name_the_field_and_value(changes, word):
    with pytest.raises(ValueError, match=rf"{word} must be .*got {word}="):
        Recipe(**changes)


def test_reactnet_recipe_is_the_published_one():
    recipe = RECIPES["reactnet"]
    assert (recipe.optimizer, recipe.learning_rate, recipe.schedule, recipe.two_step) == ("adam", 5e-4, "linear", True)
    assert (recipe.weight_decay, recipe.step2_weight_decay, recipe.kd_label_weight) == (1e-5, 0.0, 0.0)
    assert recipe.replace(epochs=4).epochs == 4 and recipe.epochs == 256


def test_numpy_numbers_are_stored_as_python_numbers():
    recipe = Recipe(epochs=np.int64(4), warmup_epochs=np.int32(1), learning_rate=np.float32(0.5),
                    weight_decay=np.float64(1e-5), weight_binarization_epoch=np.int16(2))
    assert (recipe.epochs, recipe.warmup_epochs, recipe.weight_binarization_epoch) == (4, 1, 2)
    assert type(recipe.epochs) is int and type(recipe.weight_binarization_epoch) is int
    assert type(recipe.learning_rate) is float and recipe.learning_rate == 0.5
    assert recipe.weight_decay == pytest.approx(1e-5)
    # train() records the recipe as JSON (recipe.json): NumPy scalars would not serialize
    assert json.loads(json.dumps(dataclasses.asdict(recipe)))["epochs"] == 4
    assert Recipe(learning_rate=1).learning_rate == 1  # Python numbers are kept as given
    with pytest.raises(ValueError, match="epochs must be an int > 0, got epochs=True"):
        Recipe(epochs=True)
