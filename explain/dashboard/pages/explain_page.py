"""The Explain page: one input, its prediction, several methods side by side, their agreement, downloads."""
from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

import explain
from explain import Explanation, render
from explain.metrics import agreement

from .. import inputs, params, state
from ..inputs import Chosen
from ...formatting import number
from ..state import NotReady, Subject

DEFAULT_METHODS = {  # preferred first; only those that apply to the chosen model are preselected
    "image": ("gradcam", "lime_image", "integrated_gradients"), "text": ("gradcam", "lime_text", "integrated_gradients"),
    "tabular": ("kernel_shap", "lime_tabular")}
DEFAULT_COUNT = 2
PER_ROW = 3  # method panels side by side
PREDICTED = -1  # "explain the predicted class" in the class picker (None would read as "nothing chosen")
LOG = logging.getLogger(__name__)


def require_subject() -> Subject:
    """The chosen model, or a message saying how to get one (and the page stops there)."""
    try:
        return state.current_subject()
    except NotReady as exc:
        st.info(f"{exc}\n\nPick or train a model on the **Models** page.")
        st.stop()
        raise  # st.stop() does not return; this line keeps type checkers satisfied


def page() -> None:
    """Pick an input, see the prediction and the explanations of the chosen methods."""
    subject = require_subject()
    st.title(f"Explain {subject.title}")
    chosen = inputs.pick(subject)
    if chosen is None:
        return
    try:
        output = subject.predictor.predict([chosen.x])[0]
    except Exception as exc:  # a user's model that rejects the converted input: say so, never a traceback
        LOG.exception("prediction failed")
        st.error(f"The model could not score this input ({type(exc).__name__}: {exc}). Check that the input matches "
                 "what the model was trained on (shape, pixel range, feature order).")
        return
    _prediction(subject, chosen, output)
    methods, target, chosen_params = _method_choices(subject)
    if not methods:
        st.info("Pick at least one method above.")
        return
    results = _explanations(subject, chosen, methods, chosen_params, target)
    with st.expander("How to read these pictures"):
        st.write(render.HOW_TO_READ[subject.modality])
    for start in range(0, len(methods), PER_ROW):
        row = methods[start : start + PER_ROW]
        for column, method in zip(st.columns(len(row)), row):
            with column:
                _panel(subject, method, results[method])
    explained = [e for e in results.values() if isinstance(e, Explanation)]
    _agreement(explained)
    _report(subject, chosen, explained)


# ---- prediction ------------------------------------------------------------------------------------
def _prediction(subject: Subject, chosen: Chosen, output: np.ndarray) -> None:
    predictor = subject.predictor
    st.subheader("Prediction")
    if predictor.output == "regression":
        value = float(np.ravel(output)[0])
        columns = st.columns(3)
        columns[0].metric("Predicted", number(value))
        if chosen.truth is not None:
            columns[1].metric("True value", number(chosen.truth))
            columns[2].metric("Error (predicted − true)", number(value - float(chosen.truth)))
        return
    probabilities = inputs.probabilities(predictor, output[None])[0]
    best = int(probabilities.argmax())
    left, right = st.columns([1, 3])
    left.metric("Predicted class", predictor.class_name(best), f"{probabilities[best]:.1%} probability", delta_color="off",
                delta_arrow="off")
    if chosen.truth is not None:
        right_answer = int(chosen.truth) == best
        left.metric("True class", predictor.class_name(int(chosen.truth)), "correct" if right_answer else "wrong",
                    delta_color="green" if right_answer else "red", delta_arrow="off")
    names = [predictor.class_name(i) for i in range(len(probabilities))]
    right.bar_chart(pd.DataFrame({"class": names, "probability": probabilities}), x="class", y="probability",
                    sort=False, height=220)


# ---- choosing methods ------------------------------------------------------------------------------
def _method_choices(subject: Subject) -> tuple[list[str], int | None, dict[str, dict[str, Any]]]:
    predictor = subject.predictor
    available = explain.available(predictor)
    defaults = [m for m in DEFAULT_METHODS[subject.modality] if m in available][:DEFAULT_COUNT] or available[:1]
    left, right = st.columns([3, 1])
    methods = left.multiselect("Methods", available, default=defaults, key=f"methods:{subject.key}")
    target = None
    if predictor.output != "regression":
        # A fixed label: Streamlit keeps a keyed widget's option labels from the run that created it,
        # so "predicted (7)" would still show after moving to an input predicted as 2.
        choice = right.selectbox("Explain the class", [PREDICTED, *range(predictor.n_classes)], key=f"target:{subject.key}",
                                 format_func=lambda c: "the predicted class" if c == PREDICTED else predictor.class_name(c))
        target = None if choice == PREDICTED else int(choice)
    chosen_params: dict[str, dict[str, Any]] = {}
    with st.expander("Method parameters"):
        st.caption("Defaults are each method's own; changing one recomputes that method only.")
        for tab, method in zip(st.tabs(methods) if methods else [], methods):
            with tab:
                chosen_params[method] = params.controls(method, predictor, subject.key)
    return methods, target, chosen_params


# ---- computing ------------------------------------------------------------------------------------
def _explanations(subject: Subject, chosen: Chosen, methods: list[str], chosen_params: dict[str, dict[str, Any]],
                  target: int | None) -> dict[str, Explanation | str]:
    """Each method's explanation, or the message that says why it failed; progress shown only for new work."""
    pending = [m for m in methods if not state.is_explained(subject, chosen.x, m, chosen_params[m], target)]
    if not pending:
        return {m: _one(subject, chosen, m, chosen_params[m], target) for m in methods}
    results: dict[str, Explanation | str] = {}
    with st.status(f"Explaining with {', '.join(pending)}…", expanded=True) as status:
        bar = st.progress(0.0)
        for k, method in enumerate(methods):
            bar.progress(k / len(methods), text=f"{method} ({k + 1} of {len(methods)})")
            results[method] = _one(subject, chosen, method, chosen_params[method], target)
        bar.progress(1.0, text="done")
        failed = [m for m, r in results.items() if isinstance(r, str)]
        status.update(label=f"Explained with {len(methods) - len(failed)} of {len(methods)} methods",
                      state="error" if failed else "complete", expanded=False)
    return results


def _one(subject: Subject, chosen: Chosen, method: str, method_params: dict[str, Any], target: int | None) -> Explanation | str:
    try:
        return state.explanation(subject, chosen.x, method, method_params, target)
    except (ValueError, TypeError) as exc:  # the library's user errors say what was expected
        return f"{method} could not explain this input: {exc}"
    except Exception as exc:  # never a traceback on the page; the log keeps it for developers
        LOG.exception("%s failed", method)
        return f"{method} failed ({type(exc).__name__}: {exc}). Try other parameters or another method."


# ---- showing ----------------------------------------------------------------------------------------
def _panel(subject: Subject, method: str, result: Explanation | str) -> None:
    st.subheader(method)
    if isinstance(result, str):
        st.error(f"{result}\n\nChange its parameters under **Method parameters**, or pick another method.")
        return
    document = result.to_json()  # serialised once per panel: its hash keys the figure, the badge and the downloads
    key = state.content_key(document)
    figure_png = state.figure_png(result, key=key)
    if result.modality == "text":
        st.html(render.token_html(result))
        st.image(figure_png, width="stretch")
    elif result.modality == "tabular" and result.base_value is not None:
        bars, waterfall = st.tabs(["bars", "waterfall"])
        bars.image(figure_png, width="stretch")
        waterfall.image(state.figure_png(result, "waterfall", key=key), width="stretch")
    else:  # an image heatmap: its caption says what it explains (the picture itself has no title)
        st.image(figure_png, caption=render.caption(result), width="stretch")
    _scores(result)
    _badge(subject, result, key)
    name = f"{subject.title.removesuffix('.keras')}-{method}-{key[:8]}"
    left, right = st.columns(2)
    left.download_button("JSON", document, f"{name}.json", "application/json", on_click="ignore",
                         key=f"json:{name}", icon=":material/download:")
    right.download_button("PNG", figure_png, f"{name}.png", "image/png", on_click="ignore", key=f"png:{name}",
                          icon=":material/download:")


def _scores(e: Explanation) -> None:
    """Runtime and faithfulness (deletion AUC against removing the same units in random order)."""
    s = e.scores
    additive = "additivity_error" in s  # scored only for methods that promise it (SHAP)
    columns = st.columns(3 if additive else 2)
    columns[0].metric("Runtime", f"{e.meta.get('seconds', float('nan')):.3g} s")
    if "deletion_auc" in s:
        columns[1].metric(
            "Deletion AUC", number(s["deletion_auc"]), number(s["deletion_auc"] - s["deletion_random_auc"]),
            delta_color="inverse",
            help="Remove the input's parts in the order this explanation ranks them and follow the explained score: "
                 "a faithful explanation makes it fall faster than a random order, so its AUC is lower than the "
                 "random order's (the change shown, green when lower).")
    if additive:
        columns[2].metric("Additivity error", f"{s['additivity_error']:.2g}",
                          help="|sum of attributions + base value − model output|: near 0 for exact SHAP values.")


BADGE_LOOKS = {  # level -> (colour, icon) of st.badge, worst first as explain.metrics.LEVELS
    "no better than random": ("red", ":material/error:"), "inconclusive": ("gray", ":material/help:"),
    "no better than edges": ("orange", ":material/check:"), "beats random and edges": ("green", ":material/verified:")}


def _badge(subject: Subject, e: Explanation, key: str) -> None:
    """The faithfulness badge in words, its numbers and how to read it one click away (``key``: the explanation's)."""
    asked = f"badge:{subject.key}:{key}"
    if not (state.badge_is_quick(e) or st.session_state.get(asked)):
        if st.button("Faithfulness badge", key=f"button:{asked}", icon=":material/verified:",
                     help="ROAD and an input-only baseline besides random orders; several seconds on a large image."):
            st.session_state[asked] = True
            st.rerun()
        return
    try:
        with st.spinner("Faithfulness badge…"):
            b = state.badge(subject, e, key)
    except (ValueError, TypeError) as exc:  # the metric's refusals say why
        st.caption(f"No faithfulness badge for this explanation: {exc}")
        return
    except Exception as exc:  # never a traceback on the page; the log keeps it for developers
        LOG.exception("the badge of %s failed", e.method)
        st.caption(f"The faithfulness badge could not be computed ({type(exc).__name__}: {exc}).")
        return
    colour, icon = BADGE_LOOKS[b.level]
    st.badge(b.words, icon=icon, color=colour)
    with st.expander("The badge's numbers"):
        st.dataframe(pd.DataFrame(b.rows()), hide_index=True, width="stretch",
                     column_config={c: st.column_config.NumberColumn(format="%.3g")
                                    for c in ("AUC", "random min", "random max", f"{b.baseline} AUC")})
        st.caption(b.how_to_read())


def _agreement(explained: list[Explanation]) -> None:
    if len(explained) < 2:
        return
    st.subheader("Do the methods agree?")
    try:
        frame = agreement(explained)
    except ValueError as exc:
        st.info(f"These explanations cannot be compared: {exc}")
        return
    frame.insert(2, "in words", [agreement_words(v) for v in frame["spearman"]])
    st.dataframe(frame.rename(columns={"method_a": "method", "method_b": "and method", "spearman": "rank correlation",
                                       "spearman_abs": "rank correlation of magnitudes"}),
                 hide_index=True, width="stretch",
                 column_config={c: st.column_config.NumberColumn(format="%.2f")
                                for c in ("rank correlation", "rank correlation of magnitudes", "top_5")})
    st.caption("Spearman rank correlation of the two methods' attributions on this input: 1 = the same ranking, "
               "0 = unrelated, negative = opposite. Magnitudes ignore the sign (do they find the same parts "
               "important?); top_5 is the share of their five strongest parts in common.")


def agreement_words(rho: float) -> str:
    """A rank correlation in plain words."""
    if not np.isfinite(rho):
        return "cannot tell (one map is constant)"
    if rho >= 0.7:
        return "strong agreement"
    if rho >= 0.4:
        return "moderate agreement"
    if rho >= 0.1:
        return "weak agreement"
    if rho > -0.1:
        return "unrelated"
    return "they disagree"


def _report(subject: Subject, chosen: Chosen, explained: list[Explanation]) -> None:
    """HTML and PDF reports of these explanations, built on request (the PDF takes a moment)."""
    if not explained:
        return
    st.subheader("Report")
    from explain import report
    key = "report:" + state.content_key("".join(e.to_json() for e in explained))
    if key not in st.session_state:
        if st.button("Prepare the report (HTML and PDF)", key=f"prepare:{key}"):
            with st.status("Building the report…") as status:
                options = dict(model=subject.reference or subject.predictor, title=f"{subject.title}: {chosen.description}",
                               inputs_source=chosen.description,
                               true_labels=None if chosen.truth is None else [chosen.truth])
                try:
                    st.session_state[key] = (report.build_html(explained, **options), report.build_pdf(explained, **options))
                except (ValueError, TypeError) as exc:
                    status.update(label="The report could not be built", state="error")
                    st.error(f"The report could not be built: {exc}")
                    return
                status.update(label="Report ready", state="complete")
        if key not in st.session_state:
            return
    html, pdf = st.session_state[key]
    left, right = st.columns(2)
    left.download_button("Report (HTML)", html, "explanation-report.html", "text/html", on_click="ignore",
                         key=f"html:{key}", icon=":material/download:")
    right.download_button("Report (PDF)", pdf, "explanation-report.pdf", "application/pdf", on_click="ignore",
                          key=f"pdf:{key}", icon=":material/download:")
