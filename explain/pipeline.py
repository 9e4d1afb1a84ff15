"""The one path every explanation request takes, whoever makes it (Python, dashboard, reports, audits, CLI).

In a single order: the inputs are validated once (:func:`prepare`), keys are
computed and the store is looked up (:func:`run`), only what is missing is
computed in one batched call (:func:`compute_local`: one forward pass for the
predictions and default targets, then the method), scored, stored and returned
in the caller's order.  No step calls back into an earlier one; an audit on a
cluster only swaps the compute step for one that runs on the workers.
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from . import activity, provenance, registry
from .adapters import as_predictor
from .evaluation.scoring import score_explanations
from .explanation import Explanation
from .inputs import as_batch, check_requested_targets, check_targets
from .methods.base import Attribution, Method
from .predictor import Predictor, TextView

@dataclass(frozen=True)
class Request:
    """A validated request: the predictor, the method, the checked inputs and one requested target per input."""

    predictor: Predictor
    method: Method
    inputs: Any  # a float array (n, ...) or a list of TextView
    targets: tuple[int | None, ...]  # None: the predicted class
    truncate: bool = False
    scores: bool | tuple[str, ...] = False

    def subset(self, positions: Sequence[int]) -> "Request":
        inputs = [self.inputs[i] for i in positions] if self.is_text else np.asarray(self.inputs)[list(positions)]
        return dataclasses.replace(self, inputs=inputs, targets=tuple(self.targets[i] for i in positions))

    @property
    def is_text(self) -> bool:
        return self.predictor.modality == "text"

    def raw_inputs(self) -> Any:
        """The inputs as a caller passes them (texts as strings): what a remote worker is sent."""
        return [view.text for view in self.inputs] if self.is_text else np.asarray(self.inputs)


Compute = Callable[[Request], Sequence[Explanation]]


# ---- 1. validate once -------------------------------------------------------------------------------
def make_method(method: str | Method, **params: Any) -> Method:
    """A method object from its name and parameters (validated by the method's declarations)."""
    if isinstance(method, Method):
        if params:
            raise TypeError("Pass parameters either to the method object or to explain(), not both.")
        return method
    cls = registry.get(method)
    try:
        return cls(**params)
    except TypeError as exc:
        if "unexpected keyword" not in str(exc):
            raise
        accepted = ", ".join(f.name for f in dataclasses.fields(cls)) or "no parameters"
        unknown = sorted(set(params) - {f.name for f in dataclasses.fields(cls)})
        raise TypeError(f"Method {cls.name!r} has no parameter {', '.join(map(repr, unknown)) or str(exc)}; "
                        f"it accepts: {accepted}.") from None


def prepare(model: Any, inputs: Any, method: str | Method, targets: Sequence[int | None] | int | None = None, *,
            truncate: bool = False, scores: bool | Sequence[str] = False, **params: Any) -> tuple[Request, bool]:
    """``(request, was_single)``: every check a request needs, done once, before any work."""
    predictor = as_predictor(model)
    explainer = make_method(method, **params)
    reason = explainer.applies_to(predictor)
    if reason is not None:
        raise ValueError(f"{reason}. Methods for this model: {', '.join(registry.available(predictor))}.")
    batch, single = as_batch(predictor, inputs, truncate=truncate)
    requested = per_input_targets(targets, len(batch))
    check_requested_targets(predictor, requested)
    wanted = scores if isinstance(scores, bool) else tuple(scores)
    return Request(predictor, explainer, batch, tuple(requested), bool(truncate), wanted), single


def per_input_targets(targets: Sequence[int | None] | int | None, n: int) -> list[int | None]:
    """The requested target of each input (``None``: the predicted class)."""
    if isinstance(targets, (bool, np.bool_, str, bytes, float, np.floating)) or not (
            targets is None or isinstance(targets, (int, np.integer, Sequence, np.ndarray))):
        raise TypeError(f"target must be a class index (int), a list with one per input, or None; got {targets!r}.")
    if targets is None or isinstance(targets, (int, np.integer)):
        return [None if targets is None else int(targets)] * n
    chosen = list(targets)
    if len(chosen) != n:
        raise ValueError(f"Got {len(chosen)} targets for {n} inputs; pass one per input, one for all, or None.")
    return chosen


# ---- 2-5. keys, store, compute what is missing, store ---------------------------------------------------
def run(request: Request, store: Any = None, compute: Compute | None = None) -> list[Explanation]:
    """The explanations of a request: stored ones read back, the missing ones computed by ONE ``compute`` call."""
    return run_with_hits(request, store, compute)[0]


def run_with_hits(request: Request, store: Any = None, compute: Compute | None = None,
                  ) -> tuple[list[Explanation], list[bool]]:
    """:func:`run`, also saying which explanations came from the store (read once, not probed beforehand)."""
    with activity.request_running():  # the background warm-up waits while a user's request runs
        return _run_with_hits(request, store, compute or compute_local)


def _run_with_hits(request: Request, store: Any, compute: Compute) -> tuple[list[Explanation], list[bool]]:
    if store is None or store is False:
        return list(compute(request)), [False] * len(request.inputs)
    from .store import opened, request_keys

    with opened(store) as db:
        keys = request_keys(request)
        found = db.get_many(keys)
        hits = [key.digest in found for key in keys]
        first: dict[str, int] = {}  # an input given twice is computed once
        for i, key in enumerate(keys):
            if key.digest not in found:
                first.setdefault(key.digest, i)
        todo = list(first.values())
        if todo:
            fresh = list(compute(request.subset(todo)))
            db.put_many(zip((keys[i] for i in todo), fresh))
            found.update((keys[i].digest, e) for i, e in zip(todo, fresh))
    return [found[key.digest] for key in keys], hits


def compute_local(request: Request) -> list[Explanation]:
    """One forward pass (predictions, default targets), the method on the whole batch, then the scores."""
    predictor, method = request.predictor, request.method
    outputs = predictor.predict(request.raw_inputs() if request.is_text else request.inputs)
    chosen = [predictor.default_target(row) if t is None else t for row, t in zip(outputs, request.targets)]
    check_targets(predictor, chosen)
    started = time.perf_counter()
    results = method.attribute(predictor, request.inputs, chosen)
    seconds = (time.perf_counter() - started) / max(1, len(chosen))
    explanations = [assemble(predictor, method, item, target, output, result, seconds)
                    for item, target, output, result in zip(request.inputs, chosen, outputs, results)]
    if request.scores:
        wanted = list(request.scores) if isinstance(request.scores, tuple) else None
        explanations = score_explanations(predictor, explanations, metrics=wanted, **_scoring_options(request))
    return explanations


def _scoring_options(request: Request) -> dict[str, Any]:
    """Tabular deletion fills removed features with the background mean: the method's own, if the predictor has none."""
    method_background = getattr(request.method, "background", None)
    if request.predictor.modality == "tabular" and request.predictor.background is None and method_background is not None:
        return {"baseline": np.asarray(method_background, dtype=np.float64).mean(axis=0)}
    return {}


def assemble(predictor: Predictor, method: Method, item: Any, target: int | None, output: np.ndarray,
             result: Attribution, seconds: float) -> Explanation:
    """The Explanation of one input: the method's attributions plus everything the API knows about the request."""
    labels: Sequence[str] | None
    if isinstance(item, TextView):
        data: Any = result.data if result.data is not None else list(item.tokens)
        labels = result.labels if result.labels is not None else item.tokens
        extra = {"text": item.text, "tokens_beyond_window": item.dropped}
    else:
        data = result.data if result.data is not None else item
        labels = result.labels if result.labels is not None else (predictor.feature_names if predictor.modality == "tabular" else None)
        extra = {}
    return Explanation(
        method=method.name, modality=predictor.modality, target=target,
        attributions=np.asarray(result.attributions, dtype=np.float64), data=data,
        labels=tuple(labels) if labels is not None else None, prediction=np.asarray(output, dtype=np.float64),
        base_value=None if result.base_value is None else float(result.base_value), params=method.params(),
        meta={"seconds": seconds, "model": predictor.describe(), "library_versions": provenance.library_versions(),
              "explained_output": predictor.explained_output(target), **extra, **result.meta},
        target_name=predictor.class_name(target),
    )
