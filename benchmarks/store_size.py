"""The explanation store's size per explanation, and its write and read times, with arrays written plainly
(format 1: base64 of the raw bytes) and compressed (format 2: byte planes, deflated), side by side in one run.

The same explanations (with deletion scores, as audits store them) go into two fresh stores; sizes are the
SQLite file per 1,000 explanations after a VACUUM, and the stored JSON alone.

    EXPLAIN_MODELS_DIR=artifacts EXPLAIN_DATA_DIR=../shared/datasets .venv/bin/python -m benchmarks.store_size
"""
from __future__ import annotations

import argparse
import os
import sqlite3
import tempfile
import time
from pathlib import Path

from benchmarks.common import explainable_inputs, reference, table

CASES = (("mnist_cnn", "gradcam", {}), ("mnist_cnn", "lime_image", {"num_samples": 500}),
         ("mnist_cnn", "integrated_gradients", {}), ("imdb_cnn", "lime_text", {"num_samples": 300}),
         ("housing_mlp", "kernel_shap", {"nsamples": 256}))


def _measure(explanations: list, keys: list, path: Path) -> dict[str, float]:
    from explain.store import ExplanationStore

    with ExplanationStore(path) as store:
        started = time.perf_counter()
        store.put_many(zip(keys, explanations))
        write = time.perf_counter() - started
        started = time.perf_counter()
        back = store.get_many(keys)
        read = time.perf_counter() - started
    assert len(back) == len(explanations)
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        json_bytes = conn.execute("SELECT SUM(LENGTH(explanation)) FROM explanations").fetchone()[0]
    conn = sqlite3.connect(path)
    conn.execute("VACUUM")
    conn.close()
    per = 1000 / len(explanations)
    return {"file KiB": path.stat().st_size / 1024 * per, "json KiB": json_bytes / 1024 * per,
            "write ms": write * 1000 * per, "read ms": read * 1000 * per}


def main() -> None:
    from explain import arrays, pipeline
    from explain.store import request_keys

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=200, help="explanations per case")
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    rows = []
    compress_from = arrays.COMPRESS_FROM_BYTES
    for name, method, params in CASES:
        ref = reference(name)
        request, _ = pipeline.prepare(ref, explainable_inputs(ref, args.n), method, scores=True, **params)
        found, keys = pipeline.run(request), request_keys(request)  # the keys a real request stores under
        with tempfile.TemporaryDirectory() as tmp:
            arrays.COMPRESS_FROM_BYTES = 1 << 62  # format 1: every array plain
            plain = _measure(found, keys, Path(tmp) / "plain.sqlite")
            arrays.COMPRESS_FROM_BYTES = compress_from
            packed = _measure(found, keys, Path(tmp) / "packed.sqlite")
        rows.append({"model": name, "method": method,
                     "file KiB / 1,000 (plain)": plain["file KiB"], "(compressed)": packed["file KiB"],
                     "smaller": plain["file KiB"] / packed["file KiB"],
                     "JSON smaller": plain["json KiB"] / packed["json KiB"],
                     "write ms / 1,000 (plain)": plain["write ms"], "(compressed) ": packed["write ms"],
                     "read ms / 1,000 (plain)": plain["read ms"], "(compressed)  ": packed["read ms"]})
    print(table(rows, f"Explanation store per 1,000 explanations ({args.n} per case, with deletion scores)"))


if __name__ == "__main__":
    main()
