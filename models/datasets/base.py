"""The in-memory form every loader returns, and how a data file is found."""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from .. import settings
from ..errors import DatasetNotFoundError


@dataclass(frozen=True)
class Dataset:
    """A train/test split with the names people need to read it.

    ``class_names`` is set for classification, ``feature_names`` for tabular
    data; ``source`` records which file the arrays came from (provenance).
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    task: str  # "classification" | "regression"
    source: str
    class_names: Sequence[str] | None = None
    feature_names: Sequence[str] | None = None
    target_name: str | None = None
    notes: dict = field(default_factory=dict)

    def subset(self, n_train: int | None = None, n_test: int | None = None) -> "Dataset":
        """The first rows of each split: tiny, fast slices for tests and smoke runs."""
        return replace(
            self,
            x_train=self.x_train[:n_train],
            y_train=self.y_train[:n_train],
            x_test=self.x_test[:n_test],
            y_test=self.y_test[:n_test],
        )

    def fingerprint(self) -> str:
        """A content hash of all four arrays, independent of the file format they came from."""
        digest = hashlib.sha256()
        for array in (self.x_train, self.y_train, self.x_test, self.y_test):
            array = np.ascontiguousarray(array)
            digest.update(str((array.dtype.str, array.shape)).encode())
            if array.dtype == object:
                for item in array.ravel():
                    digest.update(str(item).encode("utf-8"))
                    digest.update(b"\0")
            else:
                digest.update(array.tobytes())
        return "sha256:" + digest.hexdigest()

    def sizes(self) -> dict[str, int]:
        return {"train": int(len(self.x_train)), "test": int(len(self.x_test))}


Downloader = Callable[[], Path]


def locate(
    candidates: Sequence[str],
    data_dir: str | os.PathLike | None,
    download: Downloader,
    *,
    dataset: str,
    expected: str,
) -> Path:
    """Find a data file: the data directory, then Keras' cache, then a download.

    ``candidates`` are file or folder names that hold the data set; the first
    one present wins.  When all three sources fail, the error names the setting
    and the files it expects, because that is what the user must fix.
    """
    searched: list[Path] = []
    for folder in (settings.data_dir(data_dir), settings.keras_cache_dir()):
        if folder is None:
            continue
        for name in candidates:
            path = folder / name
            searched.append(path)
            if path.exists():
                return path
    try:
        return download()
    except Exception as exc:  # any download failure means "not available here"
        raise DatasetNotFoundError(
            f"The {dataset} data set was not found and could not be downloaded ({type(exc).__name__}: {exc}). "
            f"Looked in: {', '.join(str(p) for p in searched) or '(no folder configured)'}. "
            f"Offline, put {expected} in a folder and point the {settings.DATA_DIR_ENV} environment "
            f"variable (or --data-dir) at it."
        ) from exc
