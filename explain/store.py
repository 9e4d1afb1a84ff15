"""Explanations persisted with their provenance, so the same request is never computed twice.

One embedded SQLite file (``EXPLAIN_STORE``, else ``<models dir>/explanations.sqlite``)
holds each :class:`~explain.explanation.Explanation` (never a pickle) under a
:class:`Key`: the model's fingerprint, a hash of the input, the requested target,
the method and all its parameters (seed included), the truncate flag, the
requested scores, the reference rows when they shape the result, and the
versions of the libraries that compute it.  Any change in any of these is a
different key, so a stored answer is always the answer to *this* request.

Several processes (dashboard, reports, audits, Dask clients) share one file:
WAL mode lets readers run beside one writer, a busy timeout makes writers wait
for each other instead of failing, and every ``put_many`` is one transaction, so
an interrupted write leaves no partial rows.  The schema version lives in
``PRAGMA user_version``; older files are migrated in place
(:mod:`explain.store_migration`), newer or foreign files are refused untouched
(:mod:`explain.store_schema`).

Schema 2 keeps what rows share once: the fingerprint, parameters, requested
scores, background hash and library versions, and the shared parts of the
documents (see :mod:`explain.store_codec`), are rows of the ``provenance`` table
(content-hashed, ``INSERT OR IGNORE``, checked against their hash when read),
referenced by id; each row keeps its key (32 bytes), its own columns and its
packed document.  A schema-1 file that cannot be written (read-only) is read as
it is, and migrated by the first write.
"""
from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import json
import os
import sqlite3
import threading
import warnings
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence, Union

import numpy as np

from .explanation import Explanation
from .paths import blocking_file
from .methods.base import Method
from .predictor import Predictor
from . import provenance, store_codec, store_migration
from .provenance import array_hash, canonical_json, input_hash
from .settings import models_dir
from .store_schema import (  # noqa: F401  (re-exported: the store's constants and errors are part of its API)
    COLUMNS, DEFAULT_FILE, PAGE_SIZE, PROVENANCE, SCHEMA_VERSION, STORE_ENV, TABLE, V0_COLUMNS, V1_COLUMNS,
    V2_COLUMNS, StoreError, StoreWarning, check, content_hash, has_tables, intern, is_read_only, key_param,
    newer_error, query_sql, stored_key, transaction, user_version,
)
from .store_schema import translated as _translated
from .store_migration import MIGRATIONS  # noqa: F401  (re-exported, as before the split)

_LOOKUP_CHUNK = 500  # keys per SELECT ... IN (...), well under SQLite's variable limit
_CACHE_LIMIT = 4096  # provenance entries remembered per store object: a long-lived service must not grow without end

StoreLike = Union["ExplanationStore", str, os.PathLike, bool, None]  # what a store= argument takes


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
        # Committed provenance rows never change and are never deleted, so both caches stay true (bounded by _CACHE_LIMIT).
        self._ids: dict[str, int] = {}  # text -> provenance id
        self._values: dict[int, Any] = {}  # provenance id -> decoded JSON, checked against its hash
        self._conn: sqlite3.Connection | None
        self._conn, self._schema = _open(self.path, timeout)

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
            with self._reading() as (conn, schema):
                wanted = {key_param(d, schema): d for d in digests[start : start + _LOOKUP_CHUNK]}
                marks = ",".join("?" * len(wanted))
                rows = conn.execute(f"SELECT key, explanation FROM {TABLE} WHERE key IN ({marks})", list(wanted)).fetchall()
            for stored, body in rows:  # decoded outside the snapshot: shared rows are read on their own
                digest = wanted.get(stored, stored.hex() if isinstance(stored, bytes) else str(stored))
                try:
                    found[digest] = self._decode(body)
                except StoreError:  # the file itself failed (while reading shared rows): say so, as for any read
                    raise
                except ValueError as exc:  # a damaged row is a miss: recomputed and replaced, never fatal
                    warnings.warn(f"The explanation store {self.path}: row {digest[:16]} is damaged ({exc}); it is "
                                  "recomputed and replaced.", StoreWarning, stacklevel=2)
        return found

    def __contains__(self, key: Key | str) -> bool:
        digest = key.digest if isinstance(key, Key) else key
        with self._reading() as (conn, schema):
            return conn.execute(f"SELECT 1 FROM {TABLE} WHERE key = ?", [key_param(digest, schema)]).fetchone() is not None

    def __len__(self) -> int:
        return int(self._read(f"SELECT COUNT(*) FROM {TABLE}")[0][0])

    def query(self, method: str | None = None, model: str | None = None, **where: Any):
        """The provenance of stored explanations as a DataFrame (no attributions), filtered by equality.

        ``model`` matches a fingerprint or a model name; other filters name a column,
        e.g. ``query(method="lime_image", target=3)``.
        """
        import pandas as pd

        unknown = set(where) - set(COLUMNS[:-1])
        if unknown:
            raise ValueError(f"Unknown store columns {sorted(unknown)}; columns: {', '.join(COLUMNS[:-1])}.")
        with self._reading() as (conn, schema):
            found = conn.execute(*query_sql(schema, method, model, where)).fetchall()
        frame = pd.DataFrame(found, columns=list(COLUMNS[:-1]))
        frame["truncate"] = frame["truncate"].astype(bool)
        return frame

    # ---- writing ---------------------------------------------------------------------------
    def put_many(self, items: Iterable[tuple[Key, Explanation]]) -> int:
        """Save ``(key, explanation)`` pairs in ONE transaction: all of them, or none if anything fails."""
        created = datetime.now(timezone.utc).isoformat(timespec="seconds")
        marks = ",".join("?" * len(V2_COLUMNS))
        with self._lock, _translated(self.path):
            conn = self._connection()
            if self._schema != SCHEMA_VERSION:  # a store read as it was (read-only when opened): migrate first
                store_migration.upgrade(conn, self.path)
                self._schema = SCHEMA_VERSION
            pending: dict[str, int] = {}  # provenance rows of this transaction: cached only once committed
            add = functools.partial(intern, conn, self._ids, pending)
            rows = (_row(key, explanation, created, add) for key, explanation in items)  # serialised inside the transaction
            with transaction(conn):
                version = user_version(conn)  # under the write lock: never write schema-2 rows into a newer layout
                if version > SCHEMA_VERSION:
                    raise newer_error(self.path, version)
                cursor = conn.executemany(f"INSERT OR REPLACE INTO {TABLE} ({', '.join(V2_COLUMNS)}) VALUES ({marks})", rows)
            self._ids.update(pending)
            if len(self._ids) > _CACHE_LIMIT:
                self._ids.clear()
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
        with self._reading() as (conn, _):
            return conn.execute(sql, list(values)).fetchall()

    @contextlib.contextmanager
    def _reading(self) -> Iterator[tuple[sqlite3.Connection, int]]:
        """The connection and the layout to read it with, true of the same moment.  A store read as it was
        (schema 1) may be migrated by another process at any time: there the version check and the reads share
        one snapshot (a read transaction), or a read begun as schema 1 could meet the new tables and miss."""
        with self._lock, _translated(self.path):
            conn = self._connection()
            if self._schema == SCHEMA_VERSION:
                yield conn, SCHEMA_VERSION
                return
            conn.execute("BEGIN")
            try:
                version = user_version(conn)  # the first read: it fixes the snapshot
                if version > SCHEMA_VERSION:
                    raise newer_error(self.path, version)
                if version == SCHEMA_VERSION:
                    self._schema = SCHEMA_VERSION
                yield conn, self._schema
            finally:
                if conn.in_transaction:
                    conn.execute("COMMIT")

    def _decode(self, body: Any) -> Explanation:
        if isinstance(body, str):  # a document kept as JSON text (schema 1, or a row the migration left as it was)
            return Explanation.from_json(body)
        if isinstance(body, bytes):
            return Explanation.from_dict(store_codec.unpack(body, self._lookup))
        raise ValueError(f"a {type(body).__name__} where the document belongs")

    def _lookup(self, ident: Any) -> Any:
        """A provenance row's decoded value, read once per store object (KeyError if it is not there).  It must
        match its hash: one damaged shared row would otherwise change every row that refers to it, silently."""
        if type(ident) is not int or not 0 < ident < 1 << 63:
            raise KeyError(f"{ident!r} is not a provenance id")
        if ident not in self._values:
            rows = self._read(f"SELECT hash, value FROM {PROVENANCE} WHERE id = ?", [ident])
            if not rows:
                raise KeyError(f"provenance row {ident} is missing")
            digest, text = rows[0]
            if not isinstance(text, str) or content_hash(text) != digest:
                self._ids = {t: i for t, i in self._ids.items() if i != ident}  # so the rewrite repairs it (intern)
                raise KeyError(f"provenance row {ident} does not match its hash")
            if len(self._values) >= _CACHE_LIMIT:
                self._values.clear()
            self._values[ident] = json.loads(text)
        return self._values[ident]


def _row(key: Key, explanation: Explanation, created: str, add: store_codec.Intern) -> tuple:
    """One schema-2 row: the shared columns as provenance ids, the document packed."""
    model = explanation.meta.get("model") or {}
    return (stored_key(key.digest), add(key.model), model.get("model"), explanation.modality, key.input_hash,
            key.requested_target, explanation.target, key.method, add(key.params), int(key.truncate),
            add(key.scores), None if key.background is None else add(key.background), add(key.versions),
            explanation.meta.get("seconds"), created, store_codec.pack(store_codec.document(explanation), add))


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


# ---- opening a file ---------------------------------------------------------------------------------------
def _connect(path: Path, timeout: float) -> sqlite3.Connection:
    """The one place a store's connection is made (a test opens it read-only here, as SQLite does a file it cannot write)."""
    return sqlite3.connect(path, timeout=timeout, isolation_level=None, check_same_thread=False)


def _open(path: Path, timeout: float) -> tuple[sqlite3.Connection, int]:
    """The connection, and the layout it is read with: the current schema, or 1 for a schema-1 file that
    could not be migrated because it is read-only (read as it is; a write migrates it first)."""
    if path.is_dir():
        raise StoreError(f"The explanation store path {path} is a folder; pass a file path such as {path / DEFAULT_FILE}.")
    blocking = blocking_file(path)
    if blocking is not None:
        raise StoreError(f"Cannot create the explanation store {path}: {blocking} is a file, not a folder; "
                         f"pass a path inside a folder, or point {STORE_ENV} (or store=) elsewhere.")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        conn = _connect(path, timeout)
    except sqlite3.Error as exc:
        raise StoreError(f"Cannot open the explanation store {path} ({exc}); check the path and its permissions.") from exc
    try:
        version = check(conn, path)  # read-only: a refused file is never modified
        with _translated(path):
            conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
            if version == 0 and not has_tables(conn):  # a new file: only now can its page size be chosen
                conn.execute(f"PRAGMA page_size = {PAGE_SIZE}")
            schema = SCHEMA_VERSION if version == SCHEMA_VERSION else _upgraded(conn, path, version)
            _use_wal(conn)
    except BaseException:
        conn.close()
        raise
    return conn, schema


def _upgraded(conn: sqlite3.Connection, path: Path, version: int) -> int:
    """Migrate (then compact) an older file; the layout to read it with (1: a read-only schema-1 file, read as it is)."""
    try:
        migrated = store_migration.upgrade(conn, path)
    except sqlite3.OperationalError as exc:
        if version != 1 or not is_read_only(exc):
            raise
        return 1
    if migrated:
        store_migration.compact(conn)
    return SCHEMA_VERSION


def _use_wal(conn: sqlite3.Connection) -> None:
    """WAL mode (persistent: later connections inherit it).  A file that cannot be written and is in rollback mode
    (a copy, a file left so by an interrupted compaction) stays so: reading needs no WAL; the first write says
    it is read-only."""
    try:
        conn.execute("PRAGMA journal_mode = WAL")
    except sqlite3.OperationalError as exc:
        if not is_read_only(exc):
            raise
