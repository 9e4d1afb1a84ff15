"""California housing (1990 census): 8 raw numeric columns, median house value in dollars."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .base import Dataset, locate
from .npz import check, read_npz

FILE = "california_housing.npz"
ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/california_housing.npz"
FILE_HASH = "1a2e3a52e0398de6463aebe6f4a8da34fb21fbb6b934cf88c3425e766f2a1a6f"
FEATURE_NAMES = (
    "longitude",
    "latitude",
    "housing_median_age",
    "total_rooms",
    "total_bedrooms",
    "population",
    "households",
    "median_income",
)
# Keras' loader splits the unsplit download with this seed and fraction; we do the same.
KERAS_SPLIT_SEED = 113
KERAS_TEST_SPLIT = 0.2


def _download() -> Path:
    from keras.utils import get_file

    return Path(get_file(FILE, origin=ORIGIN, file_hash=FILE_HASH))


def _keras_split(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, ...]:
    """The exact split ``keras.datasets.california_housing.load_data()`` makes."""
    indices = np.arange(len(x))
    np.random.RandomState(KERAS_SPLIT_SEED).shuffle(indices)
    x, y = x[indices], y[indices]
    cut = int(len(x) * (1 - KERAS_TEST_SPLIT))
    return x[:cut], y[:cut], x[cut:], y[cut:]


def load_housing(data_dir: str | os.PathLike | None = None) -> Dataset:
    """Accepts both Keras' download (keys ``x``, ``y``) and a pre-split file (``x_train`` ...)."""
    path = locate(
        [FILE], data_dir, _download, dataset="California housing",
        expected=f"{FILE} (keys x_train, y_train, x_test, y_test, or Keras' x, y)",
    )
    arrays = read_npz(path, "California housing")
    if {"x_train", "y_train", "x_test", "y_test"} <= arrays.keys():
        splits = tuple(arrays[k] for k in ("x_train", "y_train", "x_test", "y_test"))
    elif {"x", "y"} <= arrays.keys():
        splits = _keras_split(arrays["x"], arrays["y"])
    else:
        check(False, path, "California housing", f"found arrays {sorted(arrays)}, expected x_train/y_train/x_test/y_test or x/y")
    x_train, y_train, x_test, y_test = splits
    for name, x, y in (("train", x_train, y_train), ("test", x_test, y_test)):
        check(x.ndim == 2 and x.shape[1] == len(FEATURE_NAMES), path, "California housing",
              f"x_{name} has shape {x.shape}, expected (n, {len(FEATURE_NAMES)})")
        check(y.shape == (len(x),), path, "California housing", f"y_{name} has shape {y.shape}, expected ({len(x)},)")
        check(bool(np.isfinite(x).all() and np.isfinite(y).all()), path, "California housing", f"the {name} split holds NaN or inf")
    return Dataset(
        name="california_housing",
        x_train=x_train.astype(np.float32),
        y_train=y_train.astype(np.float32),
        x_test=x_test.astype(np.float32),
        y_test=y_test.astype(np.float32),
        task="regression",
        source=str(path),
        feature_names=FEATURE_NAMES,
        target_name="median_house_value (USD)",
    )
