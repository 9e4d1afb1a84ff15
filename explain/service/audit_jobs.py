"""Audit jobs: :func:`explain.audit` on the service's store, its table returned as JSON records.

Checked at submission the way an explain request is (each method through :meth:`Engine.prepare`: the service's
limits, the methods' own validation, the inputs), so a mistake fails with 422 at once, not in the queue.
"""
from __future__ import annotations

import json
from typing import Any

import numpy as np

from ..audit import audit, audit_summary, check_metrics
from .engine import Engine
from .errors import from_engine
from .schemas import AuditJobRequest, ExplainRequest


def check(engine: Engine, body: AuditJobRequest) -> None:
    try:
        check_metrics(body.metrics)
    except ValueError as exc:
        raise from_engine(exc) from exc
    for method in body.methods:
        engine.prepare(ExplainRequest(model=body.model, inputs=body.inputs, method=method,
                                      params=body.params.get(method, {}), truncate=body.truncate,
                                      scores=body.metrics or False, targets=None, deadline_s=None), as_job=True)


def run(engine: Engine, body: AuditJobRequest, client: Any = None) -> dict[str, Any]:
    """The audit's rows and its summary tables (NaN as null)."""
    check(engine, body)
    predictor = engine.models.predictor(body.model)
    inputs = body.inputs if predictor.modality == "text" else np.asarray(body.inputs, dtype=np.float32)
    try:
        frame = audit(engine.models.source(body.model) if client else predictor, inputs,
                      None if body.labels is None else np.asarray(body.labels), methods=body.methods,
                      metrics=body.metrics, params=body.params, top_k=body.top_k, truncate=body.truncate,
                      store=engine.store, client=client, models_dir=engine.settings.models_dir, progress=False)
    except (ValueError, TypeError) as exc:
        raise from_engine(exc) from exc
    return {"kind": "audit", "model": body.model, "methods": body.methods, "rows": _records(frame),
            "summary": {name: _records(table) for name, table in audit_summary(frame).items()}}


def _records(frame: Any) -> list[dict[str, Any]]:
    return json.loads(frame.to_json(orient="records"))
