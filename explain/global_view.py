"""Global pictures of a model from many local explanations, as pure functions.

The dashboard's global view, a report or a notebook summarise a model the same
way: a list of :class:`Explanation` objects in, a DataFrame (or one
``Explanation`` per class, which ``render.figure`` draws like any other) out.
Nothing here calls a model, so the summaries are cheap to recompute and test.

- :func:`mean_map_per_class`: images, the mean attribution map (and mean input) per explained class;
- :func:`top_tokens_per_class`: texts, the tokens with the largest mean attribution per class;
- :func:`feature_importance`: tabular rows, mean |attribution| per feature (the SHAP bar summary);
- :func:`summary_frame`: tabular rows, one line per (row, feature) for a SHAP-style beeswarm.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Sequence

import numpy as np
import pandas as pd

from .explanation import Explanation


def _check(explanations: Sequence[Explanation], modality: str) -> list[Explanation]:
    """One method, one modality: averaging Grad-CAM with LIME, or images with rows, means nothing."""
    explanations = list(explanations)
    if not explanations:
        raise ValueError("No explanations to summarise: pass at least one.")
    modalities = {e.modality for e in explanations}
    if modalities != {modality}:
        raise ValueError(f"Expected {modality} explanations, got {', '.join(sorted(modalities))}.")
    methods = {e.method for e in explanations}
    if len(methods) != 1:
        raise ValueError(f"Summarise one method at a time; got {', '.join(sorted(methods))}.")
    return explanations


def _by_target(explanations: Sequence[Explanation]) -> dict[int | None, list[Explanation]]:
    groups: dict[int | None, list[Explanation]] = defaultdict(list)
    for e in explanations:
        groups[e.target].append(e)
    return dict(sorted(groups.items(), key=lambda item: (item[0] is None, item[0] or 0)))


def mean_map_per_class(explanations: Sequence[Explanation]) -> dict[int | None, Explanation]:
    """Per explained class: an Explanation holding the mean map over its inputs, laid over their mean image.

    Maps are averaged as they are (not normalised per input), so an input with
    a stronger map weighs more, as in a SHAP summary.  ``meta["n"]`` is the
    number of inputs averaged.
    """
    explanations = _check(explanations, "image")
    shapes = {np.shape(e.attributions) for e in explanations}
    if len(shapes) != 1:
        raise ValueError(f"The maps have different shapes {sorted(shapes)}; explain inputs of one model.")
    means: dict[int | None, Explanation] = {}
    for target, group in _by_target(explanations).items():
        first = group[0]
        means[target] = Explanation(
            method=first.method,
            modality="image",
            target=target,
            attributions=np.mean([np.asarray(e.attributions, dtype=float) for e in group], axis=0),
            data=np.mean([np.asarray(e.data, dtype=float) for e in group], axis=0),
            labels=None,
            prediction=np.mean([np.asarray(e.prediction, dtype=float) for e in group], axis=0),
            base_value=None,
            params=dict(first.params),
            meta={"aggregate": "mean", "n": len(group), "model": first.meta.get("model")},
            target_name=first.target_name,
        )
    return means


def top_tokens_per_class(explanations: Sequence[Explanation], k: int = 10, min_count: int = 2) -> pd.DataFrame:
    """The ``k`` tokens with the largest mean attribution towards each explained class.

    Every occurrence of a token counts; tokens seen fewer than ``min_count``
    times for a class are left out, so one rare word cannot top the list.
    Columns: ``target``, ``class``, ``token``, ``mean_attribution``, ``count``.
    """
    explanations = _check(explanations, "text")
    rows = []
    for target, group in _by_target(explanations).items():
        tokens = np.concatenate([np.asarray(e.tokens(), dtype=object) for e in group])
        values = np.concatenate([np.ravel(np.asarray(e.attributions, dtype=float)) for e in group])
        frame = pd.DataFrame({"token": tokens, "value": values}).groupby("token")["value"].agg(["mean", "count"])
        frame = frame[frame["count"] >= min_count].sort_values(["mean", "count"], ascending=[False, False]).head(k)
        name = group[0].target_name if group[0].target_name is not None else str(target)
        rows.extend({"target": target, "class": name, "token": token, "mean_attribution": float(row["mean"]),
                     "count": int(row["count"])} for token, row in frame.iterrows())
    return pd.DataFrame(rows, columns=["target", "class", "token", "mean_attribution", "count"])


def _feature_matrix(explanations: Sequence[Explanation]) -> tuple[list[str], np.ndarray, np.ndarray]:
    explanations = _check(explanations, "tabular")
    values = np.array([np.ravel(np.asarray(e.attributions, dtype=float)) for e in explanations])
    data = np.array([np.ravel(np.asarray(e.data, dtype=float)) for e in explanations])
    first = explanations[0]
    names = [str(n) for n in first.labels] if first.labels is not None else [f"x{i}" for i in range(values.shape[1])]
    return names, values, data


def feature_importance(explanations: Sequence[Explanation]) -> pd.DataFrame:
    """Mean |attribution| per feature over many rows, largest first (with the signed mean and spread).

    Columns: ``feature``, ``mean_abs``, ``mean``, ``std``.
    """
    names, values, _ = _feature_matrix(explanations)
    frame = pd.DataFrame({"feature": names, "mean_abs": np.abs(values).mean(axis=0), "mean": values.mean(axis=0),
                          "std": values.std(axis=0)})
    return frame.sort_values("mean_abs", ascending=False, kind="stable").reset_index(drop=True)


def summary_frame(explanations: Sequence[Explanation]) -> pd.DataFrame:
    """Long form for a SHAP beeswarm: one line per (row, feature).

    ``value_rank`` is the feature value's percentile among the rows (0 = lowest,
    1 = highest), so features in dollars and in years share one colour scale.
    Columns: ``row``, ``feature``, ``value``, ``value_rank``, ``attribution``.
    """
    names, values, data = _feature_matrix(explanations)
    n = len(data)
    ranks = pd.DataFrame(data).rank(method="average").to_numpy()
    scaled = (ranks - 1) / (n - 1) if n > 1 else np.full_like(ranks, 0.5)
    return pd.DataFrame({
        "row": np.repeat(np.arange(n), len(names)),
        "feature": np.tile(names, n),
        "value": data.ravel(),
        "value_rank": scaled.ravel(),
        "attribution": values.ravel(),
    })
