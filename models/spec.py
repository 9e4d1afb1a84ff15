"""The small contract every reference model fills in.

A model module only says *what* to build and how to feed it; loading data,
seeding, callbacks, cross-validation, evaluation and atomic saving are shared
by :mod:`models.training`, so the four models cannot drift apart.
"""
from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import numpy as np

if TYPE_CHECKING:  # keras is heavy; import it only where a model is built
    import keras

Builder = Callable[[np.ndarray, np.ndarray], "keras.Model"]
AugmenterFactory = Callable[[], "keras.Layer"]

_COMPARE = {">=": operator.ge, "<=": operator.le}


@dataclass(frozen=True)
class Gate:
    """A test-set quality bar, e.g. ``accuracy >= 0.965``."""

    metric: str
    op: str
    threshold: float

    def passed(self, metrics: dict[str, float]) -> bool:
        return bool(_COMPARE[self.op](metrics[self.metric], self.threshold))

    def __str__(self) -> str:
        return f"{self.metric} {self.op} {self.threshold:g}"


@dataclass(frozen=True)
class ReferenceSpec:
    """Everything that defines one reference model.

    ``build(x_fit, y_fit)`` returns a *compiled* model whose preprocessing layers
    (text vectorisation, normalisation) are adapted on ``x_fit`` only, so that
    cross-validation folds never see their held-out rows.
    """

    name: str
    dataset: str
    description: str
    build: Builder
    epochs: int
    batch_size: int
    gate: Gate
    validation_split: float = 0.1
    patience: int = 5
    lr_patience: int = 2
    seed: int = 1234
    cv_folds: int = 0
    augmenter: AugmenterFactory | None = None  # builds a layer applied to training batches

    @property
    def task(self) -> str:
        return "regression" if self.dataset == "california_housing" else "classification"
