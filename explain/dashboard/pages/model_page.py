"""Picking a model (sidebar) and reading its model card (the Models page)."""
from __future__ import annotations

import math
import time
from typing import Any

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

import explain
import models

from .. import state, training
from ..state import CLASS_NAMES_KEY, REFERENCE, REFERENCE_KEY, SOURCE_KEY, UPLOAD, UPLOAD_KEY, NotReady

TRAINED_MESSAGE = "trained_message"
SANITY_N = 8  # test inputs per method when computed here: about 1 s for a gradient method, 5-20 s for SHAP or LIME
SANITY_MESSAGES = "sanity_messages"


# ---- the sidebar: which model ------------------------------------------------------------------------
def picker() -> None:
    """The model choice, in the sidebar so that every page explains the same model."""
    cards = models.trained_cards(state.models_dir())
    with st.sidebar:
        st.radio("Model source", [REFERENCE, UPLOAD], key=SOURCE_KEY, horizontal=True)
        if st.session_state[SOURCE_KEY] == REFERENCE:
            st.selectbox("Reference model", models.names(), key=REFERENCE_KEY,
                         format_func=lambda n: n if isinstance(cards.get(n), dict) else f"{n} (not trained)")
        else:
            st.file_uploader(f"Your Keras model (.keras, up to {state.MAX_MODEL_MB} MB)", type=["keras"],
                             key=UPLOAD_KEY, max_upload_size=max(1, math.ceil(state.MAX_MODEL_MB)),
                             help="Saved with model.save('name.keras'). Loaded in safe mode: no Lambda layers, "
                                  "no custom objects, no pickles.")
            st.text_input("Class names, comma separated", key=CLASS_NAMES_KEY,
                          placeholder="e.g. cat, dog (empty: 0, 1, 2, …)")
            st.selectbox("Model outputs", state.OUTPUT_CHOICES, key=state.OUTPUT_KEY,
                         help="automatic: read from the last layer's softmax/sigmoid or the saved loss. A linear "
                              "head of several units can be logits or several values: say which.")


# ---- the Models page -----------------------------------------------------------------------------
def page() -> None:
    """The chosen model: its card (reference) or what was read from the file (upload), or a way to get one."""
    if message := st.session_state.pop(TRAINED_MESSAGE, None):
        st.success(message)
    if st.session_state.get(SOURCE_KEY, REFERENCE) == UPLOAD:
        _uploaded_model()
    else:
        _reference_model(st.session_state.get(REFERENCE_KEY) or models.names()[0])
    with st.expander("All reference models"):
        st.dataframe(model_table(models.trained_cards(state.models_dir())), hide_index=True, width="stretch")
        st.caption(f"Models directory: `{state.models_dir().resolve()}`")


def model_table(cards: dict[str, Any]) -> pd.DataFrame:
    """One row per reference model: trained or not, its test metric against its gate."""
    rows = []
    for name in models.names():
        spec = models.get_spec(name)
        card = cards.get(name)
        row = {"model": name, "data set": spec.dataset, "gate": str(spec.gate), "status": "untrained"}
        if isinstance(card, Exception):
            row["status"] = f"unreadable: {card}"
        elif card is not None:
            test = card["metrics"]["test"]
            row.update(status="trained", metric=f"{spec.gate.metric} = {test[spec.gate.metric]:.4g}",
                       parameters=card["architecture"]["parameters"], epochs=card["training"]["epochs_run"],
                       seconds=card["training"]["seconds"])
        rows.append(row)
    return pd.DataFrame(rows)


def _reference_model(name: str) -> None:
    st.title(name)
    card = state.reference_status(name)
    if card is None:
        st.warning(f"`{name}` is not trained yet. {models.get_spec(name).description}")
        _train_button(name, "Train it now")
        return
    if isinstance(card, Exception):
        st.error(f"The saved `{name}` cannot be used: {card}")
        _train_button(name, "Train it again")
        return
    try:
        subject = state.current_subject()
    except NotReady as exc:
        st.error(str(exc))
        _train_button(name, "Train it again")
        return
    _card(subject, card)


def _train_button(name: str, label: str) -> None:
    """Trains in a child process; the bar follows the epochs, the last output line is its caption."""
    st.caption("Training runs here on the CPU (a few minutes); data come from the data directory "
               "(`EXPLAIN_DATA_DIR`) or Keras' download cache.")
    if not st.button(label, type="primary", key=f"train:{name}"):
        return
    with st.status(f"Training {name}…", expanded=True) as status:
        bar = st.progress(0.0, text="starting…")
        ok, tail = training.train(name, state.models_dir(), lambda line, done: bar.progress(done, text=line[:160]))
        if not ok:
            status.update(label=f"Training {name} failed", state="error")
            st.error(f"Training `{name}` failed. Check that the data set can be found (set `EXPLAIN_DATA_DIR` to a "
                     f"folder with the offline copies) and try again. Last output:\n\n```\n{tail}\n```")
            return
        bar.progress(1.0, text="done")
        status.update(label=f"Trained {name}", state="complete")
    st.session_state[TRAINED_MESSAGE] = f"`{name}` is trained and saved."
    st.rerun()


def _card(subject: state.Subject, card: dict[str, Any]) -> None:
    st.caption(card["description"])
    test = card["metrics"]["test"]
    columns = st.columns(4)
    if card["task"] == "regression":
        columns[0].metric("Test MAE", f"{test['mae']:,.0f}")
        columns[1].metric("Test RMSE", f"{test['rmse']:,.0f}")
        columns[2].metric("Test R²", f"{test['r2']:.3f}")
        cv = card.get("cross_validation")
        if cv:
            columns[3].metric(f"{cv['folds']}-fold CV {cv['metric'].upper()}", f"{cv['mean']:,.0f} ± {cv['std']:,.0f}")
    else:
        columns[0].metric("Test accuracy", f"{test['accuracy']:.2%}")
        columns[1].metric("Test inputs", f"{test['n']:,}")
        columns[2].metric("Epochs run", card["training"]["epochs_run"])
    gate = card["gate"]
    st.caption(f"Quality gate `{gate['rule']}` on the test split: **{'passed' if gate['passed'] else 'FAILED'}**.")
    curves, quality, architecture, details, sanity = st.tabs(
        ["Training curves", "Residuals" if card["task"] == "regression" else "Confusion matrix", "Architecture",
         "Training details", "Sanity check"])
    with curves:
        _curves(card["curves"])
    with quality:
        if card["task"] == "regression":
            _residuals(subject)
        else:
            _confusion(test["confusion_matrix"], card.get("class_names"))
    with architecture:
        st.caption(f"{card['architecture']['parameters']:,} parameters")
        st.code(card["architecture"]["summary"], language=None)
    with details:
        st.json({key: card[key] for key in ("dataset", "training", "cross_validation", "library_versions", "created")},
                expanded=False)
    with sanity:
        _sanity(subject, card)


# ---- the Sanity check tab: stored randomisation checks, computed only on a click ---------------------------
def _sanity(subject: state.Subject, card: dict[str, Any]) -> None:
    """One verdict per method from the files beside the card; reading them is all a page load does."""
    from explain.evaluation import model_sanity

    name, folder = subject.title, state.models_dir()
    for kind, text in st.session_state.pop(f"{SANITY_MESSAGES}:{name}", []):
        (st.success if kind == "success" else st.warning)(text)
    st.caption(f"Model-randomisation check (Adebayo et al., 2018): the same test inputs are explained with this "
               f"model and with a copy whose learned weights are re-drawn at random. {model_sanity.HOW_TO_READ}")
    missing = []
    for method in explain.available(subject.predictor):
        found = model_sanity.lookup(folder, name, method, model_sha256=card["model_file"]["sha256"])
        if found.result is None:
            missing.append(method)
            if found.exists:
                st.caption(f"`{method}`: the stored result is not used: {found.reason}.")
            continue
        summary = found.result["summary"]
        mark = {"passes": ":green[passes]", "fails": ":red[fails]"}.get(summary["verdict"], ":gray[inconclusive]")
        st.markdown(f"**{method}** {mark} ({summary['n']} test inputs): {summary['verdict_text'].split(': ', 1)[1]}")
        with st.expander(f"{method}: the numbers"):
            st.json({**{k: v for k, v in summary.items() if k not in ("how_to_read", "verdict_text")},
                     "seconds": found.result["seconds"], "created": found.result["created"],
                     "method_params": found.result["params"], "test_rows": found.result["inputs"]["indices"]},
                    expanded=True)
    if missing:
        _sanity_compute(subject, missing)


def _sanity_compute(subject: state.Subject, missing: list[str]) -> None:
    """The button: the chosen missing methods checked on SANITY_N test inputs each, stored, then the page redrawn."""
    from explain.evaluation import model_sanity

    name = subject.title
    chosen = st.multiselect("Not checked yet", missing, default=missing, key=f"sanity-methods:{name}")
    st.caption(f"On {SANITY_N} test inputs a gradient or CAM method takes about a second, SHAP and LIME 5-20 s "
               f"each (mnist_cnn, two cores). The same check from a terminal: `explain sanity {name}`.")
    if not st.button(f"Check {len(chosen)} method(s) on {SANITY_N} test inputs each", key=f"sanity:{name}",
                     disabled=not chosen):
        return
    try:
        pool = state.test_split(subject)[0]
    except NotReady as exc:
        st.error(str(exc))
        return
    messages, done, started = [], 0, time.perf_counter()
    with st.status("Running the randomisation check…", expanded=True) as status:
        for method in chosen:
            status.update(label=f"Randomisation check: {method}…")
            try:
                model_sanity.ensure(state.models_dir(), name, method, SANITY_N, reference=subject.reference, pool=pool)
                done += 1
            except (ValueError, TypeError) as exc:
                messages.append(("warning", f"`{method}` could not be checked: {exc}"))
        status.update(label="Randomisation check done", state="complete")
    messages.insert(0, ("success", f"Checked {done} of {len(chosen)} method(s) on {SANITY_N} test inputs in "
                                   f"{time.perf_counter() - started:.1f} s; the results are stored beside the card."))
    st.session_state[f"{SANITY_MESSAGES}:{name}"] = messages
    st.rerun()


def _curves(curves: dict[str, list[float]]) -> None:
    """One chart per metric: training and validation per epoch, side by side."""
    metrics = [k for k in curves if not k.startswith("val_") and k not in ("learning_rate", "lr")]
    for column, metric in zip(st.columns(max(1, len(metrics))), metrics):
        frame = pd.DataFrame({"training": curves[metric], "validation": curves.get(f"val_{metric}")})
        frame.index = pd.RangeIndex(1, len(frame) + 1, name="epoch")
        column.caption(metric)
        column.line_chart(frame, x_label="epoch", height=220)


def _confusion(matrix: list[list[int]], class_names: list[str] | None) -> None:
    names = class_names or [str(i) for i in range(len(matrix))]
    frame = pd.DataFrame(
        [{"true": names[i], "predicted": names[j], "count": int(c)} for i, row in enumerate(matrix) for j, c in enumerate(row)])
    base = alt.Chart(frame).encode(x=alt.X("predicted:N", sort=names, axis=alt.Axis(labelAngle=0)),
                                   y=alt.Y("true:N", sort=names))
    heat = base.mark_rect().encode(color=alt.Color("count:Q", scale=alt.Scale(scheme="blues", type="symlog")),
                                   tooltip=["true", "predicted", "count"])
    text = base.mark_text(fontSize=10).encode(text="count:Q", color=alt.condition("datum.count > 200", alt.value("white"),
                                                                                   alt.value("black")))
    st.altair_chart((heat + text).properties(width=44 * len(names) + 60, height=36 * len(names) + 20), width="content")
    st.caption("Rows: true class; columns: predicted class. Off-diagonal cells are mistakes.")


def _residuals(subject: state.Subject) -> None:
    try:
        _, y = state.test_split(subject)
    except NotReady as exc:
        st.info(f"No residual plot: {exc}")
        return
    predicted = state.test_outputs(subject)[:, 0]
    frame = pd.DataFrame({"predicted": predicted, "residual": np.asarray(y, dtype=float) - predicted})
    frame = frame.sample(min(len(frame), 2000), random_state=0)
    points = alt.Chart(frame).mark_circle(size=12, opacity=0.4).encode(
        x=alt.X("predicted:Q", title="predicted value"), y=alt.Y("residual:Q", title="true − predicted"))
    zero = alt.Chart(pd.DataFrame({"residual": [0.0]})).mark_rule(color="black").encode(y="residual:Q")
    st.altair_chart((points + zero).properties(height=380), width="stretch")
    st.caption(f"{len(frame):,} test rows. Points above the line: the model predicted too low; below: too high.")


def _uploaded_model() -> None:
    st.title("Your model")
    try:
        subject = state.current_subject()
    except NotReady as exc:
        show = st.info if st.session_state.get(UPLOAD_KEY) is None else st.error  # nothing uploaded is no mistake
        show(str(exc))
        return
    predictor = subject.predictor
    described = predictor.describe()
    columns = st.columns(4)
    columns[0].metric("Input", described["modality"])
    columns[1].metric("Output", described["output"])
    columns[2].metric("Input shape", str(tuple(described["input_shape"] or ())))
    columns[3].metric("Parameters", f"{predictor.keras_model.count_params():,}")
    if predictor.n_classes:
        names = [predictor.class_name(i) for i in range(predictor.n_classes)]
        st.write(f"**Classes** ({len(names)}): {', '.join(names)}")
    st.write(f"**Outputs:** {described['output_scale']} values ({described['output_how']})")
    st.write(f"**Methods that apply:** {', '.join(explain.available(predictor))}")
    lines: list[str] = []
    predictor.keras_model.summary(print_fn=lambda line, *args, **kwargs: lines.append(line), line_length=100)
    st.code("\n".join(lines), language=None)
    _doctor_panel(subject)


def _doctor_panel(subject: state.Subject) -> None:
    """Every method tried once on a probe input: which work on this model, and why the others do not."""
    key = f"doctor:{subject.key}"
    with st.expander("Compatibility check (doctor)"):
        st.caption("Runs every method once on a probe input made from the input shape, with small budgets "
                   "(a few seconds). A method whose attributions are all zero or not finite counts as failed.")
        if st.button("Run the check", key=f"run-{key}"):
            with st.spinner("Trying every method…"):
                st.session_state[key] = explain.doctor(subject.predictor)
        report = st.session_state.get(key)
        if report is not None:
            st.json(report.attrs["model"], expanded=False)
            st.dataframe(report, hide_index=True, width="stretch")
