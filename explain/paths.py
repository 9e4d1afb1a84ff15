"""Checks on the paths users give for files we write, made before any slow work, in one place and one wording."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path


def blocking_file(path: Path) -> Path | None:
    """The first existing ancestor of ``path`` that is a file, not a folder (so nothing can be created inside it)."""
    for folder in Path(path).parents:
        if folder.exists():
            return None if folder.is_dir() else folder
    return None


def check_writable_file(path: str | os.PathLike, what: str, example: str) -> Path:
    """``path`` as a file we can write ``what`` to, or a ValueError that says what to change."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"Cannot write {what} to {path}: it is a folder; give a file name such as {path / example}.")
    blocking = blocking_file(path)
    if blocking is not None:
        raise ValueError(f"Cannot write {what} to {path}: {blocking} is a file, not a folder; choose another path.")
    if not path.parent.is_dir():
        raise ValueError(f"Cannot write {what} to {path}: folder {path.parent} does not exist; create it first.")
    if not os.access(path.parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise ValueError(f"Cannot write {what} to {path}: it is not writable; choose another path.")
    return path


def atomic_write(path: Path, payload: bytes) -> None:
    """Write the whole file or nothing: a crash or a full disk never leaves a half-written file or loses the old one."""
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(payload)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, 0o644)  # mkstemp makes it private; a report is meant to be shared
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
