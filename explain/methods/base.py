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


@dataclass
class Method:
    """Subclasses set ``name`` and ``modalities`` and implement :meth:`attribute`."""

    name: ClassVar[str]
    modalities: ClassVar[tuple[str, ...]]
    needs_keras: ClassVar[bool] = False  # gradients or layer access: a plain function will not do
    outputs: ClassVar[tuple[str, ...]] = ("multiclass", "binary", "regression")
    stochastic: ClassVar[bool] = False  # results depend on ``seed``
    additive: ClassVar[bool] = False  # attributions sum to output - base_value (SHAP); LIME's intercept does not

    def params(self) -> dict[str, Any]:
        """Every parameter that changes the result (the seed included), JSON-friendly.

        Arrays (a background sample, say) are recorded by content hash and shape, not copied.
        """
        return {f.name: _summarise(getattr(self, f.name)) for f in dataclasses.fields(self) if not f.name.startswith("_")}

    @classmethod
    def applies_to(cls, predictor: Predictor) -> str | None:
        """``None`` if the method can explain this model, else the reason it cannot (for error messages)."""
        if predictor.modality not in cls.modalities:
            return f"{cls.name} explains {' or '.join(cls.modalities)} inputs, not {predictor.modality} inputs"
        if cls.needs_keras and predictor.keras_model is None:
            return f"{cls.name} needs a Keras model (gradients or layers); a plain prediction function only supports model-agnostic methods"
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
