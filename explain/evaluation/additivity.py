"""Does ``sum(attributions) + base_value`` give back the explained score?  (SHAP additivity, IG completeness.)"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..adapters import as_predictor
from ..explanation import Explanation


def additivity(model: Any, explanation: Explanation) -> dict[str, float]:
    """How far ``sum(attributions) + base_value`` is from the explained score of the prediction.

    ``additivity_relative`` divides by ``|score - base_value|``, the change the
    attributions must account for (nan when that is zero).
    """
    if explanation.base_value is None:
        raise ValueError(
            f"The {explanation.method} explanation has no base_value, so additivity (sum of attributions + base value "
            "= model output) cannot be checked; it applies to SHAP-style methods (kernel_shap, exact_shap, gradient_shap...)."
        )
    if "score_value" in explanation.meta:  # a method that explains another score (a logit, say) records its value
        score = float(explanation.meta["score_value"])
    else:
        predictor = as_predictor(model)
        score = float(predictor.target_scores(np.asarray(explanation.prediction)[None], explanation.target)[0])
    gap = abs(float(np.sum(explanation.attributions)) + explanation.base_value - score)
    change = abs(score - explanation.base_value)
    relative = gap / change if change > 1e-12 * max(1.0, abs(score)) else float("nan")
    return {"additivity_error": float(gap), "additivity_relative": float(relative)}
