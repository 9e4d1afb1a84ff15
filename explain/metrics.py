"""The public face of :mod:`explain.evaluation`: every metric that scores an :class:`Explanation`.

- :func:`deletion` / :func:`insertion`: faithfulness curves against random orders.
- :func:`additivity`: does ``sum(attributions) + base_value`` give back the explained score?
- :func:`randomisation_check` and :func:`stability`: sanity checks that re-explain.
- :func:`agreement`, :func:`rank_correlation`, :func:`topk_agreement`: how far explanations agree.
- :func:`bootstrap_ci`, and :func:`score_explanations` (``explain(..., scores=True)``).
"""
from __future__ import annotations

from .evaluation.additivity import additivity
from .evaluation.agreement import agreement, rank_correlation, topk_agreement
from .evaluation.curves import CURVES, DEFAULT_STEPS, Curve, curves, deletion, insertion, units
from .evaluation.sanity import randomisation_check, randomised_model, stability
from .evaluation.scoring import METRICS, score_explanations
from .evaluation.statistics import bootstrap_ci

__all__ = ["CURVES", "DEFAULT_STEPS", "METRICS", "Curve", "additivity", "agreement", "bootstrap_ci", "curves", "deletion",
           "insertion", "randomisation_check", "randomised_model", "rank_correlation", "score_explanations", "stability",
           "topk_agreement", "units"]
