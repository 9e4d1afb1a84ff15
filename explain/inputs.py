"""Checking what users pass in, with errors that say what was expected.

Runs once in the API layer, so every method receives clean batches: images as
float arrays of the model's input shape, texts as :class:`TextView` objects
(the tokens the model reads), tabular rows as a float matrix.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from .predictor import Predictor, TextView

MAX_TEXT_CHARS = 200_000  # about 35,000 words: far beyond any model's window, and still quick to tokenize
MAX_TEXTS = 100_000  # per request: an audit chunks larger sets


def as_batch(predictor: Predictor, x: Any, *, truncate: bool = False) -> tuple[list | np.ndarray, bool]:
    """``(batch, was_single)``: one input or many, validated for this predictor."""
    if predictor.modality == "text":
        return _texts(predictor, x, truncate)
    return _arrays(predictor, x)


def _texts(predictor: Predictor, x: Any, truncate: bool) -> tuple[list[TextView], bool]:
    single = isinstance(x, str)
    items = [x] if single else x
    if isinstance(items, np.ndarray):
        items = items.ravel().tolist()
    if not isinstance(items, (list, tuple)):
        raise TypeError(f"Text models take a string or a list of strings, got {type(x).__name__}.")
    if len(items) == 0:
        raise ValueError("No texts given: pass a non-empty string or list of strings.")
    if len(items) > MAX_TEXTS:
        raise ValueError(f"{len(items):,} texts in one request; the limit is {MAX_TEXTS:,}: explain them in batches "
                         "(explain.audit does that, and resumes).")
    views = []
    for i, item in enumerate(items):
        if not isinstance(item, str):
            raise TypeError(f"Text input {i} is a {type(item).__name__}, not a string.")
        if len(item) > MAX_TEXT_CHARS:
            raise ValueError(f"Text input {i} has {len(item):,} characters; the limit is {MAX_TEXT_CHARS:,} (a long "
                             "book chapter). Explain the part that matters, or split it.")
        view = predictor.text_view(item)
        if not view.tokens:
            raise ValueError(f"Text input {i} is empty once tokenized ({item[:40]!r}): there is nothing to explain.")
        if view.dropped and not truncate:
            raise ValueError(
                f"Text input {i} has {len(view.tokens) + view.dropped} tokens but the model reads only the first "
                f"{predictor.window}; the last {view.dropped} are ignored by the model. Pass truncate=True to explain "
                "the part the model reads, or shorten the text."
            )
        views.append(view)
    return views, single


def _arrays(predictor: Predictor, x: Any) -> tuple[np.ndarray, bool]:
    if isinstance(x, (str, bytes)) or (isinstance(x, (list, tuple)) and x and isinstance(x[0], str)):
        raise TypeError(f"This is {'an' if predictor.modality == 'image' else 'a'} {predictor.modality} model; it takes numeric arrays, not text.")
    try:
        array = np.asarray(x)
    except Exception as exc:  # ragged lists and the like
        raise TypeError(f"Could not read the input as a numeric array: {exc}.") from exc
    if array.dtype == object or not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        raise TypeError(f"Expected a numeric array, got dtype {array.dtype}.")
    if np.issubdtype(array.dtype, np.complexfloating):
        raise TypeError(f"Expected real numbers, got complex values (dtype {array.dtype}); pass the real part "
                        "(x.real) or the magnitude (abs(x)) if that is what the model reads.")
    expected = predictor.input_shape
    if expected is None:  # a plain function with no declared shape: one row/image, or a batch of them
        single = array.ndim == (1 if predictor.modality == "tabular" else 2)
    elif array.shape == tuple(expected):
        single = True
    elif array.ndim == len(expected) + 1 and array.shape[1:] == tuple(expected):
        single = False
    else:
        raise ValueError(
            f"Expected one input of shape {tuple(expected)} or a batch of shape (n, {', '.join(map(str, expected))}), "
            f"got shape {array.shape}."
        )
    batch = array[None] if single else array
    if len(batch) == 0:
        raise ValueError("No inputs given: the batch is empty.")
    if not np.all(np.isfinite(batch)):
        bad = np.argwhere(~np.isfinite(batch.reshape(len(batch), -1)).all(axis=1)).ravel()
        raise ValueError(f"Inputs {bad[:10].tolist()} contain NaN or infinite values; replace them before explaining.")
    with np.errstate(over="ignore"):
        cast = batch.astype(np.float32)
    if not np.all(np.isfinite(cast)):
        bad = np.argwhere(~np.isfinite(cast.reshape(len(cast), -1)).all(axis=1)).ravel()
        raise ValueError(f"Inputs {bad[:10].tolist()} hold values beyond float32's range (|x| > 3.4e38), which the "
                         "model computes in; rescale them before explaining.")
    return cast, single


def check_targets(predictor: Predictor, targets: Sequence[int | None]) -> None:
    n_classes = predictor.n_classes
    for target in targets:
        if n_classes is None:
            _check_regression_target(predictor, target)
            continue
        if isinstance(target, bool) or not isinstance(target, (int, np.integer)):
            raise TypeError(f"target must be a class index (int), got {target!r}.")
        if not 0 <= int(target) < n_classes:
            names = f" ({', '.join(predictor.class_names)})" if predictor.class_names else ""
            raise ValueError(f"target {target} is out of range: this model has {n_classes} classes, 0 to {n_classes - 1}{names}.")


def check_requested_targets(predictor: Predictor, targets: Sequence[int | None]) -> None:
    """Targets as asked for, before any work: ``None`` (the predicted class) is fine for a classifier."""
    check_targets(predictor, [t for t in targets if t is not None or predictor.n_classes is None])


def _check_regression_target(predictor: Predictor, target: Any) -> None:
    """One regression output needs no target; several need one, the column to explain."""
    width = predictor.output_spec.n_targets
    if width == 1:
        if target is not None:
            raise ValueError(f"This is a regression model: target must be None, got {target!r}.")
        return
    if target is None:
        raise ValueError(f"This regression model has {width} outputs; pass target=0 to {width - 1} to choose the one to explain.")
    if isinstance(target, bool) or not isinstance(target, (int, np.integer)) or not 0 <= int(target) < width:
        raise ValueError(f"target must be an output index from 0 to {width - 1} for this regression model, got {target!r}.")
