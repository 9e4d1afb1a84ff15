"""The service's parts wired together: models, store, engine, jobs and the two pools that compute.

Synchronous requests compute on a small thread pool and are waited for up to their deadline; past it the
computation is not thrown away but adopted as a job (its row says "running"), whose id the caller polls.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
from pathlib import Path
from typing import Any

from ..audit.cluster import Cluster
from ..settings import warm_up_enabled
from ..store import ExplanationStore, uses_background
from ..warmup import start_warm_up
from .batcher import MicroBatcher
from .config import ServiceSettings
from .engine import Engine
from .errors import ServiceError
from .jobs import JobStore, WorkerPool
from .model_registry import ModelRegistry
from . import audit_jobs, report_jobs
from .schemas import AuditJobRequest, ExplainRequest, JobRequest, ReportJobRequest

LOG = logging.getLogger("explain.service")


class Service:
    """One per process: built by :func:`explain.service.create_app`, started and stopped with the app."""

    def __init__(self, settings: ServiceSettings) -> None:
        self.settings = settings
        self.models = ModelRegistry(settings)
        self.store = ExplanationStore(settings.store_file)
        self.engine = Engine(settings, self.models, self.store)
        self.jobs = JobStore(settings.jobs_file)
        self.pool = WorkerPool(self.jobs, self.run_job, settings.workers)
        self.compute = concurrent.futures.ThreadPoolExecutor(max(1, settings.sync_threads), thread_name_prefix="explain-sync")
        self.batcher = MicroBatcher(self.engine, self.compute, settings.batch_window_s, settings.batch_max)
        self.recovered = (0, 0)

    def start(self) -> None:
        self.recovered = self.jobs.recover(self.settings.max_attempts)
        if any(self.recovered):
            LOG.warning("recovered interrupted jobs: %d re-queued, %d failed", *self.recovered)
        self.pool.start()
        if warm_up_enabled():
            start_warm_up()  # Keras's import and shap's numba compilation, before the first request needs them

    def stop(self) -> None:
        self.pool.stop()
        self.compute.shutdown(wait=False, cancel_futures=True)
        self.jobs.close()
        self.store.close()

    # ---- synchronous ---------------------------------------------------------------------------
    async def explain(self, body: ExplainRequest) -> dict[str, Any]:
        """The reply within the deadline, else a 504 that names the job now computing it."""
        loop = asyncio.get_running_loop()
        request = await loop.run_in_executor(None, self.engine.prepare, body)  # may load a model: off the loop
        deadline = min(body.deadline_s or self.settings.default_deadline_s, self.settings.max_deadline_s)
        future = self.batcher.submit(request, body)
        done, _ = await asyncio.wait({asyncio.wrap_future(future)}, timeout=deadline)
        if done:
            return done.pop().result()
        job_id = self._adopt(body, future)
        raise ServiceError(504, "deadline exceeded", f"The explanation took longer than {deadline:g} s; it goes on as "
                           f"job {job_id}: poll GET /jobs/{job_id} for the result (or send a longer deadline_s).",
                           extra={"job": job_id, "poll": f"/jobs/{job_id}"})

    def _adopt(self, body: ExplainRequest, future: concurrent.futures.Future) -> str:
        """A job for a computation already under way (or a queued job, if it had not started)."""
        if future.cancel():
            return self.submit(JobRequest(**body.model_dump()))
        job_id = self.jobs.submit("explain", JobRequest(**body.model_dump()).model_dump(), running=True)

        def settle(done: concurrent.futures.Future) -> None:
            try:
                self.jobs.finish(job_id, done.result())
            except ServiceError as exc:
                self.jobs.fail(job_id, {"error": exc.error, "detail": exc.detail, "status": exc.status})
            except Exception as exc:  # logged here, reported as a short message
                LOG.error("adopted job %s failed", job_id, exc_info=True)
                self.jobs.fail(job_id, {"error": "internal error", "detail": f"{type(exc).__name__}; see the server log."})

        future.add_done_callback(settle)
        return job_id

    # ---- jobs ---------------------------------------------------------------------------------
    def submit(self, body: JobRequest | AuditJobRequest | ReportJobRequest) -> str:
        """Queue a job after checking it as the worker will (a bad request fails now, not later)."""
        if self.jobs.queued() >= self.settings.queue_limit:
            raise ServiceError(429, "queue full", f"{self.settings.queue_limit} jobs are already waiting; retry "
                               "later (see Retry-After).", headers={"Retry-After": str(self.retry_after())})
        if isinstance(body, AuditJobRequest):
            audit_jobs.check(self.engine, body)
        elif isinstance(body, ReportJobRequest):
            report_jobs.check(self.engine, body)
        else:
            self.engine.prepare(body, as_job=True)
        job_id = self.jobs.submit(body.kind, body.model_dump())
        self.pool.notify()
        return job_id

    @property
    def reports_dir(self) -> Path:
        """Where report jobs write their documents: beside the jobs table."""
        return self.settings.jobs_file.parent / "reports"

    def retry_after(self) -> int:
        return max(1, min(300, self.jobs.queued() // max(1, self.settings.workers)))

    def run_job(self, job_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """One job, a chunk at a time, here or (with a scheduler configured) on the Dask cluster."""
        if body.get("kind") in ("audit", "report"):
            result = (audit_jobs.run(self.engine, AuditJobRequest(**body), self.settings.scheduler)
                      if body["kind"] == "audit" else
                      report_jobs.run(self.engine, ReportJobRequest(**body), self.reports_dir, job_id))
            self.jobs.progress(job_id, 1.0)
            return result
        request_body = JobRequest(**body)
        request = self.engine.prepare(request_body, as_job=True)
        with contextlib.ExitStack() as stack:
            compute = None
            if self.settings.scheduler:
                cluster = Cluster(self.settings.scheduler, self.models.source(request_body.model), request.predictor,
                                  self.settings.models_dir, uses_background(request.predictor, request.method, request.scores))
                compute = stack.enter_context(cluster).compute
            return self.engine.run(request, request_body, chunk=self.settings.job_chunk, compute=compute,
                                   progress=lambda f: self.jobs.progress(job_id, f),
                                   cancelled=lambda: self.jobs.status(job_id) != "running")
