"""What ``explain(..., scores=True)`` attaches: deletion/insertion summaries and additivity."""
from __future__ import annotations

from typing import Any, Sequence

from .. import registry
from ..adapters import as_predictor
from ..explanation import Explanation
from .additivity import additivity
from .badge import badge_scores
from .curves import CURVES, curves

METRICS = ("deletion", "insertion", "additivity", "badge")


def score_explanations(
    predictor: Any,
    explanations: Sequence[Explanation],
    metrics: Sequence[str] | None = None,
    **options: Any,
) -> list[Explanation]:
    """The explanations with ``.scores`` filled in (all floats).

    Default: deletion, plus additivity for methods that promise it (SHAP; a LIME
    intercept is no base value that attributions add up to, so it is not scored).
    ``metrics`` picks from ``METRICS``; asking for additivity without a base value
    is an error.  ``badge`` adds the faithfulness badge's figures (:mod:`.badge`: ROAD and an input-only
    baseline besides random orders; it reuses the deletion curves).  ``options`` go to :func:`curves`
    (steps, baseline, n_random, seed).
    """
    wanted = list(metrics) if metrics is not None else ["deletion", "additivity"]
    unknown = [m for m in wanted if m not in METRICS]
    if unknown:
        raise ValueError(f"Unknown metrics {unknown}; known metrics: {', '.join(METRICS)}.")
    predictor = as_predictor(predictor)
    kinds = [m for m in CURVES if m in wanted]
    curve_sets = curves(predictor, explanations, kinds=kinds, **options) if kinds else [{} for _ in explanations]
    badges: list[dict[str, float]] = [{} for _ in explanations]
    if "badge" in wanted:
        reuse = [c["deletion"] for c in curve_sets] if "deletion" in kinds else None
        badges = badge_scores(predictor, explanations, deletion_curves=reuse, **options)
    scored = []
    for explanation, found, badge in zip(explanations, curve_sets, badges):
        scores: dict[str, float] = dict(badge)
        for curve in found.values():
            scores.update(curve.summary())
        if "additivity" in wanted and (metrics is not None or promises_additivity(explanation)):
            scores.update(additivity(predictor, explanation))
        scored.append(explanation.with_scores(**scores))
    return scored


# ---- helpers ---------------------------------------------------------------------------------
def promises_additivity(explanation: Explanation) -> bool:
    """Whether the method promises that attributions add up to the output (SHAP) and there is a base value."""
    if explanation.base_value is None or explanation.method not in registry.names():
        return False
    return registry.get(explanation.method).additive
