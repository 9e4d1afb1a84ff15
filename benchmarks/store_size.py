"""The explanation store's size per explanation, and its write and read times: the schema-1 store with plain
arrays (format 1, the reference for "how many times smaller"), the schema-1 store with compressed arrays
(format 2), and today's schema-2 store (shared provenance rows, packed documents), side by side in one run.

The same explanations (with deletion scores, as audits store them, under their real store keys) go into three
fresh files; sizes are the SQLite file per 1,000 explanations after a VACUUM, and "growth" is the same less the
size of an empty store of that schema (schema 2 starts with more, and larger, pages: 8 b-trees of 16 KiB, 128 KiB,
which 200 explanations do not amortise).  Schema-1 files are written and
read the way schema 1 did it (one INSERT of every column and ``Explanation.to_json()`` per row; one SELECT and
``Explanation.from_json`` per row), so their times are those of the previous store.

    EXPLAIN_MODELS_DIR=artifacts EXPLAIN_DATA_DIR=../shared/datasets .venv/bin/python -m benchmarks.store_size
"""
from __future__ import annotations

import argparse
import contextlib
import os
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterator

from benchmarks.common import explainable_inputs, reference, table

CASES = (("mnist_cnn", "gradcam", {}), ("mnist_cnn", "lime_image", {"num_samples": 500}),
         ("mnist_cnn", "integrated_gradients", {}), ("imdb_cnn", "lime_text", {"num_samples": 300}),
         ("housing_mlp", "kernel_shap", {"nsamples": 256}))

V1_TABLE = """CREATE TABLE explanations (key TEXT PRIMARY KEY, model TEXT NOT NULL, model_name TEXT, modality TEXT,
    input_hash TEXT NOT NULL, requested_target INTEGER, target INTEGER, method TEXT NOT NULL, params TEXT NOT NULL,
    truncate INTEGER NOT NULL, scores TEXT NOT NULL, background TEXT, versions TEXT NOT NULL, seconds REAL,
    created TEXT, explanation TEXT NOT NULL)"""
V1_INDEXES = ("CREATE INDEX explanations_method ON explanations(method)",
              "CREATE INDEX explanations_model ON explanations(model)",
              "CREATE INDEX explanations_input ON explanations(input_hash)")


@contextlib.contextmanager
def array_format(version: int) -> Iterator[None]:
    """Explanation documents written with plain (1) or compressed (2) arrays."""
    from explain import arrays

    saved = arrays.COMPRESS_FROM_BYTES
    arrays.COMPRESS_FROM_BYTES = 1 << 62 if version == 1 else saved
    try:
        yield
    finally:
        arrays.COMPRESS_FROM_BYTES = saved


class SchemaOne:
    """A store as schema 1 kept it, written and read the way schema 1's put_many and get_many did: every column
    in the row and the document as JSON text, one transaction; SELECT ... IN (...) by 500, Explanation.from_json."""

    def __init__(self, path: Path) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode = WAL")
        self.conn.execute(V1_TABLE)
        for index in V1_INDEXES:
            self.conn.execute(index)
        self.conn.execute("PRAGMA user_version = 1")

    def put_many(self, items) -> None:
        self.conn.execute("BEGIN IMMEDIATE")
        self.conn.executemany("INSERT OR REPLACE INTO explanations VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", (
            (k.digest, k.model, (e.meta.get("model") or {}).get("model"), e.modality, k.input_hash, k.requested_target,
             e.target, k.method, k.params, int(k.truncate), k.scores, k.background, k.versions, e.meta.get("seconds"),
             "2026-01-01T00:00:00+00:00", e.to_json()) for k, e in items))
        self.conn.execute("COMMIT")

    def get_many(self, keys: list) -> dict:
        from explain.explanation import Explanation

        digests = [k.digest for k in keys]
        found = {}
        for start in range(0, len(digests), 500):
            part = digests[start : start + 500]
            rows = self.conn.execute(f"SELECT key, explanation FROM explanations WHERE key IN ({','.join('?' * len(part))})", part)
            found.update((digest, Explanation.from_json(text)) for digest, text in rows)
        return found

    def close(self) -> None:
        self.conn.close()


def schema_two(path: Path):
    from explain.store import ExplanationStore

    return ExplanationStore(path)


def measure(path: Path, keys: list, explanations: list, kind: Callable[[Path], object]) -> dict[str, float]:
    """File KiB, and put_many and get_many ms, per 1,000 explanations (on an open store, as the first benchmark)."""
    store = kind(path)
    started = time.perf_counter()
    store.put_many(zip(keys, explanations))  # type: ignore[attr-defined]
    wrote = time.perf_counter() - started
    store.close()  # type: ignore[attr-defined]
    store = kind(path) if kind is schema_two else SchemaOne.__new__(SchemaOne)
    if isinstance(store, SchemaOne):
        store.conn = sqlite3.connect(path, isolation_level=None)
    started = time.perf_counter()
    back = store.get_many(keys)  # type: ignore[attr-defined]
    took = time.perf_counter() - started
    store.close()  # type: ignore[attr-defined]
    assert len(back) == len(explanations) and all(back[k.digest] == e for k, e in zip(keys, explanations))  # lossless
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.execute("VACUUM")
    conn.close()
    empty = path.with_name(f"empty-{path.name}")
    kind(empty).close()  # type: ignore[attr-defined]
    conn = sqlite3.connect(empty)
    conn.execute("VACUUM")
    conn.close()
    per = 1000 / len(explanations)
    return {"KiB": path.stat().st_size / 1024 * per, "write": wrote * 1000 * per, "read": took * 1000 * per,
            "growth KiB": (path.stat().st_size - empty.stat().st_size) / 1024 * per}


def main() -> None:
    from explain import pipeline
    from explain.store import request_keys

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=200, help="explanations per case")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per store; the best is shown")
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.2f}", flush=True)
    rows = []
    for name, method, params in CASES:
        ref = reference(name)
        request, _ = pipeline.prepare(ref, explainable_inputs(ref, args.n), method, scores=True, **params)
        found, keys = pipeline.run(request), request_keys(request)  # the keys a real request stores under
        results: dict[str, dict[str, float]] = {}
        for label, version, kind in (("v1 f1", 1, SchemaOne), ("v1 f2", 2, SchemaOne), ("v2", 2, schema_two)):
            runs = []
            with array_format(version):
                for _ in range(args.repeat):
                    with tempfile.TemporaryDirectory() as tmp:
                        runs.append(measure(Path(tmp) / "s.sqlite", keys, found, kind))
            results[label] = {"KiB": runs[0]["KiB"], "growth KiB": runs[0]["growth KiB"], "write": min(r["write"] for r in runs),
                              "read": min(r["read"] for r in runs)}
        base, old, new = results["v1 f1"], results["v1 f2"], results["v2"]
        rows.append({"model": name, "method": method,
                     "KiB / 1,000: schema 1, format 1": base["KiB"], "schema 1, format 2": old["KiB"],
                     "schema 2": new["KiB"], "smaller than format 1": base["KiB"] / new["KiB"],
                     "growth: smaller": base["growth KiB"] / new["growth KiB"],
                     "write ms / 1,000: s1 f1": base["write"], "s1 f2": old["write"], "s2": new["write"],
                     "read ms / 1,000: s1 f1": base["read"], "s1 f2 ": old["read"], "s2 ": new["read"]})
        print(f"{name} {method} done (load {os.getloadavg()[0]:.2f})", flush=True)
    print(table(rows, f"Explanation store per 1,000 explanations ({args.n} per case, with deletion scores, "
                      f"best of {args.repeat} timed runs)"))
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
