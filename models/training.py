"""One training procedure for every reference model.

Seeded, with early stopping, best-checkpoint saving and learning-rate reduction
on plateau; it keeps per-epoch curves, checks that the saved file predicts
exactly what the trained model did, and only then replaces the old artifacts.
"""
from __future__ import annotations

import datetime as _dt
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from . import artifacts, settings
from .catalog import get_spec
from .datasets import Dataset, load_dataset
from .errors import ArtifactError
from .evaluation import evaluate
from .provenance import library_versions
from .spec import ReferenceSpec

CARD_FORMAT = 1
ROUND_TRIP_ROWS = 256
Log = Callable[[str], None]


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _quiet(message: str) -> None:
    return None


def split_validation(x: np.ndarray, y: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, ...]:
    """A seeded random hold-out of ``fraction`` of the rows."""
    order = np.random.default_rng(seed).permutation(len(x))
    n_val = max(1, int(round(len(x) * fraction)))
    val, fit = order[:n_val], order[n_val:]
    return x[fit], y[fit], x[val], y[val]


def _pipeline(spec: ReferenceSpec, x: np.ndarray, y: np.ndarray, seed: int, augmenter=None):
    import tensorflow as tf

    data = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    data = data.batch(spec.batch_size)
    if augmenter is not None:
        data = data.map(lambda xb, yb: (augmenter(xb, training=True), yb), num_parallel_calls=tf.data.AUTOTUNE)
    return data.prefetch(tf.data.AUTOTUNE)


def fit(
    spec: ReferenceSpec,
    x_fit: np.ndarray,
    y_fit: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    *,
    epochs: int,
    seed: int,
    checkpoint: Path | None = None,
    verbose: int | str = 0,
):
    """Build and train one model; returns it with the best epoch's weights, and its history."""
    import keras

    keras.utils.set_random_seed(seed)
    model = spec.build(x_fit, y_fit)
    augmenter = spec.augmenter() if spec.augmenter else None
    callbacks: list[Any] = [
        keras.callbacks.EarlyStopping(monitor="val_loss", patience=spec.patience, restore_best_weights=True),
        keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=spec.lr_patience, min_lr=1e-5),
    ]
    if checkpoint is not None:
        callbacks.append(keras.callbacks.ModelCheckpoint(checkpoint, monitor="val_loss", save_best_only=True))
    history = model.fit(
        _pipeline(spec, x_fit, y_fit, seed, augmenter),
        validation_data=(x_val, y_val),
        epochs=epochs,
        callbacks=callbacks,
        shuffle=False,  # the pipeline already reshuffles every epoch, seeded
        verbose=verbose,
    )
    curves = {key: [float(v) for v in values] for key, values in history.history.items()}
    return model, curves


def cross_validate(spec: ReferenceSpec, x: np.ndarray, y: np.ndarray, *, epochs: int, seed: int, log: Log) -> dict[str, Any]:
    """K-fold estimate of the gate metric, each fold trained exactly as the final model is."""
    folds = np.array_split(np.random.default_rng(seed).permutation(len(x)), spec.cv_folds)
    scores = []
    for k, held_out in enumerate(folds):
        log(f"[{spec.name}] cross-validation fold {k + 1}/{spec.cv_folds}")
        rest = np.setdiff1d(np.arange(len(x)), held_out)
        x_fit, y_fit, x_val, y_val = split_validation(x[rest], y[rest], spec.validation_split, seed + k)
        model, _ = fit(spec, x_fit, y_fit, x_val, y_val, epochs=epochs, seed=seed + k)
        scores.append(evaluate(model, x[held_out], y[held_out], spec.task)[spec.gate.metric])
    return {
        "folds": spec.cv_folds,
        "metric": spec.gate.metric,
        "per_fold": scores,
        "mean": float(np.mean(scores)),
        "std": float(np.std(scores)),
    }


def _architecture(model) -> dict[str, Any]:
    lines: list[str] = []
    model.summary(print_fn=lambda line, *args, **kwargs: lines.append(line), line_length=100)
    return {
        "summary": "\n".join(lines),
        "parameters": int(model.count_params()),
        "trainable_parameters": int(sum(np.prod(w.shape) for w in model.trainable_weights)),
        "layers": [
            {"name": layer.name, "class": type(layer).__name__, "parameters": int(layer.count_params())}
            for layer in model.layers
        ],
    }


def _assert_same_predictions(trained, loaded, x: np.ndarray, name: str) -> None:
    expected = trained.predict(x, batch_size=1024, verbose=0)
    actual = loaded.predict(x, batch_size=1024, verbose=0)
    if not np.array_equal(expected, actual):
        raise ArtifactError(
            f"The saved {name} model predicts differently after loading (max difference "
            f"{np.max(np.abs(expected - actual)):.3g}); the previous artifacts were kept."
        )


def train(
    name: str,
    *,
    data_dir: str | os.PathLike | None = None,
    models_dir: str | os.PathLike | None = None,
    epochs: int | None = None,
    seed: int | None = None,
    limit: int | None = None,
    dataset: Dataset | None = None,
    verbose: int | str = "auto",
) -> dict[str, Any]:
    """Train a reference model and save ``<name>.keras`` with its JSON card; returns the card.

    ``limit`` keeps the first rows of each split (smoke runs); ``dataset`` skips
    loading (tests pass tiny synthetic data).
    """
    spec = get_spec(name)
    log: Log = _quiet if verbose == 0 else _stderr
    seed = spec.seed if seed is None else seed
    epochs = spec.epochs if epochs is None else epochs
    if epochs < 1:
        raise ValueError(f"epochs must be at least 1, got {epochs}.")
    target_dir = settings.models_dir(models_dir)
    data = dataset if dataset is not None else load_dataset(spec.dataset, data_dir)
    if limit is not None:
        data = data.subset(limit, limit)
    started = time.perf_counter()
    x_fit, y_fit, x_val, y_val = split_validation(data.x_train, data.y_train, spec.validation_split, seed)
    cv = cross_validate(spec, data.x_train, data.y_train, epochs=epochs, seed=seed, log=log) if spec.cv_folds else None
    with artifacts.staging(target_dir, name) as folder:
        log(f"[{name}] training on {len(x_fit):,} rows, validating on {len(x_val):,}")
        model, curves = fit(
            spec, x_fit, y_fit, x_val, y_val, epochs=epochs, seed=seed,
            checkpoint=folder / "best_checkpoint.keras", verbose=verbose,
        )
        staged = folder / f"{name}{artifacts.MODEL_SUFFIX}"
        model.save(staged)
        loaded = artifacts.load_keras(staged)
        _assert_same_predictions(model, loaded, data.x_test[:ROUND_TRIP_ROWS], name)
        metrics = evaluate(loaded, data.x_test, data.y_test, spec.task, with_confusion=True)
        elapsed = time.perf_counter() - started
        val_losses = curves.get("val_loss", [])
        card = {
            "format": CARD_FORMAT,
            "name": name,
            "description": spec.description,
            "task": spec.task,
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "dataset": {
                "name": data.name,
                "source": data.source,
                "fingerprint": data.fingerprint(),
                "sizes": {"train": len(x_fit), "validation": len(x_val), "test": len(data.x_test)},
                "limit": limit,
            },
            "class_names": list(data.class_names) if data.class_names else None,
            "feature_names": list(data.feature_names) if data.feature_names else None,
            "target_name": data.target_name,
            "input_shape": list(loaded.input_shape[1:]) if hasattr(loaded, "input_shape") else None,
            "architecture": _architecture(loaded),
            "training": {
                "seed": seed,
                "epochs_max": epochs,
                "epochs_run": len(val_losses),
                "best_epoch": int(np.argmin(val_losses)) + 1 if val_losses else None,
                "batch_size": spec.batch_size,
                "validation_split": spec.validation_split,
                "optimizer": model.optimizer.get_config(),
                "loss": str(model.loss),
                "early_stopping_patience": spec.patience,
                "reduce_lr_patience": spec.lr_patience,
                "augmentation": spec.augmenter is not None,
                "seconds": round(elapsed, 1),
            },
            "cross_validation": cv,
            "metrics": {"test": metrics},
            "gate": {"rule": str(spec.gate), "passed": spec.gate.passed(metrics)},
            "curves": curves,
            "library_versions": library_versions(),
        }
        artifacts.commit(staged, target_dir, name, card)
    log(f"[{name}] test {spec.gate.metric} = {metrics[spec.gate.metric]:.4g} (gate {spec.gate}); {elapsed:.0f} s; saved to {artifacts.model_path(target_dir, name)}")
    return artifacts.read_card(target_dir, name)
