"""Safe reading of ``.npz`` files: never unpickles, and names the file on any failure."""
from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from ..errors import DatasetCorruptError


def read_npz(path: Path, dataset: str) -> dict[str, np.ndarray]:
    """All arrays of an ``.npz`` file, or a :class:`DatasetCorruptError` naming it."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {key: archive[key] for key in archive.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        raise DatasetCorruptError(
            f"{path} is not a readable {dataset} .npz file ({type(exc).__name__}: {exc}). "
            "Delete it so that it is downloaded again, or replace it with a good copy."
        ) from exc


def require(arrays: dict[str, np.ndarray], path: Path, dataset: str, keys: tuple[str, ...]) -> None:
    missing = [k for k in keys if k not in arrays]
    if missing:
        raise DatasetCorruptError(
            f"{path} lacks the arrays {missing} of the {dataset} layout "
            f"(found {sorted(arrays)}; expected {list(keys)})."
        )


def check(condition: bool, path: Path, dataset: str, what: str) -> None:
    """Raise a :class:`DatasetCorruptError` that names the file unless ``condition`` holds."""
    if not condition:
        raise DatasetCorruptError(f"{path} does not have the {dataset} layout: {what}.")
