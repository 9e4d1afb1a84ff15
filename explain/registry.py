"""Methods register themselves by name; everything else looks them up here."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .methods.base import Method

_METHODS: dict[str, type["Method"]] = {}


def register(cls: type["Method"]) -> type["Method"]:
    """Class decorator: make a method available under ``cls.name``."""
    if cls.name in _METHODS and _METHODS[cls.name] is not cls:
        raise ValueError(f"Two methods are registered as {cls.name!r}.")
    _METHODS[cls.name] = cls
    return cls


def _load_builtin_methods() -> None:
    from . import methods  # noqa: F401  (importing registers them)


def names() -> list[str]:
    _load_builtin_methods()
    return sorted(_METHODS)


def get(name: str) -> type["Method"]:
    _load_builtin_methods()
    if not isinstance(name, str) or name not in _METHODS:
        raise ValueError(f"Unknown method {name!r}; known methods: {', '.join(sorted(_METHODS))}.")
    return _METHODS[name]


def available(model_or_modality: Any) -> list[str]:
    """The methods that apply to a modality (``"image"``, ``"text"``, ``"tabular"``) or to a model."""
    from .predictor import Predictor

    _load_builtin_methods()
    if isinstance(model_or_modality, str):
        if model_or_modality not in ("image", "text", "tabular"):
            raise ValueError(f"Unknown modality {model_or_modality!r}; use 'image', 'text' or 'tabular'.")
        return sorted(n for n, m in _METHODS.items() if model_or_modality in m.modalities)
    predictor = model_or_modality if isinstance(model_or_modality, Predictor) else Predictor(model_or_modality)
    return sorted(n for n, m in _METHODS.items() if m.applies_to(predictor) is None)
