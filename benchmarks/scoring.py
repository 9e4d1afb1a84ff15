"""Scoring's own time against its floor, and batched scoring against one input at a time, side by side.

    EXPLAIN_DATA_DIR=../shared/datasets python -m benchmarks.scoring [--n 256]

For each case the explanations are made first (not timed); then the deletion
scores (and, in a second row, deletion plus the faithfulness badge) are
computed for all of them in one ``score_explanations`` call, and again one
explanation per call as a caller looping over inputs would.  The floor is the
forward passes scoring needed (counted by the predictor) times the cost of one
input in a large batched ``predict`` of the same model, measured in the same run.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from benchmarks.common import explainable_inputs, reference, table
from explain import explain_batch
from explain.adapters import as_predictor
from explain.evaluation.scoring import score_explanations

CASES = (("mnist_cnn", "gradcam"), ("imdb_cnn", "gradcam"), ("housing_mlp", "kernel_shap"))


def per_input_cost(predictor, x, rows: int = 4096) -> float:
    """Seconds per input of one large batched predict (the best of three)."""
    batch = [x[i % len(x)] for i in range(rows)] if isinstance(x, list) else np.resize(x, (rows,) + x.shape[1:])
    predictor.predict(batch[:256])  # traced and warm
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        predictor.predict(batch)
        best = min(best, time.perf_counter() - started)
    return best / rows


def scored(predictor, explanations, metrics: list[str], one_at_a_time: bool) -> tuple[float, int]:
    before, started = predictor.evaluations, time.perf_counter()
    if one_at_a_time:
        for e in explanations:
            score_explanations(predictor, [e], metrics=metrics)
    else:
        score_explanations(predictor, explanations, metrics=metrics)
    return time.perf_counter() - started, predictor.evaluations - before


def run(name: str, method: str, n: int) -> list[dict]:
    ref = reference(name)
    predictor = as_predictor(ref)
    x = explainable_inputs(ref, n)
    explanations = explain_batch(predictor, x, method, **({"nsamples": 128} if method == "kernel_shap" else {}))
    cost = per_input_cost(predictor, x)
    score_explanations(predictor, explanations[:2], metrics=["deletion", "badge"])  # warm (tracing per shape)
    rows = []
    for metrics in (["deletion"], ["deletion", "badge"]):
        batched, passes = scored(predictor, explanations, metrics, one_at_a_time=False)
        alone, _ = scored(predictor, explanations, metrics, one_at_a_time=True)
        floor = passes * cost
        rows.append({
            "model": name, "method": method, "scores": "+".join(metrics), "inputs": len(explanations),
            "passes/input": round(passes / len(explanations)), "batched inputs/s": round(len(explanations) / batched, 1),
            "one at a time inputs/s": round(len(explanations) / alone, 1), "batched / one at a time": round(alone / batched, 2),
            "floor s": round(floor, 2), "batched s": round(batched, 2), "batched / floor": round(batched / floor, 2),
        })
        print(table(rows[-1:]), flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=256, help="explanations per case")
    parser.add_argument("--only", default="mnist_cnn,imdb_cnn,housing_mlp")
    args = parser.parse_args()
    wanted = set(args.only.split(","))
    rows = [row for name, method in CASES if name in wanted for row in run(name, method, args.n)]
    print("\n" + table(rows))


if __name__ == "__main__":
    main()
