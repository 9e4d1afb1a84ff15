"""The faithfulness badge over many inputs per reference model and method.

    EXPLAIN_MODELS_DIR=artifacts EXPLAIN_DATA_DIR=../shared/datasets .venv/bin/python -m benchmarks.badge --n 200

Per (model, method): how many explanations beat random, beat the input-only
baseline (edges / token rarity / feature deviation), are inconclusive or no
better than random; and, over inputs, the mean normalised deletion gain against
random orders and against the baseline with a 95% bootstrap interval (above 0:
the method removes the model's evidence faster than that reference).
"""
from __future__ import annotations

import argparse
import time
from collections import Counter

import numpy as np

from benchmarks.common import explainable_inputs, reference, table
from explain import explain_batch
from explain.evaluation.badge import LEVELS, from_scores
from explain.evaluation.baselines import BASELINE_NAMES
from explain.metrics import bootstrap_ci

ROWS = {
    "mnist": ("mnist_cnn", [("gradcam", {}), ("integrated_gradients", {}), ("saliency", {}), ("occlusion", {}),
                            ("lime_image", {"num_samples": 500})]),
    "imdb": ("imdb_cnn", [("gradcam", {}), ("integrated_gradients", {}), ("occlusion", {}),
                          ("lime_text", {"num_samples": 500})]),
    "housing": ("housing_mlp", [("kernel_shap", {}), ("integrated_gradients", {}), ("lime_tabular", {}), ("saliency", {})]),
}
CHUNK = 25


def _interval(values: list[float]) -> str:
    mean, low, high = bootstrap_ci(values)
    return f"{mean:+.3f} [{low:+.3f}, {high:+.3f}]"


def run(key: str, n: int, budget: float) -> list[dict]:
    name, methods = ROWS[key]
    ref = reference(name)
    x = explainable_inputs(ref, n)
    rows = []
    for method, params in methods:
        started, explanations = time.perf_counter(), []
        for start in range(0, len(x), CHUNK):
            explanations += explain_batch(ref, x[start:start + CHUNK], method, scores=["deletion", "badge"], **params)
            if time.perf_counter() - started > budget:
                break
        seconds = time.perf_counter() - started
        badges = [from_scores(e.modality, dict(e.scores)) for e in explanations]
        counts = Counter(b.level for b in badges)
        gain_random, gain_baseline = [], []
        for e in explanations:
            s = e.scores
            span = abs(s["deletion_full_score"] - s["deletion_empty_score"]) or np.nan
            gain_random.append((s["badge_deletion_random_mean"] - s["badge_deletion_auc"]) / span)
            gain_baseline.append((s["badge_deletion_baseline_auc"] - s["badge_deletion_auc"]) / span)
        rows.append({
            "model": name, "method": method, "inputs": len(explanations),
            **{level: counts.get(level, 0) for level in reversed(LEVELS)},
            "gain vs random (95% CI)": _interval(gain_random),
            f"gain vs {BASELINE_NAMES[explanations[0].modality]} (95% CI)": _interval(gain_baseline),
            "s/input": round(seconds / max(1, len(explanations)), 3),
        })
        print(table(rows[-1:]), flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--only", default="mnist,imdb,housing")
    parser.add_argument("--budget", type=float, default=300, help="seconds per row before it stops at fewer inputs")
    args = parser.parse_args()
    for key in args.only.split(","):
        rows = run(key, args.n, args.budget)
        print(table(rows, title=f"badge, {ROWS[key][0]}"), flush=True)


if __name__ == "__main__":
    main()
