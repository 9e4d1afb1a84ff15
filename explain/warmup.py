"""Pay a process's one-time costs before a user waits for them.

Importing Keras (and TensorFlow) takes 5-15 s; the first Partition or Exact SHAP call in a process compiles about twenty of
shap's numba functions (6-9 s on two cores); the first LIME call imports
scikit-image and scikit-learn parts.  None of that depends on the model, so a
long-lived process (the dashboard, the HTTP service) runs every model-agnostic
method once on tiny stand-in models of each modality, in a background thread,
right after it starts.  Numba's on-disk cache would make it a one-time cost per
machine, but enabling it on shap's functions crashed the next process that read
the cache, so this is the safe way.
"""
from __future__ import annotations

import threading
import time
from typing import Any, Callable

import numpy as np

from . import activity, registry
from .predictor import Predictor

# The smallest budgets each method accepts: the point is to compile and import, not to explain.
_BUDGETS: dict[str, Any] = {"num_samples": 20, "max_evals": 40, "nsamples": 20, "background_size": 4, "samples": 2, "steps": 4}
_lock = threading.Lock()
_started: threading.Thread | None = None
def _stand_ins() -> list[tuple[Predictor, Any]]:
    """(predictor, input) for each modality: plain functions, so nothing is traced or loaded."""
    rng = np.random.default_rng(0)

    def two_classes(score: Callable[[Any], np.ndarray]) -> Callable[[Any], np.ndarray]:
        def predict(x: Any) -> np.ndarray:
            p = 1 / (1 + np.exp(-score(x)))
            return np.stack([1 - p, p], axis=1)

        return predict

    image = Predictor(two_classes(lambda x: np.asarray(x, dtype=np.float64).mean(axis=(1, 2, 3)) - 0.5),
                      modality="image", input_shape=(8, 8, 1), class_names=["a", "b"], name="warm_up_image",
                      background=np.zeros((1, 8, 8, 1)))
    text = Predictor(two_classes(lambda texts: np.array([t.count("good") - 0.5 for t in texts], dtype=np.float64)),
                     modality="text", class_names=["a", "b"], name="warm_up_text")
    rows = rng.normal(size=(12, 4))
    tabular = Predictor(lambda x: np.asarray(x, dtype=np.float64) @ np.arange(1.0, 5.0), modality="tabular",
                        output="regression", name="warm_up_tabular", background=rows)
    return [(image, rng.uniform(size=(8, 8, 1))), (text, "a good film, not a bad one"), (tabular, rows[0])]


def warm_up(methods: list[str] | None = None) -> dict[str, float]:
    """Run each model-agnostic method once per modality it explains; seconds per ``method/modality``."""
    import dataclasses

    from .api import explain

    started = time.perf_counter()
    import keras  # noqa: F401  - every Keras model's first call needs it (5-15 s); imported here, not during one

    spent: dict[str, float] = {"(import keras)": time.perf_counter() - started}
    activity.background.active = True
    try:
        for predictor, x in _stand_ins():
            for name in registry.available(predictor):
                if methods is not None and name not in methods:
                    continue
                fields = {f.name for f in dataclasses.fields(registry.get(name))}
                activity.wait_for_quiet()
                started = time.perf_counter()
                explain(predictor, x, name, **{k: v for k, v in _BUDGETS.items() if k in fields})
                spent[f"{name}/{predictor.modality}"] = time.perf_counter() - started
    finally:
        activity.background.active = False
    return spent


def start_warm_up(methods: list[str] | None = None) -> threading.Thread:
    """:func:`warm_up` in a daemon thread, once per process (later calls return the same thread)."""
    global _started
    with _lock:
        if _started is None:
            _started = threading.Thread(target=_quietly, args=(methods,), name="explain-warm-up", daemon=True)
            _started.start()
        return _started


def _quietly(methods: list[str] | None) -> None:
    """A failed warm-up costs only the time it would have saved: the real call reports any real error."""
    try:
        warm_up(methods)
    except Exception:  # noqa: BLE001 - nothing here is the user's request
        pass
