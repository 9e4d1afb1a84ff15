"""Auditing a model over many inputs: one row per input and method, as a pandas DataFrame.

Nothing here explains anything itself: each chunk of inputs is one request
through :mod:`explain.pipeline` (with ``scores=``), and each Explanation becomes a row.  Chunks keep memory bounded on 10,000 inputs,
and each chunk is saved to the :mod:`explain.store` as soon as it is done, so an
interrupted audit run again computes only what is missing.

Scale-out: given a ``dask.distributed`` Client (or a scheduler address), chunks
run on the cluster (:mod:`.cluster`); results become the same rows as a local
run.  :mod:`.summary` aggregates the table.
"""
from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np

from .. import registry
from ..adapters import as_predictor
from ..evaluation.scoring import METRICS
from ..explanation import Explanation
from ..methods.base import Method
from ..pipeline import make_method, per_input_targets, prepare
from ..pipeline import run as run_request
from ..predictor import Predictor
from ..regions import by_region
from ..store import StoreLike, opened, uses_background
from .cluster import Cluster, Local
from .summary import SCORE_COLUMNS, audit_summary

__all__ = ["DEFAULT_CHUNK", "DEFAULT_METRICS", "SCORE_COLUMNS", "audit", "audit_summary", "check_metrics"]

if TYPE_CHECKING:
    import pandas as pd

DEFAULT_CHUNK = 256
DEFAULT_METRICS = ("deletion",)


# ---- the audit -------------------------------------------------------------------------------------
def audit(
    model: Any,
    X: Any,
    y: Any = None,
    *,
    methods: str | Method | Sequence[str | Method],
    metrics: Sequence[str] = DEFAULT_METRICS,
    params: Mapping[str, Mapping[str, Any]] | None = None,
    targets: Sequence[int | None] | int | None = None,
    top_k: int = 5,
    regions: int = 4,
    truncate: bool = False,
    chunk_size: int = DEFAULT_CHUNK,
    store: StoreLike = True,
    client: Any = None,
    models_dir: str | Path | None = None,
    progress: bool = True,
) -> "pd.DataFrame":
    """Explain every input of ``X`` with every method, score the explanations, and return one row each.

    Columns: ``input`` (position in ``X``), ``method``, ``target``/``target_name``
    (the class explained); ``predicted``, ``predicted_name``, ``probability`` and,
    with ``y``, ``label`` and ``correct`` (classifiers) or ``prediction`` and
    ``label``, ``error``, ``abs_error`` (regression); ``top_features`` /
    ``top_values`` (the ``top_k`` strongest tokens, features, or image regions of
    a ``regions`` x ``regions`` grid); the scores ``metrics`` asks for
    (``deletion_auc``, ``deletion_random_auc``, ``deletion_gain``...); ``seconds``
    (the method's runtime per input).

    ``params`` maps a method name to its parameters, e.g. ``{"lime_image":
    {"num_samples": 500}}``.  ``store``: an ExplanationStore, a path, ``True``
    (the default store) or ``None`` (no persistence, no resuming).  ``client``: a
    ``dask.distributed.Client`` or a scheduler address; ``models_dir`` tells
    workers where a reference model lives.
    """
    from tqdm.auto import tqdm

    predictor = as_predictor(model)
    explainers = _explainers(predictor, methods, params)
    X, labels, scores = _checked(predictor, X, y, targets, metrics, (chunk_size, top_k, regions))
    target_list = None if targets is None or isinstance(targets, (int, np.integer)) else list(targets)
    jobs = [(start, explainer) for start in range(0, len(X), chunk_size) for explainer in explainers]
    runner = _runner(client, model, predictor, models_dir, explainers, scores)
    keep = store is not None and store is not False
    rows: list[dict[str, Any]] = []
    with runner, (opened(store) if keep else contextlib.nullcontext()) as db, \
            tqdm(total=len(X) * len(explainers), unit="explanation", desc="audit", disable=not progress) as bar:

        def run(job: tuple[int, Method]) -> list[dict[str, Any]]:
            start, explainer = job
            stop = min(start + chunk_size, len(X))
            chosen = targets if target_list is None else target_list[start:stop]
            request, _ = prepare(predictor, X[start:stop], explainer, chosen, truncate=truncate, scores=scores)
            explanations = run_request(request, db, compute=runner.compute)
            return [_row(predictor, e, start + i, labels, top_k, regions) for i, e in enumerate(explanations)]

        for chunk_rows in runner.map(run, jobs):
            rows += chunk_rows
            bar.update(len(chunk_rows))
    return _frame(rows, [e.name for e in explainers])


def _checked(predictor: Predictor, X: Any, y: Any, targets: Any, metrics: Sequence[str],
             sizes: tuple[int, int, int]) -> tuple[Any, np.ndarray | None, bool | list[str]]:
    """Everything an audit checks before its first chunk: a mistake fails now, not after hours."""
    X = _check_inputs(predictor, X)
    labels = _check_labels(predictor, y, len(X))
    per_input_targets(targets, len(X))
    if min(sizes) < 1:
        raise ValueError("chunk_size, top_k and regions must be at least 1, got {}, {}, {}.".format(*sizes))
    return X, labels, check_metrics(metrics)


def _runner(client: Any, model: Any, predictor: Predictor, models_dir: str | Path | None, explainers: list[Method],
            scores: bool | list[str]) -> Local | Cluster:
    if client is None:
        return Local(predictor)
    background = any(uses_background(predictor, e, scores) for e in explainers)  # then workers need it too
    return Cluster(client, model, predictor, models_dir, background)


def _frame(rows: list[dict[str, Any]], methods: list[str]) -> "pd.DataFrame":
    """The rows ordered by input, then by method in the order asked for (chunks may finish in any order)."""
    import pandas as pd

    frame = pd.DataFrame(rows)
    order = frame["method"].map({name: i for i, name in enumerate(methods)})
    return frame.assign(_order=order).sort_values(["input", "_order"], kind="stable").drop(columns="_order") \
        .reset_index(drop=True)


# ---- checks -----------------------------------------------------------------------------------------
def _explainers(predictor: Predictor, methods: Any, params: Mapping[str, Mapping[str, Any]] | None) -> list[Method]:
    if isinstance(methods, str):
        methods = [m.strip() for m in methods.split(",") if m.strip()]
    elif isinstance(methods, Method):
        methods = [methods]
    methods = list(methods or [])
    known = ", ".join(registry.available(predictor))
    if not methods:
        raise ValueError(f"No methods to audit: pass methods=[...], e.g. some of: {known}.")
    names = [m if isinstance(m, str) else m.name for m in methods]
    if len(set(names)) != len(names):
        raise ValueError(f"methods lists a method twice: {names}.")
    params = dict(params or {})
    stray = set(params) - set(names)
    if stray:
        raise ValueError(f"params names methods that are not audited: {sorted(stray)}; audited methods: {names}.")
    explainers = [make_method(m, **params.get(name, {})) for m, name in zip(methods, names)]
    for explainer in explainers:
        reason = explainer.applies_to(predictor)
        if reason is not None:
            raise ValueError(f"{reason}. Methods for this model: {known}.")
    return explainers


def _check_inputs(predictor: Predictor, X: Any) -> Any:
    """``X`` as a sliceable batch; each chunk is fully validated (NaN, tokens...) when it is explained."""
    if predictor.modality == "text":
        if isinstance(X, str):
            raise TypeError("X is one text; audit takes a list of texts (wrap it: [text]).")
        X = list(np.asarray(X, dtype=object).ravel()) if isinstance(X, np.ndarray) else list(X)
    else:
        X = np.asarray(X.to_numpy() if hasattr(X, "to_numpy") else X)
        if X.dtype == object or not (np.issubdtype(X.dtype, np.number) or X.dtype == bool):
            raise TypeError(f"X must be a numeric array, got dtype {X.dtype}.")
        expected = predictor.input_shape
        wanted = (len(expected) + 1) if expected is not None else (2 if predictor.modality == "tabular" else None)
        if (expected is not None and X.shape[1:] != tuple(expected)) or (wanted is not None and X.ndim != wanted):
            shape = f"(n, {', '.join(map(str, expected))})" if expected is not None else f"({wanted} dimensions)"
            raise ValueError(f"X must be a batch of inputs of shape {shape}; got shape {X.shape}. For one input, pass X[None].")
    if len(X) == 0:
        raise ValueError("X is empty: pass at least one input to audit.")
    return X


def _check_labels(predictor: Predictor, y: Any, n: int) -> np.ndarray | None:
    if y is None:
        return None
    labels = np.asarray(y.to_numpy() if hasattr(y, "to_numpy") else y)
    if labels.ndim > 1 and labels.shape[1:] == (1,) * (labels.ndim - 1):
        labels = labels.reshape(len(labels))
    if labels.ndim != 1 or len(labels) != n:
        raise ValueError(f"y must hold one label per input: {n} labels, got shape {labels.shape}.")
    if not np.issubdtype(labels.dtype, np.number):
        raise TypeError(f"y must be numeric (class indices or target values), got dtype {labels.dtype}.")
    if predictor.n_classes is not None:
        if not np.all(np.mod(labels, 1) == 0) or labels.min() < 0 or labels.max() >= predictor.n_classes:
            raise ValueError(f"y must hold class indices 0 to {predictor.n_classes - 1} for this classifier; "
                             f"got values from {labels.min()} to {labels.max()}.")
        return labels.astype(int)
    return labels.astype(np.float64)


def check_metrics(metrics: Sequence[str]) -> bool | list[str]:
    """The ``scores=`` value for ``metrics``; the command line calls it to fail before loading any data."""
    wanted = [metrics] if isinstance(metrics, str) else list(metrics or [])
    unknown = [m for m in wanted if m not in METRICS]
    if unknown:
        raise ValueError(f"Unknown metrics {unknown}; known metrics: {', '.join(METRICS)}.")
    return sorted(set(wanted)) or False


# ---- one row per explanation ----------------------------------------------------------------------------
def _row(predictor: Predictor, e: Explanation, position: int, labels: np.ndarray | None, top_k: int,
         regions: int) -> dict[str, Any]:
    top = (by_region(e, regions) if e.modality == "image" else e).top(top_k)
    return {
        "input": position, "method": e.method, "target": e.target, "target_name": e.target_name,
        **_outcome(predictor, np.asarray(e.prediction), None if labels is None else labels[position]),
        "top_features": [name for name, _ in top], "top_values": [value for _, value in top],
        **e.scores, "seconds": e.meta.get("seconds"),
    }


def _outcome(predictor: Predictor, prediction: np.ndarray, label: Any) -> dict[str, Any]:
    if predictor.output == "regression":
        value = float(prediction.ravel()[0])
        if label is None:
            return {"prediction": value}
        return {"prediction": value, "label": float(label), "error": value - float(label), "abs_error": abs(value - float(label))}
    predicted = predictor.default_target(prediction)
    outcome = {"predicted": predicted, "predicted_name": predictor.class_name(predicted),
               "probability": float(predictor.target_scores(prediction[None], predicted)[0])}
    if label is not None:
        outcome.update(label=int(label), correct=predicted == int(label))
    return outcome
