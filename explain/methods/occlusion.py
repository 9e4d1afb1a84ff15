"""Occlusion (Zeiler and Fergus 2014): how much the explained output drops when a part is hidden.

Model-agnostic, so it explains plain prediction functions too.  Images: a
sliding square patch (all channels) filled with ``fill``; a pixel's value is the
mean drop over the patches that cover it.  Text: one token at a time, replaced
by an unknown word so positions stay put (as LIME and Partition SHAP do).
Rows: one feature at a time, set to the background mean (zero without a
background).  All occluded copies of all inputs go through the model in large
batches: ``1 + number of patches`` evaluations per input.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from ..predictor import Predictor
from ..registry import register
from .base import Attribution, Method, param


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
        copies = [item for plan in plans for item in plan.copies]
        scores_all = predictor.predict(_stack(predictor, copies))
        results, start = [], 0
        for plan, target in zip(plans, targets):
            scores = predictor.target_scores(scores_all[start : start + len(plan.copies)], target)
            start += len(plan.copies)
            drops = scores[0] - scores[1:]
            results.append(Attribution(attributions=plan.spread(drops),
                                       meta={"n_evaluations": len(plan.copies), "score_value": float(scores[0])}))
        return results

    def _plan(self, predictor: Predictor, item: Any) -> "_Plan":
        if predictor.modality == "text":
            tokens = item.tokens
            copies = [item.text] + [predictor.join_tokens(tokens, np.arange(len(tokens)) != i) for i in range(len(tokens))]
            return _Plan(copies, lambda drops: drops)
        if predictor.modality == "tabular":
            row = np.asarray(item, dtype=np.float32)
            background = predictor.background
            fill = np.zeros_like(row) if background is None else np.asarray(background, np.float32).mean(axis=0)
            copies = [row] + [np.where(np.arange(row.size) == i, fill, row).astype(np.float32) for i in range(row.size)]
            return _Plan(copies, lambda drops: drops)
        return self._image_plan(np.asarray(item, dtype=np.float32))

    def _image_plan(self, image: np.ndarray) -> "_Plan":
        height, width = image.shape[:2]
        size, stride = min(int(self.patch), height, width), int(self.stride)
        fill = float(image.mean()) if self.fill is None else float(self.fill)
        tops = _starts(height, size, stride)
        lefts = _starts(width, size, stride)
        boxes = [(top, left) for top in tops for left in lefts]
        copies = [image]
        for top, left in boxes:
            hidden = image.copy()
            hidden[top : top + size, left : left + size] = fill
            copies.append(hidden)

        def spread(drops: np.ndarray) -> np.ndarray:
            total = np.zeros((height, width))
            count = np.zeros((height, width))
            for (top, left), drop in zip(boxes, drops):
                total[top : top + size, left : left + size] += drop
                count[top : top + size, left : left + size] += 1
            return total / np.maximum(count, 1)

        return _Plan(copies, spread)


@dataclass
class _Plan:
    copies: list  # the input itself first, then one copy per hidden part
    spread: Any  # drops per copy -> attributions aligned with the input


def _starts(length: int, size: int, stride: int) -> list[int]:
    """Patch positions covering every pixel: a regular grid plus one flush with the far edge."""
    starts = list(range(0, length - size + 1, stride))
    if starts[-1] != length - size:
        starts.append(length - size)
    return starts


def _stack(predictor: Predictor, copies: list) -> Any:
    return copies if predictor.modality == "text" else np.stack(copies)
