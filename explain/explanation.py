"""The one result type every method returns, and its lossless JSON form.

Dashboard, reports, metrics, store and audit only ever see an
:class:`Explanation`, so none of them cares which method made it.
"""
from __future__ import annotations

import binascii
import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from . import arrays

MODALITIES = ("image", "text", "tabular")
FORMAT_VERSION = 2  # 2: arrays may be compressed (explain.arrays); format 1 documents are read too
READABLE_FORMATS = (1, 2)


@dataclass(frozen=True, eq=False)
class Explanation:
    """Attributions for one input and one target, with everything needed to reproduce them.

    ``attributions`` is aligned with the input as people see it: ``(H, W)`` for
    an image (channels summed), one value per token for text, one per feature
    for tabular rows.  ``params`` holds every parameter that changes the result
    (the seed included); ``meta`` holds what does not (runtime, versions,
    model fingerprint); ``scores`` holds faithfulness figures when asked for.
    """

    method: str
    modality: str
    target: int | None
    attributions: np.ndarray
    data: Any
    labels: Sequence[str] | None
    prediction: np.ndarray
    base_value: float | None
    params: Mapping[str, Any]
    meta: Mapping[str, Any] = field(default_factory=dict)
    scores: Mapping[str, Any] = field(default_factory=dict)
    target_name: str | None = None

    def __post_init__(self) -> None:
        if self.modality not in MODALITIES:
            raise ValueError(f"modality must be one of {MODALITIES}, got {self.modality!r}.")

    # ---- reading -------------------------------------------------------------------------
    def top(self, k: int = 5, *, by: str = "abs") -> list[tuple[str, float]]:
        """The ``k`` strongest attributions as ``(label, value)``; image pixels are labelled ``"row,col"``."""
        flat = np.asarray(self.attributions, dtype=float).ravel()
        key = np.abs(flat) if by == "abs" else flat
        order = np.argsort(-key, kind="stable")[:k]
        return [(self.label_of(int(i)), float(flat[i])) for i in order]

    def label_of(self, flat_index: int) -> str:
        if self.labels is not None:
            return str(self.labels[flat_index])
        shape = np.shape(self.attributions)
        return ",".join(str(i) for i in np.unravel_index(flat_index, shape))

    def tokens(self) -> list[str]:
        """The tokens a text explanation's attributions align with, one per attribution."""
        if self.modality != "text":
            raise ValueError(f"tokens() is for text explanations; this one explains {self.modality} inputs.")
        tokens = list(self.labels if self.labels is not None else self.data)
        if len(tokens) != np.size(self.attributions):
            raise ValueError(f"The text explanation has {len(tokens)} tokens but {np.size(self.attributions)} attributions.")
        return [str(t) for t in tokens]

    def with_scores(self, **scores: Any) -> "Explanation":
        return dataclasses.replace(self, scores={**self.scores, **scores})

    # ---- equality that understands arrays --------------------------------------------------
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Explanation):
            return NotImplemented
        return _to_jsonable(self._fields()) == _to_jsonable(other._fields())

    __hash__ = None  # type: ignore[assignment]

    def _fields(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    # ---- serialisation -------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT_VERSION, **_to_jsonable(self._fields())}

    @classmethod
    def from_dict(cls, payload: Mapping[str, Any]) -> "Explanation":
        payload = dict(payload)
        version = payload.pop("format", FORMAT_VERSION)
        if version not in READABLE_FORMATS:
            raise ValueError(f"Explanation format {version} is not supported (this library reads "
                             f"{', '.join(map(str, READABLE_FORMATS))}); a newer keras-explain may have written it.")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(payload) - names
        if unknown:
            raise ValueError(f"Not an Explanation: unexpected keys {sorted(unknown)}.")
        missing = [f.name for f in dataclasses.fields(cls) if f.name not in payload
                   and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
        if missing:
            raise ValueError(f"Not an Explanation: missing {', '.join(missing)}; was it written by Explanation.to_json()?")
        values = {}
        for key, value in payload.items():
            try:
                values[key] = _from_jsonable(value)
            except (KeyError, TypeError, ValueError, binascii.Error) as exc:
                raise ValueError(f"Not an Explanation: field {key!r} cannot be decoded ({exc}).") from None
        _check_types(values)
        if values.get("labels") is not None:
            values["labels"] = tuple(values["labels"])
        return cls(**values)

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(), **kwargs)

    @classmethod
    def from_json(cls, text: str) -> "Explanation":
        try:
            payload = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"Not an Explanation JSON document: {exc}.") from exc
        if not isinstance(payload, dict):
            raise ValueError("Not an Explanation JSON document: expected an object.")
        return cls.from_dict(payload)

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(self.to_json(), encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: str | Path) -> "Explanation":
        return cls.from_json(Path(path).read_text(encoding="utf-8"))

    # ---- interoperability ----------------------------------------------------------------
    def to_shap(self):
        """A ``shap.Explanation`` so that ``shap.plots.*`` work on any method's result."""
        import shap

        data = self.data
        if self.modality == "text":
            data = np.asarray(self.labels if self.labels is not None else data, dtype=object)
        return shap.Explanation(
            values=np.asarray(self.attributions, dtype=float),
            base_values=self.base_value if self.base_value is not None else 0.0,
            data=np.asarray(data) if self.modality != "text" else data,
            feature_names=list(self.labels) if self.labels is not None and self.modality == "tabular" else None,
            output_names=self.target_name,
        )


# What each field of a decoded document must be: a hand-edited or damaged file fails here, with the field named.
_FIELD_TYPES: dict[str, tuple[type, ...]] = {
    "method": (str,), "modality": (str,), "target": (int, type(None)), "attributions": (np.ndarray,),
    "prediction": (np.ndarray,), "base_value": (int, float, type(None)), "params": (dict,), "meta": (dict,),
    "scores": (dict,), "labels": (list, type(None)), "target_name": (str, type(None)),
}


def _check_types(values: Mapping[str, Any]) -> None:
    for key, kinds in _FIELD_TYPES.items():
        value = values.get(key)
        if key in values and (not isinstance(value, kinds) or isinstance(value, bool)):
            allowed = " or ".join("null" if k is type(None) else ("array" if k is np.ndarray else k.__name__) for k in kinds)
            raise ValueError(f"Not an Explanation: field {key!r} must be {allowed}, got {type(value).__name__}.")
        if isinstance(value, np.ndarray) and value.dtype.kind not in "biuf":
            raise ValueError(f"Not an Explanation: field {key!r} must hold numbers, got dtype {value.dtype}.")


# ---- JSON encoding with exact arrays -----------------------------------------------------------
def _encode_array(array: np.ndarray) -> dict[str, Any]:
    if array.dtype == object:
        return {"__ndarray__": "list", "dtype": "object", "shape": list(array.shape), "items": [_to_jsonable(x) for x in array.ravel()]}
    return arrays.encode(array)


def _to_jsonable(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return _encode_array(value)
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Mapping):
        return {str(k): _to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_jsonable(v) for v in value]
    if isinstance(value, float) and not np.isfinite(value):
        return {"__float__": repr(value)}
    return value


def _from_jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        if "__ndarray__" in value:
            shape = tuple(value["shape"])
            if value["__ndarray__"] == "list":
                items = [_from_jsonable(x) for x in value["items"]]
                out = np.empty(len(items), dtype=object)
                out[:] = items
                return out.reshape(shape)
            return arrays.decode(value)
        if "__float__" in value:
            return float(value["__float__"])
        return {k: _from_jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_jsonable(v) for v in value]
    return value
