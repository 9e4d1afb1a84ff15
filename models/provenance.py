"""Facts recorded with every trained model and explanation so results can be reproduced."""
from __future__ import annotations

import functools
import hashlib
import platform
from importlib import metadata
from pathlib import Path

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
