"""Model-agnostic SHAP for tabular rows: Kernel SHAP and exact Shapley values (``shap`` library).

Both explain ``predictor.target_scores`` (class probability, p or 1-p, or the
regression output) against a background sample, with features outside a
coalition drawn from that background ("interventional" SHAP).  For a linear
model both give ``w_i * (x_i - mean(background_i))``.

This module also holds two small helpers the other SHAP modules share:
:func:`numpy_global_seed` (``shap`` draws from NumPy's global RNG) and
:func:`float_background`.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from ..predictor import Predictor
from ..registry import register
from ._shap_common import float_background, numpy_global_seed, target_function
from .base import Attribution, Method, param

EXACT_MAX_FEATURES = 14  # 2**14 coalitions x 100 background rows = 1.6M model rows per input


# ---- shared helpers --------------------------------------------------------------------------
def _check_features(method: Method, inputs: np.ndarray, background: np.ndarray) -> None:
    if background.shape[1] != inputs.shape[1]:
        raise ValueError(
            f"{method.name}: the background has {background.shape[1]} columns but the inputs have {inputs.shape[1]}."
        )


# ---- Kernel SHAP ------------------------------------------------------------------------------
@register
@dataclass
class KernelShap(Method):
    """Kernel SHAP (weighted linear regression over coalitions) for any tabular model.

    The background is summarised to ``background_size`` weighted k-means centres
    (``shap.kmeans`` without rounding, so the weighted mean of the summary is the
    background mean); a smaller background is used as is.  When ``nsamples`` covers
    all ``2**M - 2`` coalitions (M <= 11 with the default) the result is exact
    for that background; otherwise coalitions are sampled with ``seed``.
    """

    name = "kernel_shap"
    additive = True
    modalities = ("tabular",)
    stochastic = True

    background: Any = param(None, role="background", help="reference rows; None: the predictor's background")
    background_size: int = param(50, low=1, high=100_000)
    nsamples: int = param(2048, low=1, high=1_000_000)
    l1_reg: Any = False  # no feature selection: every feature gets its estimate ("num_features(10)" is shap's default)
    seed: int = 0

    def attribute(self, predictor: Predictor, inputs: Sequence[Any], targets: Sequence[int | None]) -> list[Attribution]:
        import shap

        rows = np.asarray(inputs, dtype=np.float32)
        background = float_background(self, predictor, rows.shape[1:])
        _check_features(self, rows, background)
        summary = self._summary(background)
        results = []
        explainers: dict[int | None, Any] = {}
        for row, target in zip(rows, targets):
            if target not in explainers:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    explainers[target] = shap.KernelExplainer(target_function(predictor, target), summary)
            explainer = explainers[target]
            before = predictor.evaluations
            with numpy_global_seed(self.seed):  # each row seeded alike: a row's result does not depend on its batch
                values = explainer.shap_values(row, nsamples=self.nsamples, l1_reg=self.l1_reg, silent=True)
            results.append(
                Attribution(
                    attributions=np.asarray(values, dtype=np.float64).reshape(-1),
                    base_value=float(np.ravel(explainer.expected_value)[0]),
                    meta={"n_evaluations": predictor.evaluations - before, "background_rows": _n_rows(summary)},
                )
            )
        return results

    def _summary(self, background: np.ndarray):
        import shap

        if len(background) <= self.background_size:
            return background
        return shap.kmeans(background, int(self.background_size), round_values=False)


def _n_rows(summary: Any) -> int:
    return int(summary.shape[0] if isinstance(summary, np.ndarray) else summary.data.shape[0])


# ---- exact Shapley values ---------------------------------------------------------------------
@register
@dataclass
class ExactShap(Method):
    """Exact Shapley values over all ``2**M`` coalitions (``shap.explainers.Exact``), for few features.

    Deterministic; costs ``2**M * background_size`` model rows per input, so it
    refuses more than 14 features (use kernel_shap there).  The background is
    subsampled to ``background_size`` rows by ``shap.maskers.Independent``
    (fixed random_state).
    """

    name = "exact_shap"
    additive = True
    modalities = ("tabular",)

    background: Any = param(None, role="background", help="reference rows; None: the predictor's background")
    background_size: int = param(100, low=1, high=100_000)

    def attribute(self, predictor: Predictor, inputs: Sequence[Any], targets: Sequence[int | None]) -> list[Attribution]:
        import shap

        rows = np.asarray(inputs, dtype=np.float32)
        n_features = rows.shape[1]
        if n_features > EXACT_MAX_FEATURES:
            raise ValueError(
                f"exact_shap evaluates all 2**{n_features} coalitions, too many for {n_features} features "
                f"(limit {EXACT_MAX_FEATURES}); use kernel_shap, which samples coalitions."
            )
        background = float_background(self, predictor, rows.shape[1:])
        _check_features(self, rows, background)
        masker = shap.maskers.Independent(background, max_samples=int(self.background_size))
        results = []
        for row, target in zip(rows, targets):
            explainer = shap.explainers.Exact(target_function(predictor, target), masker)
            before = predictor.evaluations
            out = explainer(row[None], max_evals=2**n_features, batch_size=2**n_features, silent=True)
            results.append(
                Attribution(
                    attributions=np.asarray(out.values[0], dtype=np.float64).reshape(-1),
                    base_value=float(np.ravel(out.base_values)[0]),
                    meta={"n_evaluations": predictor.evaluations - before, "background_rows": int(len(masker.data))},
                )
            )
        return results
