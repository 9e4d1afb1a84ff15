"""The one place the dashboard caches: models, test splits, predictions and explanations.

Models live in ``st.cache_resource`` (one copy shared by every session, never
pickled); explanations in ``st.cache_data`` keyed by model, input content,
method, parameters and target, so re-selecting an input already explained
costs nothing.  Behind that memory cache sits the explanation store (the default
SQLite file, ``EXPLAIN_STORE``), so explanations outlive a restart of the app and
are shared with reports and audits of the same model.  Cache keys name a model by its file hash, so retraining or
re-uploading a model can never serve a stale result.
"""
from __future__ import annotations

import hashlib
import json
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import streamlit as st

import explain
import models
from explain import Explanation, Predictor, warmup
from explain import settings as explain_settings
from explain.store import input_hash
from models import settings

MAX_MODEL_MB = 100  # uploads above this are refused before Keras reads a byte
SOURCE_KEY, REFERENCE_KEY, UPLOAD_KEY, CLASS_NAMES_KEY = "model_source", "reference_model", "model_file", "class_names"
OUTPUT_KEY = "model_output"
AUTOMATIC_OUTPUT = "automatic"
OUTPUT_CHOICES = (AUTOMATIC_OUTPUT, "probabilities", "logits", "regression")
REFERENCE, UPLOAD = "Reference model", "My own .keras file"
_PYPLOT = threading.Lock()


class NotReady(Exception):
    """No model to explain yet; the message says what to do (train one, upload one, fix the upload)."""


@dataclass(frozen=True)
class Subject:
    """The model being explained, whichever way it came in."""

    key: str  # names the model in cache keys: reference name + file hash, or upload hash + class names
    title: str
    predictor: Predictor
    reference: models.ReferenceModel | None = None  # None for an uploaded model (no card, no test split)

    @property
    def modality(self) -> str:
        return self.predictor.modality


# ---- reference models --------------------------------------------------------------------------
def models_dir() -> Path:
    return settings.models_dir()


def reference_status(name: str) -> dict | Exception | None:
    """The card of a trained model, the error that makes it unusable, or None if it is not trained."""
    return models.trained_cards(models_dir()).get(name)


@st.cache_resource(show_spinner="Loading the model (safe mode, hash-checked)…", max_entries=8)
def _reference(name: str, folder: str, sha: str) -> models.ReferenceModel:
    return models.load(name, models_dir=folder)


def load_reference(name: str) -> models.ReferenceModel:
    """The trained model (cached); raises NotReady with what to do when it is missing or broken."""
    card = reference_status(name)
    if card is None:
        raise NotReady(f"`{name}` is not trained yet. Train it on the **Models** page (one click).")
    if isinstance(card, Exception):
        raise NotReady(f"`{name}` cannot be used: {card}")
    try:
        return _reference(name, str(models_dir()), card["model_file"]["sha256"])
    except (models.ArtifactError, models.ModelNotTrainedError) as exc:
        raise NotReady(f"`{name}` cannot be loaded: {exc}") from None


@st.cache_resource(show_spinner="Loading the test split…", max_entries=4)
def _test_split(dataset: str, data_dir: str | None) -> tuple[np.ndarray, np.ndarray]:
    data = models.load_dataset(dataset, data_dir)
    return data.x_test, data.y_test


def test_split(subject: Subject) -> tuple[np.ndarray, np.ndarray]:
    """The inputs and labels the reference model was evaluated on (shared, read-only)."""
    if subject.reference is None:
        raise NotReady("Your own model comes without a test split; use your own inputs.")
    folder = settings.data_dir()
    try:
        return _test_split(subject.reference.spec.dataset, str(folder) if folder else None)
    except (models.DatasetNotFoundError, models.DatasetCorruptError) as exc:
        raise NotReady(f"The test data cannot be read: {exc} Set `EXPLAIN_DATA_DIR` to the folder with the "
                       "offline copies and restart the dashboard.") from None


@st.cache_resource(show_spinner="Scoring the test split (once per model)…", max_entries=4)
def _outputs(subject_key: str, _predictor: Predictor, _x: Any) -> np.ndarray:
    return _predictor.predict(_x)


def test_outputs(subject: Subject) -> np.ndarray:
    """Model outputs for the whole test split, one batched pass per model and process."""
    return _outputs(subject.key, subject.predictor, test_split(subject)[0])


# ---- uploaded models ---------------------------------------------------------------------------
@st.cache_resource(show_spinner="Loading your model in safe mode…", max_entries=4)
def _uploaded(digest: str, _data: bytes) -> Any:
    from models.artifacts import load_keras

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "uploaded.keras"
        path.write_bytes(_data)
        return load_keras(path)  # keras.saving.load_model(..., safe_mode=True, compile=False)


@st.cache_resource(max_entries=8)
def _uploaded_predictor(digest: str, class_names: tuple[str, ...] | None, output: str | None, _model: Any) -> Predictor:
    return Predictor(_model, class_names=class_names, output=output, name=getattr(_model, "name", "uploaded"))


def load_upload(file_name: str, data: bytes) -> Any:
    """The Keras model in an uploaded file; NotReady with guidance when it is too big or unreadable."""
    if not file_name.lower().endswith(".keras"):
        raise NotReady(f"`{file_name}` is not a `.keras` file. Save your model with `model.save('name.keras')` "
                       "(Keras 3 format) and upload that file.")
    if len(data) > MAX_MODEL_MB * 2**20:
        raise NotReady(f"`{file_name}` is {len(data) / 2**20:.0f} MB; the limit is {MAX_MODEL_MB} MB. "
                       "Upload a smaller model, or use the Python API (`explain.explain(model, x, ...)`).")
    try:
        return _uploaded(content_key(data), data)
    except models.ArtifactError as exc:
        reason = exc.__cause__ or exc
        raise NotReady(
            f"`{file_name}` could not be loaded as a Keras model: {reason}. The dashboard loads models in Keras' "
            "safe mode, which refuses Lambda layers and custom objects; save a model built from standard layers "
            "with `model.save('name.keras')`."
        ) from None


def parse_class_names(text: str, n_classes: int | None) -> tuple[str, ...] | None:
    """Comma-separated class names, checked against the model's number of classes."""
    names = tuple(part.strip() for part in text.split(",") if part.strip())
    if n_classes is None or not names:
        return None
    if len(names) != n_classes:
        raise NotReady(f"The model has {n_classes} classes but {len(names)} class names were given "
                       f"({', '.join(names)}). Give exactly {n_classes}, separated by commas, or leave the box empty.")
    return names


# ---- the current choice ----------------------------------------------------------------------------
def current_subject() -> Subject:
    """The model picked in the sidebar, loaded; raises NotReady with what to do otherwise.

    The first time a model is loaded its own warm-up starts in the background
    (its traces), so the first click on Explain costs what later ones do.
    """
    subject = _chosen_subject()
    if explain_settings.warm_up_enabled():
        warmup.start_model_warm_up(subject.predictor)
    return subject


def _chosen_subject() -> Subject:
    if st.session_state.get(SOURCE_KEY, REFERENCE) == UPLOAD:
        upload = st.session_state.get(UPLOAD_KEY)
        if upload is None:
            raise NotReady("Upload a `.keras` file in the sidebar, or switch the source back to a reference model.")
        data = upload.getvalue()
        model = load_upload(upload.name, data)
        chosen = st.session_state.get(OUTPUT_KEY, AUTOMATIC_OUTPUT)
        output = None if chosen == AUTOMATIC_OUTPUT else chosen
        try:
            bare = _uploaded_predictor(content_key(data), None, output, model)
        except (ValueError, TypeError) as exc:
            raise NotReady(f"`{upload.name}` loaded, but the dashboard cannot tell how to feed it: {exc} It explains "
                           "models that take images (H, W[, C]), raw strings, or rows of numbers; say what the outputs "
                           "are under 'Model outputs' in the sidebar.") from None
        names = parse_class_names(st.session_state.get(CLASS_NAMES_KEY, ""), bare.n_classes)
        predictor = _uploaded_predictor(content_key(data), names, output, model) if names else bare
        return Subject(key=f"upload:{content_key(data)}:{names}:{output}", title=upload.name, predictor=predictor)
    name = st.session_state.get(REFERENCE_KEY) or models.names()[0]
    reference = load_reference(name)
    return Subject(key=f"{name}:{reference.card['model_file']['sha256']}", title=name,
                   predictor=explain.as_predictor(reference), reference=reference)


# ---- explanations ----------------------------------------------------------------------------------
def content_key(value: Any) -> str:
    """A short content hash: the same image, text or row always gets the same key (the store's input hash)."""
    if isinstance(value, bytes):
        return hashlib.sha256(value).hexdigest()[:24]
    full = input_hash(value if isinstance(value, str) else np.asarray(value))
    return full.partition(":")[2][:24]  # drop the "array-sha256:" / "text-sha256:" prefix


@st.cache_data(show_spinner=False, max_entries=512)
def _explanation(subject_key: str, input_key: str, method: str, params_json: str, target: int | None,
                 _predictor: Predictor, _x: Any) -> Explanation:
    return explain.explain(_predictor, _x, method, target, truncate=True, scores=True, store=True,
                           **json.loads(params_json))


def _request(subject: Subject, x: Any, method: str, params: dict[str, Any], target: int | None) -> tuple:
    return subject.key, content_key(x), method, json.dumps(params, sort_keys=True), target


def explanation(subject: Subject, x: Any, method: str, params: dict[str, Any], target: int | None) -> Explanation:
    """One explanation with its faithfulness scores, computed once per (model, input, method, parameters, target)."""
    key = _request(subject, x, method, params, target)
    result = _explanation(*key, subject.predictor, x)
    st.session_state.setdefault("explained", set()).add(key)
    return result


def is_explained(subject: Subject, x: Any, method: str, params: dict[str, Any], target: int | None) -> bool:
    """Whether this session already holds the explanation (so no progress box is needed)."""
    return _request(subject, x, method, params, target) in st.session_state.get("explained", set())


AUTO_BADGE_PIXELS = 96 * 96  # larger images wait for a click: ROAD's imputation took ~15 s for one 224 x 224 image


def badge_is_quick(e: Explanation) -> bool:
    """Whether the badge can follow the picture unasked (text and rows always; images up to AUTO_BADGE_PIXELS)."""
    return e.modality != "image" or int(np.prod(np.shape(e.attributions)[:2])) <= AUTO_BADGE_PIXELS


@st.cache_data(show_spinner=False, max_entries=256)
def _badge(subject_key: str, explanation_key: str, _predictor: Predictor, _explanation: Explanation) -> Any:
    from explain import activity
    from explain.metrics import badge

    with activity.request_running():
        return badge(_predictor, [_explanation])[0]


def badge(subject: Subject, e: Explanation, key: str | None = None) -> Any:
    """The explanation's faithfulness badge (:class:`explain.metrics.Badge`): the one it carries, else computed once.
    ``key``: the explanation's :func:`content_key`, when the caller has it already."""
    from explain.evaluation.badge import badge_of

    return badge_of(e) or _badge(subject.key, key or content_key(e.to_json()), subject.predictor, e)


@st.cache_data(show_spinner=False, max_entries=256)
def _png(explanation_key: str, kind: str, _explanation: Explanation) -> bytes:
    from explain import render

    if kind == "figure" and _explanation.modality == "image":  # the interactive path: numpy, not matplotlib
        from .heatmap import heatmap_png

        return heatmap_png(_explanation)
    with _PYPLOT:  # pyplot keeps global state; sessions run in threads
        figure = render.waterfall(_explanation) if kind == "waterfall" else render.figure(_explanation)
        return render.png_bytes(figure)


def figure_png(e: Explanation, kind: str = "figure", key: str | None = None) -> bytes:
    """The explanation's figure (``render.figure``, or ``render.waterfall``) as PNG, drawn once per explanation."""
    return _png(key or content_key(e.to_json()), kind, e)


@st.cache_data(show_spinner=False, max_entries=64)
def _batch(subject_key: str, rows_key: str, method: str, targets: tuple | None, params_json: str,
           _predictor: Predictor, _x: Any) -> list[Explanation]:
    return explain.explain_batch(_predictor, _x, method, list(targets) if targets is not None else None,
                                 truncate=True, store=True, **json.loads(params_json))


def explanations_batch(subject: Subject, x: Any, method: str, targets: list[int] | None,
                       params: dict[str, Any]) -> list[Explanation]:
    """Many explanations in one batched call (the global view), cached per chunk of inputs."""
    rows_key = content_key("\x00".join(x)) if subject.modality == "text" else content_key(np.asarray(x))
    return _batch(subject.key, rows_key, method, tuple(targets) if targets is not None else None,
                  json.dumps(params, sort_keys=True), subject.predictor, x)
