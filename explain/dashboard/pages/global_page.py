"""The Global view: what the model relies on over a sample of its test split.

Images: the mean map per class; texts: the tokens with the largest mean
attribution per class; tabular rows: a SHAP summary.  The aggregation is
:mod:`explain.global_view`; this page only picks the sample and shows results.
"""
from __future__ import annotations

from typing import Any

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

import explain
from explain import Explanation, global_view, render

from .. import state
from .explain_page import require_subject
from ..state import Subject

METHODS = {  # fast, batched methods first: each is the default for its modality
    "image": ("gradcam", "gradcam_pp", "cam", "integrated_gradients", "gradient_x_input", "saliency", "gradient_shap"),
    "text": ("gradcam", "gradcam_pp", "cam", "integrated_gradients", "gradient_x_input", "lime_text", "partition_shap"),
    "tabular": ("kernel_shap", "exact_shap", "integrated_gradients", "gradient_shap", "deep_shap", "lime_tabular"),
}
SAMPLE = {"image": 300, "text": 200, "tabular": 100}  # default sample sizes: seconds, not minutes, on two cores
CHUNK = 50  # inputs per batched call (and per progress step, and per cache entry)
PREDICTED, TRUE = "predicted class", "true class"
REQUEST = "global_request"


def page() -> None:
    """Choose a method and a sample size, compute on request, show the summary for the model's modality."""
    subject = require_subject()
    st.title(f"Global view: {subject.title}")
    if subject.reference is None:
        st.info("The global view summarises explanations over a test split, which only the reference models have. "
                "Use the Explain page for your own model's inputs.")
        return
    try:
        x, y = state.test_split(subject)
    except state.NotReady as exc:
        st.error(str(exc))
        return
    predictor = subject.predictor
    methods = [m for m in METHODS[subject.modality] if m in explain.available(predictor)]
    left, middle, right = st.columns(3)
    method = left.selectbox("Method", methods, key=f"global_method:{subject.key}")
    n = middle.slider("Test inputs (a seeded random sample)", 10, min(1000, len(x)), min(SAMPLE[subject.modality], len(x)),
                      step=10, key=f"global_n:{subject.key}")
    by = PREDICTED
    if predictor.output != "regression":
        by = right.selectbox("Explain each input for its", [PREDICTED, TRUE], key=f"global_by:{subject.key}")
    request = (subject.key, method, n, by)
    if st.button("Compute the global view", type="primary", key=f"global_go:{subject.key}"):
        st.session_state[REQUEST] = request
    if st.session_state.get(REQUEST) != request:
        st.info(f"Press **Compute** to explain {n} test inputs with {method}.")
        return
    rows = np.sort(np.random.default_rng(0).choice(len(x), size=n, replace=False))
    targets = [int(t) for t in y[rows]] if by == TRUE else None
    explanations = _compute(subject, x[rows], targets, method)
    if explanations is None:
        return
    {"image": _images, "text": _texts, "tabular": _tabular}[subject.modality](explanations, by)


def _compute(subject: Subject, x: Any, targets: list[int] | None, method: str) -> list[Explanation] | None:
    """Batched explanations in chunks, with a progress bar; each chunk is cached on its own."""
    found: list[Explanation] = []
    bar = st.progress(0.0, text=f"Explaining {len(x)} inputs with {method}…")
    try:
        for start in range(0, len(x), CHUNK):
            part = x[start : start + CHUNK]
            part = [str(t) for t in part] if subject.modality == "text" else part
            chunk_targets = targets[start : start + CHUNK] if targets is not None else None
            found.extend(state.explanations_batch(subject, part, method, chunk_targets, {}))
            bar.progress(min(1.0, (start + CHUNK) / len(x)), text=f"{min(start + CHUNK, len(x))} of {len(x)} inputs")
    except (ValueError, TypeError) as exc:
        bar.empty()
        st.error(f"{method} could not explain the sample: {exc}. Pick another method.")
        return None
    bar.empty()
    return found


def _images(explanations: list[Explanation], by: str) -> None:
    means = global_view.mean_map_per_class(explanations)
    st.caption(f"The mean {explanations[0].method} map of the sampled test images, per class ({by}), over their mean "
               "image: where the model looks when it recognises each class.")
    columns = st.columns(5)
    for k, mean in enumerate(means.values()):
        columns[k % 5].image(state.figure_png(mean), caption=f"{mean.target_name}: {mean.meta['n']} images",
                             width="stretch")


def _texts(explanations: list[Explanation], by: str) -> None:
    frame = global_view.top_tokens_per_class(explanations, k=15, min_count=3)
    st.caption(f"Per class ({by}): the words with the largest mean {explanations[0].method} attribution towards it, "
               "over the sampled reviews (words seen at least 3 times).")
    groups = list(frame.groupby("class", sort=False))
    for column, (name, part) in zip(st.columns(max(1, len(groups))), groups):
        column.markdown(f"**{name}**")
        column.altair_chart(_bars(part, "token", "mean_attribution"), width="stretch")
    if not groups:
        st.info("No word occurs often enough in this sample; take a larger sample.")


def _tabular(explanations: list[Explanation], by: str) -> None:
    importance = global_view.feature_importance(explanations)
    summary = global_view.summary_frame(explanations)
    order = list(importance["feature"])
    left, right = st.columns(2)
    left.markdown("**Mean |attribution| per feature**")
    left.altair_chart(_bars(importance, "feature", "mean_abs"), width="stretch")
    right.markdown("**Every row's attributions** (colour: the feature's value, blue low, red high)")
    beeswarm = alt.Chart(summary).transform_calculate(jitter="random()").mark_circle(size=18, opacity=0.7).encode(
        x=alt.X("attribution:Q", title="attribution (right raises the prediction)"),
        y=alt.Y("feature:N", sort=order, title=None, axis=alt.Axis(labelOverlap=False, labelLimit=220)),
        yOffset=alt.YOffset("jitter:Q"),
        color=alt.Color("value_rank:Q", scale=alt.Scale(scheme="redblue", reverse=True), title="value (percentile)"),
        tooltip=["feature", "value", "attribution"],
    )
    right.altair_chart(beeswarm.properties(height=32 * len(order) + 40), width="stretch")
    st.caption(f"{explanations[0].method} over {len(explanations)} sampled test rows. Features are sorted by their "
               "mean absolute effect; each dot is one row.")


def _bars(frame: pd.DataFrame, label: str, value: str) -> alt.Chart:
    return alt.Chart(frame).mark_bar().encode(
        x=alt.X(f"{value}:Q", title=value.replace("_", " ")),
        y=alt.Y(f"{label}:N", sort="-x", title=None, axis=alt.Axis(labelOverlap=False, labelLimit=220)),
        color=alt.condition(f"datum.{value} >= 0", alt.value(render.POSITIVE), alt.value(render.NEGATIVE)),
        tooltip=[label, alt.Tooltip(f"{value}:Q", format=".3g")],
    ).properties(height=22 * len(frame) + 30)
