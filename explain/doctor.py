"""The compatibility doctor: what the library reads from a model, and which methods really run on it.

``available(model)`` says which methods *claim* to apply; a user whose model is
odd (logits instead of probabilities, no convolution, no background data, a
text model without a vectorizer) learns more from trying each method once on
one probe input with small budgets.  A method that runs but returns all-zero
or non-finite attributions is reported as failed: a wrong explanation is worse
than none.

>>> report = explain.doctor(model)                                     # doctest: +SKIP
>>> report.attrs["model"]["modality"], report[["method", "status"]]   # doctest: +SKIP
"""
from __future__ import annotations

import dataclasses
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from . import api, registry
from .loading import load_keras
from .predictor import Predictor

if TYPE_CHECKING:
    import pandas as pd

BUDGET = {"num_samples": 200, "max_evals": 200, "nsamples": 50, "background_size": 10, "steps": 16, "samples": 8}
COLUMNS = ("method", "status", "reason", "seconds", "detail")
PROBE_TEXT = "the film was good and the story was simple"
FREE_SIDE = 32  # probe size for image dimensions the model leaves open (None)
NEAR_ZERO = 1e-9  # attributions this small against the output are float noise, not an explanation
QUIET = (DeprecationWarning, PendingDeprecationWarning, FutureWarning)  # library upkeep, not about this model


def doctor(model: Any, example: Any = None, methods: Sequence[str] | str | None = None, *,
           seed: int = 0) -> "pd.DataFrame":
    """One row per method (``method, status, reason, seconds, detail``); the model's description in ``.attrs["model"]``.

    ``model``: a Keras model, a reference model, a ``.keras`` path or a :class:`Predictor`.
    ``example``: one input to probe with (default: one made from the input shape, seeded).
    ``status`` is ``"works"``, ``"refused"`` (the method says why it does not apply) or ``"failed"``.
    """
    import pandas as pd

    predictor, built_here = _predictor(model)
    names = _method_names(methods)  # unknown names fail before any slow work
    probe, probe_source = (example, "the given example") if example is not None else probe_input(predictor, seed)
    rows = [check_method(predictor, name, probe) for name in names]
    report = pd.DataFrame(rows, columns=list(COLUMNS))
    report.attrs["model"] = describe(predictor, probe, probe_source, inferred=built_here)
    return report


def _predictor(model: Any) -> tuple[Predictor, bool]:
    """The predictor, and whether the doctor built it (then nothing about it was declared by the user)."""
    if isinstance(model, Predictor):
        return model, False
    if isinstance(model, (str, Path)):
        if Path(model).suffix.lower() != ".keras":
            raise ValueError(f"{model}: the doctor reads .keras files (saved with model.save('name.keras')).")
        model = load_keras(Path(model))  # safe mode: no Lambda layers, custom objects or pickles
    predictor = api.as_predictor(model)
    return predictor, getattr(model, "card", None) is None  # a reference model's card declares its class names


def _method_names(methods: Sequence[str] | str | None) -> list[str]:
    if methods is None:
        return registry.names()
    chosen = [m.strip() for m in methods.split(",")] if isinstance(methods, str) else list(methods)
    chosen = list(dict.fromkeys(m for m in chosen if m))
    for name in chosen:
        registry.get(name)  # ValueError naming the known methods
    if not chosen:
        raise ValueError(f"No methods given; known methods: {', '.join(registry.names())}.")
    return chosen


def probe_input(predictor: Predictor, seed: int = 0) -> tuple[Any, str]:
    """``(input, how it was made)``: one seeded input shaped like the model's, for a method to explain."""
    rng = np.random.default_rng(seed)
    if predictor.modality == "text":
        return PROBE_TEXT, "a short English sentence"
    if predictor.modality == "image":
        if predictor.input_shape is None:
            raise ValueError(f"Cannot make a probe image for {predictor.name}: its input shape is unknown; pass example=.")
        shape = tuple(FREE_SIDE if side is None else int(side) for side in predictor.input_shape)
        return rng.integers(0, 256, size=shape).astype(np.float32), f"random 0-255 pixels {shape} (seed {seed})"
    background = _background(predictor)
    if background is not None and len(background):
        # A real row, not the background mean: at the mean, SHAP values of a linear model are exactly zero.
        row = int(rng.integers(len(background)))
        return np.asarray(background[row], dtype=np.float32), f"background row {row} (seed {seed})"
    if predictor.input_shape is None:
        raise ValueError(f"Cannot make a probe row for {predictor.name}: no input shape and no background; pass example=.")
    return np.ones(predictor.input_shape, dtype=np.float32), "a row of ones (no background data)"


def _background(predictor: Predictor) -> Any:
    try:
        return predictor.background  # a reference model reads its training split here
    except (OSError, ValueError) as exc:
        warnings.warn(f"background data could not be read: {exc}", stacklevel=2)
        return None


def budget(name: str) -> dict[str, int]:
    """The small-budget parameters this method actually has (each method names its own)."""
    fields = {f.name for f in dataclasses.fields(registry.get(name))}
    return {key: value for key, value in BUDGET.items() if key in fields}


def check_method(predictor: Predictor, name: str, probe: Any) -> dict[str, Any]:
    """One row: run ``name`` on the probe and judge the result."""
    started = time.perf_counter()
    row = {"method": name, "status": "works", "reason": "", "detail": ""}
    reason = registry.get(name).applies_to(predictor)
    if reason is not None:
        row.update(status="refused", reason=reason)
    else:
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                result = api.explain(predictor, probe, name, truncate=True, **budget(name))
        except (ValueError, TypeError) as exc:  # the library's way of saying "not for this model / input"
            message = str(exc).strip()
            row.update(status="refused" if message else "failed", reason=message or type(exc).__name__)
        except Exception as exc:  # noqa: BLE001 - any other error is exactly what the doctor reports
            row.update(status="failed", reason=f"{type(exc).__name__}: {exc}")
        else:
            problem, detail = sanity(result)
            row.update(status="failed" if problem else "works", reason=problem or "", detail=detail)
            noted = [str(w.message) for w in caught if not issubclass(w.category, QUIET)]
            if noted:
                row["detail"] += f"; {len(noted)} warning(s), first: {noted[0][:120]}"
    row["seconds"] = round(time.perf_counter() - started, 3)
    return row


def sanity(explanation: Any) -> tuple[str | None, str]:
    """``(problem or None, summary)``: empty, non-finite or all-zero attributions are problems."""
    values = np.asarray(explanation.attributions, dtype=np.float64)
    shape = "x".join(str(side) for side in values.shape) or "scalar"
    if values.size == 0:
        return "the method returned no attributions", f"shape {shape}"
    bad = int(np.count_nonzero(~np.isfinite(values)))
    if bad:
        return f"{bad} of {values.size} attributions are NaN or infinite", f"shape {shape}"
    scale = max(1.0, float(np.max(np.abs(np.asarray(explanation.prediction, dtype=np.float64)))))
    if float(np.max(np.abs(values))) <= NEAR_ZERO * scale:
        return (f"all {values.size} attributions are zero or below {NEAR_ZERO:g} of the output scale (largest "
                f"{float(np.max(np.abs(values))):.2g}): the explanation says nothing "
                "(if the model ignores this probe, try another example)"), f"shape {shape}"
    detail = f"shape {shape}, range [{values.min():.3g}, {values.max():.3g}], target {explanation.target_name}"
    if explanation.base_value is not None:
        detail += f", base {explanation.base_value:.3g}, sum {values.sum():.3g}"
    return None, detail


def describe(predictor: Predictor, probe: Any = None, probe_source: str | None = None, *,
             inferred: bool = False) -> dict[str, Any]:
    """What the library read from the model, and whether each reading was inferred or declared."""
    sources = _sources(predictor, inferred)
    found: dict[str, Any] = {
        "model": predictor.name,
        "modality": predictor.modality, "modality_source": sources["modality"],
        "input_shape": None if predictor.input_shape is None else list(predictor.input_shape),
        "input_dtype": predictor.input_dtype,
        "output": predictor.output, "output_source": sources["output"],
        "output_scale": getattr(predictor, "output_scale", None),
        "output_how": getattr(getattr(predictor, "output_spec", None), "how", None),
        "output_head": getattr(predictor, "output_head", None),
        "n_outputs": predictor.n_outputs, "n_classes": predictor.n_classes,
        "class_names": list(predictor.class_names) if predictor.class_names else None,
        "class_names_source": "declared" if predictor.class_names else "none (classes shown as indices)",
        "gradcam_layer": _cam_layer(predictor),
        "text_vectorizer": getattr(predictor.vectorizer, "name", None) or "none",
        "background_rows": None, "probe": probe_source, "probe_output": None, "warnings": [],
    }
    background = _background(predictor)
    found["background_rows"] = None if background is None else len(background)
    if predictor.class_names and predictor.n_classes and len(predictor.class_names) != predictor.n_classes:
        found["warnings"].append(f"{len(predictor.class_names)} class names for {predictor.n_classes} classes")
    if probe is not None:
        _probe_output(predictor, probe, found)
    return found


def _sources(predictor: Predictor, inferred: bool) -> dict[str, str]:
    """Declared or inferred: from the Predictor's record if it keeps one, else by comparison with the bare model."""
    if inferred:
        return {"modality": "inferred", "output": "inferred"}
    declared = getattr(predictor, "declared", None)
    if declared is not None:
        return {key: "declared" if key in declared else "inferred" for key in ("modality", "output")}
    if predictor.keras_model is None:  # a plain function: nothing to infer from, the user said it all
        return {"modality": "declared", "output": "declared"}
    try:
        bare = Predictor(predictor.keras_model)
    except (ValueError, TypeError):
        return {"modality": "declared", "output": "declared"}
    return {key: "inferred" if getattr(bare, key) == getattr(predictor, key)
            else f"declared (the model alone reads as {getattr(bare, key)!r})" for key in ("modality", "output")}


def _cam_layer(predictor: Predictor) -> str:
    if predictor.keras_model is None:
        return "none (not a Keras model)"
    from .layers import last_convolution

    try:
        return last_convolution(predictor.keras_model)[0]
    except ValueError:
        return "none"


def _probe_output(predictor: Predictor, probe: Any, found: dict[str, Any]) -> None:
    """The model's output on the probe, and a warning when it does not look like what ``output`` says."""
    try:
        batch = [probe] if isinstance(probe, str) else np.asarray(probe)[None]
        row = predictor.predict(batch)[0]
    except Exception as exc:  # noqa: BLE001 - a model that cannot run the probe is a finding, not a crash
        found["warnings"].append(f"the model cannot run the probe input: {type(exc).__name__}: {exc}")
        return
    found["probe_output"] = [round(float(v), 4) for v in row[:10]]
    _check_responds(predictor, probe, row, found)
    if not np.all(np.isfinite(row)):
        found["warnings"].append("the model's output on the probe is NaN or infinite")
    elif getattr(predictor, "output_scale", "probability") != "probability":
        return
    elif predictor.output == "multiclass" and (row.min() < 0 or abs(row.sum() - 1) > 1e-3):
        found["warnings"].append(f"multiclass outputs sum to {row.sum():.3g}, not 1: logits rather than probabilities?")
    elif predictor.output == "binary" and not 0 <= row[0] <= 1:
        found["warnings"].append(f"binary output {row[0]:.3g} is not a probability: a logit?")


def _check_responds(predictor: Predictor, probe: Any, row: np.ndarray, found: dict[str, Any]) -> None:
    """A warning when the output does not move at all with the input (an untrained or broken model)."""
    if isinstance(probe, str):
        other: Any = [" ".join(reversed(probe.split())) + " not"]
    else:
        array = np.asarray(probe, dtype=np.float32)
        other = (array[::-1] * 0.5 + float(np.mean(array)) + 1.0)[None]
    try:
        moved = float(np.max(np.abs(predictor.predict(other)[0] - row)))
    except Exception:  # noqa: BLE001 - the probe itself ran; a changed input that cannot is not this check's finding
        return
    if moved <= NEAR_ZERO * max(1.0, float(np.max(np.abs(row)))):
        found["warnings"].append("the model's output is the same for a very different input: it does not respond to "
                                 "its input (untrained, or saturated), so no method can explain it")
