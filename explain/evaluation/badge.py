"""The faithfulness badge: one verdict in words that cannot fool its reader.

A deletion AUC alone flatters methods that rank the ink first, and a metric can
silently degenerate.  So each explanation is scored by several removal metrics
(deletion; ROAD in both orders where it applies, i.e. images and rows) against
two references on the same input (ROAD LeRF is shown beside them but does not vote, see
:data:`VERDICT_METRICS`): seeded random orders and an input-only map
that knows nothing about the model (:mod:`.baselines`).  Per metric the
explanation must rank better than *every* random order to beat random, and
better than the input-only map to beat it; a constant curve, or a score inside
the random orders' spread, is *inconclusive*, never a pass.  The badge is the
worst level over the metrics, so metrics that disagree cannot hide each other.

Everything is stored as plain floats in ``Explanation.scores`` (prefix
``badge_``), so a stored or JSON explanation carries its badge and
:func:`from_scores` reads it back in words.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from ..adapters import as_predictor
from ..explanation import Explanation
from .baselines import BASELINE_NAMES, baseline_explanation
from .curves import Curve, curves

# Worst first: a clear failure on any metric outranks "no evidence either way".
LEVELS = ("no better than random", "inconclusive", "no better than edges", "beats random and edges")
ALIASES = {"beats random": "no better than edges"}  # "at least beats random" = the third level or above
LOWER_IS_BETTER = {"deletion": True, "road_morf": True, "road_lerf": False}
# The verdict's metrics.  ROAD LeRF is measured and shown but does not vote: on a confident classifier the score
# saturates while the least relevant units go (the planted-region model's true map gains only +0.01 over random),
# so it would call most explanations inconclusive without saying anything about them.
VERDICT_METRICS = ("deletion", "road_morf")
HOW_TO_READ = (
    "Each explanation removes the input's units in its own order and watches the model's score (deletion: replaced "
    "by a constant; ROAD: filled in from their neighbours, most or least relevant first). It must do better than "
    "every one of several random orders AND than a map made from the input alone ({baseline}), on every metric. "
    "'Inconclusive' means a curve did not move or the result sat among the random orders: no claim either way."
)


@dataclass(frozen=True)
class MetricResult:
    """One metric's figures for one explanation, and the level they earn."""

    metric: str
    auc: float
    random_min: float
    random_mean: float
    random_max: float
    baseline_auc: float
    curve_range: float  # max - min of the explanation's curve: 0 means it never moved
    level: str
    reason: str


@dataclass(frozen=True)
class Badge:
    """The verdict for one explanation: ``level`` is one of :data:`LEVELS`, ``verdict`` says it for the modality."""

    level: str
    modality: str
    metrics: tuple[MetricResult, ...]  # every metric measured; those in VERDICT_METRICS decide the level
    stable_seeds: int | None = None
    n_seeds: int | None = None
    top_k: int = 5
    extra: dict[str, float] = field(default_factory=dict)

    @property
    def baseline(self) -> str:
        return BASELINE_NAMES[self.modality]

    @property
    def verdict(self) -> str:
        return self.level.replace("edges", self.baseline)

    @property
    def stability(self) -> str | None:
        """e.g. "top-5 stable in 9 of 10 seeds" (None unless a seed bootstrap was asked for)."""
        if self.n_seeds is None:
            return None
        return f"top-{self.top_k} stable in {self.stable_seeds} of {self.n_seeds} seeds"

    @property
    def words(self) -> str:
        """The badge as shown: the verdict, then ", stable" / ", unstable (...)" after a seed bootstrap."""
        if self.n_seeds is None or self.stable_seeds is None:
            return self.verdict
        stable = self.stable_seeds >= max(1, int(np.ceil(0.9 * self.n_seeds)))
        return f"{self.verdict}, stable" if stable else f"{self.verdict}, unstable ({self.stability})"

    @property
    def reasons(self) -> list[str]:
        return [m.reason for m in self.metrics]

    def passes(self, at_least: str) -> bool:
        """Whether the badge is at least ``at_least`` (a level, "beats random", or a modality's verdict words)."""
        return LEVELS.index(self.level) >= LEVELS.index(level_of(at_least, self.modality))

    def how_to_read(self) -> str:
        return HOW_TO_READ.format(baseline=self.baseline)

    def rows(self) -> list[dict[str, Any]]:
        """Each metric's figures, the numbers behind the words (a table one click away); voting metrics first."""
        ordered = sorted(self.metrics, key=lambda m: m.metric not in VERDICT_METRICS)
        return [{"metric": m.metric, "votes": m.metric in VERDICT_METRICS, "AUC": m.auc, "random min": m.random_min,
                 "random max": m.random_max, f"{self.baseline} AUC": m.baseline_auc,
                 "level": m.level.replace("edges", self.baseline), "why": m.reason} for m in ordered]


def level_of(words: str, modality: str = "image") -> str:
    """The level named by ``words``: one of :data:`LEVELS`, an alias, or a verdict with the modality's baseline name."""
    words = str(words).strip().lower()
    words = ALIASES.get(words, words).replace(BASELINE_NAMES[modality], "edges")
    if words not in LEVELS:
        raise ValueError(f"Unknown badge level {words!r}; levels from worst to best: {', '.join(LEVELS)} "
                         "(or 'beats random').")
    return words


# ---- computing ------------------------------------------------------------------------------------------
def badge(model: Any, explanations: Sequence[Explanation], **options: Any) -> list[Badge]:
    """The badge of each explanation (options as :func:`badge_scores`)."""
    explanations = list(explanations)
    return [from_scores(e.modality, s) for e, s in zip(explanations, badge_scores(model, explanations, **options))]


def badge_scores(
    model: Any,
    explanations: Sequence[Explanation],
    *,
    n_random: int = 5,
    seed: int = 0,
    deletion_curves: Sequence[Curve] | None = None,
    baseline: Any = None,
    steps: int | None = None,
) -> list[dict[str, float]]:
    """The badge's figures per explanation, as floats keyed ``badge_<metric>_<figure>`` plus ``badge_level``.

    ``deletion_curves``: deletion curves already computed with the same ``n_random`` and ``seed`` (by
    :func:`explain.metrics.score_explanations`), reused instead of recomputed.  ``baseline`` and ``steps``:
    as for :func:`~explain.evaluation.curves.curves` (the deletion fill value, its number of removal steps).
    """
    from .road import road

    predictor = as_predictor(model)
    explanations = list(explanations)
    if n_random < 2:
        raise ValueError(f"The badge compares with random orders: n_random must be at least 2, got {n_random}.")
    if not explanations:
        return []
    references = [baseline_explanation(e, lambda: predictor.background) for e in explanations]
    if deletion_curves is None:
        deletion_curves = [c["deletion"] for c in curves(predictor, explanations, kinds=("deletion",), n_random=n_random,
                                                         seed=seed, baseline=baseline, steps=steps)]
    reference_deletion = [c["deletion"] for c in curves(predictor, references, kinds=("deletion",), n_random=0,
                                                        baseline=baseline, steps=steps)]
    per_metric: dict[str, tuple[Sequence[Curve], Sequence[Curve]]] = {"deletion": (deletion_curves, reference_deletion)}
    if predictor.modality != "text":  # ROAD imputes removed pixels / features; tokens can only be masked
        kinds = ("road_morf", "road_lerf")
        own = road(predictor, explanations, kinds=kinds, n_random=n_random, seed=seed)
        ref = road(predictor, references, kinds=kinds, n_random=0, seed=seed)
        for kind in kinds:
            per_metric[kind] = ([c[kind] for c in own], [c[kind] for c in ref])
    results = []
    for i in range(len(explanations)):
        scores: dict[str, float] = {}
        levels = []
        for metric, (mine, theirs) in per_metric.items():
            figures = _figures(mine[i], theirs[i])
            scores.update({f"badge_{metric}_{k}": v for k, v in figures.items()})
            if metric in VERDICT_METRICS:
                levels.append(_judge(metric, figures)[0])
        scores["badge_level"] = float(min(LEVELS.index(level) for level in levels))
        results.append(scores)
    return results


def with_stability(scores: dict[str, float], stable_seeds: int, n_seeds: int, k: int) -> dict[str, float]:
    """Badge figures with a seed bootstrap's outcome added (see :func:`explain.evaluation.sanity.seed_bootstrap`)."""
    return {**scores, "badge_stable_seeds": float(stable_seeds), "badge_n_seeds": float(n_seeds), "badge_top_k": float(k)}


def badge_of(explanation: Explanation) -> Badge | None:
    """The badge an explanation carries in its scores, or None when it was not computed."""
    scores = explanation.scores
    return from_scores(explanation.modality, scores) if "badge_level" in scores else None


def from_scores(modality: str, scores: Mapping[str, Any]) -> Badge:
    """The :class:`Badge` that ``badge_*`` floats describe (as stored in ``Explanation.scores``)."""
    if "badge_level" not in scores:
        raise ValueError("These scores carry no badge; compute it with explain(..., scores=['badge']) "
                         "or explain.metrics.badge(model, explanations).")
    metrics = []
    for metric in LOWER_IS_BETTER:
        prefix = f"badge_{metric}_"
        figures = {k[len(prefix):]: float(v) for k, v in scores.items() if k.startswith(prefix)}
        if figures:
            level, reason = _judge(metric, figures, BASELINE_NAMES[modality])
            metrics.append(MetricResult(metric, figures["auc"], figures["random_min"], figures["random_mean"],
                                        figures["random_max"], figures["baseline_auc"], figures["curve_range"], level,
                                        reason))
    n_seeds = scores.get("badge_n_seeds")
    return Badge(
        level=LEVELS[int(scores["badge_level"])], modality=modality, metrics=tuple(metrics),
        stable_seeds=None if n_seeds is None else int(scores["badge_stable_seeds"]),
        n_seeds=None if n_seeds is None else int(n_seeds), top_k=int(scores.get("badge_top_k", 5)),
    )


def _figures(curve: Curve, reference: Curve) -> dict[str, float]:
    randoms = curve.random_aucs
    return {
        "auc": curve.auc, "random_min": float(np.min(randoms)), "random_mean": float(np.mean(randoms)),
        "random_max": float(np.max(randoms)), "baseline_auc": reference.auc,
        "curve_range": float(np.ptp(curve.scores)),
    }


def _judge(metric: str, f: dict[str, float], baseline_name: str = "edges") -> tuple[str, str]:
    """``(level, reason)`` for one metric's figures.  Lower AUC is better for deletion and ROAD MoRF."""
    sign = 1.0 if LOWER_IS_BETTER[metric] else -1.0
    auc, low, high, ref = (sign * f[k] for k in ("auc", "random_min", "random_max", "baseline_auc"))
    low, high = min(low, high), max(low, high)
    figures = f"AUC {f['auc']:.3g}; random {f['random_min']:.3g}..{f['random_max']:.3g}; {baseline_name} {f['baseline_auc']:.3g}"
    scale = max(1.0, abs(f["auc"]), abs(f["random_mean"]))
    if not all(np.isfinite([auc, low, high, ref])) or f["curve_range"] <= 1e-9 * scale:
        return "inconclusive", f"{metric}: the score never moved along the curve ({figures}): no claim either way."
    if auc > high:
        return "no better than random", f"{metric}: worse than every random order ({figures})."
    if auc >= low:
        return "inconclusive", f"{metric}: among the random orders ({figures}): cannot be told from random."
    if auc >= ref:
        return "no better than edges", f"{metric}: beats random, but not the {baseline_name} map ({figures})."
    return "beats random and edges", f"{metric}: beats every random order and the {baseline_name} map ({figures})."
