"""Faithfulness and sanity metrics that score ANY :class:`Explanation`, whatever method made it.

- :func:`deletion` / :func:`insertion` (Petsiuk et al., 2018): remove (or insert)
  the input's units in order of attribution and integrate the explained score
  over the fraction removed.  Every curve is compared with ``n_random`` seeded
  random orders on the same input, because an AUC means nothing on its own.
- :func:`additivity`: does ``sum(attributions) + base_value`` give back the model's score?
- :func:`randomisation_check` (Adebayo et al., 2018): do attributions change when
  the model's learned weights are re-initialised?  They should.
- :func:`stability`: do top-k features agree across method seeds?
- :func:`agreement`: do different methods agree on one input (rank correlation, top-k overlap)?
- :func:`bootstrap_ci`, and :func:`score_explanations` (``explain(..., scores=True)``).

Units: pixels for images (whole segments when ``meta["segments"]`` is set),
tokens for text (masked with ``MASK_TOKEN``, positions kept), features for tabular rows.
"""
from __future__ import annotations

import dataclasses
import itertools
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from . import registry
from .api import as_predictor, explain_batch, make_method
from .explanation import Explanation
from .methods.base import Method
from .predictor import Predictor

CURVES = ("deletion", "insertion")
METRICS = ("deletion", "insertion", "additivity")
DEFAULT_STEPS = 20  # images and texts; tabular rows remove every feature one at a time
MAX_INPUTS_PER_CALL = 8192  # perturbed inputs held in memory per predict call (several explanations each)


# ---- deletion and insertion ------------------------------------------------------------------
@dataclass(frozen=True)
class Curve:
    """One deletion or insertion curve, with its random-order baselines.

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
        """How much better than random: positive is good for both kinds."""
        diff = self.random_auc - self.auc
        return float(diff if self.kind == "deletion" else -diff)

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
    fill = _baseline(predictor, baseline, explanations)
    results: list[dict[str, Curve]] = []
    group: list[tuple[Explanation, _Plan, Any, np.ndarray]] = []
    for explanation, plan in zip(explanations, plans):
        masks = np.concatenate([plan.removed if k == "deletion" else ~plan.removed for k in kinds]).reshape(-1, plan.n_units)
        unique, inverse = np.unique(masks, axis=0, return_inverse=True)  # intact / empty inputs recur
        group.append((explanation, plan, _perturb(predictor, plan, unique, fill), inverse.ravel()))
        if sum(len(g[2]) for g in group) >= MAX_INPUTS_PER_CALL:
            results += _score_group(predictor, group, kinds)
            group = []
    return results + (_score_group(predictor, group, kinds) if group else [])


def _score_group(predictor: Predictor, group: list, kinds: Sequence[str]) -> list[dict[str, Curve]]:
    """Score the perturbed inputs of several explanations with one ``predict`` call."""
    batches = [g[2] for g in group]
    outputs = predictor.predict([t for b in batches for t in b] if predictor.modality == "text" else np.concatenate(batches))
    results, start = [], 0
    for explanation, plan, batch, inverse in group:
        scores = predictor.target_scores(outputs[start : start + len(batch)], explanation.target)[inverse]
        scores = scores.reshape((len(kinds),) + plan.removed.shape[:2])
        results.append({kind: _curve(kind, plan, s) for kind, s in zip(kinds, scores)})
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
    if explanation.modality != predictor.modality:
        raise ValueError(f"A {explanation.modality} explanation cannot be scored on a {predictor.modality} model.")
    values, sizes, unit_of = units(explanation)
    data = explanation.tokens() if explanation.modality == "text" else np.asarray(explanation.data, dtype=np.float32)
    if explanation.modality != "text" and predictor.input_shape is not None and data.shape != tuple(predictor.input_shape):
        raise ValueError(f"explanation.data has shape {data.shape} but the model takes {tuple(predictor.input_shape)}.")
    n = len(values)
    if steps is None:
        steps = n if explanation.modality == "tabular" else DEFAULT_STEPS
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}.")
    counts = np.unique(np.round(np.linspace(0, n, min(steps, n) + 1)).astype(int))
    rng = np.random.default_rng(seed)
    orders = [np.argsort(-values, kind="stable")] + [rng.permutation(n) for _ in range(n_random)]
    removed, fractions = [], []
    for order in orders:
        rank = np.empty(n, dtype=int)
        rank[order] = np.arange(n)
        removed.append(rank[None, :] < counts[:, None])
        cumulative = np.concatenate([[0.0], np.cumsum(sizes[order])]) / sizes.sum()
        fractions.append(cumulative[counts])
    return _Plan(data, unit_of, np.array(removed), np.array(fractions))


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


# ---- additivity ---------------------------------------------------------------------------
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


# ---- randomisation sanity check -----------------------------------------------------------------
def randomised_model(model: Any, seed: int = 0):
    """A copy of a Keras model whose learned weights are freshly initialised (fixed seed).

    Preprocessing state (Normalization statistics, TextVectorization / lookup
    vocabularies, BatchNorm moving statistics: everything non-trainable) is kept.
    """
    import keras

    original = _keras_model(model)
    clone = keras.models.clone_model(original)
    pairs = _paired_layers(original, clone)
    for src, dst in zip(original.non_trainable_variables, clone.non_trainable_variables):
        dst.assign(src)  # incl. dropout seed states, which layers do not save themselves
    with tempfile.TemporaryDirectory() as tmp:
        for i, (src, dst) in enumerate(pairs):
            store: dict[str, Any] = {}
            src.save_own_variables(store)
            if store:
                dst.load_own_variables(store)
            if hasattr(src, "save_assets"):  # vocabularies live in assets, not in variables
                (folder := Path(tmp) / str(i)).mkdir()
                src.save_assets(str(folder))
                dst.load_assets(str(folder))
    rng = np.random.default_rng(seed)
    for _, layer in pairs:
        for variable in getattr(layer, "_trainable_variables", []):  # own learned weights, frozen or not
            init = _initializer(layer, variable.name, int(rng.integers(2**31 - 1)))
            variable.assign(init(tuple(variable.shape), dtype=variable.dtype))
    return clone


def randomisation_check(model: Any, inputs: Any, method: str | Method, *, targets: Sequence[int | None] | int | None = None,
                        seed: int = 0, **params: Any) -> list[dict[str, float]]:
    """Spearman correlation between attributions of the trained and a weight-randomised model, per input.

    The randomised model explains the same targets as the trained one.  A method
    that passes the check has low ``spearman_abs`` (Adebayo et al. rank absolute
    values); nan when an attribution map is constant.
    """
    predictor = as_predictor(model)
    trained = explain_batch(predictor, inputs, method, targets, **params)
    shuffled = Predictor(
        randomised_model(predictor, seed), modality=predictor.modality, output=predictor.output,
        class_names=predictor.class_names, feature_names=predictor.feature_names, input_shape=predictor.input_shape,
        batch_size=predictor.batch_size, name=f"{predictor.name}_randomised", background=lambda: predictor.background,
    )
    randomised = explain_batch(shuffled, inputs, method, [e.target for e in trained], **params)
    return [rank_correlation(a.attributions, b.attributions) for a, b in zip(trained, randomised)]


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


def _keras_model(model: Any):
    keras_model = as_predictor(model).keras_model
    if keras_model is None:
        raise ValueError("The randomisation check re-initialises a Keras model's weights; a plain prediction function has none.")
    return keras_model


def _paired_layers(original, clone) -> list[tuple[Any, Any]]:
    a = list(original._flatten_layers(include_self=False, recursive=True))
    b = list(clone._flatten_layers(include_self=False, recursive=True))
    if len(a) != len(b) or any(type(x) is not type(y) for x, y in zip(a, b)):
        raise ValueError(f"keras.models.clone_model changed the layer structure of {original.name!r}; cannot copy its state.")
    return list(zip(a, b))


_INITIALIZER_NAMES = {"recurrent_kernel": "recurrent_initializer", "depthwise_kernel": "depthwise_initializer",
                      "pointwise_kernel": "pointwise_initializer"}


def _initializer(layer: Any, variable_name: str, seed: int):
    """The layer's own initializer for a weight, re-seeded; Glorot uniform when the layer does not say."""
    import keras

    name = variable_name.split("/")[-1].split(":")[0]
    init = getattr(layer, _INITIALIZER_NAMES.get(name, f"{name}_initializer"), None)
    if init is None:
        return keras.initializers.GlorotUniform(seed=seed)
    init = keras.initializers.get(init)
    config = init.get_config()
    if "seed" in config:
        init = type(init).from_config({**config, "seed": seed})
    return init


# ---- stability across seeds -----------------------------------------------------------------
def stability(
    model: Any,
    inputs: Any,
    method: str | Method,
    *,
    n_seeds: int = 5,
    k: int = 5,
    by: str = "abs",
    targets: Sequence[int | None] | int | None = None,
    **params: Any,
) -> list[dict[str, float]]:
    """Mean (and min) pairwise top-k agreement of the explanations made with seeds ``0..n_seeds-1``, per input."""
    if n_seeds < 2:
        raise ValueError(f"stability compares runs: n_seeds must be at least 2, got {n_seeds}.")
    predictor = as_predictor(model)
    runs: list[list[Explanation]] = []
    for seed in range(n_seeds):
        runs.append(explain_batch(predictor, inputs, _seeded(method, seed, params), targets))
        targets = [e.target for e in runs[0]]  # every seed explains the same class
    results = []
    for per_input in zip(*runs):
        scores = [topk_agreement(a, b, k, by=by) for a, b in itertools.combinations(per_input, 2)]
        results.append({"stability_topk": float(np.mean(scores)), "stability_topk_min": float(np.min(scores))})
    return results


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


def _seeded(method: str | Method, seed: int, params: dict[str, Any]) -> Method:
    if "seed" in params:
        raise TypeError("stability sets the seed itself (0..n_seeds-1); do not pass seed=.")
    explainer = make_method(method, **params)
    if "seed" not in {f.name for f in dataclasses.fields(explainer)}:
        raise ValueError(f"{explainer.name} has no seed parameter: it is deterministic, so stability across seeds is 1 by construction.")
    return dataclasses.replace(explainer, seed=seed)


# ---- statistics -----------------------------------------------------------------------------
def bootstrap_ci(values: Sequence[float], n_boot: int = 2000, ci: float = 0.95, seed: int = 0) -> tuple[float, float, float]:
    """``(mean, low, high)``: the mean and its percentile bootstrap interval (NaNs dropped)."""
    values = np.asarray(values, dtype=np.float64).ravel()
    values = values[np.isfinite(values)]
    if values.size == 0:
        raise ValueError("bootstrap_ci needs at least one finite value.")
    if not 0 < ci < 1:
        raise ValueError(f"ci must be in (0, 1), got {ci}.")
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, values.size, size=(n_boot, values.size))].mean(axis=1)
    tail = (1 - ci) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(values.mean()), float(low), float(high)


# ---- what explain(..., scores=True) attaches ---------------------------------------------------------
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
    is an error.  ``options`` go to :func:`curves` (steps, baseline, n_random, seed).
    """
    wanted = list(metrics) if metrics is not None else ["deletion", "additivity"]
    unknown = [m for m in wanted if m not in METRICS]
    if unknown:
        raise ValueError(f"Unknown metrics {unknown}; known metrics: {', '.join(METRICS)}.")
    predictor = as_predictor(predictor)
    kinds = [m for m in CURVES if m in wanted]
    curve_sets = curves(predictor, explanations, kinds=kinds, **options) if kinds else [{} for _ in explanations]
    scored = []
    for explanation, found in zip(explanations, curve_sets):
        scores: dict[str, float] = {}
        for curve in found.values():
            scores.update(curve.summary())
        if "additivity" in wanted and (metrics is not None or _promises_additivity(explanation)):
            scores.update(additivity(predictor, explanation))
        scored.append(explanation.with_scores(**scores))
    return scored


# ---- helpers ---------------------------------------------------------------------------------
def _promises_additivity(explanation: Explanation) -> bool:
    if explanation.base_value is None or explanation.method not in registry.names():
        return False
    return registry.get(explanation.method).additive
