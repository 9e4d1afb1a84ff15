"""Explain Keras models with LIME, SHAP and CAM behind one contract.

>>> import explain, models
>>> ref = models.load("mnist_cnn")                                   # doctest: +SKIP
>>> x, y = ref.test_split(limit=5)                                   # doctest: +SKIP
>>> e = explain.explain(ref, x[0], "gradcam")                        # doctest: +SKIP
>>> explain.available(ref)                                           # doctest: +SKIP
"""
from __future__ import annotations

from .api import as_predictor, available, explain, explain_batch
from .audit import audit, audit_summary
from .doctor import doctor
from .drift import Comparison, compare
from .explanation import Explanation
from .predictor import Predictor
from .registry import get as get_method, names as method_names, register
from .store import ExplanationStore

__all__ = [
    "Explanation", "Predictor", "as_predictor", "available", "explain", "explain_batch",
    "get_method", "method_names", "register",
    "ExplanationStore", "audit", "audit_summary", "doctor", "Comparison", "compare",
    "build_html", "build_pdf", "write_report",
]
_REPORT_NAMES = ("build_html", "build_pdf", "write_report")


def __getattr__(name: str):
    """Report functions load on first use: they import matplotlib and reportlab (about 2 s), which
    ``import explain`` (and so every ``explain`` command) should not pay for."""
    if name in _REPORT_NAMES:
        from . import report

        return getattr(report, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
