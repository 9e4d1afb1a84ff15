"""Where the engine keeps its files by default: the models directory (and the explanation store inside it).

A setting rather than a constant so the same code runs for users, in tests (a
temporary folder) and in CI; an explicit argument always wins over the environment.
"""
from __future__ import annotations

import os
from pathlib import Path

MODELS_DIR_ENV = "EXPLAIN_MODELS_DIR"
DEFAULT_MODELS_DIR = "artifacts"


def models_dir(explicit: str | os.PathLike | None = None) -> Path:
    """The folder that holds trained models, their cards and, by default, the explanation store."""
    value = explicit if explicit is not None else os.environ.get(MODELS_DIR_ENV, DEFAULT_MODELS_DIR)
    return Path(value).expanduser()
