"""Explain Keras models with LIME, SHAP and CAM behind one contract.

>>> import explain, models
>>> ref = models.load("mnist_cnn")                                   # doctest: +SKIP
>>> x, y = ref.test_split(limit=5)                                   # doctest: +SKIP
>>> e = explain.explain(ref, x[0], "gradcam")                        # doctest: +SKIP
>>> explain.available(ref)                                           # doctest: +SKIP
"""
from __future__ import annotations

from .api import as_predictor, available, explain, explain_batch
from .explanation import Explanation
from .predictor import Predictor
from .registry import get as get_method, names as method_names, register

__all__ = [
    "Explanation", "Predictor", "as_predictor", "available", "explain", "explain_batch",
    "get_method", "method_names", "register",
]
