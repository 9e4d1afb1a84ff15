"""What the ``report`` and ``audit`` commands explain: a model and its inputs, from names and files.

Both commands take ``--model`` (a reference model or a ``.keras`` file) and
``--input`` (a file of inputs), so one module resolves them, reads input files
with clear errors and parses index lists.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

INPUT_FILES = ".npy/.npz arrays, .txt (one text per line) or .csv rows (header optional)"
BACKGROUND_ROWS = 100  # rows of --input a .keras model uses as SHAP background and deletion baseline


@dataclass
class Loaded:
    """A model ready to explain, its card (reference models only) and the inputs the command was given."""

    model: Any  # a models.ReferenceModel (Dask workers load it by name) or the user's model's Predictor
    predictor: Any  # explain.Predictor
    card: dict | None
    x: Any  # an array, or a list of texts
    y: Any  # labels or None
    source: str  # where the inputs came from, for reports


def load_model_and_inputs(model: str, input_file: str | None, *, models_dir: str | None = None,
                          data_dir: str | None = None, split: str = "test",
                          class_names: Sequence[str] | None = None) -> Loaded:
    """A reference model with its data split (or ``input_file``), or a ``.keras`` file with ``input_file``."""
    import explain
    import models

    if model in models.names():
        ref = models.load(model, models_dir)
        predictor = explain.Predictor(ref, class_names=class_names)
        if input_file:
            x, y, _ = read_inputs(input_file)
            return Loaded(ref, predictor, ref.card, x, y, input_file)
        data = models.load_dataset(ref.spec.dataset, data_dir)
        x, y = (data.x_test, data.y_test) if split == "test" else (data.x_train, data.y_train)
        return Loaded(ref, predictor, ref.card, x, y, f"{ref.card['dataset']['name']} {split} split")
    if model.endswith(".keras"):
        from models.artifacts import load_keras

        if not input_file:
            raise ValueError(f"Give the inputs for {model}: --input FILE ({INPUT_FILES}).")
        x, y, feature_names = read_inputs(input_file)
        background = None if isinstance(x, list) else x[:BACKGROUND_ROWS]
        predictor = explain.Predictor(load_keras(Path(model)), class_names=class_names, feature_names=feature_names,
                                      background=background)
        return Loaded(predictor, predictor, None, x, y, input_file)
    raise ValueError(f"--model {model!r} is neither a reference model ({', '.join(models.names())}) nor a .keras file.")


def read_inputs(name: str) -> tuple[Any, Any, list[str] | None]:
    """``(inputs, labels or None, feature names or None)`` from a file (labels: an .npz's ``y`` / ``y_test``)."""
    path = Path(name)
    if not path.is_file():
        raise FileNotFoundError(f"--input {name}: no such file.")
    suffix = path.suffix.lower()
    if suffix not in (".npy", ".npz", ".txt", ".csv"):
        raise ValueError(f"--input {name}: unsupported file type {suffix or '(none)'}; use {INPUT_FILES}.")
    y = names = None
    try:
        if suffix == ".npy":
            x = np.load(path, allow_pickle=False)
        elif suffix == ".npz":
            with np.load(path, allow_pickle=False) as archive:
                keys = list(archive.files)
                key = next((k for k in ("x", "x_test") if k in keys), keys[0] if len(keys) == 1 else None)
                if key is None:
                    raise ValueError(f"it holds arrays {keys}; name the inputs 'x' (and their labels 'y')")
                x = archive[key]
                label_key = "y" if key == "x" else "y_test"
                y = archive[label_key] if label_key in keys else None
        elif suffix == ".txt":
            x = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        else:
            import pandas as pd

            frame = pd.read_csv(path)
            if all(_is_number(c) for c in frame.columns):  # no header row: the first row is data
                frame = pd.read_csv(path, header=None)
            else:
                names = [str(c) for c in frame.columns]
            x = frame.to_numpy(dtype=np.float32)
    except (OSError, ValueError, UnicodeDecodeError, EOFError) as exc:
        raise ValueError(f"Cannot read --input {name}: {_why(exc, suffix)}.") from None
    if len(x) == 0:
        raise ValueError(f"--input {name} holds no inputs.")
    return x, y, names


def _why(exc: BaseException, suffix: str) -> str:
    """numpy's reason, except its advice to unpickle (which would run code from the file): never follow it."""
    if suffix in (".npy", ".npz") and ("pickle" in str(exc) or isinstance(exc, EOFError)):
        return (f"it is not a {suffix} file of plain numbers (empty, damaged, another kind of file, or Python "
                f"objects, which are never loaded); save a numeric array with numpy.save / numpy.savez")
    return str(exc)


def _is_number(text: object) -> bool:
    try:
        float(str(text))
    except ValueError:
        return False
    return True


def parse_indices(spec: str, n: int) -> list[int]:
    """``"0-19"`` or ``"3,7,9"`` (or both, ``"0-4,10"``) as a list of distinct indices below ``n``."""
    chosen: list[int] = []
    if not spec.strip():
        raise ValueError("--indices is empty: give ranges and lists such as 0-19 or 3,7,9, or leave it out.")
    for part in spec.split(","):
        low, dash, high = part.strip().partition("-")
        try:
            first, last = int(low), int(high if dash else low)
        except ValueError:
            raise ValueError(f"--indices {spec!r}: use ranges and lists such as 0-19 or 3,7,9.") from None
        if last < first:
            raise ValueError(f"--indices {spec!r}: the range {part.strip()} runs backwards.")
        chosen += range(first, last + 1)
    out = list(dict.fromkeys(chosen))
    outside = [i for i in out if i >= n]
    if outside:
        raise ValueError(f"--indices {spec!r}: {outside[0]} is out of range; there are {n} inputs (0-{n - 1}).")
    return out


def compact(rows: list[int]) -> str:
    """``[0, 1, 2, 5]`` -> ``"0-2,5"``."""
    runs: list[list[int]] = []
    for i in rows:
        if runs and i == runs[-1][-1] + 1:
            runs[-1].append(i)
        else:
            runs.append([i])
    return ",".join(f"{r[0]}-{r[-1]}" if len(r) > 1 else str(r[0]) for r in runs)
