"""The reference models: data loading, architectures, training, saving and loading.

>>> import models
>>> models.names()
['mnist_dense', 'mnist_cnn', 'imdb_cnn', 'housing_mlp']
>>> ref = models.load("mnist_cnn")          # doctest: +SKIP
>>> x, y = ref.test_split(limit=10)          # doctest: +SKIP
"""
from __future__ import annotations

from .catalog import ReferenceModel, get_spec, is_trained, load, names, trained_cards
from .datasets import Dataset, load_dataset
from .errors import (
    ArtifactError,
    DatasetCorruptError,
    DatasetNotFoundError,
    ModelNotTrainedError,
    UnknownModelError,
)


def train(name: str, **kwargs):
    """Train and save a reference model; see :func:`models.training.train`."""
    from .training import train as _train

    return _train(name, **kwargs)


__all__ = [
    "ArtifactError", "Dataset", "DatasetCorruptError", "DatasetNotFoundError", "ModelNotTrainedError",
    "ReferenceModel", "UnknownModelError", "get_spec", "is_trained", "load", "load_dataset", "names",
    "train", "trained_cards",
]
