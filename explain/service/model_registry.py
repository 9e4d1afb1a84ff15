"""The models the service explains: reference models by name, and users' ``.keras`` files by content hash.

An upload is written to a temporary file, opened with :func:`explain.loading.load_keras` (archive checks,
Keras safe mode, never unpickled) and turned into a Predictor before it is kept, so a model that cannot be
explained is refused at upload time with the reason, not at the first request.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any, Sequence

import models

from .. import registry
from ..loading import UnsafeModelFile, load_keras
from ..predictor import Predictor
from ..settings import warm_up_enabled
from ..warmup import start_model_warm_up
from .config import ServiceSettings
from .errors import ServiceError, from_engine

ID_LENGTH = 16  # hex characters of the sha256 kept as an upload's id
KEPT_PREDICTORS = 8


def upload_id(data: bytes, options: dict[str, Any]) -> str:
    """The content hash of the file (and of the options that change how it is read, if any were given)."""
    digest = hashlib.sha256(data)
    if options:
        digest.update(b"\0" + json.dumps(options, sort_keys=True).encode())
    return digest.hexdigest()[:ID_LENGTH]


class ModelRegistry:
    """Model ids -> Predictors, each loaded once and kept (a few at a time) for every later request."""

    def __init__(self, settings: ServiceSettings) -> None:
        self.settings = settings
        self.folder = settings.uploads_dir
        self._kept: OrderedDict[str, Predictor] = OrderedDict()
        self._references: dict[str, Any] = {}  # id -> models.ReferenceModel: Dask workers load those by name
        self._lock = threading.Lock()  # one load at a time: two requests for a new model load it once

    # ---- listing ------------------------------------------------------------------------------
    def summaries(self) -> list[dict[str, Any]]:
        folder = self.settings.models_dir
        rows: list[dict[str, Any]] = [{"id": name, "kind": "reference", "trained": models.is_trained(name, folder)}
                                      for name in models.names()]
        if self.folder.is_dir():
            for path in sorted(self.folder.glob("*.keras")):
                rows.append({"id": path.stem, "kind": "upload", "trained": True, "bytes": path.stat().st_size,
                             **self._options(path.stem)})
        return rows

    def describe(self, model_id: str) -> dict[str, Any]:
        """What the model adapter knows: modality, output kind, names, input shape, and the methods that apply."""
        predictor = self.predictor(model_id)
        return {"id": model_id, "kind": "reference" if model_id in models.names() else "upload",
                **predictor.describe(), "class_names": _names(predictor.class_names),
                "feature_names": _names(predictor.feature_names), "methods": registry.available(predictor)}

    # ---- loading ------------------------------------------------------------------------------
    def predictor(self, model_id: str) -> Predictor:
        with self._lock:
            if model_id in self._kept:
                self._kept.move_to_end(model_id)
                return self._kept[model_id]
            predictor = self._load(model_id)
            if warm_up_enabled():
                start_model_warm_up(predictor)  # its traces in the background, before the next request
            self._kept[model_id] = predictor
            while len(self._kept) > KEPT_PREDICTORS:
                self._kept.popitem(last=False)
            return predictor

    def _load(self, model_id: str) -> Predictor:
        if model_id in models.names():
            if not models.is_trained(model_id, self.settings.models_dir):
                raise ServiceError(409, "model not trained", f"The reference model {model_id!r} has no trained "
                                   f"artifact in {self.settings.models_dir}; run `explain train {model_id}` first.")
            try:
                self._references[model_id] = models.load(model_id, self.settings.models_dir)
                return Predictor(self._references[model_id])
            except Exception as exc:
                raise ServiceError(503, "model unavailable", f"The reference model {model_id!r} could not be "
                                   f"loaded ({exc}); retrain it with `explain train {model_id}`.") from exc
        path = self.folder / f"{model_id}.keras"
        if not _is_upload_id(model_id) or not path.is_file():
            known = ", ".join(models.names())
            raise ServiceError(404, "unknown model", f"No model {model_id!r}: use a reference model ({known}) or the "
                               "id POST /models returned for your upload (GET /models lists them).")
        return _predictor(load_keras(path), self._options(model_id))

    def source(self, model_id: str) -> Any:
        """What a Dask worker is sent for this model: the reference model (by name), else the predictor's model."""
        predictor = self.predictor(model_id)
        return self._references.get(model_id, predictor)

    # ---- uploads ------------------------------------------------------------------------------
    def upload(self, data: bytes, class_names: Sequence[str] | None = None, output: str | None = None,
               filename: str | None = None) -> tuple[str, bool]:
        """``(id, created)``: the file is checked, loaded and explained-ready before it is kept."""
        if not data:
            raise ServiceError(400, "empty upload", "The file field was empty; send a .keras file saved by Keras 3.")
        options = {k: v for k, v in (("class_names", list(class_names or [])), ("output", output)) if v}
        model_id = upload_id(data, options)
        target = self.folder / f"{model_id}.keras"
        if target.is_file():
            return model_id, False
        self.folder.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(suffix=".keras", dir=self.folder, prefix=".incoming-")
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(data)
            try:
                predictor = _predictor(load_keras(Path(temporary)), options)
            except UnsafeModelFile as exc:  # its message names our temporary file: name the caller's instead
                label = Path(filename).name if filename else "the uploaded file"
                raise from_engine(UnsafeModelFile(str(exc).replace(Path(temporary).name, label))) from exc
            except (ValueError, TypeError) as exc:
                raise ServiceError(400, "model not explainable", f"The file loads but cannot be explained as it is: "
                                   f"{exc}") from exc
            (self.folder / f"{model_id}.json").write_text(json.dumps(options), encoding="utf-8")
            os.replace(temporary, target)
        finally:
            if os.path.exists(temporary):
                os.unlink(temporary)
        with self._lock:
            self._kept[model_id] = predictor
        return model_id, True

    def _options(self, model_id: str) -> dict[str, Any]:
        path = self.folder / f"{model_id}.json"
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def _predictor(model: Any, options: dict[str, Any]) -> Predictor:
    return Predictor(model, class_names=options.get("class_names") or None, output=options.get("output"))


def _is_upload_id(value: str) -> bool:
    return len(value) == ID_LENGTH and all(c in "0123456789abcdef" for c in value)


def _names(values: Sequence[str] | None) -> list[str] | None:
    return None if values is None else [str(v) for v in values]
