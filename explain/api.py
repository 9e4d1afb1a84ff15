"""The public verbs: ``explain``, ``explain_batch`` and ``available``.

Each is a thin entry into :mod:`explain.pipeline`, the one path every request
takes: validated once, looked up in the store, computed (only what is missing,
in one batched call), scored, stored.
"""
from __future__ import annotations

from typing import Any, Sequence

from . import pipeline, registry
from .adapters import as_predictor
from .explanation import Explanation
from .methods.base import Method
from .pipeline import make_method

__all__ = ["as_predictor", "available", "explain", "explain_batch", "make_method"]


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
    request, _ = pipeline.prepare(model, inputs, method, targets, truncate=truncate, scores=scores, **params)
    return pipeline.run(request, store)


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
    request, single = pipeline.prepare(model, x, method, target, truncate=truncate, scores=scores, **params)
    results = pipeline.run(request, store)
    return results[0] if single else results


def available(model_or_modality: Any) -> list[str]:
    """The method names that apply to a modality or to a model."""
    if not isinstance(model_or_modality, str):
        model_or_modality = as_predictor(model_or_modality)
    return registry.available(model_or_modality)
