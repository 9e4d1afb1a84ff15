"""Picking the input to explain: a test example (by index, at random, or through filters) or one's own.

The pure helpers at the top (class probabilities, test-split filters) hold the
little selection logic there is, so it is tested without a browser; the
widgets below only collect choices.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import streamlit as st

from explain import Predictor
from explain.formatting import number

from . import imaging, state
from .state import Subject

MISCLASSIFIED, CONFIDENT_MISTAKES, TRUE_CLASS, PREDICTED_CLASS = (
    "misclassified", "most confident mistakes", "true class", "predicted class")
LARGEST_ERRORS = "largest errors"
CLASSIFIER_FILTERS = (MISCLASSIFIED, CONFIDENT_MISTAKES, TRUE_CLASS, PREDICTED_CLASS)
MAX_CANDIDATES = 500
TEST, UPLOAD_IMAGE, TYPE_REVIEW, EDIT_VALUES = "Test split", "Upload an image", "Type a review", "Type values"


@dataclass(frozen=True)
class Chosen:
    """The input to explain, what to call it, and its true label or value when known."""

    x: Any
    description: str
    truth: int | float | None = None


# ---- pure helpers ------------------------------------------------------------------------------
def probabilities(predictor: Predictor, outputs: np.ndarray) -> np.ndarray:
    """Class probabilities ``(n, k)`` from model outputs; a single sigmoid becomes two columns."""
    return np.stack([predictor.target_scores(outputs, c) for c in range(predictor.n_classes)], axis=1)


def candidates(scores: np.ndarray, y: np.ndarray, how: str, cls: int | None = None,
               limit: int = MAX_CANDIDATES) -> np.ndarray:
    """Test indices matching a filter, most interesting first.

    ``scores``: class probabilities ``(n, k)`` for classifiers, predictions ``(n,)``
    for regression.  Mistakes are ordered by the model's confidence, regression
    rows by absolute error; class filters keep test order.
    """
    y = np.asarray(y)
    if how == LARGEST_ERRORS:
        errors = np.abs(np.ravel(scores) - y.astype(float))
        return np.argsort(-errors, kind="stable")[:limit]
    predicted, confidence = scores.argmax(axis=1), scores.max(axis=1)
    if how == MISCLASSIFIED:
        found = np.flatnonzero(predicted != y)
    elif how == CONFIDENT_MISTAKES:
        found = np.flatnonzero(predicted != y)
        found = found[np.argsort(-confidence[found], kind="stable")]
    elif how == TRUE_CLASS:
        found = np.flatnonzero(y == cls)
    elif how == PREDICTED_CLASS:
        found = np.flatnonzero(predicted == cls)
    else:
        raise ValueError(f"Unknown filter {how!r}; use one of {', '.join(CLASSIFIER_FILTERS + (LARGEST_ERRORS,))}.")
    return found[:limit]


def describe(i: int, scores: np.ndarray, y: np.ndarray, predictor: Predictor) -> str:
    """``#12 · true 7 · predicted 2 (91%)`` or ``#12 · true 150,000 · predicted 230,000 (+80,000)``."""
    if predictor.output == "regression":
        predicted = float(np.ravel(scores)[i])
        return f"#{i} · true {number(y[i])} · predicted {number(predicted)} (error {number(predicted - float(y[i]))})"
    row = scores[i]
    return (f"#{i} · true {predictor.class_name(int(y[i]))} · predicted "
            f"{predictor.class_name(int(row.argmax()))} ({row.max():.0%})")


def test_scores(subject: Subject) -> np.ndarray:
    """Probabilities or predictions over the whole test split (cached per model)."""
    outputs = state.test_outputs(subject)
    return outputs[:, 0] if subject.predictor.output == "regression" else probabilities(subject.predictor, outputs)


# ---- widgets ---------------------------------------------------------------------------------------
def pick(subject: Subject) -> Chosen | None:
    """The input picker for the model's modality; None until there is something valid to explain."""
    own = {"image": UPLOAD_IMAGE, "text": TYPE_REVIEW, "tabular": EDIT_VALUES}[subject.modality]
    kinds = [TEST, own] if subject.reference is not None else [own]
    if subject.modality == "tabular" and subject.reference is not None:
        kinds = [TEST]  # the what-if editor below starts from the chosen test row
    kind = st.radio("Input", kinds, horizontal=True, key=f"input_kind:{subject.key}") if len(kinds) > 1 else kinds[0]
    if kind == TEST:
        chosen = _from_test_split(subject)
        if chosen is not None and subject.modality == "tabular":
            chosen = _what_if(subject, chosen)
        return chosen
    if kind == UPLOAD_IMAGE:
        return _uploaded_image(subject)
    if kind == TYPE_REVIEW:
        return _typed_review(subject)
    return _what_if(subject, Chosen(np.zeros(subject.predictor.input_shape, dtype=np.float32), "your values"))


def _from_test_split(subject: Subject) -> Chosen | None:
    try:
        x, y = state.test_split(subject)
    except state.NotReady as exc:
        st.error(str(exc))
        return None
    how = st.radio("Choose", ["by index", "at random", "through a filter"], horizontal=True,
                   key=f"choose:{subject.key}", label_visibility="collapsed")
    if how == "by index":
        i = int(st.columns([1, 2])[0].number_input(f"Test index (0 to {len(x) - 1:,})", 0, len(x) - 1, 0,
                                                   key=f"index:{subject.key}"))
    elif how == "at random":
        draw_key = f"draw:{subject.key}"
        if st.button("Draw another", key=f"redraw:{subject.key}") or draw_key not in st.session_state:
            st.session_state[draw_key] = int(np.random.default_rng().integers(len(x)))
        i = st.session_state[draw_key]
    else:
        found = _filtered(subject, y)
        if found is None:
            return None
        i = found
    return _show_test_input(subject, x, y, i)


def _filtered(subject: Subject, y: np.ndarray) -> int | None:
    predictor = subject.predictor
    scores = test_scores(subject)
    left, right = st.columns(2)
    if predictor.output == "regression":
        how, cls = LARGEST_ERRORS, None
        left.caption("Rows with the largest prediction errors first.")
    else:
        how = left.selectbox("Filter", CLASSIFIER_FILTERS, key=f"filter:{subject.key}")
        cls = None
        if how in (TRUE_CLASS, PREDICTED_CLASS):
            cls = right.selectbox("Class", range(predictor.n_classes), format_func=predictor.class_name,
                                  key=f"filter_class:{subject.key}")
    found = candidates(scores, y, how, cls)
    if len(found) == 0:
        st.info("No test input matches this filter; choose another filter or class.")
        return None
    return int(st.selectbox(f"{len(found):,} matching inputs (at most {MAX_CANDIDATES} listed)", found,
                            format_func=lambda i: describe(int(i), scores, y, predictor),
                            key=f"match:{subject.key}:{how}:{cls}"))


def _show_test_input(subject: Subject, x: np.ndarray, y: np.ndarray, i: int) -> Chosen:
    item, truth = x[i], y[i].item()
    if subject.modality == "image":
        st.image(_enlarged(item), caption=f"test image #{i}", width=140)
    elif subject.modality == "text":
        st.container(height=140).write(str(item))
    truth_text = number(truth) if subject.predictor.output == "regression" else subject.predictor.class_name(int(truth))
    return Chosen(x=item, description=f"test input #{i} (true: {truth_text})", truth=truth)


def _enlarged(image: np.ndarray, factor: int = 5) -> np.ndarray:
    """Nearest-neighbour upscaling, so small digits stay crisp instead of blurred by the browser."""
    pixels = np.clip(np.asarray(image, dtype=float), 0, 255).astype(np.uint8)
    return pixels.repeat(factor, axis=0).repeat(factor, axis=1)


def _uploaded_image(subject: Subject) -> Chosen | None:
    upload = st.file_uploader("An image (PNG, JPEG, BMP, GIF or WebP)", type=["png", "jpg", "jpeg", "bmp", "gif", "webp"],
                              key=f"image:{subject.key}")
    left, middle, right = st.columns(3)
    invert = left.selectbox("Invert", ["automatic", "yes", "no"], key=f"invert:{subject.key}",
                            help="MNIST digits are light on black; a photo of ink on paper needs inverting.")
    centre = middle.checkbox("Crop to the drawing and centre it", True, key=f"centre:{subject.key}")
    scale = 255.0
    if subject.reference is None:
        scale = right.selectbox("Pixel range your model expects", [255.0, 1.0], key=f"scale:{subject.key}",
                                format_func=lambda s: f"0 to {s:g}")
    if upload is None:
        st.info("Upload a picture, for example a photo of a handwritten digit.")
        return None
    try:
        pixels, steps = imaging.to_model_image(upload.getvalue(), subject.predictor.input_shape,
                                               invert={"automatic": None, "yes": True, "no": False}[invert],
                                               centre=centre, scale=scale)
    except ValueError as exc:
        st.error(f"`{upload.name}` cannot be used: {exc} Upload a PNG or JPEG picture.")
        return None
    st.caption("How your image becomes the model's input:")
    for column, (caption, image) in zip(st.columns(len(steps)), steps):
        column.image(_enlarged(image, 4) if image.shape[0] < 64 else image, caption=caption, width=140)
    return Chosen(x=pixels, description=f"your image {upload.name}")


def _typed_review(subject: Subject) -> Chosen | None:
    text = st.text_area("Your review", key=f"review:{subject.key}", height=140,
                        placeholder="Type or paste a movie review, then press Ctrl+Enter.")
    if text == "":
        st.info("Type a review (a few sentences), then press Ctrl+Enter to explain it.")
        return None
    view = subject.predictor.text_view(text)
    if not view.tokens:
        st.error("The review holds no words the model reads (it is empty or only punctuation). "
                 "Type a few sentences about a movie.")
        return None
    if view.dropped:
        st.warning(f"The model reads only the first {subject.predictor.window} words; the last {view.dropped} are "
                   "ignored by the model and not explained.")
    return Chosen(x=text, description="your review")


def _what_if(subject: Subject, start: Chosen) -> Chosen:
    """Every feature as a number box or slider, starting from ``start``: change one and see what moves."""
    predictor = subject.predictor
    base = np.ravel(np.asarray(start.x, dtype=float))
    names = list(predictor.feature_names or [f"x{i}" for i in range(base.size)])
    ranges = _ranges(subject, base)
    sliders = st.toggle("Sliders instead of number boxes", key=f"sliders:{subject.key}")
    st.caption(f"What if? Edit the values of {start.description}; the prediction and the explanations follow.")
    row_key = state.content_key(base)
    values = []
    columns = st.columns(4)
    for i, (name, (low, high)) in enumerate(zip(names, ranges)):
        step = 10.0 ** math.floor(math.log10((high - low) / 200)) if high > low else 1.0
        keys = {kind: f"whatif:{subject.key}:{row_key}:{i}:{kind}" for kind in ("slider", "number")}
        kind, other = ("slider", "number") if sliders else ("number", "slider")
        current = float(st.session_state.get(keys[other], base[i]))
        with columns[i % 4]:
            if sliders:
                value = st.slider(name, float(low), float(high), float(np.clip(current, low, high)), step, key=keys[kind])
            else:
                value = st.number_input(name, value=current, step=step, format=f"%.{max(0, -int(math.log10(step)))}f",
                                        key=keys[kind])
        values.append(float(value))
    row = np.asarray(values, dtype=np.float32)
    changed = [f"{n}: {number(b)} → {number(v)}" for n, b, v in zip(names, base, row) if not np.isclose(b, v, rtol=1e-6)]
    if changed:
        st.caption("Changed: " + "; ".join(changed))
        return Chosen(x=row, description=f"{start.description}, edited")
    return Chosen(x=row, description=start.description, truth=start.truth)


def _ranges(subject: Subject, base: np.ndarray) -> Sequence[tuple[float, float]]:
    """Slider ranges: the test split's span per feature, else a span around the starting value."""
    if subject.reference is not None:
        x, _ = state.test_split(subject)
        return list(zip(np.min(x, axis=0).astype(float), np.max(x, axis=0).astype(float)))
    return [(v - max(1.0, 2 * abs(v)), v + max(1.0, 2 * abs(v))) for v in base]
