"""The real reference models, trained once per session on the real data (several minutes on two cores).

The data comes from the data-directory setting (``EXPLAIN_DATA_DIR``); without
it the loaders download as usual, and offline with nothing found the tests are
skipped, except in CI, where missing data is a failure.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

import models
from models.datasets import load_dataset
from models.errors import DatasetNotFoundError

GATES = {
    "mnist_dense": ("accuracy", ">=", 0.91),
    "mnist_cnn": ("accuracy", ">=", 0.965),
    "imdb_cnn": ("accuracy", ">=", 0.87),
    "housing_mlp": ("mae", "<=", 38_000),
}


@pytest.fixture(scope="session")
def real_models(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """(models directory, cards) of the four reference models trained on the real data."""
    models_dir = tmp_path_factory.mktemp("real_artifacts")
    try:
        for name in GATES:
            load_dataset(models.get_spec(name).dataset)
    except DatasetNotFoundError as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"real data not available: {exc}")
    cards = {name: models.train(name, models_dir=models_dir, verbose=2) for name in GATES}
    return models_dir, cards


