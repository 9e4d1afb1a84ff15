"""The public verbs: ``explain``, ``explain_batch`` and ``available``.

Everything shared by all methods happens here once: input checks, one batched
forward pass for predictions, default targets (the predicted class), target
checks, timing, provenance, and optional faithfulness scores.
"""
from __future__ import annotations

import time
from collections import OrderedDict
from typing import Any, Sequence

import numpy as np

from . import registry
from .explanation import Explanation
from .inputs import as_batch, check_targets
from .methods.base import Attribution, Method
from .predictor import Predictor, TextView

_RECENT: "OrderedDict[int, tuple[Any, Predictor]]" = OrderedDict()
RECENT_MODELS = 8  # predictors kept for reuse; a bounded cache pins at most this many models


def as_predictor(model: Any, **options: Any) -> Predictor:
    """The :class:`Predictor` for a model, reused across calls so compiled functions are built once.

    Kept in a small least-recently-used cache by identity rather than written
    onto the user's model object (a weak-keyed cache cannot work here: the
    predictor holds the model, so its key would never be freed).
    """
    if isinstance(model, Predictor):
        return model
    if options:
        return Predictor(model, **options)
    entry = _RECENT.get(id(model))
    if entry is not None and entry[0] is model:
        _RECENT.move_to_end(id(model))
        return entry[1]
    predictor = Predictor(model)
    _RECENT[id(model)] = (model, predictor)  # the model is held, so its id cannot be reused while cached
    while len(_RECENT) > RECENT_MODELS:
        _RECENT.popitem(last=False)
    return predictor


def make_method(method: str | Method, **params: Any) -> Method:
    if isinstance(method, Method):
        if params:
            raise TypeError("Pass parameters either to the method object or to explain(), not both.")
        return method
    cls = registry.get(method)
    try:
        return cls(**params)
    except TypeError as exc:
        import dataclasses

        accepted = ", ".join(f.name for f in dataclasses.fields(cls)) or "no parameters"
        raise TypeError(f"{exc}. Method {cls.name!r} accepts: {accepted}.") from None


def explain_batch(
    model: Any,
    inputs: Any,
    method: str | Method = "gradcam",
    targets: Sequence[int | None] | int | None = None,
    *,
    truncate: bool = False,
    scores: bool | Sequence[str] = False,
    store: Any = None,
    **params: Any,
) -> list[Explanation]:
    """Explain many inputs with one method; returns one :class:`Explanation` per input.

    ``targets`` is one class index for all inputs, one per input, or ``None``
    for the predicted class (regression: always ``None``).  ``store`` (an
    :class:`~explain.store.ExplanationStore`, a path, or ``True`` for the default
    path) answers requests already made from the store and computes only the
    missing inputs, in one batched call, saving them for next time.
    """
    predictor = as_predictor(model)
    explainer = make_method(method, **params)
    reason = explainer.applies_to(predictor)
    if reason is not None:
        raise ValueError(f"{reason}. Methods for this model: {', '.join(registry.available(predictor))}.")
    batch, _ = as_batch(predictor, inputs, truncate=truncate)
    if store is not None and store is not False:
        from .store import explain_stored

        return explain_stored(store, predictor, explainer, batch, targets, truncate=truncate, scores=scores,
                              compute=lambda subset, chosen: explain_batch(predictor, subset, explainer, chosen,
                                                                           truncate=truncate, scores=scores))
    model_inputs = [v.text for v in batch] if predictor.modality == "text" else batch
    outputs = predictor.predict(model_inputs)
    if targets is None or isinstance(targets, (int, np.integer)):
        chosen = [predictor.default_target(row) if targets is None else int(targets) for row in outputs]
    else:
        chosen = list(targets)
        if len(chosen) != len(batch):
            raise ValueError(f"Got {len(chosen)} targets for {len(batch)} inputs; pass one per input, one for all, or None.")
    check_targets(predictor, chosen)
    started = time.perf_counter()
    results = explainer.attribute(predictor, batch, chosen)
    seconds = (time.perf_counter() - started) / len(batch)
    explanations = [
        _assemble(predictor, explainer, item, target, output, result, seconds)
        for item, target, output, result in zip(batch, chosen, outputs, results)
    ]
    if scores:
        from .metrics import score_explanations

        wanted = None if scores is True else list(scores)
        options = {}
        method_background = getattr(explainer, "background", None)
        if predictor.modality == "tabular" and predictor.background is None and method_background is not None:
            options["baseline"] = np.asarray(method_background, dtype=np.float64).mean(axis=0)
        explanations = score_explanations(predictor, explanations, metrics=wanted, **options)
    return explanations


def explain(
    model: Any,
    x: Any,
    method: str | Method = "gradcam",
    target: int | None = None,
    *,
    truncate: bool = False,
    scores: bool | Sequence[str] = False,
    store: Any = None,
    **params: Any,
) -> Explanation | list[Explanation]:
    """Explain one input (or, given a batch, each input) of ``model`` with ``method``.

    >>> e = explain(model, image, "lime_image", num_samples=1000, seed=0)   # doctest: +SKIP
    """
    predictor = as_predictor(model)
    _, single = as_batch(predictor, x, truncate=truncate) if not isinstance(x, str) else (None, True)
    results = explain_batch(predictor, x, method, target, truncate=truncate, scores=scores, store=store, **params)
    return results[0] if single else results


def available(model_or_modality: Any) -> list[str]:
    """The method names that apply to a modality or to a model."""
    if not isinstance(model_or_modality, str):
        model_or_modality = as_predictor(model_or_modality)
    return registry.available(model_or_modality)


def _assemble(predictor: Predictor, method: Method, item: Any, target: int | None, output: np.ndarray,
              result: Attribution, seconds: float) -> Explanation:
    from models.provenance import library_versions

    if isinstance(item, TextView):
        data: Any = result.data if result.data is not None else list(item.tokens)
        labels = result.labels if result.labels is not None else item.tokens
        extra = {"text": item.text, "tokens_beyond_window": item.dropped}
    else:
        data = result.data if result.data is not None else item
        labels = result.labels if result.labels is not None else (predictor.feature_names if predictor.modality == "tabular" else None)
        extra = {}
    return Explanation(
        method=method.name,
        modality=predictor.modality,
        target=target,
        attributions=np.asarray(result.attributions, dtype=np.float64),
        data=data,
        labels=tuple(labels) if labels is not None else None,
        prediction=np.asarray(output, dtype=np.float64),
        base_value=None if result.base_value is None else float(result.base_value),
        params=method.params(),
        meta={
            "seconds": seconds,
            "model": predictor.describe(),
            "library_versions": library_versions(),
            "explained_output": predictor.explained_output(target),
            **extra,
            **result.meta,
        },
        target_name=predictor.class_name(target),
    )
