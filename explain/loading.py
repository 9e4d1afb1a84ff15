"""Opening a user's ``.keras`` file safely: the archive is checked before Keras reads a byte of it.

A ``.keras`` file is a zip archive.  A hostile one can declare gigabytes of
JSON that decompress from a few megabytes (a zip bomb), or carry members with
paths that escape the folder they are extracted into.  So the archive's own
table of contents is read first (no decompression), and refused past limits of
our own; only then does Keras load it, in safe mode (no lambdas, no custom
code, no pickles) and without its optimizer.

Keras drops the compiled loss when it loads without compiling, yet the loss is
the one certain sign that a linear head returns logits (``from_logits=True``)
or regression values.  The archive's ``config.json`` still holds it, so a
built-in loss is read back from there (configuration only, never code).
"""
from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

MAX_ARCHIVE_BYTES = 2 << 30  # declared size of all members, uncompressed
MAX_CONFIG_BYTES = 64 << 20  # config.json and metadata.json, uncompressed
MAX_RATIO = 200  # uncompressed / compressed, per member above 1 MiB (weights compress little; padded JSON a lot)
EXPECTED = ("config.json", "metadata.json", "model.weights.h5")


class UnsafeModelFile(ValueError):
    """The file is not a model we will open; the message says why and what to do."""


def check_archive(path: Path) -> None:
    """Refuse a ``.keras`` archive whose declared contents are not those of a Keras model file."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise UnsafeModelFile(f"{path.name} is not a .keras model file (not a zip archive: {exc}). "
                              "Save the model with model.save('name.keras').") from exc
    names = {m.filename for m in members}
    if "config.json" not in names:
        raise UnsafeModelFile(f"{path.name} has no config.json, so it is not a Keras 3 .keras file; save it with Keras 3.")
    for member in members:
        _check_member(path, member)
    total = sum(m.file_size for m in members)
    if total > MAX_ARCHIVE_BYTES:
        raise UnsafeModelFile(f"{path.name} declares {total / 2**30:.1f} GiB of contents (limit "
                              f"{MAX_ARCHIVE_BYTES / 2**30:.0f} GiB); it is refused before anything is decompressed.")


def _check_member(path: Path, member: zipfile.ZipInfo) -> None:
    name = member.filename
    if name.startswith(("/", "\\")) or ".." in Path(name).parts:
        raise UnsafeModelFile(f"{path.name} contains a member with an unsafe path ({name!r}); it is refused.")
    if name.endswith(".json") and member.file_size > MAX_CONFIG_BYTES:
        raise UnsafeModelFile(f"{path.name}: {name} declares {member.file_size / 2**20:.0f} MiB of JSON (limit "
                              f"{MAX_CONFIG_BYTES >> 20} MiB); a real model's configuration is far smaller.")
    if member.file_size > 1 << 20 and member.file_size > MAX_RATIO * max(1, member.compress_size):
        raise UnsafeModelFile(f"{path.name}: {name} would expand {member.file_size / max(1, member.compress_size):.0f} "
                              "times when decompressed, as a zip bomb does; it is refused.")


def load_keras(path: str | Path) -> Any:
    """A user's model from a ``.keras`` file: archive checked, Keras safe mode, its built-in loss restored."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No model file at {path}.")
    check_archive(path)  # first: a refused file costs milliseconds, not Keras's import
    import keras

    try:
        model = keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as exc:  # Keras raises many types for unreadable or unsafe files
        raise UnsafeModelFile(f"Could not load {path.name} as a Keras model ({type(exc).__name__}: {exc}).") from exc
    _restore_loss(model, path)
    return model


def _restore_loss(model: Any, path: Path) -> None:
    """Compile with the saved loss when it is a built-in one (it tells logits from probabilities)."""
    import keras

    try:
        with zipfile.ZipFile(path) as archive:
            config = json.loads(archive.read("config.json"))
        loss = (config.get("compile_config") or {}).get("loss")
        if loss is None or isinstance(loss, (list, dict)) and not _is_serialized(loss):
            return
        model.compile(loss=keras.losses.get(loss))
    except Exception:  # a custom or unknown loss: the model simply stays uncompiled (nothing is guessed from it)
        return


def _is_serialized(loss: Any) -> bool:
    return isinstance(loss, dict) and "class_name" in loss
