"""Where data and trained models live.

Both are settings rather than constants so that the same code runs online (the
usual Keras download cache), offline (a folder of copies) and in tests (a
temporary folder).  An explicit argument always wins over the environment.
"""
from __future__ import annotations

import os
from pathlib import Path

from explain.settings import DEFAULT_MODELS_DIR, MODELS_DIR_ENV, models_dir

__all__ = ["DATA_DIR_ENV", "DEFAULT_MODELS_DIR", "MODELS_DIR_ENV", "data_dir", "keras_cache_dir", "models_dir"]
DATA_DIR_ENV = "EXPLAIN_DATA_DIR"


def data_dir(explicit: str | os.PathLike | None = None) -> Path | None:
    """The offline data directory, if one is configured (argument, then environment)."""
    value = explicit if explicit is not None else os.environ.get(DATA_DIR_ENV)
    return Path(value).expanduser() if value else None


def keras_cache_dir() -> Path:
    """Keras' own download cache (``$KERAS_HOME/datasets``, else ``~/.keras/datasets``)."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(home) / "datasets"
