"""Has *why* a model decides changed between two versions?  :func:`compare` explains both on the same inputs.

Retraining can keep the accuracy and still change what a model relies on (a
feature lost to a data bug, a shortcut learned).  :func:`compare` explains model
A and model B on the same inputs, methods and targets, and measures how far the
two explanations of each input agree (Spearman rank correlation and top-k
overlap, from :mod:`explain.evaluation.agreement`) and how the global importance
moved: the share of mean |attribution| per feature (tabular), per token string
(text) or per cell of a coarse grid (images).  Two seeds of one recipe should
agree closely; a model that lost a feature should not.

This module is ``explain.drift`` and the function is exported as
``explain.compare`` (a module named ``explain/compare.py`` would be shadowed by
the function of the same name on ``import explain``).

>>> c = explain.compare(old_model, new_model, x_test[:100], ["kernel_shap"])    # doctest: +SKIP
>>> c.summary()["median_spearman_abs"], c.importance.head()                     # doctest: +SKIP
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np

from .adapters import as_predictor
from .evaluation.agreement import rank_correlation, topk_agreement
from .explanation import Explanation
from .predictor import Predictor
from .regions import by_region

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Comparison", "compare", "DEFAULT_GRID"]

DEFAULT_GRID = 7  # image regions: a 7x7 grid (4x4-pixel cells on 28x28 digits)
PER_INPUT_COLUMNS = ("input", "method", "target", "target_name", "prediction_a", "prediction_b", "units",
                     "spearman_abs", "spearman", "top_k")
IMPORTANCE_COLUMNS = ("method", "unit", "importance_a", "importance_b", "shift", "mean_abs_a", "mean_abs_b", "count")


@dataclass(frozen=True)
class Comparison:
    """Model A against model B, explained on the same inputs: per input, per unit of importance, and in summary.

    ``per_input``: one row per input and method (``spearman_abs``: rank
    correlation of |attributions|, ``spearman``: signed, ``top_k``: share of the
    k strongest units in common).  ``importance``: one row per method and unit
    (feature, token or image region) with each model's share of the mean
    |attribution| (``importance_a``, ``importance_b``, each summing to 1 per
    method) and ``shift = importance_b - importance_a``, largest |shift| first.
    """

    name_a: str
    name_b: str
    modality: str
    methods: tuple[str, ...]
    k: int
    n_inputs: int
    per_input: "pd.DataFrame"
    importance: "pd.DataFrame"
    explanations_a: Mapping[str, Sequence[Explanation]] = field(repr=False)
    explanations_b: Mapping[str, Sequence[Explanation]] = field(repr=False)
    grid: int | None = None  # image regions per side; None for tokens and features

    def summary(self) -> dict[str, float]:
        """The headline numbers: medians and means over inputs, how much importance moved, the largest shifts.

        ``importance_moved`` is the total variation distance between A's and B's
        importance shares (half the sum of |shift|): 0 when both spread their
        attribution the same way over the units, 1 when they share nothing.
        Keys per method are ``"<method> <statistic>"``; the three largest shifts
        are ``"shift <unit> (<method>)"``.
        """
        frame, out = self.per_input, {"inputs": float(self.n_inputs), "k": float(self.k)}
        out.update(_stats(frame, self.importance))
        if len(self.methods) > 1:
            for method in self.methods:
                stats = _stats(frame[frame["method"] == method], self.importance[self.importance["method"] == method])
                out.update({f"{method} {key}": value for key, value in stats.items()})
        top = self.largest_shifts(3)
        for row in top.itertuples(index=False):
            out[f"shift {row.unit} ({row.method})"] = float(row.shift)
        return out

    def largest_shifts(self, n: int = 10) -> "pd.DataFrame":
        """The ``n`` units whose share of importance moved most, over all methods."""
        order = self.importance["shift"].abs().sort_values(ascending=False, kind="stable").index
        return self.importance.loc[order].head(n).reset_index(drop=True)

    def most_changed(self, n: int = 5) -> "pd.DataFrame":
        """The ``n`` (input, method) rows whose explanations agree least (lowest Spearman of |attributions|)."""
        frame = self.per_input.sort_values(["spearman_abs", "top_k"], kind="stable", na_position="first")
        return frame.head(n).reset_index(drop=True)

    def explanation_pair(self, input_index: int, method: str) -> tuple[Explanation, Explanation]:
        """Model A's and model B's explanation of one input (by position) with one method."""
        return self.explanations_a[method][input_index], self.explanations_b[method][input_index]

    def unit_name(self) -> str:
        return {"image": "region", "text": "token", "tabular": "feature"}[self.modality]


def _stats(per_input: "pd.DataFrame", importance: "pd.DataFrame") -> dict[str, float]:
    moved = [0.5 * float(part["shift"].abs().sum()) for _, part in importance.groupby("method", sort=False)]
    return {
        "median_spearman_abs": _finite(per_input["spearman_abs"].median()),
        "median_spearman": _finite(per_input["spearman"].median()),
        "mean_top_k": _finite(per_input["top_k"].mean()),
        "importance_moved": float(np.mean(moved)) if moved else math.nan,
        "largest_shift": float(importance["shift"].abs().max()) if len(importance) else math.nan,
    }


def _finite(value: Any) -> float:
    return float(value) if value is not None else math.nan


# ---- the comparison ---------------------------------------------------------------------------------
def compare(
    model_a: Any,
    model_b: Any,
    inputs: Any,
    methods: str | Sequence[str],
    *,
    targets: Sequence[int | None] | int | None = None,
    k: int = 5,
    store: Any = None,
    grid: int = DEFAULT_GRID,
    truncate: bool = True,
    **params: Any,
) -> Comparison:
    """Explain ``model_a`` and ``model_b`` on the same ``inputs`` with each of ``methods`` and compare.

    Both models answer the same question: each input is explained for the same
    target in both, model A's predicted class unless ``targets`` says otherwise
    (regression: the value).  ``params`` go to every method (a seed, say, so that
    LIME perturbs both models' inputs alike); ``store`` is the explanation store,
    as for :func:`explain.explain_batch`.  ``grid`` is the number of image
    regions per side.  Models that do not take the same inputs, or whose outputs
    are of different kinds, are refused: their explanations would not be of the
    same thing.
    """
    from .api import explain_batch

    pa, pb = as_predictor(model_a), as_predictor(model_b)
    check_comparable(pa, pb)
    method_list = _methods(methods)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a whole number of at least 1, got {k!r}.")
    if isinstance(grid, bool) or not isinstance(grid, (int, np.integer)) or grid < 1:
        raise ValueError(f"grid must be a whole number of at least 1 (regions per side), got {grid!r}.")
    batch = _as_batch(pa, inputs)
    chosen = _targets(pa, batch, targets)
    names = _names(pa, pb)
    found_a: dict[str, list[Explanation]] = {}
    found_b: dict[str, list[Explanation]] = {}
    for method in method_list:
        found_a[method] = explain_batch(pa, batch, method, chosen, truncate=truncate, store=store, **params)
        found_b[method] = explain_batch(pb, batch, method, chosen, truncate=truncate, store=store, **params)
    return _comparison(names, pa.modality, tuple(method_list), int(k), int(grid), found_a, found_b)


def check_comparable(a: Predictor, b: Predictor) -> None:
    """Refuse two models whose explanations could not be of the same thing; the message says what differs."""
    problems = []
    if a.modality != b.modality:
        problems.append(f"model A reads {a.modality} inputs, model B {b.modality} inputs")
    elif a.input_shape and b.input_shape and tuple(a.input_shape) != tuple(b.input_shape):
        problems.append(f"model A takes inputs of shape {tuple(a.input_shape)}, model B {tuple(b.input_shape)}")
    if a.output != b.output:
        problems.append(f"model A's output is {a.output}, model B's {b.output}")
    elif a.n_classes is not None and b.n_classes is not None and a.n_classes != b.n_classes:
        problems.append(f"model A has {a.n_classes} classes, model B {b.n_classes}")
    if a.modality == b.modality == "tabular" and a.feature_names and b.feature_names \
            and tuple(a.feature_names) != tuple(b.feature_names):
        problems.append(f"their features differ ({', '.join(a.feature_names)} against {', '.join(b.feature_names)})")
    if problems:
        raise ValueError("compare needs two versions of one model, taking the same inputs and answering the same "
                         f"question, but {'; '.join(problems)}.")


def _methods(methods: Any) -> list[str]:
    from . import registry

    chosen = [m.strip() for m in methods.split(",")] if isinstance(methods, str) else list(methods or [])
    chosen = list(dict.fromkeys(m for m in chosen if m))
    if not chosen or not all(isinstance(m, str) for m in chosen):
        raise ValueError("methods: name at least one method, e.g. ['kernel_shap'] or 'gradcam,lime_image'.")
    for name in chosen:
        registry.get(name)  # an unknown name fails here, with the known ones
    return chosen


def _as_batch(predictor: Predictor, inputs: Any) -> Any:
    if predictor.modality == "text":
        if isinstance(inputs, str):
            inputs = [inputs]
        batch: Any = [str(t) for t in inputs]
    else:
        batch = np.asarray(inputs)
        shape = tuple(predictor.input_shape or batch.shape[1:])
        if batch.shape == shape:  # one input
            batch = batch[None]
    if len(batch) == 0:
        raise ValueError("compare needs at least one input to explain both models on.")
    return batch


def _targets(a: Predictor, batch: Any, targets: Any) -> Any:
    """Model A's predicted class per input unless given: both models then explain the same class."""
    if targets is not None or a.output == "regression":
        return targets
    outputs = a.predict(batch)
    return [a.default_target(row) for row in outputs]


def _names(a: Predictor, b: Predictor) -> tuple[str, str]:
    name_a, name_b = str(a.name), str(b.name)
    if name_a == name_b:
        return f"{name_a} (A)", f"{name_b} (B)"
    return name_a, name_b


def _comparison(names: tuple[str, str], modality: str, methods: tuple[str, ...], k: int, grid: int,
                found_a: dict[str, list[Explanation]], found_b: dict[str, list[Explanation]]) -> Comparison:
    import pandas as pd

    rows, importance = [], []
    for method in methods:
        pairs = list(zip(found_a[method], found_b[method]))
        rows += [_input_row(i, method, a, b, k) for i, (a, b) in enumerate(pairs)]
        importance.append(_importance(method, modality, pairs, grid))
    per_input = pd.DataFrame(rows, columns=list(PER_INPUT_COLUMNS))
    frame = pd.concat(importance, ignore_index=True) if importance else pd.DataFrame(columns=list(IMPORTANCE_COLUMNS))
    n_inputs = len(found_a[methods[0]])
    return Comparison(names[0], names[1], modality, methods, k, n_inputs, per_input, frame, found_a, found_b,
                      grid if modality == "image" else None)


def _input_row(index: int, method: str, a: Explanation, b: Explanation, k: int) -> dict[str, Any]:
    a, b = _aligned(a, b)
    return {"input": index, "method": method, "target": a.target, "target_name": a.target_name,
            "prediction_a": _predicted(a), "prediction_b": _predicted(b), "units": int(np.size(a.attributions)),
            **rank_correlation(a.attributions, b.attributions), "top_k": topk_agreement(a, b, k)}


def _predicted(e: Explanation) -> float:
    """The explained output: the target's probability (or score), the value for regression."""
    p = np.ravel(np.asarray(e.prediction, dtype=float))
    if e.target is None or p.size == 1:
        value = p[0]
        return float(value if e.target in (None, 1) else 1.0 - value)
    return float(p[e.target])


def _aligned(a: Explanation, b: Explanation) -> tuple[Explanation, Explanation]:
    """Texts the two models read differently (another window): the common leading tokens of both."""
    if a.modality != "text" or np.shape(a.attributions) == np.shape(b.attributions):
        return a, b
    ta, tb = a.tokens(), b.tokens()
    n = 0
    while n < min(len(ta), len(tb)) and ta[n] == tb[n]:
        n += 1
    if n == 0:
        raise ValueError("The two models read none of the same tokens of an input; their explanations cannot be compared.")

    def cut(e: Explanation, tokens: list[str]) -> Explanation:
        return dataclasses.replace(e, attributions=np.asarray(e.attributions)[:n], labels=tuple(tokens[:n]),
                                   data=tuple(tokens[:n]), meta={})

    return cut(a, ta), cut(b, tb)


# ---- global importance --------------------------------------------------------------------------------
def _importance(method: str, modality: str, pairs: list[tuple[Explanation, Explanation]], grid: int) -> "pd.DataFrame":
    import pandas as pd

    if modality == "text":
        units, mean_a, mean_b, counts = _per_token(pairs)
    elif modality == "image":
        units, mean_a, mean_b = _per_region([a for a, _ in pairs], [b for _, b in pairs], grid)
        counts = np.full(len(units), len(pairs))
    else:
        first = pairs[0][0]
        n = int(np.size(first.attributions))
        units = [str(x) for x in first.labels] if first.labels is not None else [f"feature {i}" for i in range(n)]
        mean_a = np.mean([np.abs(np.ravel(a.attributions)) for a, _ in pairs], axis=0)
        mean_b = np.mean([np.abs(np.ravel(b.attributions)) for _, b in pairs], axis=0)
        counts = np.full(n, len(pairs))
    share_a, share_b = _share(mean_a), _share(mean_b)
    frame = pd.DataFrame({"method": method, "unit": units, "importance_a": share_a, "importance_b": share_b,
                          "shift": share_b - share_a, "mean_abs_a": mean_a, "mean_abs_b": mean_b, "count": counts})
    order = frame["shift"].abs().sort_values(ascending=False, kind="stable").index
    return frame.loc[order].reset_index(drop=True)


def _share(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    total = values.sum()
    return values / total if total > 0 else np.zeros_like(values)


def _per_token(pairs: list[tuple[Explanation, Explanation]]) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    """Mean |attribution| per token string, over every occurrence in every input (aligned tokens only)."""
    sums: dict[str, list[float]] = {}
    for a, b in pairs:
        a, b = _aligned(a, b)
        for token, va, vb in zip(a.tokens(), np.abs(np.ravel(a.attributions)), np.abs(np.ravel(b.attributions))):
            entry = sums.setdefault(token, [0.0, 0.0, 0.0])
            entry[0] += float(va)
            entry[1] += float(vb)
            entry[2] += 1
    units = list(sums)
    counts = np.array([sums[t][2] for t in units])
    return (units, np.array([sums[t][0] for t in units]) / counts, np.array([sums[t][1] for t in units]) / counts,
            counts.astype(int))


def _per_region(found_a: list[Explanation], found_b: list[Explanation], grid: int) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Mean |attribution| per cell of a ``grid`` x ``grid`` partition of the image, the audit's region names."""

    def cells(e: Explanation) -> Explanation:
        return by_region(dataclasses.replace(e, attributions=np.abs(np.asarray(e.attributions, dtype=float))), grid)

    regions_a, regions_b = [cells(e) for e in found_a], [cells(e) for e in found_b]
    units = [str(name) for name in (regions_a[0].labels or ())]
    mean_a = np.mean([np.ravel(r.attributions) for r in regions_a], axis=0)
    mean_b = np.mean([np.ravel(r.attributions) for r in regions_b], axis=0)
    return units, mean_a, mean_b
