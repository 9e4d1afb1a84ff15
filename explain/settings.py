"""Where the engine keeps its files by default: the models directory (and the explanation store inside it).

A setting rather than a constant so the same code runs for users, in tests (a
temporary folder) and in CI; an explicit argument always wins over the environment.
"""
from __future__ import annotations

import os
from pathlib import Path

from .paths import blocking_file

MODELS_DIR_ENV = "EXPLAIN_MODELS_DIR"
DEFAULT_MODELS_DIR = "artifacts"


def models_dir(explicit: str | os.PathLike | None = None) -> Path:
    """The folder that holds trained models, their cards and, by default, the explanation store."""
    value = explicit if explicit is not None else os.environ.get(MODELS_DIR_ENV, DEFAULT_MODELS_DIR)
    path = Path(value).expanduser()
    blocking = path if path.exists() and not path.is_dir() else blocking_file(path)
    if blocking is not None:
        raise NotADirectoryError(f"The models directory {path} cannot be used: {blocking} is a file, not a folder. "
                                 f"Point --models-dir (or ${MODELS_DIR_ENV}) at a folder.")
    return path


WARM_UP_ENV = "EXPLAIN_WARM_UP"


def warm_up_enabled() -> bool:
    """Whether long-lived processes pay one-time costs in the background at start (``EXPLAIN_WARM_UP=0``: no;
    test suites turn it off so its CPU time does not land inside other tests)."""
    return os.environ.get(WARM_UP_ENV, "1").strip().lower() not in ("0", "false", "no", "off")
