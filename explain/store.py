"""Explanations persisted with their provenance, so the same request is never computed twice.

One embedded SQLite file (``EXPLAIN_STORE``, else ``<models dir>/explanations.sqlite``)
holds each :class:`~explain.explanation.Explanation` as its own JSON (never a
pickle) under a :class:`Key`: the model's fingerprint, a hash of the input, the
requested target, the method and all its parameters (seed included), the
truncate flag, the requested scores, the reference rows when they shape the
result, and the versions of the libraries that compute it.  Any change in any of
these is a different key, so a stored answer is always the answer to *this*
request.

Several processes (dashboard, reports, audits, Dask clients) share one file:
WAL mode lets readers run beside one writer, a busy timeout makes writers wait
for each other instead of failing, and every ``put_many`` is one transaction, so
an interrupted write leaves no partial rows.  The schema version lives in
``PRAGMA user_version``; older files are migrated in place, newer or foreign
files are refused untouched.
"""
from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import os
import sqlite3
import threading
import warnings
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence, Union

import numpy as np

from .explanation import Explanation
from .paths import blocking_file
from .methods.base import Method
from .predictor import Predictor
from . import provenance
from .provenance import array_hash, canonical_json, input_hash
from .settings import models_dir

STORE_ENV = "EXPLAIN_STORE"
DEFAULT_FILE = "explanations.sqlite"
SCHEMA_VERSION = 1
TABLE = "explanations"
_LOOKUP_CHUNK = 500  # keys per SELECT ... IN (...), well under SQLite's variable limit

# Columns of the current schema, in order; ``explanation`` (the JSON) is left out of query().
COLUMNS = ("key", "model", "model_name", "modality", "input_hash", "requested_target", "target", "method",
           "params", "truncate", "scores", "background", "versions", "seconds", "created", "explanation")
_CREATE_V1 = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    key TEXT PRIMARY KEY,          -- sha256 of the canonical JSON of the Key fields
    model TEXT NOT NULL,           -- Predictor.fingerprint
    model_name TEXT,
    modality TEXT,
    input_hash TEXT NOT NULL,
    requested_target INTEGER,      -- NULL: the predicted class
    target INTEGER,                -- the class explained (NULL for regression)
    method TEXT NOT NULL,
    params TEXT NOT NULL,          -- canonical JSON of Method.params()
    truncate INTEGER NOT NULL,
    scores TEXT NOT NULL,          -- canonical JSON of the requested scores
    background TEXT,               -- hash of the reference rows used, if any
    versions TEXT NOT NULL,        -- canonical JSON of models.provenance.library_versions()
    seconds REAL,
    created TEXT,
    explanation TEXT NOT NULL      -- Explanation.to_json()
)"""
_INDEXES = (f"CREATE INDEX IF NOT EXISTS {TABLE}_method ON {TABLE}(method)",
            f"CREATE INDEX IF NOT EXISTS {TABLE}_model ON {TABLE}(model)",
            f"CREATE INDEX IF NOT EXISTS {TABLE}_input ON {TABLE}(input_hash)")
# Version 0 (the first release) had the key columns only, with the requested target called "target".
V0_COLUMNS = ("key", "model", "input_hash", "target", "method", "params", "truncate", "scores", "background",
              "versions", "explanation")


StoreLike = Union["ExplanationStore", str, os.PathLike, bool, None]  # what a store= argument takes


class StoreWarning(UserWarning):
    """Something in the store was skipped (a damaged row); the result is still right."""


class StoreError(ValueError):
    """The store file cannot be used (foreign, corrupt or newer); the message says what to do."""


# ---- where the store lives -------------------------------------------------------------------------
def store_path(explicit: str | os.PathLike | None = None) -> Path:
    """The store file: the argument, else ``$EXPLAIN_STORE``, else ``<models dir>/explanations.sqlite``."""
    value = explicit if explicit is not None else os.environ.get(STORE_ENV)
    return Path(value).expanduser() if value else models_dir() / DEFAULT_FILE


# ---- provenance keys ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Key:
    """Everything that determines one explanation; equal keys mean equal results."""

    model: str
    input_hash: str
    requested_target: int | None
    method: str
    params: str  # canonical JSON
    truncate: bool
    scores: str  # canonical JSON
    background: str | None
    versions: str  # canonical JSON

    @functools.cached_property
    def digest(self) -> str:
        return hashlib.sha256(canonical_json(dataclasses.asdict(self)).encode("utf-8")).hexdigest()


def request_keys(request: Any) -> list[Key]:
    """One :class:`Key` per input of a validated :class:`~explain.pipeline.Request` and its requested target."""
    predictor, explainer, scores = request.predictor, request.method, request.scores
    fingerprint = str(predictor.fingerprint)
    if fingerprint.startswith("callable:"):
        raise ValueError(
            f"The store keys explanations by the model's fingerprint, but a Python function (a prediction function or "
            f"a tokenizer) only has its name ({fingerprint!r}), which does not change when the function does. Set predictor.fingerprint to a "
            "string that changes with the function (e.g. a version), or explain without store=."
        )
    shared = dict(
        model=fingerprint, method=explainer.name, params=canonical_json(explainer.params()), truncate=bool(request.truncate),
        scores=canonical_json(scores if isinstance(scores, bool) else sorted(scores)),
        background=_background_hash(predictor, explainer, scores), versions=canonical_json(provenance.library_versions()),
    )
    return [Key(input_hash=input_hash(item), requested_target=None if t is None else int(t), **shared)
            for item, t in zip(request.inputs, request.targets)]


def uses_background(predictor: Predictor, explainer: Method, scores: bool | Sequence[str]) -> bool:
    """Whether the predictor's reference rows shape the result: as the method declares
    (:meth:`Method.uses_background`), or tabular deletion scores, which replace features by their mean."""
    if predictor.modality == "text":
        return False
    return explainer.uses_background(predictor) or (bool(scores) and predictor.modality == "tabular")


def _background_hash(predictor: Predictor, explainer: Method, scores: bool | Sequence[str]) -> str | None:
    background = predictor.background if uses_background(predictor, explainer, scores) else None
    return None if background is None else array_hash(np.asarray(background))


# ---- the store ------------------------------------------------------------------------------------------
class ExplanationStore:
    """Explanations keyed by provenance in one SQLite file, safe to share between processes and threads.

    >>> with ExplanationStore("runs.sqlite") as store:             # doctest: +SKIP
    ...     explain.explain_batch(ref, x, "gradcam", store=store)
    ...     store.query(method="gradcam")
    """

    def __init__(self, path: str | os.PathLike | None = None, *, timeout: float = 30.0) -> None:
        self.path = store_path(path)
        self._lock = threading.RLock()  # one connection shared by the threads of this process
        self._conn: sqlite3.Connection | None = _open(self.path, timeout)

    # ---- reading ---------------------------------------------------------------------------
    def get(self, key: Key | str) -> Explanation | None:
        """The stored explanation for a key (or its digest), or ``None``."""
        digest = key.digest if isinstance(key, Key) else key
        return self.get_many([digest]).get(digest)

    def get_many(self, keys: Iterable[Key | str]) -> dict[str, Explanation]:
        """The stored explanations among ``keys``, by digest; absent keys are simply missing."""
        digests = list(dict.fromkeys(k.digest if isinstance(k, Key) else k for k in keys))
        found: dict[str, Explanation] = {}
        for start in range(0, len(digests), _LOOKUP_CHUNK):
            part = digests[start : start + _LOOKUP_CHUNK]
            marks = ",".join("?" * len(part))
            rows = self._read(f"SELECT key, explanation FROM {TABLE} WHERE key IN ({marks})", part)
            for digest, text in rows:
                try:
                    found[digest] = Explanation.from_json(text)
                except ValueError as exc:  # a damaged row is a miss: recomputed and replaced, never fatal
                    warnings.warn(f"The explanation store {self.path}: row {digest[:16]} is damaged ({exc}); it is "
                                  "recomputed and replaced.", StoreWarning, stacklevel=2)
        return found

    def __contains__(self, key: Key | str) -> bool:
        digest = key.digest if isinstance(key, Key) else key
        return bool(self._read(f"SELECT 1 FROM {TABLE} WHERE key = ?", [digest]))

    def __len__(self) -> int:
        return int(self._read(f"SELECT COUNT(*) FROM {TABLE}")[0][0])

    def query(self, method: str | None = None, model: str | None = None, **where: Any):
        """The provenance of stored explanations as a DataFrame (no attributions), filtered by equality.

        ``model`` matches a fingerprint or a model name; other filters name a column,
        e.g. ``query(method="lime_image", target=3)``.
        """
        import pandas as pd

        unknown = set(where) - set(COLUMNS)
        if unknown:
            raise ValueError(f"Unknown store columns {sorted(unknown)}; columns: {', '.join(COLUMNS[:-1])}.")
        clauses, values = [], []
        if method is not None:
            clauses.append("method = ?")
            values.append(method)
        if model is not None:
            clauses.append("(model = ? OR model_name = ?)")
            values += [model, model]
        for column, value in where.items():
            clauses.append(f"{column} IS ?")
            values.append(value.item() if isinstance(value, np.generic) else value)
        columns = ", ".join(COLUMNS[:-1])
        sql = f"SELECT {columns} FROM {TABLE}" + (f" WHERE {' AND '.join(clauses)}" if clauses else "") + " ORDER BY created, key"
        frame = pd.DataFrame(self._read(sql, values), columns=list(COLUMNS[:-1]))
        frame["truncate"] = frame["truncate"].astype(bool)
        return frame

    # ---- writing ---------------------------------------------------------------------------
    def put_many(self, items: Iterable[tuple[Key, Explanation]]) -> int:
        """Save ``(key, explanation)`` pairs in ONE transaction: all of them, or none if anything fails."""
        created = datetime.now(timezone.utc).isoformat(timespec="seconds")
        rows = (_row(key, explanation, created) for key, explanation in items)  # serialised inside the transaction
        marks = ",".join("?" * len(COLUMNS))
        with self._lock, _translated(self.path):
            conn = self._connection()
            with _transaction(conn):
                cursor = conn.executemany(f"INSERT OR REPLACE INTO {TABLE} ({', '.join(COLUMNS)}) VALUES ({marks})", rows)
        return cursor.rowcount

    # ---- lifetime --------------------------------------------------------------------------
    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> "ExplanationStore":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"ExplanationStore({str(self.path)!r})"

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise ValueError(f"The explanation store {self.path} is closed; open a new ExplanationStore.")
        return self._conn

    def _read(self, sql: str, values: Sequence[Any] = ()) -> list[tuple]:
        with self._lock, _translated(self.path):
            return self._connection().execute(sql, list(values)).fetchall()


@contextlib.contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """One write transaction: committed whole, or rolled back whole on any error (an interrupt included)."""
    conn.execute("BEGIN IMMEDIATE")  # take the write lock now (waits up to the busy timeout)
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:  # SQLite may have rolled back already (disk full, say)
            conn.execute("ROLLBACK")
        raise


@contextlib.contextmanager
def _translated(path: Path) -> Iterator[None]:
    """SQLite's errors as a StoreError that says what to do."""
    try:
        yield
    except (sqlite3.ProgrammingError, sqlite3.InterfaceError):  # mistakes in the calling code, not the file
        raise
    except sqlite3.OperationalError as exc:
        if "readonly" in str(exc) or "read-only" in str(exc):
            raise StoreError(f"The explanation store {path} is read-only ({exc}): make the file and its folder "
                             f"writable, or point {STORE_ENV} (or store=) at a file you can write.") from exc
        if "locked" not in str(exc) and "busy" not in str(exc):
            raise StoreError(f"The explanation store {path} failed ({exc}); check the disk and the file's permissions.") from exc
        raise StoreError(f"The explanation store {path} stayed locked by another process ({exc}); retry, or point "
                         f"{STORE_ENV} (or store=) at another file.") from exc
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"The explanation store {path} is damaged ({exc}); move it away (explanations are recomputed "
                         f"into a new one), or point {STORE_ENV} (or store=) at another file.") from exc


def _row(key: Key, explanation: Explanation, created: str) -> tuple:
    model = explanation.meta.get("model") or {}
    values = {
        **dataclasses.asdict(key), "key": key.digest, "truncate": int(key.truncate),
        "model_name": model.get("model"), "modality": explanation.modality, "target": explanation.target,
        "seconds": explanation.meta.get("seconds"), "created": created, "explanation": explanation.to_json(),
    }
    return tuple(values[c] for c in COLUMNS)


@contextlib.contextmanager
def opened(store: StoreLike) -> Iterator[ExplanationStore]:
    """The store a ``store=`` argument names: an open store (left open), a path, or ``True`` (the default path)."""
    if isinstance(store, ExplanationStore):
        yield store
        return
    if store is True:
        store = None
    elif not isinstance(store, (str, os.PathLike)):
        raise TypeError(f"store= takes an ExplanationStore, a path or True, got {type(store).__name__}.")
    with ExplanationStore(store) as owned:
        yield owned


def _open(path: Path, timeout: float) -> sqlite3.Connection:
    if path.is_dir():
        raise StoreError(f"The explanation store path {path} is a folder; pass a file path such as {path / DEFAULT_FILE}.")
    blocking = blocking_file(path)
    if blocking is not None:
        raise StoreError(f"Cannot create the explanation store {path}: {blocking} is a file, not a folder; "
                         f"pass a path inside a folder, or point {STORE_ENV} (or store=) elsewhere.")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        conn = sqlite3.connect(path, timeout=timeout, isolation_level=None, check_same_thread=False)
    except sqlite3.Error as exc:
        raise StoreError(f"Cannot open the explanation store {path} ({exc}); check the path and its permissions.") from exc
    try:
        version = _check(conn, path)  # read-only: a refused file is never modified
        with _translated(path):
            conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
            if version != SCHEMA_VERSION:
                _upgrade(conn)
            conn.execute("PRAGMA journal_mode = WAL")  # persistent: later connections inherit it
    except BaseException:
        conn.close()
        raise
    return conn


def _check(conn: sqlite3.Connection, path: Path) -> int:
    """The file's schema version, after checking (without writing) that it is a store this code can use."""
    advice = f"move it away, or point {STORE_ENV} (or store=) at another file"
    try:
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        columns = {row[1] for row in conn.execute(f"PRAGMA table_info({TABLE})")}
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{path} is not an explanation store or is damaged (SQLite: {exc}); {advice}.") from exc
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"{path} was written by a newer keras-explain (store schema {version}; this version reads up to "
            f"{SCHEMA_VERSION}). Upgrade keras-explain, or point {STORE_ENV} (or store=) at another file."
        )
    expected = set(COLUMNS) if version == SCHEMA_VERSION else set(V0_COLUMNS)
    if (tables or version) and not expected <= columns:
        found = f"tables {sorted(tables)}" if TABLE not in tables else f"columns {sorted(columns)}"
        raise StoreError(f"{path} is an SQLite file but not an explanation store (schema {version}, {found}); {advice}.")
    return version


def _create(conn: sqlite3.Connection) -> None:
    conn.execute(_CREATE_V1)


def _migrate_v0(conn: sqlite3.Connection) -> None:
    """v0 -> v1: the requested target gets its own name; the explained target, model name, modality and
    runtime become queryable columns, backfilled from each row's JSON; indexes for query()."""
    conn.execute(f"ALTER TABLE {TABLE} RENAME COLUMN target TO requested_target")
    for column, kind in (("model_name", "TEXT"), ("modality", "TEXT"), ("target", "INTEGER"), ("seconds", "REAL"),
                         ("created", "TEXT")):
        conn.execute(f"ALTER TABLE {TABLE} ADD COLUMN {column} {kind}")
    conn.execute(
        f"UPDATE {TABLE} SET model_name = json_extract(explanation, '$.meta.model.model'), "
        "modality = json_extract(explanation, '$.modality'), target = json_extract(explanation, '$.target'), "
        "seconds = json_extract(explanation, '$.meta.seconds')"
    )


MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {0: _migrate_v0}  # from version n to n + 1


def _upgrade(conn: sqlite3.Connection) -> None:
    """Create or migrate the schema in one transaction (another process may be doing the same: the
    write lock serialises them and the second finds the work done)."""
    with _transaction(conn):
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        empty = not conn.execute(f"SELECT 1 FROM sqlite_master WHERE name = '{TABLE}'").fetchone()
        if empty:
            _create(conn)
        else:
            for step in range(version, SCHEMA_VERSION):
                MIGRATIONS[step](conn)
        for index in _INDEXES:
            conn.execute(index)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
