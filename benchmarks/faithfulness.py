"""Faithfulness and sanity of every method on the reference models.

    python -m benchmarks.faithfulness [--n 200] [--only mnist,imdb,housing]

Prints Markdown tables (paste them into the README):
- deletion AUC against a random-order baseline on the same inputs, with a 95%
  bootstrap interval of the difference (random - method: above zero is faithful);
- SHAP additivity over every explained input;
- the randomisation sanity check (Spearman of |attributions|, trained vs re-initialised model);
- LIME top-5 stability across 5 seeds at the default sample count.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from benchmarks.common import explainable_inputs, reference, table
from explain import explain_batch, metrics

# reference model and the methods whose deletion curves are scored
DELETION = {
    "mnist": ("mnist_cnn", ["lime_image", "gradient_shap", "deep_shap", "partition_shap", "gradcam", "gradcam_pp"]),
    "imdb": ("imdb_cnn", ["lime_text", "partition_shap", "gradcam"]),
    "housing": ("housing_mlp", ["lime_tabular", "kernel_shap", "exact_shap", "gradient_shap", "deep_shap"]),
}
ADDITIVITY_TOLERANCE = {"exact_shap": 1e-6, "kernel_shap": 1e-6, "partition_shap": 1e-6, "gradient_shap": 1e-2, "deep_shap": 1e-2}
RANDOMISATION = [("mnist_cnn", "gradcam"), ("mnist_cnn", "gradient_shap"), ("mnist_cnn", "deep_shap"),
                 ("imdb_cnn", "gradcam"), ("housing_mlp", "gradient_shap"), ("housing_mlp", "deep_shap")]
STABILITY = [("mnist_cnn", "lime_image", 10), ("imdb_cnn", "lime_text", 5), ("housing_mlp", "lime_tabular", 10)]


def deletion_rows(n: int, only: set[str], methods: set[str] | None = None) -> tuple[list[dict], list[dict]]:
    deletion, additivity = [], []
    for key, (name, chosen) in DELETION.items():
        if key not in only:
            continue
        ref = reference(name)
        x = explainable_inputs(ref, n)
        for method in [m for m in chosen if methods is None or m in methods]:
            started = time.perf_counter()
            explanations = explain_batch(ref, x, method)
            seconds = time.perf_counter() - started
            curves = metrics.deletion(ref, explanations)
            gains = [c.gain for c in curves]
            mean, low, high = metrics.bootstrap_ci(gains)
            deletion.append({
                "model": name, "method": method, "n": len(curves),
                "deletion AUC": float(np.mean([c.auc for c in curves])),
                "random AUC": float(np.mean([c.random_auc for c in curves])),
                "random - method [95% CI]": f"{mean:.4g} [{low:.4g}, {high:.4g}]",
                "beats random": "yes" if low > 0 else "NO",
                "s / input": seconds / len(curves),
            })
            print(table(deletion[-1:]), flush=True)
            if explanations[0].base_value is not None and method in ADDITIVITY_TOLERANCE:
                errors = [metrics.additivity(ref, e) for e in explanations]
                absolute = np.array([e["additivity_error"] for e in errors])
                scale = np.array([max(1.0, abs(float(ex.prediction.max()))) for ex in explanations])
                tolerance = ADDITIVITY_TOLERANCE[method]
                additivity.append({
                    "model": name, "method": method, "n": len(errors), "tolerance (relative to max(1, abs(output)))": tolerance,
                    "max error": float(absolute.max()), "max relative": float((absolute / scale).max()),
                    "within tolerance": f"{int(np.sum(absolute / scale <= tolerance))}/{len(absolute)}",
                })
    return deletion, additivity


def randomisation_rows(n: int, only: set[str], methods: set[str] | None = None) -> list[dict]:
    rows = []
    for name, method in RANDOMISATION:
        if not any(name.startswith(k) for k in only) or (methods is not None and method not in methods):
            continue
        ref = reference(name)
        results = metrics.randomisation_check(ref, explainable_inputs(ref, n), method)
        absolute = np.array([r["spearman_abs"] for r in results], dtype=float)
        signed = np.array([r["spearman"] for r in results], dtype=float)
        rows.append({"model": name, "method": method, "n": int(np.isfinite(absolute).sum()),
                     "mean Spearman of abs(attr)": float(np.nanmean(absolute)), "median, abs": float(np.nanmedian(absolute)),
                     "mean Spearman, signed": float(np.nanmean(signed)),
                     "abs <= 0.2": "yes" if np.nanmean(absolute) <= 0.2 else "NO",
                     "signed <= 0.2": "yes" if np.nanmean(signed) <= 0.2 else "NO"})
        print(table(rows[-1:]), flush=True)
    return rows


def stability_rows(only: set[str], methods: set[str] | None = None) -> list[dict]:
    rows = []
    for name, method, n in STABILITY:
        if not any(name.startswith(k) for k in only) or (methods is not None and method not in methods):
            continue
        ref = reference(name)
        results = metrics.stability(ref, explainable_inputs(ref, n), method, n_seeds=5, k=5)
        values = np.array([r["stability_topk"] for r in results])
        rows.append({"model": name, "method": method, "inputs": len(values), "seeds": 5,
                     "top-5 agreement (mean)": float(values.mean()), "min": float(values.min()),
                     "meets 0.8": "yes" if values.mean() >= 0.8 else "NO"})
        print(table(rows[-1:]), flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=200, help="test inputs per model for deletion and additivity")
    parser.add_argument("--n-random", type=int, default=50, help="test inputs per model for the randomisation check")
    parser.add_argument("--only", default="mnist,imdb,housing", help="data sets to run")
    parser.add_argument("--methods", help="comma-separated methods to run (default: all)")
    args = parser.parse_args()
    only = set(args.only.split(","))
    methods = set(args.methods.split(",")) if args.methods else None
    deletion, additivity = deletion_rows(args.n, only, methods)
    randomisation = randomisation_rows(args.n_random, only, methods)
    stability = stability_rows(only, methods)
    print(table(deletion, "Deletion AUC against a random-order baseline"))
    print(table(additivity, "SHAP additivity"))
    print(table(randomisation, "Randomisation sanity check"))
    print(table(stability, "LIME stability across seeds"))


if __name__ == "__main__":
    main()
