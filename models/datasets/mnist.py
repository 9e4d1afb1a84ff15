"""MNIST handwritten digits: 28x28 grey images, 10 classes, in Keras' ``mnist.npz`` layout."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .base import Dataset, locate
from .npz import check, read_npz, require

FILE = "mnist.npz"
ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"
CLASS_NAMES = tuple(str(d) for d in range(10))


def _download() -> Path:
    from keras.utils import get_file

    return Path(get_file(FILE, origin=ORIGIN))


def load_mnist(data_dir: str | os.PathLike | None = None) -> Dataset:
    """MNIST as uint8 arrays ``(n, 28, 28)`` with integer labels 0-9."""
    path = locate([FILE], data_dir, _download, dataset="MNIST", expected=f"{FILE} (keys x_train, y_train, x_test, y_test)")
    arrays = read_npz(path, "MNIST")
    require(arrays, path, "MNIST", ("x_train", "y_train", "x_test", "y_test"))
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        check(x.ndim == 3 and x.shape[1:] == (28, 28), path, "MNIST", f"x_{split} has shape {x.shape}, expected (n, 28, 28)")
        check(y.shape == (len(x),), path, "MNIST", f"y_{split} has shape {y.shape}, expected ({len(x)},)")
        check(len(y) == 0 or (int(y.min()) >= 0 and int(y.max()) <= 9), path, "MNIST", f"y_{split} has labels outside 0-9")
    return Dataset(
        name="mnist",
        x_train=arrays["x_train"].astype(np.uint8, copy=False),
        y_train=arrays["y_train"].astype(np.int64),
        x_test=arrays["x_test"].astype(np.uint8, copy=False),
        y_test=arrays["y_test"].astype(np.int64),
        task="classification",
        source=str(path),
        class_names=CLASS_NAMES,
        target_name="digit",
    )
