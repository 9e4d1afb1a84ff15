"""Test-set metrics computed the same way for every model, from batched predictions."""
from __future__ import annotations

from typing import Any

import numpy as np


def predicted_classes(probabilities: np.ndarray) -> np.ndarray:
    """Class indices from a softmax matrix or from a single sigmoid column."""
    probabilities = np.asarray(probabilities)
    if probabilities.ndim == 2 and probabilities.shape[1] > 1:
        return probabilities.argmax(axis=1)
    return (probabilities.reshape(-1) >= 0.5).astype(np.int64)


def evaluate(model, x: np.ndarray, y: np.ndarray, task: str, *, with_confusion: bool = False) -> dict[str, Any]:
    predictions = np.asarray(model.predict(x, batch_size=1024, verbose=0))
    y = np.asarray(y)
    if task == "regression":
        errors = predictions.reshape(-1) - y.reshape(-1)
        total = float(np.sum((y - y.mean()) ** 2))
        return {
            "mae": float(np.mean(np.abs(errors))),
            "rmse": float(np.sqrt(np.mean(errors**2))),
            "r2": float(1 - np.sum(errors**2) / total) if total > 0 else float("nan"),
            "n": int(len(y)),
        }
    classes = predicted_classes(predictions)
    metrics: dict[str, Any] = {"accuracy": float(np.mean(classes == y)), "n": int(len(y))}
    if with_confusion:
        n_classes = max(2, predictions.shape[1] if predictions.ndim == 2 else 1)
        confusion = np.zeros((n_classes, n_classes), dtype=np.int64)
        np.add.at(confusion, (y.astype(np.int64), classes), 1)
        metrics["confusion_matrix"] = confusion.tolist()
    return metrics
