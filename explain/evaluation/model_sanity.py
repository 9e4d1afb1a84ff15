"""The model-randomisation check of one model and method: summarised in words, computed once, stored beside the card.

Adebayo et al. (2018, "Sanity checks for saliency maps") explain the same inputs
with the trained model and with a copy whose learned weights are re-drawn: a
method whose maps barely change does not depend on what the model learned (an
edge detector would pass for an explanation).  :func:`randomisation_card` runs
:func:`~explain.evaluation.sanity.randomisation_check` (the "two model states"
variant) and adds a verdict, timing and provenance; :func:`ensure` keeps one
JSON file per model and method, ``<models_dir>/<name>.sanity-<method>.json``
(two methods computed at once never write the same file), written atomically
and trusted only while the card still names the same model file.

This module is part of the engine, so it does not import the reference-model
package: callers hand in a loaded reference model (anything with ``card``,
``test_split`` and a Keras ``model``), and the card is read as JSON.
"""
from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import stat
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from .. import registry
from ..adapters import as_predictor
from ..inputs import as_batch
from ..methods.base import Method
from ..paths import atomic_write
from ..pipeline import make_method
from ..predictor import Predictor
from ..provenance import canonical_json, input_hash, library_versions
from .sanity import randomisation_check

# A method passes when the median spearman_abs is at most 0.5.  Adebayo et al. give no numeric cut-off (they
# judge figures and similarity curves: gradients, Integrated Gradients and Grad-CAM fall towards 0 under
# randomisation, Guided Backprop stays near 1); 0.5 is the usual boundary of a "strong" correlation (Cohen,
# 1988: |r| >= 0.5 is a large effect).  It is not 0 on purpose: maps of unrelated models still share some
# rank structure through the input itself (gradient x input is zero wherever a pixel is), so a healthy
# method rarely reaches 0.
THRESHOLD = 0.5
MOST = 0.5  # more than this share of inputs without a correlation (constant maps): inconclusive
SAMPLE_SEED = 0  # the fixed sample of test inputs a reference model is checked on
MIN_INPUTS, MAX_INPUTS = 2, 5000
MAX_BYTES = 2 * 2**20  # a stored result of MAX_INPUTS inputs is about 0.4 MB; anything bigger was not written here
FORMAT, VERSION = "keras-explain/model-sanity", 1
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,99}")
HOW_TO_READ = (f"spearman_abs is the rank correlation between the absolute attributions made with the trained model "
               f"and with the same model after its learned weights were re-drawn at random: near 0 the map depends "
               f"on what the model learned, near 1 it would look the same for any model; the method passes when "
               f"the median over the inputs is at most {THRESHOLD}.")
log = logging.getLogger(__name__)


# ---- the summary in words ---------------------------------------------------------------------------------
def summarise(per_input: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Median and quartiles of ``spearman_abs``, the share at or below :data:`THRESHOLD`, and a verdict in words."""
    values = np.array([_number(r.get("spearman_abs")) for r in per_input], dtype=float)
    signed = np.array([_number(r.get("spearman")) for r in per_input], dtype=float)
    finite = values[np.isfinite(values)]
    n, n_nan = len(values), int(len(values) - len(finite))
    out: dict[str, Any] = {"n": n, "n_nan": n_nan, "threshold": THRESHOLD, "median": None, "q1": None, "q3": None,
                           "share_at_or_below": None, "median_spearman": None, "how_to_read": HOW_TO_READ}
    if len(finite):
        q1, median, q3 = (float(v) for v in np.quantile(finite, [0.25, 0.5, 0.75]))
        out.update(median=median, q1=q1, q3=q3, share_at_or_below=float(np.mean(finite <= THRESHOLD)))
    if np.isfinite(signed).any():
        out["median_spearman"] = float(np.median(signed[np.isfinite(signed)]))
    if len(finite) < MIN_INPUTS or n_nan > MOST * n:
        out["verdict"] = "inconclusive"
        out["verdict_text"] = (f"inconclusive: {n_nan} of {n} inputs have no rank correlation (a constant map, "
                               f"with the trained or the randomised model), so the check cannot tell.")
    elif out["median"] <= THRESHOLD:
        out["verdict"] = "passes"
        out["verdict_text"] = (f"passes: the maps change when the weights are randomised (median spearman_abs "
                               f"{out['median']:.2f} <= {THRESHOLD}), so they depend on what the model learned.")
    else:
        out["verdict"] = "fails"
        out["verdict_text"] = (f"fails: the maps stay alike on a randomised model (median spearman_abs "
                               f"{out['median']:.2f} > {THRESHOLD}): this method may show the input more than the model.")
    return out


def _number(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else math.nan


# ---- computing one ------------------------------------------------------------------------------------------
def randomisation_card(model: Any, inputs: Any, method: str | Method, *, seed: int = 0, source: str | None = None,
                       indices: Sequence[int] | None = None, **params: Any) -> dict[str, Any]:
    """The randomisation check of ``method`` on ``inputs`` with its summary, timing and provenance (JSON-ready).

    ``seed`` draws the randomised weights; ``params`` go to the method.  Refuses (ValueError) a method that does
    not apply, a model without Keras weights, and fewer than two inputs (a median of one says nothing).
    """
    predictor = as_predictor(model)
    explainer = make_method(method, **params)
    check_applies(predictor, explainer)
    batch, single = as_batch(predictor, inputs, truncate=True)
    check_n(1 if single else len(batch))
    started = time.perf_counter()
    per_input = randomisation_check(predictor, inputs, explainer, seed=seed, truncate=True)
    seconds = time.perf_counter() - started
    digest = hashlib.sha256("\n".join(input_hash(item) for item in batch).encode("ascii")).hexdigest()
    return {
        "format": FORMAT, "version": VERSION,
        "model": {"name": predictor.name, "fingerprint": predictor.fingerprint},
        "method": explainer.name, "params": json.loads(canonical_json(explainer.params())), "seed": int(seed),
        "inputs": {"n": len(batch), "digest": "sha256:" + digest, "source": source,
                   "indices": None if indices is None else [int(i) for i in indices]},
        "per_input": [{key: _finite_or_none(r.get(key)) for key in ("spearman_abs", "spearman")} for r in per_input],
        "summary": summarise(per_input), "seconds": round(seconds, 3), "versions": library_versions(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def check_applies(predictor: Predictor, explainer: Method) -> None:
    """A ValueError that says what to do when the check cannot run this method on this model."""
    if predictor.keras_model is None:
        raise ValueError(f"The randomisation check re-draws a Keras model's learned weights, and {predictor.name} is "
                         f"a plain prediction function without any; pass the Keras model itself (or a Predictor "
                         f"made from it).")
    reason = explainer.applies_to(predictor)
    if reason is not None:
        raise ValueError(f"{reason}; methods the check can run on {predictor.name}: "
                         f"{', '.join(registry.available(predictor))}.")


def check_n(n: int) -> None:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not MIN_INPUTS <= n <= MAX_INPUTS:
        raise ValueError(f"The randomisation check summarises a median over inputs: give between {MIN_INPUTS} "
                         f"and {MAX_INPUTS} inputs (n={n!r}); 16 is a good start.")


def _finite_or_none(value: Any) -> float | None:
    number = _number(value)
    return number if math.isfinite(number) else None


def reference_inputs(reference: Any, n: int, *, data_dir: Any = None, pool: Any = None,
                     seed: int = SAMPLE_SEED) -> tuple[Any, list[int]]:
    """A fixed seeded sample of ``n`` test inputs (sorted indices), as the model's predictor expects them.

    ``pool`` is the test split's inputs (or a function returning them) when the caller already holds it; by
    default ``reference.test_split(data_dir)``.  Reviews are cut to the tokens the model reads (its window), so
    the input digest names what was explained.
    """
    check_n(n)
    x = pool() if callable(pool) else pool
    if x is None:
        x = reference.test_split(data_dir)[0]
    if n > len(x):
        raise ValueError(f"n={n}, but the test split of {getattr(reference, 'name', 'the model')} holds only "
                         f"{len(x)} inputs; choose a smaller n.")
    rows = np.sort(np.random.default_rng(seed).choice(len(x), size=n, replace=False))
    chosen = [x[i] for i in rows] if isinstance(x, list) else x[rows]
    predictor = as_predictor(reference)
    if predictor.modality == "text":
        chosen = [predictor.join_tokens(predictor.text_view(str(text)).tokens) for text in chosen]
    return chosen, [int(i) for i in rows]


# ---- storage beside the model card --------------------------------------------------------------------------
@dataclass(frozen=True)
class Lookup:
    """A stored result, or why there is none usable: ``exists`` tells "not computed yet" from "ignored"."""

    path: Path
    result: dict[str, Any] | None
    reason: str | None = None
    exists: bool = False


@dataclass(frozen=True)
class Outcome:
    """What :func:`ensure` did: ``computed`` or read back, and why a file already there was not used."""

    result: dict[str, Any]
    computed: bool
    ignored: str | None = None


def sanity_path(models_dir: Any, name: str, method: str) -> Path:
    """``<models_dir>/<name>.sanity-<method>.json``; names that could leave the folder are refused."""
    for what, value in (("model name", name), ("method name", method)):
        if not isinstance(value, str) or not _NAME.fullmatch(value):
            raise ValueError(f"Cannot name a sanity-check file after the {what} {value!r}: use letters, digits, "
                             f"'_' and '-' only.")
    return Path(models_dir) / f"{name}.sanity-{method}.json"


def write(models_dir: Any, name: str, result: Mapping[str, Any]) -> Path:
    """Store ``result`` atomically: readers see the old file or the new one, never half of either."""
    problem = _shape_problem(result)
    if problem:
        raise ValueError(f"Not a randomisation-check result ({problem}); make it with randomisation_card().")
    path = sanity_path(models_dir, name, result["method"])
    payload = json.dumps(result, indent=1, allow_nan=False).encode("utf-8")
    if len(payload) > MAX_BYTES:
        raise ValueError(f"The result is {len(payload):,} bytes, over the {MAX_BYTES:,} a stored check may hold.")
    atomic_write(path, payload)
    return path


def lookup(models_dir: Any, name: str, method: str | Method, *, model_sha256: str | None = None,
           n: int | None = None, seed: int = 0, **params: Any) -> Lookup:
    """The stored result of this model file, method, parameters and seed (and ``n`` unless None), or why not.

    ``model_sha256`` defaults to what the card ``<models_dir>/<name>.json`` names.  The summary is recomputed
    from the per-input correlations, so the verdict always follows the current threshold.
    """
    explainer = make_method(method, **params)
    path = sanity_path(models_dir, name, explainer.name)
    document, problem = _read(path)
    if document is None:
        return Lookup(path, None, problem, exists=problem != "not computed yet")
    sha = model_sha256 if model_sha256 is not None else _card_sha256(Path(models_dir), name)
    mismatch = _mismatch(document, sha, explainer, seed, n)
    if mismatch:
        return Lookup(path, None, mismatch, exists=True)
    return Lookup(path, {**document, "summary": summarise(document["per_input"])}, exists=True)


def stored(models_dir: Any, name: str, method: str | Method, **want: Any) -> dict[str, Any] | None:
    """:func:`lookup`'s result alone; a file that is there but unusable is logged with the reason, never raised."""
    found = lookup(models_dir, name, method, **want)
    if found.result is None and found.exists:
        log.warning("Ignoring %s: %s", found.path, found.reason)
    return found.result


def ensure(models_dir: Any, name: str, method: str | Method, n: int = 16, *, reference: Any, data_dir: Any = None,
           pool: Any = None, force: bool = False, seed: int = 0, **params: Any) -> Outcome:
    """The stored result for this request, else computed on :func:`reference_inputs` and stored.

    ``reference`` is the loaded reference model ``name`` (its card names the model file results belong to).
    A stale, damaged or foreign file is replaced, atomically; ``Outcome.ignored`` says why it was not used.
    """
    check_n(n)
    card_name = getattr(reference, "name", name)
    if card_name != name:
        raise ValueError(f"The reference model given is {card_name!r}, not {name!r}.")
    predictor = as_predictor(reference)
    explainer = make_method(method, **params)
    check_applies(predictor, explainer)  # before the test split is read
    sha = reference.card["model_file"]["sha256"]
    found = lookup(models_dir, name, explainer, model_sha256=sha, n=n, seed=seed)
    if found.result is not None and not force:
        return Outcome(found.result, computed=False)
    inputs, rows = reference_inputs(reference, n, data_dir=data_dir, pool=pool)
    result = randomisation_card(reference, inputs, explainer, seed=seed, indices=rows,
                                source=f"{n} test inputs drawn with seed {SAMPLE_SEED}")
    write(models_dir, name, result)
    return Outcome(result, computed=True, ignored=found.reason if found.exists and found.result is None else None)


def _read(path: Path) -> tuple[dict[str, Any] | None, str | None]:
    """The file's document, or ``(None, reason)``: missing, not a plain file, too big, not JSON, wrong shape."""
    try:
        info = path.lstat()
    except FileNotFoundError:
        return None, "not computed yet"
    except OSError as exc:
        return None, f"it cannot be read ({exc.strerror or exc})"
    if not stat.S_ISREG(info.st_mode):
        return None, "it is not a plain file (a link, folder or device is never read)"
    if info.st_size > MAX_BYTES:
        return None, f"it is {info.st_size:,} bytes, more than a stored check ever holds ({MAX_BYTES:,})"
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_BYTES + 1)
        document = json.loads(raw.decode("utf-8"), parse_constant=_no_constant)
    except OSError as exc:
        return None, f"it cannot be read ({exc.strerror or exc})"
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        return None, f"it is not valid JSON, maybe truncated or damaged ({str(exc)[:120]})"
    problem = _shape_problem(document)
    return (None, f"it is not a randomisation-check result ({problem})") if problem else (document, None)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def _is(kind: Any) -> Callable[[Any], bool]:
    return lambda v: isinstance(v, kind) and not isinstance(v, bool)


def _maybe_rho(value: Any) -> bool:
    return value is None or (_is((int, float))(value) and -1.0 - 1e-9 <= value <= 1.0 + 1e-9)


# What every reader relies on: (path, test, what it must be).
_SCHEMA: tuple[tuple[tuple[str, ...], Callable[[Any], bool], str], ...] = (
    (("format",), lambda v: v == FORMAT, repr(FORMAT)), (("version",), lambda v: v == VERSION, str(VERSION)),
    (("model",), _is(dict), "an object"), (("model", "fingerprint"), _is(str), "a string"),
    (("method",), _is(str), "a string"), (("params",), _is(dict), "an object"), (("seed",), _is(int), "an integer"),
    (("inputs",), _is(dict), "an object"), (("inputs", "digest"), _is(str), "a string"),
    (("inputs", "n"), lambda v: _is(int)(v) and MIN_INPUTS <= v <= MAX_INPUTS, f"{MIN_INPUTS}-{MAX_INPUTS}"),
    (("per_input",), _is(list), "a list"), (("seconds",), lambda v: _is((int, float))(v) and v >= 0, "seconds"),
    (("versions",), _is(dict), "an object"), (("created",), _is(str), "a string"),
)


def _shape_problem(document: Any) -> str | None:
    """The first field that is missing or of the wrong type, in words; ``None`` when the document is whole."""
    if not isinstance(document, dict):
        return f"a JSON {type(document).__name__}, not an object"
    for keys, test, expected in _SCHEMA:
        value: Any = document
        for key in keys:
            value = value.get(key) if isinstance(value, dict) else None
        if not test(value):
            return f"{'.'.join(keys)} is {'missing' if value is None else repr(value)[:40]}, not {expected}"
    rows = document["per_input"]
    if len(rows) != document["inputs"]["n"]:
        return f"per_input holds {len(rows)} rows for {document['inputs']['n']} inputs"
    for i, row in enumerate(rows):
        if not isinstance(row, dict) or not all(_maybe_rho(row.get(k, "missing")) for k in ("spearman_abs", "spearman")):
            return f"per_input[{i}] is not a pair of correlations in [-1, 1] (or null)"
    return None


def _mismatch(document: dict[str, Any], sha: str | None, explainer: Method, seed: int, n: int | None) -> str | None:
    """Why a whole stored result does not answer this request (retrained model, other parameters), or None."""
    held = document["model"]["fingerprint"]
    if sha is None:
        return "the model card cannot be read, so the model file it belongs to is unknown"
    if held != sha:
        return (f"stale: it was computed for the model file {held[:19]}…, and the card now names {sha[:19]}… "
                f"(the model was retrained)")
    if document["method"] != explainer.name:
        return f"it holds method {document['method']!r}, not {explainer.name!r}"
    wanted = json.loads(canonical_json(explainer.params()))
    if document["params"] != wanted:
        changed = sorted(k for k in set(wanted) | set(document["params"]) if wanted.get(k) != document["params"].get(k))
        return f"it was computed with other method parameters ({', '.join(changed)})"
    if document["seed"] != seed:
        return f"it was computed with randomisation seed {document['seed']}, not {seed}"
    if n is not None and document["inputs"]["n"] != n:
        return f"it was computed on {document['inputs']['n']} inputs, not {n}"
    return None


def _card_sha256(models_dir: Path, name: str) -> str | None:
    """The model file's sha256 named by ``<models_dir>/<name>.json`` (the reference models' card), or None."""
    path = models_dir / f"{name}.json"
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_BYTES:
            return None
        sha = json.loads(path.read_text(encoding="utf-8"))["model_file"]["sha256"]
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, RecursionError):
        return None
    return sha if isinstance(sha, str) else None
