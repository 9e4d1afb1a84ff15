"""First call against warm call, per method, on the reference models: what a new dashboard or service process pays.

One fresh process per reference model loads it and makes one prediction (so
TensorFlow's own start-up is not counted), then for each method that applies:
the first explanation of one input (tracing, compiling, imports the method
needs), then the median of three more on other inputs.  Methods run in the
order listed, so a cost two methods share (shap's numba compilation, say) is
paid by the first of them.  A second fresh process per model first runs
:func:`explain.warmup.warm_up` (what the dashboard and the service do in a
background thread at start) and :func:`explain.warmup.warm_up_model` (what they
do in the background when a model is loaded; the Models page loads it); their
own seconds are printed; then it measures the first calls again.

    EXPLAIN_MODELS_DIR=artifacts EXPLAIN_DATA_DIR=../shared/datasets .venv/bin/python -m benchmarks.cold_start
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

BUDGETS = {"lime_image": {"num_samples": 1000}, "lime_text": {"num_samples": 1000}, "partition_shap": {"max_evals": 500},
           "kernel_shap": {"nsamples": 512}, "gradient_shap": {"nsamples": 200}, "lime_tabular": {"num_samples": 2000}}
MODELS = ("mnist_cnn", "imdb_cnn", "housing_mlp")


def measure(name: str, warm_first: bool) -> list[dict]:
    """Runs in the child process: first and warm seconds per method for one reference model."""
    import explain
    from benchmarks.common import explainable_inputs, reference
    from explain.warmup import warm_up, warm_up_model

    ref = reference(name)
    predictor = explain.as_predictor(ref)
    inputs = explainable_inputs(ref, 4)
    predictor.predict(inputs[:1])
    rows: list[dict] = []
    if warm_first:
        started = time.perf_counter()
        warm_up()
        rows.append({"model": name, "method": "(warm-up)", "seconds": time.perf_counter() - started})
        started = time.perf_counter()
        warm_up_model(predictor)
        rows.append({"model": name, "method": "(model warm-up)", "seconds": time.perf_counter() - started})
    for method in explain.available(predictor):
        params = BUDGETS.get(method, {})
        started = time.perf_counter()
        try:
            explain.explain(predictor, inputs[0], method, truncate=True, **params)
        except ValueError as exc:
            rows.append({"model": name, "method": method, "refused": str(exc)[:80]})
            continue
        first = time.perf_counter() - started
        warm = []
        for x in inputs[1:]:
            started = time.perf_counter()
            explain.explain(predictor, x, method, truncate=True, **params)
            warm.append(time.perf_counter() - started)
        rows.append({"model": name, "method": method, "first": first, "warm": statistics.median(warm)})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--warm-first", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--models", default=",".join(MODELS))
    args = parser.parse_args()
    if args.child:
        print("ROWS " + json.dumps(measure(args.child, args.warm_first)))
        return
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    print("| model | method | first call s | first call after warm-ups s | warm s | first / warm | after warm-ups / warm |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name in args.models.split(","):
        cold, warmed = (_child(name, warm_first) for warm_first in (False, True))
        after = {row["method"]: row for row in warmed}
        print(f"| {name} | (warm-up, in the background at start) | | {after.pop('(warm-up)')['seconds']:.1f} | | | |")
        print(f"| {name} | (model warm-up, in the background at load) | | {after.pop('(model warm-up)')['seconds']:.1f} | | | |")
        for row in cold:
            if "refused" in row:
                print(f"| {name} | {row['method']} | refused: {row['refused']} | | | | |")
                continue
            again = after[row["method"]]["first"]
            print(f"| {name} | {row['method']} | {row['first']:.3f} | {again:.3f} | {row['warm']:.3f} | "
                  f"{row['first'] / row['warm']:.1f} | {again / row['warm']:.1f} |")


def _child(name: str, warm_first: bool) -> list[dict]:
    command = [sys.executable, "-m", "benchmarks.cold_start", "--child", name] + (["--warm-first"] if warm_first else [])
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return json.loads(next(line for line in out.splitlines() if line.startswith("ROWS "))[5:])


if __name__ == "__main__":
    main()
