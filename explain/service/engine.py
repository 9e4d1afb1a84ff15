"""JSON requests onto the one engine path: :func:`explain.pipeline.prepare` validates, :func:`explain.pipeline.run`
answers from the store or computes what is missing.  The service adds only its own limits (batch size, sample
ceilings) and the quality fields of the reply."""
from __future__ import annotations

import math
import time
from typing import Any, Callable, Sequence

import numpy as np

from .. import pipeline
from ..explanation import Explanation
from ..store import ExplanationStore, request_keys
from .config import SAMPLE_PARAMS, ServiceSettings
from .errors import ServiceError, from_engine
from .model_registry import ModelRegistry
from .schemas import ExplainRequest

Progress = Callable[[float], None]


class Cancelled(Exception):
    """A running job was cancelled between two chunks; its partial result is discarded."""


class Engine:
    """Validated requests in, reply payloads out; every explanation goes through the explanation store."""

    def __init__(self, settings: ServiceSettings, models: ModelRegistry, store: ExplanationStore) -> None:
        self.settings, self.models, self.store = settings, models, store

    def prepare(self, body: ExplainRequest, *, as_job: bool = False) -> pipeline.Request:
        """The engine's Request for a body, after the service's own limits; the engine's errors become 422."""
        limit = self.settings.max_job_batch if as_job else self.settings.max_batch
        if not body.inputs:
            raise ServiceError(422, "invalid request", "inputs is empty; send a list of at least one input.")
        if len(body.inputs) > limit:
            hint = "" if as_job else f" or submit a job (POST /jobs takes up to {self.settings.max_job_batch})"
            raise ServiceError(413, "too many inputs", f"{len(body.inputs)} inputs in one request; this endpoint "
                               f"takes at most {limit}. Split the batch{hint}.")
        self._check_ceilings(body.params, as_job)
        predictor = self.models.predictor(body.model)
        try:  # the engine checks the inputs (types, shape, finiteness), the method and its parameters, the targets
            request, single = pipeline.prepare(predictor, body.inputs, body.method, body.targets, truncate=body.truncate,
                                               scores=body.scores, **body.params)
        except (ValueError, TypeError, KeyError) as exc:
            raise from_engine(exc) from exc
        if single and len(body.inputs) != 1:
            raise ServiceError(422, "invalid request", f"inputs is read as ONE input of shape {predictor.input_shape}; "
                               "inputs is a list of inputs: wrap it in a list ([input]).")
        return request

    def _check_ceilings(self, params: dict[str, Any], as_job: bool) -> None:
        ceiling = self.settings.ceiling(as_job)
        for name in SAMPLE_PARAMS:
            value = params.get(name)
            if isinstance(value, (int, float)) and not isinstance(value, bool) and value > ceiling:
                hint = (f"; or submit a job (POST /jobs), whose ceiling is {self.settings.job_sample_ceiling:,}"
                        if not as_job else "")
                raise ServiceError(422, "invalid request", f"parameter {name!r} is {value:,}, above this service's "
                                   f"ceiling of {ceiling:,}. Lower it{hint}.")

    def run(self, request: pipeline.Request, body: ExplainRequest, *, chunk: int | None = None,
            progress: Progress | None = None, cancelled: Callable[[], bool] | None = None,
            compute: pipeline.Compute | None = None) -> dict[str, Any]:
        """The reply payload; with ``chunk``, computed a few inputs at a time (progress, cancellation between)."""
        started = time.perf_counter()
        n = len(request.targets)
        step = chunk or n
        explanations: list[Explanation] = []
        cached: list[bool] = []
        keys: list[str] = []
        for start in range(0, n, step):
            if cancelled is not None and cancelled():
                raise Cancelled()
            part = request.subset(range(start, min(n, start + step))) if step < n else request
            found, hits, digests = self.explain(part, compute)
            explanations += found
            cached += hits
            keys += digests
            if progress is not None:
                progress(min(n, start + step) / n)
        return reply(body, explanations, keys, cached, time.perf_counter() - started)

    def explain(self, request: pipeline.Request, compute: pipeline.Compute | None = None,
                ) -> tuple[list[Explanation], list[bool], list[str]]:
        """``(explanations, from the store?, store keys)``, through the engine's one path (``compute``: where the
        missing ones are computed, e.g. on a Dask cluster; default here)."""
        digests = [key.digest for key in request_keys(request)]
        try:
            found, hits = pipeline.run_with_hits(request, self.store, compute)
        except (ValueError, TypeError) as exc:  # e.g. a method that needs background data the model has not got
            raise from_engine(exc) from exc
        return found, hits, digests


def reply(body: ExplainRequest, explanations: Sequence[Explanation], keys: Sequence[str], cached: Sequence[bool],
          seconds: float) -> dict[str, Any]:
    return {"model": body.model, "method": body.method, "explanations": [e.to_dict() for e in explanations],
            "keys": list(keys), "cached": list(cached), "quality": [quality(e) for e in explanations],
            "seconds": seconds}


def quality(e: Explanation) -> dict[str, Any]:
    """The figures a caller judges an explanation by, where the explanation has them (else null)."""
    scores, meta = dict(e.scores), dict(e.meta)
    seed = e.params.get("seed")
    return {"seed": seed if isinstance(seed, int) else None, "faithfulness_gain": _finite(scores.get("deletion_gain")),
            "deletion_auc": _finite(scores.get("deletion_auc")),
            "deletion_random_auc": _finite(scores.get("deletion_random_auc")),
            "additivity_gap": _finite(scores.get("additivity_error")),
            "completeness_gap": _finite(meta.get("completeness_gap"))}


def _finite(value: Any) -> float | None:
    if isinstance(value, (int, float, np.floating)) and math.isfinite(float(value)):
        return float(value)
    return None
