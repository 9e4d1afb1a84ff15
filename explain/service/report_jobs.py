"""Report jobs: the inputs explained by each method (through the store, like every request), then an HTML or PDF
report written beside the jobs table and downloaded from ``GET /jobs/{id}/report``.

The file, not the job row, holds the document (a report with a hundred figures is megabytes); the row says where it
is, how big and its SHA-256, so a download can be checked.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any

from .engine import Engine
from .errors import ServiceError, from_engine
from .schemas import ExplainRequest, ReportJobRequest

MEDIA_TYPES = {"html": "text/html; charset=utf-8", "pdf": "application/pdf"}


def _requests(body: ReportJobRequest) -> list[ExplainRequest]:
    return [ExplainRequest(model=body.model, inputs=body.inputs, method=method, params=body.params.get(method, {}),
                           targets=body.targets, scores=body.scores, truncate=body.truncate, deadline_s=None)
            for method in body.methods]


def check(engine: Engine, body: ReportJobRequest) -> None:
    """Every method's request as the worker will make it: a mistake is a 422 at submission."""
    for request in _requests(body):
        engine.prepare(request, as_job=True)


def run(engine: Engine, body: ReportJobRequest, folder: Path, job_id: str) -> dict[str, Any]:
    from .. import report

    explanations = []
    for request_body in _requests(body):
        found, _, _ = engine.explain(engine.prepare(request_body, as_job=True))
        explanations += found
    predictor = engine.models.predictor(body.model)
    options = dict(model=predictor, true_labels=body.labels, title=body.title, score=bool(body.scores))
    try:
        document = (report.build_pdf(explanations, **options) if body.format == "pdf"
                    else report.build_html(explanations, **options).encode("utf-8"))
    except (ValueError, TypeError) as exc:
        raise from_engine(exc) from exc
    path = _write(folder, f"{job_id}.{body.format}", document)
    return {"kind": "report", "model": body.model, "methods": body.methods, "format": body.format,
            "bytes": len(document), "sha256": hashlib.sha256(document).hexdigest(), "download": f"/jobs/{job_id}/report",
            "file": path.name}


def report_file(folder: Path, result: dict[str, Any] | None) -> tuple[Path, str]:
    """The finished report's file and media type, or a 404/409 that says why there is none."""
    if not result or result.get("kind") != "report":
        raise ServiceError(409, "no report", "This job has no report yet: wait until its status is 'done' (and it "
                           "must be a job of kind 'report').")
    path = folder / str(result["file"])
    if not path.is_file():
        raise ServiceError(404, "report missing", f"The report file {path.name} is gone from the server; submit "
                           "the job again (its explanations come back from the store).")
    return path, MEDIA_TYPES[str(result["format"])]


def _write(folder: Path, name: str, document: bytes) -> Path:
    """Atomically: a crash never leaves half a report under the name the job row gives."""
    folder.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{name}.", dir=folder)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(document)
        os.replace(temporary, folder / name)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return folder / name
