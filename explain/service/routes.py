"""The HTTP endpoints: thin, each a call into :class:`~explain.service.core.Service` and a JSON reply."""
from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import FileResponse, JSONResponse

from ..explanation import Explanation
from .auth import authorize
from .core import Service
from .errors import ServiceError
from .report_jobs import report_file
from .schemas import AnyJob, ExplainRequest, ExplainResponse, JobAccepted, JobStatus, Uploaded

UPLOAD_CHUNK = 1 << 20


def service(request: Request) -> Service:
    return request.app.state.service


def authenticated(request: Request) -> None:
    authorize(service(request).settings, request)


public = APIRouter()
router = APIRouter(dependencies=[Depends(authenticated)])
ServiceDep = Annotated[Service, Depends(service)]


@public.get("/health")
def health(svc: ServiceDep) -> dict[str, Any]:
    """Liveness, and the counters an operator watches (no authentication: it reveals no data)."""
    return {"status": "ok", "queued_jobs": svc.jobs.queued(), "workers": svc.settings.workers,
            "recovered_jobs": {"requeued": svc.recovered[0], "failed": svc.recovered[1]},
            "batches": svc.batcher.batches, "batched_requests": svc.batcher.batched_requests}


@router.get("/models")
def list_models(svc: ServiceDep) -> dict[str, Any]:
    return {"models": svc.models.summaries()}


@router.get("/models/{model_id}")
async def describe_model(model_id: str, svc: ServiceDep) -> dict[str, Any]:
    return await asyncio.get_running_loop().run_in_executor(None, svc.models.describe, model_id)


@router.post("/models", status_code=201, response_model=Uploaded)
async def upload_model(svc: ServiceDep, file: Annotated[UploadFile, File(description="a .keras file")],
                       class_names: Annotated[str | None, Form(description="comma-separated class names")] = None,
                       output: Annotated[str | None, Form(description="logits, probabilities or regression")] = None,
                       ) -> JSONResponse:
    data = await _read_upload(file, svc.settings.max_upload_bytes)
    names = [c.strip() for c in class_names.split(",") if c.strip()] if class_names else None
    loop = asyncio.get_running_loop()
    model_id, created = await loop.run_in_executor(None, svc.models.upload, data, names, output, file.filename)
    description = await loop.run_in_executor(None, svc.models.describe, model_id)
    return JSONResponse({"id": model_id, "created": created, "description": description},
                        status_code=201 if created else 200)


async def _read_upload(file: UploadFile, limit: int) -> bytes:
    chunks, size = [], 0
    while chunk := await file.read(UPLOAD_CHUNK):
        size += len(chunk)
        if size > limit:
            raise ServiceError(413, "model file too large", f"The file is over {limit:,} bytes, this service's limit "
                               "for uploads; ask the operator to raise --max-upload-mb.")
        chunks.append(chunk)
    return b"".join(chunks)


@router.post("/explain", response_model=ExplainResponse)
async def explain(body: ExplainRequest, svc: ServiceDep) -> JSONResponse:
    """Explain a small batch now; past ``deadline_s`` the answer is 504 with a job to poll."""
    return JSONResponse(await svc.explain(body))


@router.get("/explanations/{key}")
def stored_explanation(key: str, svc: ServiceDep) -> JSONResponse:
    found: Explanation | None = svc.store.get(key)
    if found is None:
        raise ServiceError(404, "unknown explanation", f"No stored explanation has key {key!r}; keys are the 'keys' "
                           "of an /explain reply or a job's result.")
    return JSONResponse(found.to_dict())


@router.post("/jobs", status_code=202, response_model=JobAccepted)
async def submit_job(body: AnyJob, svc: ServiceDep) -> JSONResponse:
    """An explain request (``kind`` "explain", the default), an audit (``kind`` "audit") or a report (``kind``
    "report") as a job."""
    job_id = await asyncio.get_running_loop().run_in_executor(None, svc.submit, body)
    return JSONResponse({"id": job_id, "status": "queued", "poll": f"/jobs/{job_id}"}, status_code=202,
                        headers={"Location": f"/jobs/{job_id}"})


@router.get("/jobs/{job_id}", response_model=JobStatus)
def job_status(job_id: str, svc: ServiceDep) -> JSONResponse:
    return JSONResponse(_job(svc, job_id))


@router.get("/jobs/{job_id}/report")
def job_report(job_id: str, svc: ServiceDep) -> FileResponse:
    """The HTML or PDF document a finished report job wrote."""
    path, media_type = report_file(svc.reports_dir, _job(svc, job_id).get("result"))
    return FileResponse(path, media_type=media_type, filename=f"report-{job_id[:8]}{path.suffix}")


@router.delete("/jobs/{job_id}", response_model=JobStatus)
def cancel_job(job_id: str, svc: ServiceDep) -> JSONResponse:
    """Cancel: a queued job never runs; a running one is marked cancelled and its result discarded."""
    _job(svc, job_id)
    svc.jobs.cancel(job_id)
    return JSONResponse(_job(svc, job_id))


def _job(svc: Service, job_id: str) -> dict[str, Any]:
    job = svc.jobs.get(job_id)
    if job is None:
        raise ServiceError(404, "unknown job", f"No job {job_id!r}; POST /jobs returns the id to poll.")
    return job
