"""Audit throughput per method on the reference models, locally and on a 2-worker Dask LocalCluster,
and the size of the explanation store, measured side by side in one run.

    EXPLAIN_DATA_DIR=../shared/datasets python -m benchmarks.audit [--factor 1.0] [--no-dask]

Each audit runs with its default deletion scores into a fresh store, so the
figures include scoring and persisting, as users run it; one column shows the
same audit without scores or store, to separate the explaining from the scoring.  Workers and the local
process are warmed up first (TensorFlow import, model load, tracing), so the
tables compare steady-state throughput.  The cluster has two single-threaded
worker processes on this two-core machine, while the local process lets
TensorFlow use both cores: the ratio says what scale-out buys here, not on a
real cluster.
"""
from __future__ import annotations

import argparse
import math
import sqlite3
import tempfile
import time
from pathlib import Path

from benchmarks.common import reference, table
from explain import audit

# (model, method, inputs at --factor 1): about 10-30 s each on this machine
CASES = (
    ("mnist_cnn", "gradcam", 512),
    ("mnist_cnn", "lime_image", 32),
    ("mnist_cnn", "gradient_shap", 32),
    ("imdb_cnn", "gradcam", 256),
    ("imdb_cnn", "lime_text", 16),
    ("housing_mlp", "kernel_shap", 64),
    ("housing_mlp", "lime_tabular", 128),
)
CHUNKS = 4  # chunks per audit, so two workers both get work


def timed_audit(ref, x, y, method: str, store: Path | None, client=None, metrics=("deletion",)) -> tuple[float, int]:
    started = time.perf_counter()
    frame = audit(ref, x, y, methods=[method], metrics=metrics, truncate=True, chunk_size=math.ceil(len(x) / CHUNKS),
                  store=store, client=client, progress=False)
    return time.perf_counter() - started, len(frame)


def store_sizes(path: Path) -> tuple[float, float]:
    """``(file KiB, JSON KiB)`` per 1,000 stored explanations."""
    conn = sqlite3.connect(path)
    try:
        rows, json_bytes = conn.execute("SELECT COUNT(*), SUM(LENGTH(explanation)) FROM explanations").fetchone()
    finally:
        conn.close()
    return path.stat().st_size / rows * 1000 / 1024, json_bytes / rows * 1000 / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--factor", type=float, default=1.0, help="scale every input count")
    parser.add_argument("--no-dask", action="store_true", help="local runs only")
    args = parser.parse_args()
    client = cluster = None
    if not args.no_dask:
        from distributed import Client, LocalCluster

        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
        client = Client(cluster)
    rows, sizes, data = [], [], {}
    try:
        for name, method, count in CASES:
            ref = reference(name)
            n = max(CHUNKS, int(count * args.factor))
            if name not in data:  # one read of the data set per model
                data[name] = ref.test_split(limit=max(max(CHUNKS, int(c * args.factor)) for m, _, c in CASES if m == name))
            x, y = data[name][0][:n], data[name][1][:n]
            with tempfile.TemporaryDirectory() as tmp:
                timed_audit(ref, x[:CHUNKS], y[:CHUNKS], method, Path(tmp) / "warm.sqlite")
                local, n_rows = timed_audit(ref, x, y, method, Path(tmp) / "local.sqlite")
                file_kib, json_kib = store_sizes(Path(tmp) / "local.sqlite")
                bare, _ = timed_audit(ref, x, y, method, None, metrics=())
                row = {"model": name, "method": method, "inputs": n_rows, "local inputs/s": n_rows / local,
                       "local, no scores or store, inputs/s": n_rows / bare}
                if client is not None:
                    timed_audit(ref, x[:CHUNKS], y[:CHUNKS], method, Path(tmp) / "warm-dask.sqlite", client)
                    remote, _ = timed_audit(ref, x, y, method, Path(tmp) / "dask.sqlite", client)
                    row.update({"dask 2x1 inputs/s": n_rows / remote, "dask / local": local / remote})
            rows.append(row)
            sizes.append({"model": name, "method": method, "store KiB / 1,000": file_kib,
                          "of which JSON KiB / 1,000": json_kib})
            print(table([row]), flush=True)
    finally:
        if client is not None:
            client.close()
            cluster.close()
    print(table(rows, "Audit throughput (deletion scores and store writes included)"))
    print(table(sizes, "Explanation store size per 1,000 explanations"))


if __name__ == "__main__":
    main()
