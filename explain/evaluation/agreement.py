"""How far explanations agree: rank correlation, top-k overlap, and the agreement table between methods."""
from __future__ import annotations

import itertools
import warnings
from typing import Any, Sequence

import numpy as np

from ..explanation import Explanation
from .curves import units


def rank_correlation(a: Any, b: Any) -> dict[str, float]:
    """Spearman correlation of two attribution maps, signed and of absolute values (nan if one is constant)."""
    from scipy.stats import spearmanr

    x, y = np.ravel(np.asarray(a, dtype=float)), np.ravel(np.asarray(b, dtype=float))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # constant input: nan, documented
        return {
            "spearman_abs": float(spearmanr(np.abs(x), np.abs(y)).statistic),
            "spearman": float(spearmanr(x, y).statistic),
        }


def agreement(explanations: Sequence[Explanation], k: int = 5):
    """How far the methods explaining one input agree: a row per pair of methods.

    Columns: ``spearman`` (signed rank correlation of attributions),
    ``spearman_abs`` (of their magnitudes: do they find the same units important,
    whatever the sign) and ``top_k`` (share of the k strongest units in common).
    All explanations must explain the same input (same attribution shape).
    """
    import pandas as pd

    explanations = list(explanations)
    if len(explanations) < 2:
        raise ValueError("agreement compares methods: pass at least two explanations of the same input.")
    shapes = {np.shape(e.attributions) for e in explanations}
    if len(shapes) != 1 or len({e.modality for e in explanations}) != 1:
        raise ValueError(f"agreement needs explanations of one input; got attribution shapes {sorted(shapes)}.")
    rows = []
    for a, b in itertools.combinations(explanations, 2):
        rows.append({"method_a": a.method, "method_b": b.method, **rank_correlation(a.attributions, b.attributions),
                     f"top_{k}": topk_agreement(a, b, k)})
    return pd.DataFrame(rows, columns=["method_a", "method_b", "spearman_abs", "spearman", f"top_{k}"])


def topk_agreement(a: Explanation, b: Explanation, k: int = 5, *, by: str = "abs") -> float:
    """``|top_k(a) & top_k(b)| / k`` over tokens, features, segments (when both share the
    same segmentation, ranked by segment weight) or else pixels."""
    if by not in ("abs", "signed"):
        raise ValueError(f"by must be 'abs' or 'signed', got {by!r}.")
    va, vb = _rankable(a, b)
    if va.shape != vb.shape:
        raise ValueError(f"The explanations have {va.size} and {vb.size} units; they do not explain the same input.")
    k = min(int(k), va.size)
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}.")
    top = [set(np.argsort(-(np.abs(v) if by == "abs" else v), kind="stable")[:k].tolist()) for v in (va, vb)]
    return len(top[0] & top[1]) / k


def _rankable(a: Explanation, b: Explanation) -> tuple[np.ndarray, np.ndarray]:
    sa, sb = a.meta.get("segments"), b.meta.get("segments")
    if a.modality == "image" and sa is not None and sb is not None and np.array_equal(sa, sb):
        return units(a)[0], units(b)[0]
    return np.ravel(a.attributions).astype(float), np.ravel(b.attributions).astype(float)
