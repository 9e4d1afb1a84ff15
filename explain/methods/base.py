"""The base every explanation method derives from.

A method is a dataclass whose fields are its parameters (scikit-learn habit:
the constructor stores them and does no work).  It implements one verb,
:meth:`Method.attribute`, on a batch of already-validated inputs and targets,
and returns bare :class:`Attribution` results; the API layer turns those into
:class:`~explain.explanation.Explanation` objects with predictions, timing and
provenance, the same way for every method.
"""
from __future__ import annotations

import dataclasses
import hashlib
import numbers
import types
import typing
from dataclasses import dataclass, field
from typing import Any, ClassVar, Sequence

import numpy as np

from ..predictor import Predictor


@dataclass
class Attribution:
    """What a method computes for one input: the rest of an Explanation is filled in by the API."""

    attributions: np.ndarray
    base_value: float | None = None
    labels: Sequence[str] | None = None  # tokens or feature names, when they differ from the predictor's
    data: Any = None  # the input as shown to people, when it differs from the raw input (text: tokens)
    meta: dict[str, Any] = field(default_factory=dict)  # e.g. segments, the layer used, fallbacks taken


def param(default: Any, *, choices: Sequence[Any] | None = None, low: float | None = None,
          high: float | None = None, changes_result: bool = True, help: str = "", role: str | None = None) -> Any:
    """A method parameter with its declaration: allowed choices or range, and whether it changes the result.

    Validation, the dashboard's widgets and the docs read these instead of
    checking parameter names.  ``changes_result=False`` marks speed-only knobs;
    ``role="background"`` a reference-data parameter whose ``None`` means the
    predictor's background (so the store keys on it).
    """
    metadata = {"choices": tuple(choices) if choices is not None else None, "low": low, "high": high,
                "changes_result": changes_result, "help": help, "role": role}
    return field(default=default, metadata=metadata)


def declaration(cls: type, name: str) -> dict[str, Any]:
    """The declared metadata of one parameter (empty values for a plain field)."""
    for f in dataclasses.fields(cls):
        if f.name == name:
            return {"choices": None, "low": None, "high": None, "changes_result": True, "help": "", "role": None,
                    **f.metadata}
    raise KeyError(name)


@dataclass
class Method:
    """Subclasses set ``name`` and ``modalities`` and implement :meth:`attribute`."""

    name: ClassVar[str]
    modalities: ClassVar[tuple[str, ...]]
    needs_keras: ClassVar[bool] = False  # gradients or layer access: a plain function will not do
    outputs: ClassVar[tuple[str, ...]] = ("multiclass", "binary", "regression")
    stochastic: ClassVar[bool] = False  # results depend on ``seed``
    additive: ClassVar[bool] = False  # attributions sum to output - base_value (SHAP); LIME's intercept does not
    needs_gradients: ClassVar[bool] = False  # differentiates the model (so needs a Keras model)
    # Changes process-wide state while it runs, so it must not run in a background warm-up beside users' requests.
    process_global: ClassVar[bool] = False

    def __post_init__(self) -> None:
        """Check every parameter against its type and declaration, naming it in the message."""
        hints = typing.get_type_hints(type(self))
        for f in dataclasses.fields(self):
            if not f.name.startswith("_"):
                _check_param(type(self).name, f.name, getattr(self, f.name), hints.get(f.name, Any),
                             declaration(type(self), f.name))

    def params(self) -> dict[str, Any]:
        """Every parameter that changes the result (the seed included), JSON-friendly.

        Arrays (a background sample, say) are recorded by content hash and shape, not copied.
        """
        return {f.name: _summarise(getattr(self, f.name)) for f in dataclasses.fields(self) if not f.name.startswith("_")}

    def uses_background(self, predictor: Predictor) -> bool:
        """Whether the predictor's reference rows shape this method's result (so they are part of its store key).

        Declared by the parameters themselves: a field declared ``role="background"``
        left at ``None`` means "use the predictor's".  Methods that read the
        background in other ways override this.
        """
        return any(f.metadata.get("role") == "background" and getattr(self, f.name) is None
                   for f in dataclasses.fields(self))

    @classmethod
    def applies_to(cls, predictor: Predictor) -> str | None:
        """``None`` if the method can explain this model, else the reason it cannot (for error messages)."""
        if predictor.modality not in cls.modalities:
            return f"{cls.name} explains {' or '.join(cls.modalities)} inputs, not {predictor.modality} inputs"
        if (cls.needs_keras or cls.needs_gradients) and predictor.keras_model is None:
            why = getattr(predictor, "no_gradients", None) or "this model gives no access to its gradients or layers"
            return f"{cls.name} needs a Keras model's gradients or layers: {why}"
        if predictor.output not in cls.outputs:
            return f"{cls.name} does not support {predictor.output} outputs"
        return None

    def attribute(self, predictor: Predictor, inputs: Sequence[Any], targets: Sequence[int | None]) -> list[Attribution]:
        """Attributions for a batch of validated inputs (images ``(n, ...)``, texts, or rows)."""
        raise NotImplementedError


def _summarise(value: Any) -> Any:
    if isinstance(value, np.ndarray) or (isinstance(value, list) and len(value) > 20):
        array = np.asarray(value)
        digest = hashlib.sha256(array.tobytes() if array.dtype != object else repr(value).encode()).hexdigest()[:16]
        return {"array_sha256": digest, "shape": list(array.shape), "dtype": str(array.dtype)}
    return value


def _check_param(method: str, name: str, value: Any, hint: Any, declared: dict[str, Any]) -> None:
    args = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,)
    if value is None:
        if type(None) not in args and hint is not Any:
            raise TypeError(f"{method}: parameter {name!r} may not be None.")
        return
    kinds = [a for a in args if a in (int, float, str, bool)]
    if kinds and not any(_is_instance(value, kind) for kind in kinds):
        allowed = " or ".join(k.__name__ for k in kinds)
        raise TypeError(f"{method}: parameter {name!r} must be {allowed}, got {value!r} ({type(value).__name__}).")
    if declared["choices"] is not None and isinstance(value, str) and value not in declared["choices"]:
        raise ValueError(f"{method}: parameter {name!r} must be one of {', '.join(map(repr, declared['choices']))}, "
                         f"got {value!r}.")
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        low, high = declared["low"], declared["high"]
        if (low is not None and value < low) or (high is not None and value > high):
            span = f"between {low} and {high}" if low is not None and high is not None else (
                f"at least {low}" if low is not None else f"at most {high}")
            raise ValueError(f"{method}: parameter {name!r} must be {span}, got {value!r}.")


def _is_instance(value: Any, kind: type) -> bool:
    if kind is bool:
        return isinstance(value, (bool, np.bool_))
    if kind is int:
        return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))
    if kind is float:
        return isinstance(value, (numbers.Real, np.floating)) and not isinstance(value, (bool, np.bool_))
    return isinstance(value, kind)
