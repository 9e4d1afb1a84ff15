"""Train all four reference models on the real data and hold them to their quality gates."""
from __future__ import annotations

import numpy as np
import pytest

import models
from models.datasets import load_dataset
from models.evaluation import evaluate

from .conftest import GATES

pytestmark = pytest.mark.integration



@pytest.mark.parametrize("name", list(GATES))
def test_gate(real_models, name: str) -> None:
    _, cards = real_models
    metric, op, threshold = GATES[name]
    value = cards[name]["metrics"]["test"][metric]
    print(f"{name}: test {metric} = {value:.4f}, trained in {cards[name]['training']['seconds']} s")
    assert value >= threshold if op == ">=" else value <= threshold
    assert cards[name]["gate"]["passed"]


@pytest.mark.parametrize("name", list(GATES))
def test_real_model_round_trip(real_models, name: str) -> None:
    """The saved file, loaded in safe mode, reproduces the card's test metrics on the full test split."""
    models_dir, cards = real_models
    reference = models.load(name, models_dir)
    data = load_dataset(reference.spec.dataset)
    assert evaluate(reference.model, data.x_test, data.y_test, reference.task, with_confusion=True) == cards[name]["metrics"]["test"]


def test_real_splits_are_the_documented_ones(real_models) -> None:
    _, cards = real_models
    sizes = {name: cards[name]["dataset"]["sizes"] for name in cards}
    assert sizes["mnist_cnn"]["test"] == 10_000 and sizes["mnist_cnn"]["train"] + sizes["mnist_cnn"]["validation"] == 5_000
    assert sizes["imdb_cnn"]["test"] == 25_000
    assert sizes["housing_mlp"]["test"] == 4_128
    assert cards["housing_mlp"]["cross_validation"]["folds"] == 4
    assert np.isfinite(cards["housing_mlp"]["cross_validation"]["mean"])
