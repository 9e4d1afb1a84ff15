"""Drift between model versions: ``explain.compare`` must flag a planted change and stay quiet on a harmless retrain.

    EXPLAIN_DATA_DIR=../shared/datasets .venv/bin/python -m benchmarks.drift \
        [--out drift_artifacts] [--n 100] [--epochs 60] [--method kernel_shap] [--mnist]

Housing (the ``housing_mlp`` architecture and training procedure,
:func:`models.training.fit` with ``models.housing_mlp.SPEC``; no cross-validation,
nothing saved as a reference model):

- (a) the baseline, the reference seed;
- (b) the same recipe with only a new seed (a harmless retrain);
- (c) the seed of (a), with one important feature (``median_income``, MedInc, column 7) shuffled
  across the training rows, so the model cannot learn from it.

Then (a) vs (b) and (a) vs (c) are compared with ``--method`` on the first
``--n`` test rows: median Spearman, mean top-3 overlap and the shuffled feature's
share of the importance in each model.  ``--mnist`` also compares ``mnist_cnn``
(the trained reference model in the models directory) with the same recipe and a
new seed, and with the same architecture trained for one epoch.  Variants are trained once into ``--out`` and reused.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from benchmarks.common import table as _markdown

SHUFFLED = "median_income"  # MedInc (column 7 of the raw census columns): the housing model's strongest feature
BACKGROUND_ROWS = 100


def table(columns: list[str], rows: list[tuple]) -> str:
    return _markdown([dict(zip(columns, row)) for row in rows])


def train_variant(spec: Any, data: Any, path: Path, *, seed: int, epochs: int,
                  transform: Callable[[np.ndarray], np.ndarray] | None = None) -> tuple[Any, float, float]:
    """``spec``'s architecture trained by the reference procedure (optionally on transformed training inputs), saved
    to ``path``; returns the model, its test MAE / accuracy and the seconds it took (0 when it was already there)."""
    from models.artifacts import load_keras
    from models.evaluation import evaluate
    from models.training import fit, split_validation

    if not path.exists():
        started = time.perf_counter()
        x_train = transform(data.x_train) if transform is not None else data.x_train
        x_fit, y_fit, x_val, y_val = split_validation(x_train, data.y_train, spec.validation_split, seed)
        model, _ = fit(spec, x_fit, y_fit, x_val, y_val, epochs=epochs, seed=seed)
        path.parent.mkdir(parents=True, exist_ok=True)
        model.save(path)
        seconds = time.perf_counter() - started
    else:
        seconds = 0.0
    model = load_keras(path)
    metrics = evaluate(model, data.x_test, data.y_test, spec.task)
    return model, float(metrics[spec.gate.metric]), seconds


def shuffle_column(column: int, seed: int = 0) -> Callable[[np.ndarray], np.ndarray]:
    """A training-data transform: ``column`` permuted across rows (its distribution kept, its link to y broken)."""
    def transform(x: np.ndarray) -> np.ndarray:
        out = np.array(x, copy=True)
        out[:, column] = np.random.default_rng(seed).permutation(out[:, column])
        return out

    return transform


def housing(out: Path, n: int, epochs: int, method: str, k: int, feature: str = SHUFFLED) -> None:
    import explain
    import models
    from models import housing_mlp

    spec = housing_mlp.SPEC
    data = models.load_dataset(spec.dataset)
    names = list(data.feature_names)
    column = names.index(feature)
    variants = {
        "a": ("baseline", dict(seed=spec.seed)),
        "b": ("new seed", dict(seed=spec.seed + 1)),
        "c": (f"{feature} shuffled", dict(seed=spec.seed, transform=shuffle_column(column))),
    }
    background = data.x_train[np.sort(np.random.default_rng(0).choice(len(data.x_train), BACKGROUND_ROWS, replace=False))]
    predictors, trained = {}, []
    for key, (label, options) in variants.items():
        path = out / f"housing_{key}{'_' + feature if key == 'c' else ''}_e{epochs}.keras"
        model, mae, seconds = train_variant(spec, data, path, epochs=epochs, **options)
        predictors[key] = explain.Predictor(model, feature_names=names, background=background, name=f"housing ({key}) {label}")
        trained.append((f"({key}) {label}", f"seed {options['seed']}", f"{mae:,.0f}", f"{seconds:.0f}" if seconds else "reused"))
    print(f"\nHousing variants ({spec.name} architecture, at most {epochs} epochs, early stopping)\n")
    print(table(["model", "seed", "test MAE ($)", "training s"], trained))
    x = data.x_test[:n]
    rows = []
    for other in ("b", "c"):
        started = time.perf_counter()
        result = explain.compare(predictors["a"], predictors[other], x, [method], k=k)
        seconds = time.perf_counter() - started
        summary = result.summary()
        shares = result.importance.set_index("unit").loc[feature]
        top = result.largest_shifts(1).iloc[0]
        rows.append((f"(a) vs ({other}) {variants[other][0]}", str(n), f"{summary['median_spearman_abs']:.3f}",
                     f"{summary['median_spearman']:.3f}", f"{summary['mean_top_k']:.3f}",
                     f"{shares['importance_a']:.3f}", f"{shares['importance_b']:.3f}",
                     f"{summary['importance_moved']:.3f}", f"{top['unit']} {top['shift']:+.3f}", f"{seconds:.0f}"))
    print(f"\nHousing, {method}, first {n} test rows, top-{k} overlap; {feature} share = its share of the "
          "mean |attribution| (A / B)\n")
    print(table(["pair", "inputs", "median Spearman |attr|", "median Spearman signed", f"mean top-{k}",
                 f"{feature} share A", f"{feature} share B", "importance moved",
                 "largest shift", "seconds"], rows))


def mnist(out: Path, n: int, method: str, k: int, with_seed: bool = True) -> None:
    import explain
    import models
    from models import mnist_cnn

    ref = models.load("mnist_cnn")
    data = models.load_dataset("mnist")
    spec = mnist_cnn.SPEC
    variants = [("new seed", "mnist_cnn_seed{}.keras".format(spec.seed + 1), spec.seed + 1, spec.epochs),
                ("1 epoch", "mnist_cnn_1epoch.keras", spec.seed, 1)]
    if not with_seed:
        variants = variants[1:]
    rows = []
    for label, file_name, seed, epochs in variants:
        model, accuracy, seconds = train_variant(spec, data, out / file_name, seed=seed, epochs=epochs)
        other = explain.Predictor(model, class_names=ref.class_names, name=f"mnist_cnn, {label}")
        started = time.perf_counter()
        result = explain.compare(ref, other, data.x_test[:n], [method], k=k)
        elapsed = time.perf_counter() - started
        summary = result.summary()
        top = result.largest_shifts(2)
        rows.append((f"mnist_cnn vs {label}", f"{accuracy:.4f} (A {ref.card['metrics']['test']['accuracy']:.4f})",
                     f"{summary['median_spearman_abs']:.3f}", f"{summary['median_spearman']:.3f}",
                     f"{summary['mean_top_k']:.3f}", f"{summary['importance_moved']:.3f}",
                     "; ".join(f"{r.unit} {r.shift:+.3f}" for r in top.itertuples()),
                     f"{seconds:.0f}" if seconds else "reused", f"{elapsed:.0f}"))
    print(f"\nMNIST, {method}, first {n} test images, top-{k} overlap of pixels, importance on a 7x7 grid\n")
    print(table(["pair", "test accuracy B", "median Spearman |attr|", "median Spearman signed", f"mean top-{k}",
                 "importance moved", "largest shifts", "training s", "seconds"], rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="drift_artifacts", help="where the variants are trained (and reused; default ./drift_artifacts)")
    parser.add_argument("--n", type=int, default=100, help="test inputs compared")
    parser.add_argument("--epochs", type=int, default=60, help="housing: at most this many epochs (early stopping)")
    parser.add_argument("--method", default="kernel_shap", help="housing: the explanation method")
    parser.add_argument("--feature", default=SHUFFLED, help="housing: the feature shuffled in variant (c)")
    parser.add_argument("--k", type=int, default=3, help="top-k overlap")
    parser.add_argument("--mnist", action="store_true", help="also mnist_cnn against the same architecture after one epoch")
    parser.add_argument("--mnist-method", default="gradcam")
    parser.add_argument("--only-mnist", action="store_true")
    parser.add_argument("--no-mnist-seed", action="store_true", help="skip the MNIST retrain with a new seed (about 4 min)")
    args = parser.parse_args()
    out = Path(args.out)
    if not args.only_mnist:
        housing(out, args.n, args.epochs, args.method, args.k, args.feature)
    if args.mnist or args.only_mnist:
        mnist(out, args.n, args.mnist_method, 5, not args.no_mnist_seed)


if __name__ == "__main__":
    main()
