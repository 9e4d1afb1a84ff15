"""Jobs persisted in SQLite beside the explanation store, run by a bounded pool of worker threads.

The table is the queue: a worker claims the oldest queued row in one write transaction, so a restart loses
nothing (queued rows are still queued) and a job interrupted by a crash is found on the next start (still
"running" under a dead owner): re-queued while it has attempts left, else marked failed with the reason.
"""
from __future__ import annotations

import json
import logging
import os
import socket
import sqlite3
import threading
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from .engine import Cancelled
from .errors import ServiceError

LOG = logging.getLogger("explain.service.jobs")
STATES = ("queued", "running", "done", "failed", "cancelled")
_COLUMNS = "id, kind, body, status, progress, attempts, created, started, finished, result, error, owner"
_CREATE = """CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE NOT NULL, kind TEXT NOT NULL, body TEXT NOT NULL,
    status TEXT NOT NULL, progress REAL NOT NULL DEFAULT 0, attempts INTEGER NOT NULL DEFAULT 0,
    created TEXT NOT NULL, started TEXT, finished TEXT, result TEXT, error TEXT, owner TEXT)"""
# host, pid and a per-start token: a restarted server that got the same pid (pid 1 in a container) is still new
OWNER = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


class JobStore:
    """The jobs table; every state change is one statement or one transaction, safe across threads."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        self._conn.execute("PRAGMA busy_timeout = 30000")
        self._conn.execute("PRAGMA journal_mode = WAL")
        self._conn.execute(_CREATE)

    def _run(self, sql: str, values: tuple = ()) -> list[tuple]:
        with self._lock:
            return self._conn.execute(sql, values).fetchall()

    def submit(self, kind: str, body: dict[str, Any], *, running: bool = False) -> str:
        job_id = uuid.uuid4().hex
        status, attempts, started = ("running", 1, _now()) if running else ("queued", 0, None)
        self._run("INSERT INTO jobs (id, kind, body, status, attempts, created, started, owner) VALUES (?,?,?,?,?,?,?,?)",
                  (job_id, kind, json.dumps(body), status, attempts, _now(), started, OWNER if running else None))
        return job_id

    def claim(self) -> tuple[str, dict[str, Any]] | None:
        """The oldest queued job, now running under this process; ``None`` if nothing waits."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                row = self._conn.execute("SELECT id, body FROM jobs WHERE status = 'queued' ORDER BY seq LIMIT 1").fetchone()
                if row is not None:
                    self._conn.execute("UPDATE jobs SET status = 'running', attempts = attempts + 1, started = ?, "
                                       "owner = ?, progress = 0 WHERE id = ?", (_now(), OWNER, row[0]))
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
        return None if row is None else (row[0], json.loads(row[1]))

    def progress(self, job_id: str, fraction: float) -> None:
        self._run("UPDATE jobs SET progress = ? WHERE id = ? AND status = 'running'", (float(fraction), job_id))

    def finish(self, job_id: str, result: dict[str, Any]) -> bool:
        """Record the result, unless the job was cancelled meanwhile (then the result is discarded)."""
        return self._end(job_id, "done", result=json.dumps(result))

    def fail(self, job_id: str, error: dict[str, Any]) -> bool:
        return self._end(job_id, "failed", error=json.dumps(error))

    def _end(self, job_id: str, status: str, result: str | None = None, error: str | None = None) -> bool:
        with self._lock:
            cursor = self._conn.execute(
                "UPDATE jobs SET status = ?, result = ?, error = ?, finished = ?, progress = CASE WHEN ? = 'done' "
                "THEN 1 ELSE progress END WHERE id = ? AND status = 'running'",
                (status, result, error, _now(), status, job_id))
            return cursor.rowcount == 1

    def cancel(self, job_id: str) -> str | None:
        """The job's status after the request: a queued or running job becomes cancelled; others are unchanged."""
        self._run("UPDATE jobs SET status = 'cancelled', finished = ? WHERE id = ? AND status IN ('queued', 'running')",
                  (_now(), job_id))
        return self.status(job_id)

    def status(self, job_id: str) -> str | None:
        rows = self._run("SELECT status FROM jobs WHERE id = ?", (job_id,))
        return rows[0][0] if rows else None

    def get(self, job_id: str) -> dict[str, Any] | None:
        rows = self._run(f"SELECT {_COLUMNS} FROM jobs WHERE id = ?", (job_id,))
        if not rows:
            return None
        job = dict(zip(_COLUMNS.split(", "), rows[0]))
        for name in ("result", "error"):
            job[name] = json.loads(job[name]) if job[name] else None
        job.pop("body")
        job.pop("owner")
        return job

    def queued(self) -> int:
        return int(self._run("SELECT COUNT(*) FROM jobs WHERE status = 'queued'")[0][0])

    def recover(self, max_attempts: int) -> tuple[int, int]:
        """``(re-queued, failed)``: jobs left running by a process that is gone."""
        requeued = failed = 0
        for job_id, attempts, owner in self._run("SELECT id, attempts, owner FROM jobs WHERE status = 'running'"):
            if _alive(owner):
                continue
            if attempts < max_attempts:
                self._run("UPDATE jobs SET status = 'queued', owner = NULL WHERE id = ? AND status = 'running'", (job_id,))
                requeued += 1
            else:
                error = {"error": "interrupted", "detail": f"The server stopped while this job ran, {attempts} time(s); "
                         "it is not retried again. Submit it again, perhaps with fewer inputs or samples."}
                self._run("UPDATE jobs SET status = 'failed', error = ?, finished = ? WHERE id = ? AND status = 'running'",
                          (json.dumps(error), _now(), job_id))
                failed += 1
        return requeued, failed

    def close(self) -> None:
        with self._lock:
            self._conn.close()


def _alive(owner: str | None) -> bool:
    """Whether the process that claimed a job still runs (another host's process is assumed to)."""
    if owner == OWNER:
        return True
    parts = (owner or "").rsplit(":", 2)
    if len(parts) != 3:
        return False
    host, pid, _ = parts
    if host != socket.gethostname():
        return True
    if pid == str(os.getpid()):  # our pid, but another start's token: that process is gone
        return False
    try:
        os.kill(int(pid), 0)
    except (ProcessLookupError, ValueError):
        return False
    except PermissionError:
        return True
    return True


Work = Callable[[str, dict[str, Any]], dict[str, Any]]


class WorkerPool:
    """``workers`` threads that claim jobs from the store and run ``work(job_id, body)`` on them."""

    def __init__(self, jobs: JobStore, work: Work, workers: int) -> None:
        self.jobs, self.work, self.size = jobs, work, max(1, int(workers))
        self._wake = threading.Condition()
        self._stopping = False
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for i in range(self.size):
            thread = threading.Thread(target=self._loop, name=f"explain-job-{i}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def notify(self) -> None:
        with self._wake:
            self._wake.notify_all()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop claiming; a job still running when the process exits is recovered on the next start."""
        with self._wake:
            self._stopping = True
            self._wake.notify_all()
        for thread in self._threads:
            thread.join(timeout)

    def _loop(self) -> None:
        while not self._stopping:
            claimed = self.jobs.claim()
            if claimed is None:
                with self._wake:
                    if not self._stopping:
                        self._wake.wait(timeout=1.0)
                continue
            self.run_one(*claimed)

    def run_one(self, job_id: str, body: dict[str, Any]) -> None:
        try:
            self.jobs.finish(job_id, self.work(job_id, body))
        except Cancelled:
            LOG.info("job %s cancelled while running", job_id)
        except ServiceError as exc:
            self.jobs.fail(job_id, {"error": exc.error, "detail": exc.detail, "status": exc.status})
        except Exception as exc:  # the job fails; the worker lives on
            if self._stopping:  # torn down under it: the row stays "running" and the next start re-queues it
                LOG.warning("job %s interrupted by shutdown (%s); it is recovered on the next start", job_id, exc)
                return
            error_id = uuid.uuid4().hex[:12]
            LOG.error("job %s failed (error %s)", job_id, error_id, exc_info=True)
            self.jobs.fail(job_id, {"error": "internal error", "detail": f"The job failed unexpectedly ({type(exc).__name__}); "
                                    f"quote error id {error_id} to the operator.", "error_id": error_id})
