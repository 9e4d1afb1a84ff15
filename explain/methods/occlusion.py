"""Occlusion (Zeiler and Fergus 2014): how much the explained output drops when a part is hidden.

Model-agnostic, so it explains plain prediction functions too.  Images: a
sliding square patch (all channels) filled with ``fill``; a pixel's value is the
mean drop over the patches that cover it.  Text: one token at a time, replaced
by an unknown word so positions stay put (as LIME and Partition SHAP do).
Rows: one feature at a time, set to the background mean (zero without a
background).  All occluded copies of all inputs go through the model in large
batches of at most ``MAX_COPIES`` copies: ``1 + number of patches`` evaluations per input.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from ..predictor import Predictor
from ..registry import register
from .base import Attribution, Method, param

MAX_COPIES = 1024  # occluded copies held in memory at once (a 224x224 image at stride 2 makes 12,000)


@register
@dataclass
class Occlusion(Method):
    """Drop in the explained output when each patch, token or feature is hidden."""

    name = "occlusion"
    modalities = ("image", "text", "tabular")
    patch: int = param(4, low=1, high=4096, help="side of the square patch, in pixels (images)")
    stride: int = param(2, low=1, high=4096, help="step between patches, in pixels (images)")
    fill: float | None = param(0.0, help="value of hidden pixels; None: the image's mean (images)")

    def uses_background(self, predictor: Predictor) -> bool:
        return predictor.modality == "tabular" and predictor.background is not None  # rows are filled with its mean

    def attribute(self, predictor: Predictor, inputs: Sequence[Any], targets: Sequence[int | None]) -> list[Attribution]:
        plans = [self._plan(predictor, item) for item in inputs]
        outputs = _predict_copies(predictor, plans)
        results = []
        for plan, out, target in zip(plans, outputs, targets):
            scores = predictor.target_scores(out, target)
            results.append(Attribution(attributions=plan.spread(scores[0] - scores[1:]),
                                       meta={"n_evaluations": plan.count, "score_value": float(scores[0])}))
        return results

    def _plan(self, predictor: Predictor, item: Any) -> "_Plan":
        if predictor.modality == "text":
            tokens = item.tokens
            texts = [item.text] + [predictor.join_tokens(tokens, np.arange(len(tokens)) != i) for i in range(len(tokens))]
            return _Plan(len(texts), texts.__getitem__, lambda drops: drops)
        if predictor.modality == "tabular":
            row = np.asarray(item, dtype=np.float32)
            background = predictor.background
            fill = np.zeros_like(row) if background is None else np.asarray(background, np.float32).mean(axis=0)

            def hidden_feature(k: int) -> np.ndarray:
                return row if k == 0 else np.where(np.arange(row.size) == k - 1, fill, row).astype(np.float32)

            return _Plan(row.size + 1, hidden_feature, lambda drops: drops)
        return self._image_plan(np.asarray(item, dtype=np.float32))

    def _image_plan(self, image: np.ndarray) -> "_Plan":
        height, width = image.shape[:2]
        size, stride = min(int(self.patch), height, width), int(self.stride)
        fill = float(image.mean()) if self.fill is None else float(self.fill)
        boxes = [(top, left) for top in _starts(height, size, stride) for left in _starts(width, size, stride)]

        def hidden_patch(k: int) -> np.ndarray:
            if k == 0:
                return image
            top, left = boxes[k - 1]
            hidden = image.copy()
            hidden[top : top + size, left : left + size] = fill
            return hidden

        def spread(drops: np.ndarray) -> np.ndarray:
            total = np.zeros((height, width))
            count = np.zeros((height, width))
            for (top, left), drop in zip(boxes, drops):
                total[top : top + size, left : left + size] += drop
                count[top : top + size, left : left + size] += 1
            return total / np.maximum(count, 1)

        return _Plan(len(boxes) + 1, hidden_patch, spread)


@dataclass
class _Plan:
    count: int  # copies: the input itself first, then one per hidden part
    copy: Callable[[int], Any]  # the k-th copy, made when it is needed
    spread: Callable[[np.ndarray], np.ndarray]  # drops per hidden part -> attributions aligned with the input


def _predict_copies(predictor: Predictor, plans: list[_Plan]) -> list[np.ndarray]:
    """Model outputs for every copy of every plan, at most ``MAX_COPIES`` copies held at once."""
    outputs: list[list[np.ndarray]] = [[] for _ in plans]
    buffer: list[Any] = []
    owners: list[int] = []

    def flush() -> None:
        if buffer:
            rows = predictor.predict(buffer if predictor.modality == "text" else np.stack(buffer))
            for owner, row in zip(owners, rows):
                outputs[owner].append(row)
            buffer.clear()
            owners.clear()

    for index, plan in enumerate(plans):
        for k in range(plan.count):
            buffer.append(plan.copy(k))
            owners.append(index)
            if len(buffer) >= MAX_COPIES:
                flush()
    flush()
    return [np.stack(rows) for rows in outputs]


def _starts(length: int, size: int, stride: int) -> list[int]:
    """Patch positions covering every pixel: a regular grid plus one flush with the far edge."""
    starts = list(range(0, length - size + 1, stride))
    if starts[-1] != length - size:
        starts.append(length - size)
    return starts
