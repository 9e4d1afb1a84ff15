"""Bringing an older explanation store file up to the current schema, without ever losing what it holds.

Every step from the file's version to :data:`~explain.store_schema.SCHEMA_VERSION` runs inside ONE
``BEGIN IMMEDIATE`` transaction (:func:`upgrade`): a failure, or a kill, at any row leaves the file exactly as
it was, and the next open starts again.  Another process opening the same file at the same time waits for the
write lock and then finds the work done.  The v1 -> v2 step checks its own result before it drops the old
table: each packed document must unpack to exactly its JSON (else the row keeps its JSON text), and every
queryable column of every row must read back unchanged through the new layout (else nothing is changed and
the open is refused with a message that says what to do).
"""
from __future__ import annotations

import contextlib
import functools
import json
import sqlite3
from pathlib import Path
from typing import Any, Callable, Sequence

from . import store_codec
from .store_schema import (
    COLUMNS, INDEXES, PAGE_SIZE, PROVENANCE, SCHEMA_VERSION, SHARED_COLUMNS, STORE_ENV, TABLE, V1_COLUMNS,
    V1_INDEX_NAMES, V2_COLUMNS, StoreError, create, intern, newer_error, query_source, stored_key, transaction,
    user_version,
)

MIGRATE_BATCH = 500  # rows converted per step of the v1 -> v2 migration (memory stays flat)
OLD_TABLE = f"{TABLE}_v1"  # the v1 rows while they are converted; dropped in the same transaction


def upgrade(conn: sqlite3.Connection, path: Path) -> bool:
    """Create or migrate the schema in one transaction.  True if existing rows were migrated.

    The version is read again under the write lock: another process may have migrated the file since it was
    checked (then there is nothing to do), or a newer keras-explain may have (then it is refused: writing
    ``user_version = 2`` over it would make this version misread, and damage, a layout it does not know)."""
    with transaction(conn):
        version = user_version(conn)
        if version > SCHEMA_VERSION:
            raise newer_error(path, version)
        empty = not conn.execute(f"SELECT 1 FROM sqlite_master WHERE name = '{TABLE}'").fetchone()
        migrated = False
        if empty:
            create(conn)
        else:
            for step in range(version, SCHEMA_VERSION):
                MIGRATIONS[step](conn, path)
                migrated = True
        for index in INDEXES:
            conn.execute(index)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    return migrated


def compact(conn: sqlite3.Connection) -> None:
    """After a migration (committed): give the old rows' pages back, in pages of PAGE_SIZE if no other process has
    the file open (leaving WAL mode, the only mode that allows it, needs the file alone).  Best effort: VACUUM is
    atomic, and a busy file simply stays as large as it was, its free pages reused by new rows."""
    with contextlib.suppress(sqlite3.OperationalError):
        if conn.execute("PRAGMA journal_mode = DELETE").fetchone()[0] == "delete":
            conn.execute(f"PRAGMA page_size = {PAGE_SIZE}")
        conn.execute("VACUUM")  # the caller sets WAL mode again


def migrate_v0(conn: sqlite3.Connection, path: Path) -> None:
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


def migrate_v1(conn: sqlite3.Connection, path: Path) -> None:
    """v1 -> v2: the shared columns move to the provenance table (one row per distinct value), keys become
    their 32 bytes, documents are packed (explain.store_codec).  Runs inside upgrade's one transaction, so
    a failure or a kill at any row leaves the v1 file exactly as it was."""
    for index in V1_INDEX_NAMES:  # their names are reused by the new table's indexes
        conn.execute(f"DROP INDEX IF EXISTS {index}")
    conn.execute(f"ALTER TABLE {TABLE} RENAME TO {OLD_TABLE}")
    create(conn)
    add = functools.partial(intern, conn, {}, {})
    decoded: dict[int, Any] = {}

    def lookup(ident: int) -> Any:  # this transaction's provenance rows, to check each packed row
        if ident not in decoded:
            decoded[ident] = json.loads(conn.execute(f"SELECT value FROM {PROVENANCE} WHERE id = ?", (ident,)).fetchone()[0])
        return decoded[ident]

    insert = f"INSERT INTO {TABLE} ({', '.join(V2_COLUMNS)}) VALUES ({','.join('?' * len(V2_COLUMNS))})"
    cursor = conn.execute(f"SELECT {', '.join(V1_COLUMNS)} FROM {OLD_TABLE}")
    while batch := cursor.fetchmany(MIGRATE_BATCH):
        conn.executemany(insert, [v2_row_from_v1(row, add, lookup) for row in batch])
    verify_columns(conn, path)
    conn.execute(f"DROP TABLE {OLD_TABLE}")


def v2_row_from_v1(row: Sequence[Any], add: store_codec.Intern, lookup: store_codec.Lookup) -> tuple:
    """A v1 row in the v2 layout.  Its document is packed only if unpacking gives back exactly its JSON (the
    same text: key order, ``-0.0`` and ``1`` vs ``1.0`` included, which ``==`` on dicts would let through);
    otherwise (damaged JSON, say) it stays the text it was, read and handled as before."""
    values = dict(zip(V1_COLUMNS, row))
    for name in SHARED_COLUMNS:
        value = values[name]
        values[f"{name}_id"] = None if value is None else add(str(value))
    values["key"] = stored_key(values["key"]) if isinstance(values["key"], str) else values["key"]
    text = values["explanation"]
    try:
        doc = json.loads(text)
        if isinstance(doc, dict):
            body = store_codec.pack(doc, add)
            if json.dumps(store_codec.unpack(body, lookup)) == json.dumps(doc):
                values["explanation"] = body
    except (ValueError, TypeError, RecursionError):
        pass
    return tuple(values[c] for c in V2_COLUMNS)


def verify_columns(conn: sqlite3.Connection, path: Path) -> None:
    """Every v1 row reads back through the v2 layout with every queryable column unchanged (and no row more or
    less), checked in SQL before the v1 rows are dropped; else the migration is rolled back, and said so."""
    source, column = query_source(SCHEMA_VERSION)
    old = ", ".join(COLUMNS[:-1])
    new = ", ".join(column[c] for c in COLUMNS[:-1])
    changed = conn.execute(f"SELECT key FROM (SELECT {old} FROM {OLD_TABLE} EXCEPT SELECT {new} FROM {source})").fetchall()
    counts = conn.execute(f"SELECT (SELECT COUNT(*) FROM {OLD_TABLE}), (SELECT COUNT(*) FROM {TABLE})").fetchone()
    if changed or counts[0] != counts[1]:
        first = f" (first key {changed[0][0]!r})" if changed else ""
        raise StoreError(
            f"Migrating the explanation store {path} to schema {SCHEMA_VERSION} would change {len(changed)} of its "
            f"{counts[0]} rows{first}, so nothing was changed: the file is still schema 1. Keep using it with the "
            f"keras-explain that wrote it, or move it away (explanations are recomputed into a new one) or point "
            f"{STORE_ENV} (or store=) at another file; please report this.")


# From n to n + 1 (the path is for messages).
MIGRATIONS: dict[int, Callable[[sqlite3.Connection, Path], None]] = {0: migrate_v0, 1: migrate_v1}
