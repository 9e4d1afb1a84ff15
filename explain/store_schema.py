"""The explanation store's file layout and how it fails: the tables of each schema version, the check that a
file is a store this code may use, and SQLite's errors turned into messages that say what to do.

Shared by :mod:`explain.store` (reading and writing) and :mod:`explain.store_migration` (bringing older
files up to date), so neither imports the other's internals.
"""
from __future__ import annotations

import contextlib
import hashlib
import sqlite3
from pathlib import Path
from typing import Any, Iterator

import numpy as np

STORE_ENV = "EXPLAIN_STORE"
DEFAULT_FILE = "explanations.sqlite"
SCHEMA_VERSION = 2
TABLE = "explanations"
PROVENANCE = "provenance"
PAGE_SIZE = 16384  # for new files: rows of 2-4 KB (reviews) fill 16 KiB pages; 4 KiB pages held one each, wasting up to half

# The columns query() gives (and filters on), in order; in schema 2 the shared ones are joined in
# from the provenance table.  ``explanation`` (the document) is never part of a query.
COLUMNS = ("key", "model", "model_name", "modality", "input_hash", "requested_target", "target", "method",
           "params", "truncate", "scores", "background", "versions", "seconds", "created", "explanation")
SHARED_COLUMNS = ("model", "params", "scores", "background", "versions")  # stored once, as provenance ids
CREATE_PROVENANCE = f"""
CREATE TABLE IF NOT EXISTS {PROVENANCE} (
    id INTEGER PRIMARY KEY,
    hash BLOB NOT NULL UNIQUE,     -- sha256 of value: equal values share one row (INSERT OR IGNORE)
    value TEXT NOT NULL            -- a fingerprint, a canonical JSON, or a shared part of the documents
)"""
CREATE_V2 = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    key BLOB PRIMARY KEY,          -- sha256 of the canonical JSON of the Key fields (32 bytes)
    model_id INTEGER NOT NULL,     -- provenance: Predictor.fingerprint
    model_name TEXT,
    modality TEXT,
    input_hash TEXT NOT NULL,
    requested_target INTEGER,      -- NULL: the predicted class
    target INTEGER,                -- the class explained (NULL for regression)
    method TEXT NOT NULL,
    params_id INTEGER NOT NULL,    -- provenance: canonical JSON of Method.params()
    truncate INTEGER NOT NULL,
    scores_id INTEGER NOT NULL,    -- provenance: canonical JSON of the requested scores
    background_id INTEGER,         -- provenance: hash of the reference rows used, if any
    versions_id INTEGER NOT NULL,  -- provenance: canonical JSON of library_versions()
    seconds REAL,
    created TEXT,
    explanation BLOB NOT NULL      -- explain.store_codec.pack(Explanation.to_dict()); JSON text in a row kept from v1
)"""
V2_COLUMNS = ("key", "model_id", "model_name", "modality", "input_hash", "requested_target", "target", "method",
              "params_id", "truncate", "scores_id", "background_id", "versions_id", "seconds", "created", "explanation")
INDEXES = (f"CREATE INDEX IF NOT EXISTS {TABLE}_method ON {TABLE}(method)",
           f"CREATE INDEX IF NOT EXISTS {TABLE}_model ON {TABLE}(model_id)",
           f"CREATE INDEX IF NOT EXISTS {TABLE}_input ON {TABLE}(input_hash)")
# Version 1: every column in the row, the document as JSON text.  Still read as it is where it cannot be
# migrated (a read-only file).
V1_COLUMNS = COLUMNS
V1_INDEX_NAMES = (f"{TABLE}_method", f"{TABLE}_model", f"{TABLE}_input")
# Version 0 (the first release) had the key columns only, with the requested target called "target".
V0_COLUMNS = ("key", "model", "input_hash", "target", "method", "params", "truncate", "scores", "background",
              "versions", "explanation")
EXPECTED_COLUMNS = {0: set(V0_COLUMNS), 1: set(V1_COLUMNS), 2: set(V2_COLUMNS)}


class StoreWarning(UserWarning):
    """Something in the store was skipped (a damaged row); the result is still right."""


class StoreError(ValueError):
    """The store file cannot be used (foreign, corrupt or newer); the message says what to do."""


def newer_error(path: Path, version: int) -> StoreError:
    """The refusal of a file written by a newer keras-explain: its layout is unknown here, so nothing reads or writes it."""
    return StoreError(f"{path} was written by a newer keras-explain (store schema {version}; this version reads up to "
                      f"{SCHEMA_VERSION}). Upgrade keras-explain, or point {STORE_ENV} (or store=) at another file.")


def user_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def is_read_only(exc: sqlite3.Error) -> bool:
    return "readonly" in str(exc) or "read-only" in str(exc)


@contextlib.contextmanager
def translated(path: Path) -> Iterator[None]:
    """SQLite's errors as a StoreError that says what to do."""
    try:
        yield
    except (sqlite3.ProgrammingError, sqlite3.InterfaceError):  # mistakes in the calling code, not the file
        raise
    except sqlite3.OperationalError as exc:
        if is_read_only(exc):
            raise StoreError(f"The explanation store {path} is read-only ({exc}): make the file and its folder "
                             f"writable, or point {STORE_ENV} (or store=) at a file you can write.") from exc
        if "locked" not in str(exc) and "busy" not in str(exc):
            raise StoreError(f"The explanation store {path} failed ({exc}); check the disk and the file's permissions.") from exc
        raise StoreError(f"The explanation store {path} stayed locked by another process ({exc}); retry, or point "
                         f"{STORE_ENV} (or store=) at another file.") from exc
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"The explanation store {path} is damaged ({exc}); move it away (explanations are recomputed "
                         f"into a new one), or point {STORE_ENV} (or store=) at another file.") from exc


@contextlib.contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """One write transaction: committed whole, or rolled back whole on any error (an interrupt included)."""
    conn.execute("BEGIN IMMEDIATE")  # take the write lock now (waits up to the busy timeout)
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:  # SQLite may have rolled back already (disk full, say)
            conn.execute("ROLLBACK")
        raise


def check(conn: sqlite3.Connection, path: Path) -> int:
    """The file's schema version, after checking (without writing) that it is a store this code can use."""
    advice = f"move it away, or point {STORE_ENV} (or store=) at another file"
    with translated(path):  # locked, busy or unopenable (OperationalError): said as such, never "damaged, move it away"
        try:
            version = user_version(conn)
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            columns = {row[1] for row in conn.execute(f"PRAGMA table_info({TABLE})")}
            shared = {row[1] for row in conn.execute(f"PRAGMA table_info({PROVENANCE})")}
        except sqlite3.OperationalError:
            raise
        except sqlite3.DatabaseError as exc:  # not a database at all, or a damaged header
            raise StoreError(f"{path} is not an explanation store or is damaged (SQLite: {exc}); {advice}.") from exc
    if version > SCHEMA_VERSION:
        raise newer_error(path, version)
    if version not in EXPECTED_COLUMNS:  # negative: PRAGMA user_version is any 32-bit number another tool set
        raise StoreError(f"{path} is an SQLite file but not an explanation store (user_version {version}); {advice}.")
    usable = EXPECTED_COLUMNS[version] <= columns and (version < 2 or {"id", "hash", "value"} <= shared)
    if (tables or version) and not usable:
        found = f"tables {sorted(tables)}" if TABLE not in tables else f"columns {sorted(columns)}"
        raise StoreError(f"{path} is an SQLite file but not an explanation store (schema {version}, {found}); {advice}.")
    return version


def query_source(schema: int) -> tuple[str, dict[str, str]]:
    """The FROM clause that gives query()'s columns, and the SQL expression of each, for the file's layout."""
    column = {c: c for c in COLUMNS}
    if schema != SCHEMA_VERSION:  # schema 1: every column in the row
        return TABLE, {**column, "stored_key": "key"}
    joins = " ".join(f"LEFT JOIN {PROVENANCE} p_{c} ON p_{c}.id = e.{c}_id" for c in SHARED_COLUMNS)
    column = {c: f"e.{c}" for c in COLUMNS}
    column.update({c: f"p_{c}.value" for c in SHARED_COLUMNS})
    column["key"] = "CASE WHEN typeof(e.key) = 'blob' THEN lower(hex(e.key)) ELSE e.key END"
    column["stored_key"] = "e.key"
    return f"{TABLE} e {joins}", column


def key_param(digest: str, schema: int) -> bytes | str:
    """A digest as the file's layout holds keys."""
    return stored_key(digest) if schema == SCHEMA_VERSION else digest


def query_sql(schema: int, method: str | None, model: str | None, where: dict[str, Any]) -> tuple[str, list[Any]]:
    """query()'s SELECT and its parameters, for the file's layout."""
    source, column = query_source(schema)
    clauses, values = [], []
    if method is not None:
        clauses.append(f"{column['method']} = ?")
        values.append(method)
    if model is not None:
        clauses.append(f"({column['model']} = ? OR {column['model_name']} = ?)")
        values += [model, model]
    for name, value in where.items():
        value = value.item() if isinstance(value, np.generic) else value
        if name == "key" and isinstance(value, str):
            clauses.append(f"{column['stored_key']} IS ?")
            value = key_param(value, schema)
        else:
            clauses.append(f"{column[name]} IS ?")
        values.append(value)
    selected = ", ".join(f"{column[c]} AS {c}" for c in COLUMNS[:-1])
    sql = (f"SELECT {selected} FROM {source}" + (f" WHERE {' AND '.join(clauses)}" if clauses else "")
           + f" ORDER BY {column['created']}, {column['stored_key']}")
    return sql, values


def has_tables(conn: sqlite3.Connection) -> bool:
    return conn.execute("SELECT 1 FROM sqlite_master").fetchone() is not None


def create(conn: sqlite3.Connection) -> None:
    conn.execute(CREATE_PROVENANCE)
    conn.execute(CREATE_V2)


def stored_key(digest: str) -> bytes | str:
    """A key as schema 2 holds it: the 32 bytes of a lowercase sha256 hex digest (half the size); any other text
    as it is, so that reading the key back (``lower(hex(key))``) always gives exactly the text that was stored."""
    if len(digest) == 64:
        with contextlib.suppress(ValueError):
            raw = bytes.fromhex(digest)
            if raw.hex() == digest:
                return raw
    return digest


def content_hash(text: str) -> bytes:
    """The hash a provenance row is found by, and checked against when read."""
    return hashlib.sha256(text.encode("utf-8")).digest()


def intern(conn: sqlite3.Connection, committed: dict[str, int], pending: dict[str, int], text: str) -> int:
    """The provenance id of ``text``, stored if new (content-hashed, so every process finds the same row).

    A row found by its hash but holding another value was damaged: it is repaired here, or every row that
    refers to it would be recomputed on every request and never replaced (``INSERT OR IGNORE`` keeps it)."""
    found = committed.get(text)
    if found is None:
        found = pending.get(text)
    if found is None:
        digest = content_hash(text)
        conn.execute(f"INSERT OR IGNORE INTO {PROVENANCE} (hash, value) VALUES (?, ?)", (digest, text))
        found, value = conn.execute(f"SELECT id, value FROM {PROVENANCE} WHERE hash = ?", (digest,)).fetchone()
        found = int(found)
        if value != text:
            conn.execute(f"UPDATE {PROVENANCE} SET value = ? WHERE id = ?", (text, found))
        pending[text] = found
    return found
