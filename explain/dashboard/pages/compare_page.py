"""The Compare page: did retraining change *why* the model decides?  Two models, the same inputs and methods.

Each side is a reference model or an uploaded ``.keras`` file (loaded the way
the Models page loads uploads: safe mode, size-checked).  The inputs are the
first test inputs of a reference model among the two, or an uploaded file of
inputs; the comparison itself is :func:`explain.compare`, backed by the
explanation store, and is kept in session state until the request changes.
"""
from __future__ import annotations

import math
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import streamlit as st

import explain
import models

from .. import state
from ..state import REFERENCE, UPLOAD, NotReady, Subject

SIDES = ("a", "b")
RESULT = "compare_result"
INPUT_TYPES = ["npy", "npz", "csv", "txt"]
BACKGROUND_ROWS = 100
SHOWN_SHIFTS = 12
SHOWN_FIGURES = 3


def page() -> None:
    """Pick the two models, the methods and how many inputs; compute on request; show what moved."""
    st.title("Compare two models")
    st.caption("Explain two versions of a model on the same inputs, with the same methods and for the same class "
               "(model A's prediction), and see whether they rely on the same things. A harmless retrain (another "
               "seed) keeps the rank correlation near 1 and the importance shares in place.")
    columns = st.columns(2)
    chosen: dict[str, Subject | None] = {}
    for side, column in zip(SIDES, columns):
        with column:
            chosen[side] = _pick(side)
    a, b = chosen["a"], chosen["b"]
    if a is None or b is None:
        return
    try:
        x, source = _inputs(a, b)
    except NotReady as exc:
        st.info(str(exc))
        return
    a, b = _with_backgrounds(a, b, x)
    usable = [m for m in explain.available(a.predictor) if m in explain.available(b.predictor)]
    if not usable:
        st.error(f"No method explains both `{a.title}` ({a.modality}) and `{b.title}` ({b.modality}): they do not take "
                 "the same inputs. Pick two versions of one model.")
        return
    left, middle, right = st.columns([2, 1, 1])
    methods = left.multiselect("Methods", usable, default=usable[:1], key="compare_methods")
    n = middle.slider("Inputs", 1, min(200, len(x)), min(20, len(x)), key="compare_n")
    k = right.number_input("Top k", 1, 20, 5, key="compare_k")
    st.caption(f"Inputs: the first {n} of {source}.")
    request = (a.key, b.key, tuple(methods), n, int(k), source)
    if st.button("Compare", type="primary", key="compare_go", disabled=not methods):
        with st.spinner(f"Explaining {n} inputs with {', '.join(methods)}, on both models…"):
            try:
                result = explain.compare(a.predictor, b.predictor, x[:n], methods, k=int(k), store=True)
            except (ValueError, TypeError) as exc:
                st.session_state.pop(RESULT, None)
                st.error(f"The two models cannot be compared: {exc}")
                return
        st.session_state[RESULT] = (request, result)
    stored = st.session_state.get(RESULT)
    if stored is None or stored[0] != request:
        st.info("Press **Compare** to explain both models.")
        return
    show(stored[1])


def show(result: Any) -> None:
    """The summary, the shift chart and table per method, and the inputs whose explanations changed most."""
    summary = result.summary()
    columns = st.columns(4)
    columns[0].metric("Median Spearman |attr|", f"{summary['median_spearman_abs']:.3f}")
    columns[1].metric("Median Spearman (signed)", f"{summary['median_spearman']:.3f}")
    columns[2].metric(f"Mean top-{result.k} overlap", f"{summary['mean_top_k']:.3f}")
    columns[3].metric("Importance moved", f"{summary['importance_moved']:.3f}",
                      help="Half the sum of |shift| of the importance shares: 0 = same reliance, 1 = nothing shared.")
    for method in result.methods:
        part = result.importance[result.importance["method"] == method].head(SHOWN_SHIFTS)
        st.subheader(f"{method}: where the importance moved")
        chart = part.set_index("unit")[["importance_a", "importance_b"]]
        chart.columns = [f"A: {result.name_a}", f"B: {result.name_b}"]
        st.bar_chart(chart, horizontal=True, stack=False, x_label=f"share of mean |attribution| per {result.unit_name()}")
        st.dataframe(part[["unit", "importance_a", "importance_b", "shift"]], hide_index=True, width="stretch")
    st.subheader("The inputs whose explanations changed most")
    changed = result.most_changed(5)
    st.dataframe(changed, hide_index=True, width="stretch")
    for row in changed.head(SHOWN_FIGURES).itertuples(index=False):
        a, b = result.explanation_pair(int(row.input), str(row.method))
        st.markdown(f"**Input {int(row.input)}**, {row.method}: Spearman |attr| "
                    f"{_number(row.spearman_abs)}, top-{result.k} overlap {_number(row.top_k)}")
        left, right = st.columns(2)
        left.image(state.figure_png(a), caption=f"A: {result.name_a}", width="stretch")
        right.image(state.figure_png(b), caption=f"B: {result.name_b}", width="stretch")


def _number(value: Any) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{float(value):.3f}"


# ---- the two models ---------------------------------------------------------------------------------
def _pick(side: str) -> Subject | None:
    label = "Model A (before)" if side == "a" else "Model B (after)"
    st.markdown(f"**{label}**")
    source = st.radio("Source", [REFERENCE, UPLOAD], key=f"compare_source_{side}", horizontal=True)
    try:
        if source == REFERENCE:
            cards = models.trained_cards(state.models_dir())
            name = st.selectbox("Reference model", models.names(), key=f"compare_reference_{side}",
                                format_func=lambda n: n if isinstance(cards.get(n), dict) else f"{n} (not trained)")
            reference = state.load_reference(name)
            return Subject(key=f"{name}:{reference.card['model_file']['sha256']}", title=name,
                           predictor=explain.as_predictor(reference), reference=reference)
        upload = st.file_uploader(f"A .keras file (up to {state.MAX_MODEL_MB} MB)", type=["keras"],
                                  key=f"compare_upload_{side}", max_upload_size=max(1, math.ceil(state.MAX_MODEL_MB)))
        if upload is None:
            st.info("Upload a `.keras` file, or pick a reference model.")
            return None
        data = upload.getvalue()
        digest = state.content_key(data)
        model = state.load_upload(upload.name, data)
        try:
            predictor = _predictor(digest, None, model, None)
        except (ValueError, TypeError) as exc:
            raise NotReady(f"`{upload.name}` loaded, but cannot be explained: {exc}") from None
        return Subject(key=f"upload:{digest}", title=upload.name, predictor=predictor)
    except NotReady as exc:
        st.error(str(exc))
        return None


@st.cache_resource(max_entries=8)
def _predictor(digest: str, background_key: str | None, _model: Any, _background: Any) -> explain.Predictor:
    return explain.Predictor(_model, background=_background, name=getattr(_model, "name", "uploaded"))


def _with_background(subject: Subject, background: Any) -> Subject:
    """An uploaded model with the background the other side or the inputs give (SHAP and LIME need one)."""
    if subject.reference is not None or background is None or subject.modality == "text":
        return subject
    key = state.content_key(np.asarray(background))
    model = subject.predictor.keras_model
    return Subject(key=f"{subject.key}:{key}", title=subject.title, predictor=_predictor(subject.key, key, model, background))


def _with_backgrounds(a: Subject, b: Subject, x: Any) -> tuple[Subject, Subject]:
    """Both sides explained against the same background: a reference model's training sample, else the inputs."""
    if a.modality == "text":
        return a, b
    reference = next((s for s in (a, b) if s.reference is not None), None)
    background = reference.predictor.background if reference is not None else None
    if background is None:
        background = np.asarray(x[:BACKGROUND_ROWS], dtype=np.float32)
    return _with_background(a, background), _with_background(b, background)


# ---- the inputs ------------------------------------------------------------------------------------------
def _inputs(a: Subject, b: Subject) -> tuple[Any, str]:
    """A reference model's test split (A's first), else an uploaded file of inputs."""
    for subject in (a, b):
        if subject.reference is not None:
            x, _ = state.test_split(subject)
            return (list(map(str, x)) if subject.modality == "text" else x), f"{subject.title}'s test split"
    upload = st.file_uploader("Inputs to compare on (.npy, .npz, .csv rows, .txt one text a line)", type=INPUT_TYPES,
                              key="compare_inputs")
    if upload is None:
        raise NotReady("Neither model comes with a test split: upload a file of inputs.")
    from ...cli.inputs import read_inputs

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / Path(upload.name).name
        path.write_bytes(upload.getvalue())
        try:
            x, _, _ = read_inputs(str(path))
        except (ValueError, FileNotFoundError) as exc:
            raise NotReady(str(exc).replace("--input ", "")) from None
    return (x if isinstance(x, list) else np.asarray(x)), upload.name


__all__ = ["page", "show"]
