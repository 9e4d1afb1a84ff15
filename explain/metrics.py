"""The public face of :mod:`explain.evaluation`: every metric that scores an :class:`Explanation`.

- :func:`deletion` / :func:`insertion`: faithfulness curves against random orders.
- :func:`road`: ROAD MoRF / LeRF curves (removal by noisy linear imputation, no mask-shape leak).
- :func:`additivity`: does ``sum(attributions) + base_value`` give back the explained score?
- :func:`badge`: the faithfulness badge in words (several metrics against random orders and an input-only map).
- :func:`randomisation_check`, :func:`stability` and :func:`seed_bootstrap`: sanity checks that re-explain.
- :func:`agreement`, :func:`rank_correlation`, :func:`topk_agreement`: how far explanations agree.
- :func:`bootstrap_ci`, and :func:`score_explanations` (``explain(..., scores=True)``).
"""
from __future__ import annotations

from .evaluation.additivity import additivity
from .evaluation.badge import LEVELS, Badge, badge
from .evaluation.agreement import agreement, rank_correlation, topk_agreement
from .evaluation.curves import CURVES, DEFAULT_STEPS, Curve, curves, deletion, insertion, units
from .evaluation.road import ROAD_KINDS, road
from .evaluation.sanity import randomisation_check, randomised_model, seed_bootstrap, stability
from .evaluation.scoring import METRICS, score_explanations
from .evaluation.statistics import bootstrap_ci

__all__ = ["CURVES", "DEFAULT_STEPS", "LEVELS", "METRICS", "ROAD_KINDS", "Badge", "Curve", "badge", "additivity", "agreement", "bootstrap_ci", "curves",
           "deletion", "insertion", "randomisation_check", "randomised_model", "rank_correlation", "road",
           "score_explanations", "seed_bootstrap", "stability", "topk_agreement", "units"]
