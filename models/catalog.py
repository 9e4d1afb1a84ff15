"""The reference models by name, and loading a trained one with everything it needs."""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from . import artifacts, housing_mlp, imdb_cnn, mnist_cnn, mnist_dense, settings
from .errors import ArtifactError, ModelNotTrainedError, UnknownModelError
from .spec import ReferenceSpec

SPECS: dict[str, ReferenceSpec] = {
    spec.name: spec for spec in (mnist_dense.SPEC, mnist_cnn.SPEC, imdb_cnn.SPEC, housing_mlp.SPEC)
}


def names() -> list[str]:
    return list(SPECS)


def get_spec(name: str) -> ReferenceSpec:
    try:
        return SPECS[name]
    except (KeyError, TypeError):
        raise UnknownModelError(f"Unknown reference model {name!r}; known models: {', '.join(SPECS)}.") from None


def is_trained(name: str, models_dir: str | os.PathLike | None = None) -> bool:
    get_spec(name)
    folder = settings.models_dir(models_dir)
    return artifacts.model_path(folder, name).exists() and artifacts.card_path(folder, name).exists()


def trained_cards(models_dir: str | os.PathLike | None = None) -> dict[str, dict[str, Any] | Exception]:
    """Each trained model's card, or the error that explains why its card is unusable."""
    folder = settings.models_dir(models_dir)
    cards: dict[str, dict[str, Any] | Exception] = {}
    for name in SPECS:
        if artifacts.card_path(folder, name).exists():
            try:
                cards[name] = artifacts.read_card(folder, name)
            except (ArtifactError, ModelNotTrainedError) as exc:
                cards[name] = exc
    return cards


@dataclass
class ReferenceModel:
    """A trained reference model with its card and the names needed to read its outputs."""

    name: str
    model: Any  # keras.Model
    card: dict[str, Any]
    spec: ReferenceSpec

    @property
    def task(self) -> str:
        return self.spec.task

    @property
    def class_names(self) -> Sequence[str] | None:
        return self.card.get("class_names")

    @property
    def feature_names(self) -> Sequence[str] | None:
        return self.card.get("feature_names")

    @property
    def target_name(self) -> str | None:
        return self.card.get("target_name")

    def test_split(self, data_dir: str | os.PathLike | None = None, limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The test inputs and labels this model was evaluated on."""
        from .datasets import load_dataset

        data = load_dataset(self.spec.dataset, data_dir)
        return data.x_test[:limit], data.y_test[:limit]

    def train_sample(self, n: int = 100, seed: int = 0, data_dir: str | os.PathLike | None = None) -> np.ndarray:
        """A seeded random sample of training inputs: the background for SHAP, LIME and metrics."""
        from .datasets import load_dataset

        x_train = load_dataset(self.spec.dataset, data_dir).x_train
        rows = np.random.default_rng(seed).choice(len(x_train), size=min(n, len(x_train)), replace=False)
        return x_train[np.sort(rows)]

    def predict(self, x: np.ndarray, batch_size: int = 1024) -> np.ndarray:
        return np.asarray(self.model.predict(x, batch_size=batch_size, verbose=0))


def load(name: str, models_dir: str | os.PathLike | None = None) -> ReferenceModel:
    """Load a trained reference model (safe mode, hash-checked against its card)."""
    spec = get_spec(name)
    model, card = artifacts.load_verified(settings.models_dir(models_dir), name)
    return ReferenceModel(name=name, model=model, card=card, spec=spec)
