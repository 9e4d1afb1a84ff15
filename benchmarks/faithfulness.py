"""Faithfulness and sanity of every method on the reference models.

    python -m benchmarks.faithfulness [--n 200] [--only mnist,imdb,housing] [--methods a,b] [--budget 600]

    # the gradient family, occlusion and both Grad-CAM scores only (as run for bench_results.md):
    EXPLAIN_MODELS_DIR=artifacts EXPLAIN_DATA_DIR=../shared/datasets .venv/bin/python \
        -m benchmarks.faithfulness --n 200 --methods new

Prints Markdown tables (paste them into the README):
- deletion AUC against a random-order baseline on the same inputs, with a 95%
  bootstrap interval of the difference (random - method: above zero is faithful);
- SHAP additivity over every explained input;
- the randomisation sanity check (Spearman of |attributions|, trained vs re-initialised model);
- LIME top-5 stability across 5 seeds at the default sample count;
- Integrated Gradients completeness on the MNIST CNN (``--completeness-models`` adds
  housing_mlp): |sum - (f(x) - f(b))| / |f(x) - f(b)| per input for 16, 64 and 256 steps
  (f: the target's logit, the score IG explains; the output for regression), with f(x)
  and f(b) recomputed here from the model's own layers as a cross-check.

A method row is ``"name"`` or ``(label, name, parameters)``; ``--methods`` picks
rows by label or by method name (``gradcam`` runs both Grad-CAM rows), and
``--methods new`` the gradient family, occlusion and both Grad-CAM scores.
A row whose projected time (measured on its first inputs) exceeds ``--budget``
seconds runs on fewer inputs, and says so in its ``note`` column.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from benchmarks.common import explainable_inputs, reference, table
from explain import explain_batch, metrics

GRADIENT_FAMILY = ["saliency", "gradient_x_input", "smoothgrad", "integrated_gradients", "occlusion"]
GRADCAM_SCORES = [("gradcam (score=logit)", "gradcam", {"score": "logit"}),
                  ("gradcam (score=log_p)", "gradcam", {"score": "log_p"})]
NEW = set(GRADIENT_FAMILY) | {label for label, _, _ in GRADCAM_SCORES}  # --methods new
# reference model and the methods whose deletion curves are scored
DELETION = {
    "mnist": ("mnist_cnn", ["lime_image", "gradient_shap", "deep_shap", "partition_shap", *GRADCAM_SCORES, "gradcam_pp",
                            *GRADIENT_FAMILY]),
    "imdb": ("imdb_cnn", ["lime_text", "partition_shap", *GRADCAM_SCORES, *GRADIENT_FAMILY]),
    "housing": ("housing_mlp", ["lime_tabular", "kernel_shap", "exact_shap", "gradient_shap", "deep_shap", *GRADIENT_FAMILY]),
}
ADDITIVITY_TOLERANCE = {"exact_shap": 1e-6, "kernel_shap": 1e-6, "partition_shap": 1e-6, "gradient_shap": 1e-2, "deep_shap": 1e-2,
                        "integrated_gradients": 1e-2}
RANDOMISATION = [("mnist_cnn", "gradcam"), ("mnist_cnn", "gradient_shap"), ("mnist_cnn", "deep_shap"),
                 ("imdb_cnn", "gradcam"), ("housing_mlp", "gradient_shap"), ("housing_mlp", "deep_shap")]
RANDOMISATION += [(name, method) for name in ("mnist_cnn", "imdb_cnn", "housing_mlp") for method in GRADIENT_FAMILY]
RANDOMISATION += [(name, GRADCAM_SCORES[1]) for name in ("mnist_cnn", "imdb_cnn")]
STABILITY = [("mnist_cnn", "lime_image", 10), ("imdb_cnn", "lime_text", 5), ("housing_mlp", "lime_tabular", 10)]
CHUNK = 25  # inputs per explain_batch call for the gradient family (their memory grows with inputs x steps)
PROBE = 10  # inputs timed first, to project a row's time against --budget


def _spec(entry) -> tuple[str, str, dict]:
    """``(label, method, parameters)`` of a method row."""
    return (entry, entry, {}) if isinstance(entry, str) else entry


def _chosen(entry, methods: set[str] | None) -> bool:
    label, method, _ = _spec(entry)
    if methods is None:
        return True
    return label in methods or method in methods or ("new" in methods and (label in NEW or method in NEW))


def _explain_scored(ref, x, method: str, params: dict) -> tuple[list, list, float]:
    """Explanations and deletion curves; the gradient family in chunks of CHUNK inputs (same results)."""
    step = CHUNK if method in GRADIENT_FAMILY else len(x)
    explanations, seconds = [], 0.0
    for start in range(0, len(x), step):
        started = time.perf_counter()
        explanations += explain_batch(ref, x[start:start + step], method, **params)
        seconds += time.perf_counter() - started
    return explanations, metrics.deletion(ref, explanations), seconds


def deletion_rows(n: int, only: set[str], methods: set[str] | None = None,
                  budget: float = float("inf")) -> tuple[list[dict], list[dict]]:
    deletion, additivity = [], []
    for key, (name, chosen) in DELETION.items():
        if key not in only:
            continue
        ref = reference(name)
        x_all = explainable_inputs(ref, n)
        for label, method, params in [_spec(e) for e in chosen if _chosen(e, methods)]:
            note, x = "", x_all
            if budget < float("inf") and n > PROBE:
                started = time.perf_counter()
                _explain_scored(ref, x_all[:PROBE], method, params)
                projected = (time.perf_counter() - started) / PROBE * n
                if projected > budget:
                    keep = max(PROBE, int(budget / projected * n))
                    x, note = x_all[:keep], f"{keep} of {n} inputs: {n} projected at {projected:.0f} s > budget {budget:.0f} s"
                    print(f"({name} {label}: {note})", flush=True)
            explanations, curves, seconds = _explain_scored(ref, x, method, params)
            gains = [c.gain for c in curves]
            mean, low, high = metrics.bootstrap_ci(gains)
            deletion.append({
                "model": name, "method": label, "n": len(curves),
                "deletion AUC": float(np.mean([c.auc for c in curves])),
                "random AUC": float(np.mean([c.random_auc for c in curves])),
                "random - method [95% CI]": f"{mean:.4g} [{low:.4g}, {high:.4g}]",
                "beats random": "yes" if low > 0 else "NO",
                "s / input": seconds / len(curves), "note": note,
            })
            print(table(deletion[-1:]), flush=True)
            if explanations[0].base_value is not None and method in ADDITIVITY_TOLERANCE:
                errors = [metrics.additivity(ref, e) for e in explanations]
                absolute = np.array([e["additivity_error"] for e in errors])
                if method == "integrated_gradients":  # it explains the logit: relative to |f(x) - f(b)|
                    scale = np.array([abs(float(ex.meta["score_value"]) - ex.base_value) for ex in explanations])
                else:
                    scale = np.array([max(1.0, abs(float(ex.prediction.max()))) for ex in explanations])
                tolerance = ADDITIVITY_TOLERANCE[method]
                additivity.append({
                    "model": name, "method": label, "n": len(errors),
                    "tolerance (relative to max(1, abs(output)); IG: to abs(f(x) - f(b)))": tolerance,
                    "max error": float(absolute.max()), "max relative": float((absolute / scale).max()),
                    "within tolerance": f"{int(np.sum(absolute / scale <= tolerance))}/{len(absolute)}",
                })
    return deletion, additivity


def randomisation_rows(n: int, only: set[str], methods: set[str] | None = None) -> list[dict]:
    rows = []
    for name, entry in RANDOMISATION:
        if not any(name.startswith(k) for k in only) or not _chosen(entry, methods):
            continue
        label, method, params = _spec(entry)
        ref = reference(name)
        started = time.perf_counter()
        results = metrics.randomisation_check(ref, explainable_inputs(ref, n), method, **params)
        absolute = np.array([r["spearman_abs"] for r in results], dtype=float)
        signed = np.array([r["spearman"] for r in results], dtype=float)
        seconds = time.perf_counter() - started
        inked = _on_ink(ref, explainable_inputs(ref, n), method, params) if name == "mnist_cnn" else None
        rows.append({"model": name, "method": label, "n": int(np.isfinite(absolute).sum()),
                     "mean Spearman of abs(attr)": float(np.nanmean(absolute)), "median, abs": float(np.nanmedian(absolute)),
                     "mean Spearman, signed": float(np.nanmean(signed)),
                     "abs <= 0.2": "yes" if np.nanmean(absolute) <= 0.2 else "NO",
                     "signed <= 0.2": "yes" if np.nanmean(signed) <= 0.2 else "NO",
                     "zero attributions (trained)": None if inked is None else f"{inked[1]:.0%}",
                     "mean Spearman of abs, ink pixels only": None if inked is None else inked[0],
                     "s": seconds})
        print(table(rows[-1:]), flush=True)
    return rows


def _on_ink(ref, x, method: str, params: dict) -> tuple[float, float]:
    """(mean Spearman of |attr| over the pixels with ink (input > 0), share of exactly-zero trained attributions).

    MNIST digits are ~80% black pixels; methods that multiply by the input (gradient x input, IG from a
    black baseline) or whose patches hide nothing there (occlusion, fill 0) give exactly 0 on those pixels
    in BOTH models, and these ties alone make the whole-map Spearman high.  The same trained/re-initialised
    pair as metrics.randomisation_check (seed 0), ranked over the ink pixels only.
    """
    from scipy.stats import spearmanr

    import explain

    predictor = explain.as_predictor(ref)
    trained = explain_batch(predictor, x, method, **params)
    shuffled = explain.Predictor(metrics.randomised_model(predictor, 0), modality=predictor.modality,
                                 class_names=predictor.class_names, input_shape=predictor.input_shape,
                                 batch_size=predictor.batch_size, background=lambda: predictor.background)
    randomised = explain_batch(shuffled, x, method, [e.target for e in trained], **params)
    values, zeros = [], []
    for image, a, b in zip(np.asarray(x), trained, randomised):
        ink = np.asarray(image) > 0
        zeros.append(float(np.mean(np.asarray(a.attributions) == 0)))
        values.append(spearmanr(np.abs(a.attributions[ink]), np.abs(b.attributions[ink])).statistic)
    return float(np.nanmean(values)), float(np.mean(zeros))


def stability_rows(only: set[str], methods: set[str] | None = None) -> list[dict]:
    rows = []
    for name, method, n in STABILITY:
        if not any(name.startswith(k) for k in only) or not _chosen(method, methods):
            continue
        ref = reference(name)
        results = metrics.stability(ref, explainable_inputs(ref, n), method, n_seeds=5, k=5)
        values = np.array([r["stability_topk"] for r in results])
        rows.append({"model": name, "method": method, "inputs": len(values), "seeds": 5,
                     "top-5 agreement (mean)": float(values.mean()), "min": float(values.min()),
                     "meets 0.8": "yes" if values.mean() >= 0.8 else "NO"})
        print(table(rows[-1:]), flush=True)
    return rows


def _logits(ref):
    """The MNIST CNN's pre-softmax class scores, from its own layers (a check independent of the library)."""
    import keras

    head = ref.model.get_layer("probabilities")
    features = keras.Model(ref.model.inputs, head.input)
    kernel, bias = [np.asarray(w, dtype=np.float64) for w in head.get_weights()]
    return lambda x: np.asarray(features.predict(np.asarray(x, dtype=np.float32), verbose=0), dtype=np.float64) @ kernel + bias


def _recomputed(ref, name: str, x) -> tuple:
    """``(score of x, score of the baseline)`` per input, computed here without the library: the MNIST
    CNN's target logit from its own layers (baseline: a black image), the housing MLP's output
    (baseline: the mean of the training sample, IG's 'auto' baseline for rows)."""
    if name == "mnist_cnn":
        logits = _logits(ref)
        return (lambda targets: logits(x)[np.arange(len(x)), targets],
                lambda targets: logits(np.zeros_like(np.asarray(x, dtype=np.float32)))[np.arange(len(x)), targets])
    import explain

    mean = np.asarray(explain.as_predictor(ref).background, dtype=np.float64).mean(axis=0, keepdims=True)
    predict = lambda rows: np.asarray(ref.model.predict(np.asarray(rows, dtype=np.float32), verbose=0), np.float64)[:, 0]  # noqa: E731
    return lambda targets: predict(x), lambda targets: np.repeat(predict(mean), len(x))


def completeness_rows(n: int = 50, steps: tuple[int, ...] = (16, 64, 256),
                      rules: tuple[str, ...] = ("gausslegendre", "riemann_trapezoid"),
                      names: tuple[str, ...] = ("mnist_cnn",)) -> list[dict]:
    """IG completeness: relative gap per input, for each step count and rule, with f(x), f(b) recomputed."""
    rows = []
    for name in names:
        ref = reference(name)
        x = explainable_inputs(ref, n)
        score_x, score_b = _recomputed(ref, name, x)
        for rule in rules:
            for count in steps:
                started = time.perf_counter()
                found = []
                for start in range(0, len(x), CHUNK):
                    found += explain_batch(ref, x[start:start + CHUNK], "integrated_gradients", steps=count, rule=rule)
                seconds = time.perf_counter() - started
                total = np.array([float(np.sum(e.attributions)) for e in found])
                f_x = np.array([float(e.meta["score_value"]) for e in found])
                f_b = np.array([float(e.base_value) for e in found])
                gap = np.abs(total - (f_x - f_b))
                relative = gap / np.abs(f_x - f_b)
                recorded = np.array([float(e.meta.get("completeness_relative", np.nan)) for e in found])
                targets = [0 if e.target is None else int(e.target) for e in found]
                rows.append({
                    "model": name, "rule": rule, "steps": count, "n": len(found),
                    "median relative gap": float(np.median(relative)), "max relative gap": float(np.max(relative)),
                    "inputs over 1%": int(np.sum(relative > 0.01)),
                    "median abs gap": float(np.median(gap)), "max abs gap": float(np.max(gap)),
                    "median abs(f(x) - f(b))": float(np.median(np.abs(f_x - f_b))),
                    "max abs(recorded - recomputed) rel. gap": float(np.nanmax(np.abs(recorded - relative))),
                    "max abs(f(x) - recomputed)": float(np.max(np.abs(f_x - score_x(targets)))),
                    "max abs(f(b) - recomputed)": float(np.max(np.abs(f_b - score_b(targets)))),
                    "baseline": found[0].meta.get("baseline"), "s / input": seconds / len(found),
                })
                print(table(rows[-1:]), flush=True)
    return rows


def _load() -> str:
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=200, help="test inputs per model for deletion and additivity")
    parser.add_argument("--n-random", type=int, default=50, help="test inputs per model for the randomisation check")
    parser.add_argument("--only", default="mnist,imdb,housing", help="data sets to run")
    parser.add_argument("--methods", help="comma-separated method rows to run (default: all; 'new': the gradient family, "
                                              "occlusion and both Grad-CAM scores)")
    parser.add_argument("--budget", type=float, default=float("inf"),
                        help="seconds a deletion row may take; slower rows run on fewer inputs (default: no limit)")
    parser.add_argument("--n-completeness", type=int, default=50, help="inputs per model for IG completeness (0: skip)")
    parser.add_argument("--completeness-models", default="mnist_cnn",
                        help="comma-separated models for IG completeness (mnist_cnn, housing_mlp)")
    parser.add_argument("--skip", default="", help="comma-separated parts to skip: deletion,randomisation,stability,completeness")
    args = parser.parse_args()
    only = set(args.only.split(","))
    methods = set(args.methods.split(",")) if args.methods else None
    skip = set(filter(None, args.skip.split(",")))
    print(f"load average at start: {_load()}", flush=True)
    deletion, additivity = deletion_rows(args.n, only, methods, args.budget) if "deletion" not in skip else ([], [])
    randomisation = randomisation_rows(args.n_random, only, methods) if "randomisation" not in skip else []
    stability = stability_rows(only, methods) if "stability" not in skip else []
    wants_ig = methods is None or "integrated_gradients" in methods or "new" in methods
    completeness = (completeness_rows(args.n_completeness, names=tuple(args.completeness_models.split(",")))
                    if args.n_completeness and wants_ig and "completeness" not in skip else [])
    print(f"load average at the end: {_load()}", flush=True)
    print(table(deletion, "Deletion AUC against a random-order baseline"))
    print(table(additivity, "Additivity (SHAP; Integrated Gradients against its own score, the logit)"))
    print(table(randomisation, "Randomisation sanity check"))
    print(table(stability, "LIME stability across seeds"))
    print(table(completeness, "Integrated Gradients completeness (f: the target's logit; housing: the output in dollars)"))


if __name__ == "__main__":
    main()
