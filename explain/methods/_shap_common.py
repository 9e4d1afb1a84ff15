"""Helpers shared by the SHAP method modules (private: method discovery skips it)."""
from __future__ import annotations

import contextlib
from typing import Callable, Iterator, Sequence

import numpy as np

from ..predictor import Predictor
from .base import Method


@contextlib.contextmanager
def numpy_global_seed(seed: int) -> Iterator[None]:
    """Seed NumPy's global RNG for a ``shap`` call and restore the caller's state afterwards.

    Kernel SHAP, GradientExplainer and PartitionExplainer (tie-breaks in its
    priority queue) draw from ``np.random``; seeding it makes them reproducible,
    restoring it keeps the caller's random stream untouched.
    """
    state = np.random.get_state()
    np.random.seed(int(seed) % 2**32)
    try:
        yield
    finally:
        np.random.set_state(state)


def float_background(method: Method, predictor: Predictor, feature_shape: Sequence[int] | None) -> np.ndarray:
    """The method's ``background`` field, else the predictor's, as float32 ``(n, *feature_shape)``.

    Always float: reference backgrounds may come as uint8 pixels, and ``shap``
    computes ``x - background`` in the background's dtype (uint8 wraps around,
    silently giving wrong attributions).
    """
    raw = getattr(method, "background", None)
    raw = raw if raw is not None else predictor.require_background(method.name)
    background = np.asarray(raw, dtype=np.float32)
    if feature_shape is None:
        return background.reshape(len(background), -1) if background.ndim != 2 else background
    feature_shape = tuple(feature_shape)
    if background.shape[1:] != feature_shape:
        if background.size != len(background) * int(np.prod(feature_shape)):
            raise ValueError(
                f"{method.name}: background rows have shape {background.shape[1:]}, but the inputs have shape "
                f"{feature_shape}; pass background= rows shaped like the inputs."
            )
        background = background.reshape((len(background),) + feature_shape)
    return background


def target_function(predictor: Predictor, target: int | None) -> Callable[[np.ndarray], np.ndarray]:
    """The explained quantity as a plain function ``(n, ...) -> (n,)``, batched through the predictor."""

    def f(x: np.ndarray) -> np.ndarray:
        return predictor.target_scores(predictor.predict(np.asarray(x, dtype=np.float32)), target)

    return f
