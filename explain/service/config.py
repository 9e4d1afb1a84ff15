"""The service's settings: where things live, who may call, and the limits that keep one caller from taking
the machine.  One frozen object, built by ``explain serve`` (or a test) and handed to :func:`create_app`."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

from ..settings import models_dir as default_models_dir
from ..store import store_path

TOKENS_ENV = "EXPLAIN_SERVICE_TOKENS"  # comma-separated bearer tokens
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
# Parameters that set how many model evaluations a method makes: capped so one request cannot run for hours.
SAMPLE_PARAMS = ("num_samples", "nsamples", "max_evals", "n_samples", "samples", "steps", "background_size")


class StartupRefused(ValueError):
    """The service will not start with these settings; the message says what to change."""


@dataclass(frozen=True)
class ServiceSettings:
    """Everything the HTTP service needs to know; defaults suit a laptop, limits are per request."""

    models_dir: Path = field(default_factory=default_models_dir)
    store: Path | None = None  # None: the engine's default (``$EXPLAIN_STORE`` or <models dir>/explanations.sqlite)
    tokens: frozenset[str] = frozenset()
    no_auth: bool = False
    host: str = "127.0.0.1"
    cors_origins: tuple[str, ...] = ()
    max_body_bytes: int = 8 << 20  # a JSON request (a batch of images as nested lists is large)
    max_upload_bytes: int = 200 << 20  # one .keras file
    max_batch: int = 16  # inputs per synchronous request
    max_job_batch: int = 256  # inputs per job
    sync_sample_ceiling: int = 5_000
    job_sample_ceiling: int = 100_000
    default_deadline_s: float = 30.0
    max_deadline_s: float = 120.0
    sync_threads: int = 2  # explanations computed at once for synchronous requests
    workers: int = 1  # job worker threads
    queue_limit: int = 100  # queued jobs before POST /jobs answers 429
    max_attempts: int = 2  # runs of a job interrupted by a restart before it is marked failed
    job_chunk: int = 4  # inputs a job computes between progress updates and cancellation checks
    batch_window_s: float = 0.005  # the micro-batcher waits this long for company
    batch_max: int = 64
    scheduler: str | None = None  # a Dask scheduler address: jobs compute there (the store stays here)

    @property
    def store_file(self) -> Path:
        return Path(self.store) if self.store is not None else store_path(None)

    @property
    def jobs_file(self) -> Path:
        """Jobs live beside the explanation store, so one folder holds all the service's state."""
        return self.store_file.parent / "jobs.sqlite"

    @property
    def uploads_dir(self) -> Path:
        return Path(self.models_dir) / "uploads"

    @property
    def auth_required(self) -> bool:
        return not self.no_auth

    def ceiling(self, as_job: bool) -> int:
        return self.job_sample_ceiling if as_job else self.sync_sample_ceiling


def read_tokens(token_file: str | os.PathLike | None = None, environ: Mapping[str, str] | None = None) -> frozenset[str]:
    """Bearer tokens from a file (one a line, ``#`` comments) and from ``$EXPLAIN_SERVICE_TOKENS``."""
    environ = os.environ if environ is None else environ
    found = [t.strip() for t in environ.get(TOKENS_ENV, "").split(",")]
    if token_file is not None:
        path = Path(token_file)
        if not path.is_file():
            raise StartupRefused(f"--token-file {path}: no such file; write one token per line.")
        found += [line.split("#", 1)[0].strip() for line in path.read_text(encoding="utf-8").splitlines()]
    tokens = frozenset(t for t in found if t)
    short = [t for t in tokens if len(t) < 16]
    if short:
        raise StartupRefused(f"{len(short)} token(s) are shorter than 16 characters; use long random tokens "
                             "(e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))').")
    return tokens


def check_startable(settings: ServiceSettings) -> None:
    """Authentication is on by default: without tokens, only an explicit ``--no-auth`` on localhost may start."""
    if settings.no_auth and settings.tokens:
        raise StartupRefused("Both --no-auth and tokens were given; drop one (tokens keep authentication on).")
    if settings.no_auth:
        if settings.host not in LOCAL_HOSTS:
            raise StartupRefused(f"--no-auth is only allowed on localhost, not {settings.host}; give tokens with "
                                 f"--token-file or ${TOKENS_ENV} to listen on other addresses.")
        return
    if not settings.tokens:
        raise StartupRefused(f"No bearer tokens: give --token-file FILE or ${TOKENS_ENV}, or, on 127.0.0.1 only, "
                             "run without authentication with --no-auth.")


def cors_origins(values: Sequence[str] | None) -> tuple[str, ...]:
    return tuple(v.strip() for v in values or () if v.strip())
