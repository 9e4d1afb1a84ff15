"""Pay a process's one-time costs before a user waits for them.

Importing Keras (and TensorFlow) takes 5-15 s; the first Partition or Exact SHAP call in a process compiles about twenty of
shap's numba functions (6-9 s on two cores); the first LIME call imports
scikit-image and scikit-learn parts.  None of that depends on the model, so a
long-lived process (the dashboard, the HTTP service) runs every model-agnostic
method once on tiny stand-in models of each modality, in a background thread,
right after it starts.  Numba's on-disk cache would make it a one-time cost per
machine, but enabling it on shap's functions crashed the next process that read
the cache, so this is the safe way.

What remains is per model: tracing it into a ``tf.function`` for Grad-CAM and
the gradient methods (0.2-1.5 s each).  :func:`start_model_warm_up` pays that
as soon as a long-lived process loads a Keras model, on one probe input, before
anyone asks for an explanation.  Methods that change process-wide state while
they run (``process_global``: Deep SHAP swaps TensorFlow's gradient registry)
are never run there: a user's Grad-CAM traced at the same moment would pick up
shap's gradient rules and fail.
"""
from __future__ import annotations

import threading
import time
import weakref
from typing import Any, Callable

import numpy as np

from . import activity, registry
from .predictor import Predictor

# The smallest budgets each method accepts: the point is to compile and import, not to explain.
_BUDGETS: dict[str, Any] = {"num_samples": 20, "max_evals": 40, "nsamples": 20, "background_size": 4, "samples": 2, "steps": 4}
# A model's own warm-up keeps each method's default background, the one its real calls use.
_MODEL_BUDGETS = {key: value for key, value in _BUDGETS.items() if key != "background_size"}
_lock = threading.Lock()
_started: threading.Thread | None = None
GRACE_SECONDS = 0.2  # a model's warm-up lets the request that loaded the model start (and mark itself) first
_models_started: "weakref.WeakKeyDictionary[Any, threading.Thread]" = weakref.WeakKeyDictionary()


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
    started = time.perf_counter()
    import keras  # noqa: F401  - every Keras model's first call needs it (5-15 s); imported here, not during one

    spent: dict[str, float] = {"(import keras)": time.perf_counter() - started}
    for predictor, x in _stand_ins():
        spent.update({f"{name}/{predictor.modality}": seconds
                      for name, seconds in _run_each(predictor, x, methods, _BUDGETS).items()})
    return spent


def warm_up_model(predictor: Predictor, methods: list[str] | None = None) -> dict[str, float]:
    """Run each method that applies to this model once on a probe input; seconds per method.

    A method that refuses the probe (or fails on it) is skipped: the real call
    will say why.  Results are thrown away; only the traces and set-ups stay.
    """
    from .doctor import probe_input

    probe, _ = probe_input(predictor)
    return _run_each(predictor, probe, methods, _MODEL_BUDGETS, skip_failures=True)


def _run_each(predictor: Predictor, x: Any, methods: list[str] | None, budgets: dict[str, Any],
              skip_failures: bool = False) -> dict[str, float]:
    """Each available method once with the smallest budgets, stepping aside while a user's request runs."""
    import dataclasses

    from .api import explain

    spent: dict[str, float] = {}
    activity.background.active = True
    try:
        for name in registry.available(predictor):
            if (methods is not None and name not in methods) or registry.get(name).process_global:
                continue
            fields = {f.name for f in dataclasses.fields(registry.get(name))}
            activity.wait_for_quiet()
            started = time.perf_counter()
            try:
                explain(predictor, x, name, truncate=True, **{k: v for k, v in budgets.items() if k in fields})
            except Exception:  # noqa: BLE001 - only with skip_failures: a probe the method cannot use warms nothing
                if not skip_failures:
                    raise
                continue
            spent[name] = time.perf_counter() - started
    finally:
        activity.background.active = False
    return spent


def start_warm_up(methods: list[str] | None = None) -> threading.Thread:
    """:func:`warm_up` in a daemon thread, once per process (later calls return the same thread)."""
    global _started
    with _lock:
        if _started is None:
            _started = _in_background("explain-warm-up", lambda: warm_up(methods))
        return _started


def start_model_warm_up(predictor: Predictor) -> threading.Thread | None:
    """:func:`warm_up_model` in a daemon thread, once per Keras model (None for a plain function: nothing to trace)."""
    model = predictor.keras_model
    if model is None:
        return None

    def after_grace() -> None:
        time.sleep(GRACE_SECONDS)
        warm_up_model(predictor)

    with _lock:
        if model not in _models_started:
            _models_started[model] = _in_background("explain-model-warm-up", after_grace)
        return _models_started[model]


def _in_background(name: str, work: Callable[[], object]) -> threading.Thread:
    """A started daemon thread running ``work``; a failure costs only the time it would have saved."""
    def quietly() -> None:
        try:
            work()
        except Exception:  # noqa: BLE001 - nothing here is the user's request: the real call reports any real error
            pass

    thread = threading.Thread(target=quietly, name=name, daemon=True)
    thread.start()
    return thread
