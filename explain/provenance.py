"""Provenance facts recorded with every explanation and used in store keys: library versions and content hashes.

The engine's own module (it imports nothing from the reference models), so the
library can be used without them; ``models.provenance`` re-exports from here.
"""
from __future__ import annotations

import functools
import hashlib
import json
import platform
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

TRACKED_PACKAGES = ("tensorflow", "keras", "numpy", "scikit-learn", "lime", "shap")


def library_versions(packages: tuple[str, ...] = TRACKED_PACKAGES) -> dict[str, str]:
    """Installed versions (a fresh dict each call; the lookup itself is cached, it reads package metadata)."""
    return dict(_versions(packages))


@functools.lru_cache(maxsize=8)
def _versions(packages: tuple[str, ...]) -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for package in packages:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return versions


def file_sha256(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return "sha256:" + digest.hexdigest()


def canonical_json(value: Any) -> str:
    """One text per value: sorted keys, no spaces, numpy scalars as Python numbers."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=_json_default)


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return array_hash(value)
    raise TypeError(f"Cannot record {type(value).__name__} in an explanation's provenance; use JSON-friendly parameters.")


def array_hash(array: np.ndarray) -> str:
    """sha256 over dtype, shape and bytes: equal arrays, and only those, share a hash."""
    array = np.ascontiguousarray(array)
    digest = hashlib.sha256(f"{array.dtype.str}|{array.shape}|".encode("ascii"))
    digest.update(array.tobytes())
    return "array-sha256:" + digest.hexdigest()


def input_hash(item: Any) -> str:
    """The hash of one validated input: the array the model sees, or the UTF-8 text."""
    if isinstance(item, str) or hasattr(item, "tokens"):  # a text, or its TextView
        text = item if isinstance(item, str) else item.text
        return "text-sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()
    return array_hash(np.asarray(item))
