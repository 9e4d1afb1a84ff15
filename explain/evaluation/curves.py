"""Deletion and insertion curves (Petsiuk et al., 2018) for ANY :class:`Explanation`, whatever method made it.

Remove (or insert) the input's units in order of attribution and integrate the
explained score over the fraction removed.  Every curve is compared with
``n_random`` seeded random orders on the same input, because an AUC means
nothing on its own.  Units: pixels for images (whole segments when
``meta["segments"]`` is set), tokens for text (masked with ``MASK_TOKEN``,
positions kept), features for tabular rows.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from ..adapters import as_predictor
from ..explanation import Explanation
from ..predictor import Predictor

CURVES = ("deletion", "insertion")
DEFAULT_STEPS = 20  # images and texts; tabular rows remove every feature one at a time
MAX_INPUTS_PER_CALL = 8192  # perturbed inputs held in memory per predict call (several explanations each)
LOWER_IS_BETTER = frozenset({"deletion", "road_morf"})  # curve kinds whose faithful AUC is BELOW random


@dataclass(frozen=True)
class Curve:
    """One deletion or insertion curve (or a ROAD one, :mod:`.road`), with its random-order baselines.

    ``fractions`` is the fraction of the input removed (deletion) or present
    (insertion): of pixels for images (so whole segments count by area), of
    tokens or features otherwise.  ``full_score`` is the score of the intact
    input, ``empty_score`` with every unit removed.
    """

    kind: str
    fractions: np.ndarray  # (m,)
    scores: np.ndarray  # (m,)
    random_fractions: np.ndarray  # (n_random, m)
    random_scores: np.ndarray  # (n_random, m)
    full_score: float
    empty_score: float

    @property
    def auc(self) -> float:
        return float(np.trapezoid(self.scores, self.fractions))

    @property
    def random_aucs(self) -> np.ndarray:
        return np.array([np.trapezoid(s, f) for s, f in zip(self.random_scores, self.random_fractions)])

    @property
    def random_auc(self) -> float:
        return float(np.mean(self.random_aucs)) if len(self.random_aucs) else float("nan")

    @property
    def gain(self) -> float:
        """How much better than random: positive is good for every kind (lower AUC is better for removal-first
        kinds in ``LOWER_IS_BETTER``, higher for the others)."""
        diff = self.random_auc - self.auc
        return float(diff if self.kind in LOWER_IS_BETTER else -diff)

    @property
    def _span(self) -> float:
        span = self.full_score - self.empty_score
        return span if abs(span) > 1e-12 * max(1.0, abs(self.full_score)) else float("nan")

    @property
    def auc_normalised(self) -> float:
        """(AUC - empty) / (full - empty): scale-free (regression outputs in any unit), random ~0.5 for additive models."""
        return float((self.auc - self.empty_score) / self._span)

    def summary(self) -> dict[str, float]:
        """JSON-friendly scores, all floats, names prefixed by the curve kind."""
        k = self.kind
        return {
            f"{k}_auc": self.auc,
            f"{k}_random_auc": self.random_auc,
            f"{k}_random_auc_std": float(np.std(self.random_aucs)) if len(self.random_aucs) else float("nan"),
            f"{k}_gain": self.gain,
            f"{k}_auc_normalised": self.auc_normalised,
            f"{k}_gain_normalised": float(self.gain / abs(self._span)),
            f"{k}_full_score": float(self.full_score),
            f"{k}_empty_score": float(self.empty_score),
        }


def deletion(model: Any, explanations: Explanation | Sequence[Explanation], **options: Any) -> Curve | list[Curve]:
    """Deletion curves: remove the most positive evidence first; a faithful explanation's score drops
    faster than random (AUC below ``random_auc``, ``gain > 0``).  Options as :func:`curves`."""
    return _one_kind("deletion", model, explanations, options)


def insertion(model: Any, explanations: Explanation | Sequence[Explanation], **options: Any) -> Curve | list[Curve]:
    """Insertion curves: start from the baseline and insert the most positive evidence first
    (AUC above ``random_auc`` is good, ``gain > 0``).  Options as :func:`curves`."""
    return _one_kind("insertion", model, explanations, options)


def _one_kind(kind: str, model: Any, explanations: Explanation | Sequence[Explanation], options: dict) -> Curve | list[Curve]:
    single = isinstance(explanations, Explanation)
    result = [c[kind] for c in curves(model, [explanations] if single else list(explanations), kinds=(kind,), **options)]
    return result[0] if single else result


def curves(
    model: Any,
    explanations: Sequence[Explanation],
    *,
    kinds: Sequence[str] = CURVES,
    steps: int | None = None,
    baseline: Any = None,
    n_random: int = 5,
    seed: int = 0,
) -> list[dict[str, Curve]]:
    """Deletion and/or insertion curves, all scored in ONE ``predictor.predict`` call per batch of explanations
    (a new batch once ``MAX_INPUTS_PER_CALL`` perturbed inputs are pending).

    ``steps``: removal increments (default 20 for images and texts, every feature for
    tabular; never more than the number of units).  ``baseline``: the value removed
    pixels take (default 0.0, black; a scalar or an array of the input's shape), or
    one value per tabular feature (default: the mean of ``predictor.background``; an
    explicit ``baseline`` wins).  Texts are masked with ``MASK_TOKEN``.  Units are
    ranked by attribution, descending, ties broken by position; random orders come
    from ``np.random.default_rng(seed)``, the same for every explanation.
    """
    predictor = as_predictor(model)
    unknown = set(kinds) - set(CURVES)
    if unknown or not kinds:
        raise ValueError(f"kinds must be some of {CURVES}, got {list(kinds)}.")
    plans = [_plan(predictor, e, steps, n_random, seed) for e in explanations]

    def build(plan: _Plan, scores: np.ndarray) -> dict[str, Curve]:
        scores = scores.reshape((len(kinds),) + plan.removed.shape[:2])
        return {kind: _curve(kind, plan, s) for kind, s in zip(kinds, scores)}

    fill = _baseline(predictor, baseline, explanations)
    results: list[dict[str, Curve]] = []
    group: list[tuple[Explanation, _Plan, Any, np.ndarray]] = []
    for explanation, plan in zip(explanations, plans):
        masks = np.concatenate([plan.removed if k == "deletion" else ~plan.removed for k in kinds]).reshape(-1, plan.n_units)
        unique, inverse = np.unique(masks, axis=0, return_inverse=True)  # intact / empty inputs recur
        group.append((explanation, plan, _perturb(predictor, plan, unique, fill), inverse.ravel()))
        if sum(len(g[2]) for g in group) >= MAX_INPUTS_PER_CALL:
            results += _score_group(predictor, group, build)
            group = []
    return results + (_score_group(predictor, group, build) if group else [])


def _score_group(predictor: Predictor, group: list, build: Callable[[Any, np.ndarray], dict[str, Curve]]) -> list[dict[str, Curve]]:
    """Score the perturbed inputs of several explanations with one ``predict`` call.

    ``group`` holds ``(explanation, plan, inputs, inverse)``: ``inputs[inverse]`` are the plan's perturbed inputs
    in its order; ``build(plan, scores)`` turns those inputs' scores into the explanation's curves.
    """
    batches = [g[2] for g in group]
    outputs = predictor.predict([t for b in batches for t in b] if predictor.modality == "text" else np.concatenate(batches))
    results, start = [], 0
    for explanation, plan, batch, inverse in group:
        scores = predictor.target_scores(outputs[start : start + len(batch)], explanation.target)[inverse]
        results.append(build(plan, scores))
        start += len(batch)
    return results


@dataclass(frozen=True)
class _Plan:
    data: Any  # the input (array, or tokens for text)
    unit_of: np.ndarray | None  # image pixel -> unit index (H*W,); None when units are the features/tokens
    removed: np.ndarray  # (1 + n_random, m, n_units) bool: units removed at each step; order 0 is the explanation's
    fractions: np.ndarray  # (1 + n_random, m)

    @property
    def n_units(self) -> int:
        return self.removed.shape[-1]


def _plan(predictor: Predictor, explanation: Explanation, steps: int | None, n_random: int, seed: int) -> _Plan:
    data, values, sizes, unit_of = _checked_units(predictor, explanation)
    n = len(values)
    if steps is None:
        steps = n if explanation.modality == "tabular" else DEFAULT_STEPS
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}.")
    counts = np.unique(np.round(np.linspace(0, n, min(steps, n) + 1)).astype(int))
    removed, fractions = _removals(_orders(values, n_random, seed), sizes, counts)
    return _Plan(data, unit_of, removed, fractions)


def _checked_units(predictor: Predictor, explanation: Explanation) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray | None]:
    """``(data, values, sizes, unit_of)`` of an explanation the predictor can score (see :func:`units`)."""
    if explanation.modality != predictor.modality:
        raise ValueError(f"A {explanation.modality} explanation cannot be scored on a {predictor.modality} model.")
    values, sizes, unit_of = units(explanation)
    data = explanation.tokens() if explanation.modality == "text" else np.asarray(explanation.data, dtype=np.float32)
    if explanation.modality != "text" and predictor.input_shape is not None and data.shape != tuple(predictor.input_shape):
        raise ValueError(f"explanation.data has shape {data.shape} but the model takes {tuple(predictor.input_shape)}.")
    return data, values, sizes, unit_of


def _orders(values: np.ndarray, n_random: int, seed: int) -> list[np.ndarray]:
    """The explanation's order (attribution descending, ties by position), then ``n_random`` seeded permutations."""
    rng = np.random.default_rng(seed)
    n = len(values)
    return [np.argsort(-values, kind="stable")] + [rng.permutation(n) for _ in range(n_random)]


def _removals(orders: Sequence[np.ndarray], sizes: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(removed, fractions)``: the first ``counts[j]`` units of each order removed at step ``j`` (bool,
    ``(len(orders), len(counts), n_units)``), and the fraction of the input's size that is."""
    n = len(sizes)
    removed, fractions = [], []
    for order in orders:
        rank = np.empty(n, dtype=int)
        rank[order] = np.arange(n)
        removed.append(rank[None, :] < counts[:, None])
        cumulative = np.concatenate([[0.0], np.cumsum(sizes[order])]) / sizes.sum()
        fractions.append(cumulative[counts])
    return np.array(removed), np.array(fractions)


def units(explanation: Explanation) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """``(values, sizes, unit_of_pixel)``: the explanation's units and their attributions.

    Images with ``meta["segments"]`` have one unit per segment, valued by its mean
    pixel attribution (a segment method's weight), sized by its pixel count.
    """
    attributions = np.asarray(explanation.attributions, dtype=np.float64)
    if not np.all(np.isfinite(attributions)):
        raise ValueError(f"The {explanation.method} explanation has NaN or infinite attributions: nothing to rank.")
    if explanation.modality != "image":
        return attributions.ravel(), np.ones(attributions.size), None
    segments = explanation.meta.get("segments")
    if segments is None:
        return attributions.ravel(), np.ones(attributions.size), np.arange(attributions.size)
    segments = np.asarray(segments)
    if segments.shape != attributions.shape:
        raise ValueError(f"meta['segments'] has shape {segments.shape}, the attributions {attributions.shape}.")
    _, unit_of = np.unique(segments.ravel(), return_inverse=True)
    sizes = np.bincount(unit_of).astype(float)
    return np.bincount(unit_of, weights=attributions.ravel()) / sizes, sizes, unit_of


def _perturb(predictor: Predictor, plan: _Plan, removed: np.ndarray, fill: Any) -> Any:
    """The inputs with ``removed`` units (rows of a bool matrix) taken out."""
    if predictor.modality == "text":
        return [predictor.join_tokens(plan.data, ~row) for row in removed]
    if predictor.modality == "tabular":
        return np.where(removed, fill, plan.data[None]).astype(np.float32)
    x = plan.data
    pixels = removed[:, plan.unit_of].reshape((len(removed),) + x.shape[:2] + (1,) * (x.ndim - 2))
    return np.where(pixels, np.asarray(fill, dtype=np.float32), x[None]).astype(np.float32)


def _baseline(predictor: Predictor, baseline: Any, explanations: Sequence[Explanation]) -> Any:
    if predictor.modality == "text":
        if baseline is not None:
            raise ValueError("Text tokens are removed by masking them with MASK_TOKEN; baseline= does not apply.")
        return None
    if predictor.modality == "image":
        return 0.0 if baseline is None else baseline
    if baseline is None and predictor.background is not None and len(predictor.background):
        baseline = np.mean(np.asarray(predictor.background, dtype=np.float64), axis=0)
    if baseline is None:
        raise ValueError(
            "Deletion/insertion on tabular rows replace removed features by a baseline value: build the predictor "
            "with background=... (e.g. 100 training rows; their mean is used), or pass baseline=... (one value per feature)."
        )
    baseline = np.asarray(baseline, dtype=np.float64)
    if explanations and baseline.shape not in ((), np.shape(explanations[0].data)):
        raise ValueError(f"baseline= must be one value per feature, shape {np.shape(explanations[0].data)}; got {baseline.shape}.")
    return baseline


def _curve(kind: str, plan: _Plan, scores: np.ndarray) -> Curve:
    full = scores[0, 0] if kind == "deletion" else scores[0, -1]
    empty = scores[0, -1] if kind == "deletion" else scores[0, 0]
    return Curve(kind, plan.fractions[0], scores[0], plan.fractions[1:], scores[1:], float(full), float(empty))
