"""One loader per reference data set, all returning :class:`Dataset`.

Each looks in the data directory (argument or ``EXPLAIN_DATA_DIR``), then in
Keras' download cache, then downloads from the data set's usual source.
"""
from __future__ import annotations

import os
from typing import Callable

from ..errors import UnknownModelError
from .base import Dataset
from .housing import load_housing
from .imdb import load_imdb
from .mnist import load_mnist

LOADERS: dict[str, Callable[..., Dataset]] = {
    "mnist": load_mnist,
    "imdb": load_imdb,
    "california_housing": load_housing,
}


def load_dataset(name: str, data_dir: str | os.PathLike | None = None) -> Dataset:
    """Load a reference data set by name (``mnist``, ``imdb``, ``california_housing``)."""
    try:
        loader = LOADERS[name]
    except KeyError:
        raise UnknownModelError(f"Unknown data set {name!r}; known data sets: {', '.join(LOADERS)}.") from None
    return loader(data_dir)


__all__ = ["Dataset", "LOADERS", "load_dataset", "load_housing", "load_imdb", "load_mnist"]
