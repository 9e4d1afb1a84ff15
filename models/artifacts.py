"""Saving and loading trained models and their JSON cards, atomically and safely.

A training run writes into a private staging folder and only renames finished,
verified files into place, so a crash or a failed run leaves the previous model
and card untouched.  The card records the model file's hash; a model and card
that do not belong together (a run killed between the two renames) are refused
on load instead of being silently mixed.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from .errors import ArtifactError, ModelNotTrainedError
from .provenance import file_sha256

MODEL_SUFFIX = ".keras"
CARD_SUFFIX = ".json"
STAGING_PREFIX = ".staging-"


def model_path(models_dir: Path, name: str) -> Path:
    return Path(models_dir) / f"{name}{MODEL_SUFFIX}"


def card_path(models_dir: Path, name: str) -> Path:
    return Path(models_dir) / f"{name}{CARD_SUFFIX}"


@contextmanager
def staging(models_dir: Path, name: str) -> Iterator[Path]:
    """A fresh folder beside the artifacts (same file system, so renames are atomic); always removed."""
    models_dir = Path(models_dir)
    models_dir.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{name}-", dir=models_dir))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _fsync(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def commit(staged_model: Path, models_dir: Path, name: str, card: dict[str, Any]) -> None:
    """Move a verified model into place together with its card (model first, then card)."""
    card = dict(card, model_file={"name": model_path(models_dir, name).name, "sha256": file_sha256(staged_model),
                                  "bytes": staged_model.stat().st_size})
    staged_card = staged_model.with_suffix(CARD_SUFFIX)
    staged_card.write_text(json.dumps(card, indent=2, sort_keys=False), encoding="utf-8")
    for path in (staged_model, staged_card):
        _fsync(path)
    os.replace(staged_model, model_path(models_dir, name))
    os.replace(staged_card, card_path(models_dir, name))


def read_card(models_dir: Path, name: str) -> dict[str, Any]:
    path = card_path(models_dir, name)
    if not path.exists():
        raise ModelNotTrainedError(
            f"Reference model {name!r} is not trained yet (no {path}). Run `explain train {name}`."
        )
    try:
        card = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArtifactError(f"The model card {path} is unreadable ({exc}). Run `explain train {name}` to rebuild it.") from exc
    if not isinstance(card, dict) or "model_file" not in card:
        raise ArtifactError(f"The model card {path} lacks its model_file entry. Run `explain train {name}` to rebuild it.")
    return card


def load_keras(path: Path):
    """Load a ``.keras`` file safely (archive checked, Keras safe mode: no code, no pickles; see explain.loading)."""
    from explain.loading import UnsafeModelFile
    from explain.loading import load_keras as load_checked

    path = Path(path)
    if not path.exists():
        raise ModelNotTrainedError(f"No model file at {path}.")
    try:
        return load_checked(path)
    except UnsafeModelFile as exc:
        raise ArtifactError(str(exc)) from exc


def load_verified(models_dir: Path, name: str) -> tuple[Any, dict[str, Any]]:
    """The model and its card, after checking that the file is the one the card describes."""
    card = read_card(models_dir, name)
    path = model_path(models_dir, name)
    if not path.exists():
        raise ModelNotTrainedError(f"The card for {name!r} exists but {path} is missing. Run `explain train {name}`.")
    actual = file_sha256(path)
    if actual != card["model_file"].get("sha256"):
        raise ArtifactError(
            f"{path} does not match its card {card_path(models_dir, name)} (hash {actual} vs "
            f"{card['model_file'].get('sha256')}); a training run was probably interrupted. Run `explain train {name}`."
        )
    return load_keras(path), card
