"""Input-only maps: what an explanation must beat besides random orders.

Each map knows the input and the data, never the model: Sobel edges for images
(popular methods often fail to beat an edge detector, XAI-TRIS), token rarity
within the text (then position) for reviews, and each feature's deviation from
the background in standard deviations for rows.  If a method's ranking is no
more faithful than one of these, it has shown nothing about the model.
"""
from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from ..explanation import Explanation

BASELINE_NAMES = {"image": "edges", "text": "token rarity", "tabular": "feature deviation"}
BASELINE_METHOD = "input_baseline"  # the method name of the Explanation that carries a baseline map


def input_only_map(explanation: Explanation, background: Any = None) -> np.ndarray:
    """The baseline map for ``explanation``'s input, shaped like its attributions (larger = ranked first)."""
    shape = np.shape(explanation.attributions)
    if explanation.modality == "image":
        values = _edges(np.asarray(explanation.data, dtype=np.float64))
    elif explanation.modality == "text":
        values = _rarity(explanation.tokens())
    else:
        values = _deviation(np.asarray(explanation.data, dtype=np.float64), background)
    if values.shape != shape:
        raise ValueError(f"The {explanation.method} explanation's attributions have shape {shape}, its input "
                         f"gives a {BASELINE_NAMES[explanation.modality]} map of shape {values.shape}.")
    return values


def baseline_explanation(explanation: Explanation, background: Any = None) -> Explanation:
    """``explanation`` with its attributions replaced by the input-only map (pixel units: segments dropped)."""
    meta = {k: v for k, v in explanation.meta.items() if k != "segments"}
    return dataclasses.replace(explanation, method=BASELINE_METHOD, attributions=input_only_map(explanation, background),
                               base_value=None, meta=meta, scores={})


def _edges(image: np.ndarray) -> np.ndarray:
    """Sobel gradient magnitude of the grey image: where the ink's borders are."""
    from scipy import ndimage

    grey = image if image.ndim == 2 else image.mean(axis=-1)
    return np.hypot(ndimage.sobel(grey, axis=0, mode="nearest"), ndimage.sobel(grey, axis=1, mode="nearest"))


def _rarity(tokens: list[str]) -> np.ndarray:
    """``1 / count`` of each token (case-folded) in the text; earlier tokens first among equals."""
    folded = [t.casefold() for t in tokens]
    counts: dict[str, int] = {}
    for token in folded:
        counts[token] = counts.get(token, 0) + 1
    n = max(1, len(tokens))
    position = np.arange(len(tokens)) / (n * n * (n + 1))  # < 1/(n(n+1)), the smallest gap between rarities: ties only
    return np.array([1.0 / counts[t] for t in folded]) - position


def _deviation(row: np.ndarray, background: Any) -> np.ndarray:
    """``|x - mean| / std`` per feature over the background rows (0 for a constant feature).  ``background`` may be
    a function returning them, so images and texts never load reference rows they do not need."""
    background = background() if callable(background) else background
    if background is None or not len(background):
        raise ValueError("The feature-deviation baseline compares a row with the background data: build the predictor "
                         "with background=... (e.g. 100 training rows).")
    rows = np.asarray(background, dtype=np.float64)
    std = rows.std(axis=0)
    return np.divide(np.abs(row - rows.mean(axis=0)), std, out=np.zeros_like(std), where=std > 0)
