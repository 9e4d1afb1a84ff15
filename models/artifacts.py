"""Saving and loading trained models and their JSON cards, atomically and safely.

A training run writes into a private staging folder and only renames finished,
verified files into place.  Model files are content-addressed
(``<name>-<sha256 prefix>.keras``) and the card names the one it belongs to,
so replacing a model is ONE atomic step: the new model file is moved in beside
the old one (touching nothing), then the card is replaced by a single rename,
the commit point; only then is the old file removed.  Killed at any moment, the
folder holds either the old card with its model or the new card with its model
(plus, at worst, an orphan file that the next run removes).  A model and card
that do not belong together are refused on load instead of being mixed.
Staging folders carry their process id; a run removes those of dead processes.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from .errors import ArtifactError, ModelNotTrainedError
from .provenance import file_sha256

MODEL_SUFFIX = ".keras"
CARD_SUFFIX = ".json"
STAGING_PREFIX = ".staging-"


STALE_SECONDS = 24 * 3600  # staging folders without a readable process id count as stale after a day


def model_path(models_dir: Path, name: str) -> Path:
    """The model file the card names (``<name>-<hash>.keras``), or ``<name>.keras`` (older folders, no card)."""
    card = card_path(models_dir, name)
    if card.exists():
        try:
            named = json.loads(card.read_text(encoding="utf-8"))["model_file"]["name"]
        except (OSError, ValueError, KeyError, TypeError):
            named = None
        if isinstance(named, str) and _model_file_pattern(name).fullmatch(named):
            return Path(models_dir) / named
    return Path(models_dir) / f"{name}{MODEL_SUFFIX}"


def _model_file_pattern(name: str) -> re.Pattern[str]:
    return re.compile(re.escape(name) + r"(-[0-9a-f]{16})?" + re.escape(MODEL_SUFFIX))


def card_path(models_dir: Path, name: str) -> Path:
    return Path(models_dir) / f"{name}{CARD_SUFFIX}"


@contextmanager
def staging(models_dir: Path, name: str) -> Iterator[Path]:
    """A fresh folder beside the artifacts (same file system, so renames are atomic); always removed."""
    models_dir = Path(models_dir)
    models_dir.mkdir(parents=True, exist_ok=True)
    remove_stale_staging(models_dir)
    folder = Path(tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{name}-{os.getpid()}-", dir=models_dir))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def remove_stale_staging(models_dir: Path) -> list[Path]:
    """Delete staging folders left by runs that were killed (their process is gone); returns what was removed."""
    removed = []
    for folder in Path(models_dir).glob(STAGING_PREFIX + "*"):
        if folder.is_dir() and _is_stale(folder):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def _is_stale(folder: Path) -> bool:
    found = re.search(r"-(\d+)-[^-]*$", folder.name)
    if found is None:
        return time.time() - folder.stat().st_mtime > STALE_SECONDS
    try:
        os.kill(int(found.group(1)), 0)
    except ProcessLookupError:
        return True
    except (PermissionError, OverflowError, ValueError):
        return False
    return False


def _fsync(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def _fsync_folder(folder: Path) -> None:
    """Make the renames in ``folder`` durable (directory entries live in the folder itself)."""
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def commit(staged_model: Path, models_dir: Path, name: str, card: dict[str, Any]) -> None:
    """Put a verified model in place with its card, in one atomic step (the card's rename); see the module doc."""
    models_dir = Path(models_dir)
    digest = file_sha256(staged_model)
    final = models_dir / f"{name}-{digest.split(':', 1)[1][:16]}{MODEL_SUFFIX}"
    card = dict(card, model_file={"name": final.name, "sha256": digest, "bytes": staged_model.stat().st_size})
    staged_card = staged_model.with_suffix(CARD_SUFFIX)
    staged_card.write_text(json.dumps(card, indent=2, sort_keys=False), encoding="utf-8")
    for path in (staged_model, staged_card):
        _fsync(path)
    _move(staged_model, final)  # a new name: the current model and card are not touched
    _fsync_folder(models_dir)
    _move(staged_card, card_path(models_dir, name))  # the commit point
    _fsync_folder(models_dir)
    remove_orphans(models_dir, name)


def remove_orphans(models_dir: Path, name: str) -> list[Path]:
    """Model files of ``name`` that its card does not name (replaced, or left by a run killed before its commit)."""
    if not card_path(models_dir, name).exists():
        return []
    keep = model_path(models_dir, name).name
    pattern = _model_file_pattern(name)
    orphans = [p for p in Path(models_dir).iterdir() if pattern.fullmatch(p.name) and p.name != keep]
    for path in orphans:
        _remove(path)
    return orphans


def _move(source: Path, target: Path) -> None:
    os.replace(source, target)  # atomic on one file system (a test interrupts it here)


def _remove(path: Path) -> None:
    path.unlink(missing_ok=True)


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
    problem = _card_problem(card)
    if problem:
        raise ArtifactError(f"The model card {path} is incomplete ({problem}). Run `explain train {name}` to rebuild it.")
    return card


# What every reader of a card relies on: (path, type).  Anything else is optional.
CARD_SCHEMA = (
    (("model_file",), dict), (("model_file", "name"), str), (("model_file", "sha256"), str),
    (("metrics",), dict), (("metrics", "test"), dict), (("gate",), dict), (("gate", "passed"), bool),
    (("gate", "rule"), str), (("name",), str), (("task",), str),
)


def _card_problem(card: Any) -> str | None:
    """The first required field that is missing or of the wrong type, in words; ``None`` when the card is whole."""
    if not isinstance(card, dict):
        return f"a JSON {type(card).__name__}, not an object"
    for keys, kind in CARD_SCHEMA:
        value: Any = card
        for key in keys:
            value = value.get(key) if isinstance(value, dict) else None
        if not isinstance(value, kind):
            return f"{'.'.join(keys)} is {'missing' if value is None else type(value).__name__ + ', not ' + kind.__name__}"
    return None


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
