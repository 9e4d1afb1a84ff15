"""Gradient-based SHAP for Keras models: expected gradients and DeepLIFT-style Deep SHAP (``shap`` library).

Both explain ``predictor.target_scores`` through a small wrapper Keras model
whose output columns are the explainable scores: the class probabilities
(multiclass), ``[1 - p, p]`` (binary, so column = target) or the regression
output.  ``base_value`` is the mean target score over the background, so
``sum(attributions) + base_value`` approximates (gradient_shap) or equals
(deep_shap) the explained score; the remaining gap is in ``meta``.
"""
from __future__ import annotations

import contextlib
import hashlib
import logging
import re
import warnings
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from ..predictor import Predictor
from ..registry import register
from .base import Attribution, Method, param
from ._shap_common import float_background, numpy_global_seed

_SCORE_MODELS: "OrderedDict[tuple, Any]" = OrderedDict()  # bounded: entries hold their Keras model alive
_EXPLAINERS: "OrderedDict[tuple, Any]" = OrderedDict()  # shap explainers hold traced tf.functions: reuse them
_MAX_CACHED = 8
_DEEP_LOCK = threading.Lock()  # DeepExplainer swaps TensorFlow's global gradient registry while it runs


def _remember(cache: OrderedDict, key: tuple, value: Any) -> Any:
    cache[key] = value
    while len(cache) > _MAX_CACHED:
        cache.popitem(last=False)
    return value


def score_model(predictor: Predictor, column: int | None = None):
    """A Keras model ``input -> (n, columns)`` whose column ``target`` (0 for regression) is the explained score.

    With ``column`` the model outputs only that score, shape ``(n, 1)``.  Built
    once per Keras model and column; it shares the model's weights.  A fresh
    output layer also sidesteps ``shap`` reading ``model.layers[-1].output``,
    which is the wrong tensor when that last layer is shared with another graph.
    """
    model = predictor.keras_model
    key = (id(model), predictor.output, predictor.n_outputs, tuple(predictor.input_shape), column)
    if key in _SCORE_MODELS:
        _SCORE_MODELS.move_to_end(key)
        return _SCORE_MODELS[key][1]
    import keras

    inputs = keras.Input(shape=tuple(predictor.input_shape), dtype="float32")
    outputs = keras.ops.reshape(model(inputs), (-1, predictor.n_outputs))
    if predictor.output == "binary" and predictor.n_outputs == 1:
        outputs = keras.ops.concatenate([1.0 - outputs, outputs], axis=-1)
    if column is not None:
        outputs = outputs[:, column : column + 1]
    outputs = keras.layers.Identity()(outputs)
    wrapper = keras.Model(inputs, outputs, name=f"{model.name}_scores")
    return _remember(_SCORE_MODELS, key, (model, wrapper))[1]  # the model is kept alive, so its id stays unique


def cached_explainer(kind: str, wrapper: Any, background: np.ndarray, factory: Callable[[], Any], *extra: Any) -> Any:
    """A shap explainer reused across calls with the same wrapper model and background."""
    key = (kind, id(wrapper), hashlib.sha1(background.tobytes()).hexdigest(), background.shape, *extra)
    if key in _EXPLAINERS:
        _EXPLAINERS.move_to_end(key)
        return _EXPLAINERS[key][1]
    return _remember(_EXPLAINERS, key, (wrapper, factory()))[1]  # the wrapper is kept alive, so its id stays unique


@contextlib.contextmanager
def quiet_tensorflow() -> Iterator[None]:
    """Silence shap's warnings and TensorFlow's retracing notices (each shap explainer traces its own functions)."""
    logger = logging.getLogger("tensorflow")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def _short_reason(exc: Exception) -> str:
    """One line out of TensorFlow's multi-line staging errors."""
    text = str(exc)
    unsupported = re.search(r"no entry for: shap_(\w+)", text)
    if unsupported:
        return f"it has no DeepLIFT rule for the TensorFlow operation {unsupported.group(1)!r}"
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("File ")]
    return f"{type(exc).__name__}: {(lines[-1] if lines else text)[:300]}"


def _column(target: int | None) -> int:
    return 0 if target is None else int(target)


def _as_seen(values: np.ndarray, predictor: Predictor) -> np.ndarray:
    """Images: (H, W) with channels summed; tabular: one value per feature."""
    values = np.asarray(values, dtype=np.float64)
    if predictor.modality == "image":
        return values.sum(axis=-1) if values.ndim == 3 else values
    return values.reshape(-1)


def _base_values(predictor: Predictor, background: np.ndarray, targets: Sequence[int | None]) -> dict:
    """Mean target score over the background, per distinct target, from one forward pass."""
    outputs = predictor.predict(background)
    return {t: float(np.mean(predictor.target_scores(outputs, t))) for t in set(targets)}


# ---- expected gradients -------------------------------------------------------------------------
@register
@dataclass
class GradientShap(Method):
    """Expected gradients (``shap.GradientExplainer``): integrated gradients averaged over background references.

    Each of ``nsamples`` draws picks a background row b and a point t in [0, 1]
    and accumulates ``grad f(b + t (x - b)) * (x - b)``; the sum of attributions
    converges to ``f(x) - mean f(background)`` as nsamples grows (Monte Carlo
    error about 1/sqrt(nsamples); ``meta["additivity_gap"]`` reports it).  The
    error is not small: on the MNIST CNN, 200 samples leave a median gap of
    about 0.1 in probability (1000 samples: 0.04).  Use deep_shap, or the
    model-agnostic explainers, when attributions must add up exactly.
    One batched gradient pass per input; only the target's gradient is taken.
    """

    name = "gradient_shap"
    modalities = ("image", "tabular")
    needs_keras = True
    stochastic = True
    additive = True

    background: Any = param(None, role="background", help="reference rows; None: the predictor's background")
    nsamples: int = param(200, low=1, high=100_000)
    seed: int = 0

    def attribute(self, predictor: Predictor, inputs: Sequence[Any], targets: Sequence[int | None]) -> list[Attribution]:
        import shap

        batch = np.asarray(inputs, dtype=np.float32)
        background = float_background(self, predictor, batch.shape[1:])
        wrapper = score_model(predictor)
        explainer = cached_explainer(
            "gradient", wrapper, background,
            lambda: shap.GradientExplainer(wrapper, background, batch_size=max(int(self.nsamples), 1)), int(self.nsamples),
        )
        bases = _base_values(predictor, background, targets)
        scores = {t: predictor.score(batch, t) for t in set(targets)}
        results = []
        for i, (x, target) in enumerate(zip(batch, targets)):
            try:
                with numpy_global_seed(self.seed), quiet_tensorflow():
                    values, _ = explainer.shap_values(
                        x[None], nsamples=int(self.nsamples), ranked_outputs=np.array([[_column(target)]]),
                        output_rank_order="custom", rseed=int(self.seed),
                    )
            except Exception as exc:  # a layer without gradients, an integer input, ...
                raise ValueError(
                    f"gradient_shap could not differentiate {predictor.name} with respect to its input "
                    f"({_short_reason(exc)}); use partition_shap or kernel_shap instead."
                ) from exc
            phi = np.asarray(values, dtype=np.float64)[0, ..., 0]
            if not np.all(np.isfinite(phi)):
                raise ValueError(f"gradient_shap got non-finite gradients for {predictor.name}; use partition_shap or kernel_shap.")
            gap = float(scores[target][i] - bases[target] - phi.sum())
            results.append(
                Attribution(
                    attributions=_as_seen(phi, predictor),
                    base_value=bases[target],
                    meta={"additivity_gap": gap, "n_evaluations": int(self.nsamples), "background_rows": len(background)},
                )
            )
        return results


# ---- Deep SHAP ----------------------------------------------------------------------------------
@contextlib.contextmanager
def _restored_record_gradient() -> Iterator[None]:
    """Put TensorFlow's gradient-recording hook back however DeepExplainer exits.

    shap 0.51's ``TFDeep.run`` swaps ``tensorflow.python.eager.execute.record_gradient``
    for its own and restores it only when the model call succeeds; after a failure
    every later eager op records a ``shap_*`` gradient that no longer exists, and
    all gradient methods in the process break ("gradient registry has no entry for: shap_Sum").
    """
    from tensorflow.python.eager import execute as tf_execute

    original = tf_execute.record_gradient
    try:
        yield
    finally:
        tf_execute.record_gradient = original



@register
@dataclass
class DeepShap(Method):
    """Deep SHAP (``shap.DeepExplainer``: DeepLIFT rescale rules averaged over the background).

    Exact additivity by construction, one gradient pass over ``2 * background_size``
    rows per input.  It rewrites TensorFlow's gradient registry while it runs and
    supports only the ops ``shap`` knows; results are checked for additivity and
    refused (ValueError, use gradient_shap) when they do not add up.  Not for text:
    token ids are not differentiable.  Uses the first ``background_size`` rows of
    the background (reference backgrounds are already a random sample).
    """

    name = "deep_shap"
    additive = True
    modalities = ("image", "tabular")
    needs_keras = True

    background: Any = param(None, role="background", help="reference rows; None: the predictor's background")
    process_global = True  # swaps TensorFlow's gradient registry: a Grad-CAM traced meanwhile would use shap's rules
    background_size: int = param(100, low=1, high=100_000)
    rtol: float = 1e-4  # accepted |f(x) - base - sum| relative to the output scale

    def attribute(self, predictor: Predictor, inputs: Sequence[Any], targets: Sequence[int | None]) -> list[Attribution]:
        import shap

        batch = np.asarray(inputs, dtype=np.float32)
        background = float_background(self, predictor, batch.shape[1:])[: int(self.background_size)]
        bases = _base_values(predictor, background, targets)
        scores = {t: predictor.score(batch, t) for t in set(targets)}
        results = []
        with quiet_tensorflow(), _DEEP_LOCK, _restored_record_gradient():
            try:
                values = []
                for x, target in zip(batch, targets):
                    wrapper = score_model(predictor, _column(target))
                    explainer = cached_explainer("deep", wrapper, background, lambda: shap.DeepExplainer(wrapper, background))
                    values.append(explainer.shap_values(x[None], check_additivity=False))
            except Exception as exc:
                raise ValueError(
                    f"deep_shap (shap.DeepExplainer) failed on {predictor.name}: {_short_reason(exc)}. "
                    "Use gradient_shap, which only needs ordinary gradients."
                ) from exc
        for i, (phi_all, target) in enumerate(zip(values, targets)):
            phi = np.asarray(phi_all, dtype=np.float64)[0, ..., 0]
            gap = float(scores[target][i] - bases[target] - phi.sum())
            scale = max(1.0, abs(scores[target][i]), abs(bases[target]))
            if not np.isfinite(gap) or abs(gap) > self.rtol * scale:
                raise ValueError(
                    f"deep_shap attributions for {predictor.name} do not add up: f(x) - base - sum = {gap:.3g} "
                    f"(tolerance {self.rtol * scale:.3g}); shap.DeepExplainer does not support some operation in this "
                    "model. Use gradient_shap instead."
                )
            results.append(
                Attribution(
                    attributions=_as_seen(phi, predictor),
                    base_value=bases[target],
                    meta={"additivity_gap": gap, "n_evaluations": 2 * len(background), "background_rows": len(background)},
                )
            )
        return results
