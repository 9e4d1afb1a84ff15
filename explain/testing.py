"""Assertions on *why* a model decides, for a test suite or a CI gate (``explain check``).

Each check explains the inputs with one batched :func:`explain.explain_batch` call
per method, measures one number per input and compares it with a threshold.
``check_*`` returns a :class:`CheckResult` (per-input values, ``passed``,
``failures``) without raising; ``assert_*`` runs the same check and raises
:class:`ExplanationCheckFailed` (an ``AssertionError``) naming the failing inputs,
the shortfall, the method and the model.  ``explain check SPEC.yaml`` runs the
same ``check_*`` functions, so a test and a CI job cannot disagree.

Example (pytest)::

    import explain.testing as xt

    def test_cnn_looks_at_the_digit(model, digits):
        xt.assert_mass_inside(model, digits, "gradcam", xt.bounding_box(above=0), at_least=0.6)

    def test_income_model_ignores_sex(model, rows):
        xt.assert_never_in_top_k(model, rows, "kernel_shap", {"sex"}, k=3, nsamples=256)

    def test_gradcam_and_lime_agree(model, digits):
        xt.assert_methods_agree(model, digits, "gradcam", "lime_image", at_least=0.3,
                                params_b={"num_samples": 500, "seed": 0})

``pass_rate`` (default 1.0: every input) lets a gate tolerate a share of
failing inputs; the failing ones are still listed.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from .evaluation.badge import LEVELS, badge, from_scores
from .explanation import Explanation
from .regions import Region, bounding_box, image_mask, unit_mask

__all__ = [
    "AGREEMENT_METRICS", "FAITHFUL_LEVELS", "KINDS", "CheckResult", "ExplanationCheckFailed", "assert_faithful",
    "assert_mass_inside", "assert_methods_agree", "assert_never_in_top_k", "bounding_box", "check_faithful",
    "check_mass_inside", "check_methods_agree", "check_never_in_top_k", "faithful_levels",
]

KINDS = ("mass_inside", "never_in_top_k", "methods_agree", "faithful")
AGREEMENT_METRICS = ("spearman_abs", "spearman", "top_k")
# "beats random": any badge level that beats the random orders, whatever the input-only baseline says.
BEATS_RANDOM = "beats random"
FAITHFUL_LEVELS = LEVELS + (BEATS_RANDOM,)
MAX_LISTED = 20  # failing inputs named in a message; the rest are counted



class ExplanationCheckFailed(AssertionError):
    """An explanation check failed; ``.result`` is the :class:`CheckResult` with every per-input value."""

    def __init__(self, result: "CheckResult") -> None:
        super().__init__(result.report())
        self.result = result


@dataclass(frozen=True)
class CheckResult:
    """One check on a batch of inputs: a value per input, which inputs failed, and whether the check passed.

    ``values`` are floats (``verdicts`` for ``faithful``); ``failures`` are positions in the inputs given,
    shown as ``ids[position]`` (by default the position itself: a CLI passes the data set's indices).
    """

    kind: str
    model: str
    method: str
    condition: str  # what each input must satisfy, in words, e.g. ">= 0.6"
    values: tuple[Any, ...]
    failures: tuple[int, ...]
    reasons: Mapping[int, str] = field(default_factory=dict)  # position -> why it failed, with the numbers
    pass_rate: float = 1.0
    ids: tuple[Any, ...] = ()
    name: str | None = None

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def passed(self) -> bool:
        """True when at least ``pass_rate`` of the inputs pass (and there was an input to check)."""
        return self.n > 0 and (self.n - len(self.failures)) >= math.ceil(self.pass_rate * self.n - 1e-9)

    def id_of(self, position: int) -> Any:
        return self.ids[position] if self.ids else position

    def numbers(self) -> str:
        """The values in brief: min / mean for numbers, a count per verdict for badges."""
        numeric = [float(v) for v in self.values if isinstance(v, (int, float, np.floating))]
        if numeric and len(numeric) == self.n:
            finite = [v for v in numeric if math.isfinite(v)]
            if not finite:
                return "no finite value"
            text = f"min {min(finite):.3g}, mean {float(np.mean(finite)):.3g}"
            return text + (f", {self.n - len(finite)} undefined" if len(finite) < self.n else "")
        counts: dict[str, int] = {}
        for v in self.values:
            counts[str(v)] = counts.get(str(v), 0) + 1
        return ", ".join(f"{k}: {c}" for k, c in counts.items())

    def summary(self) -> str:
        """One line: PASS/FAIL, what was checked and the numbers."""
        label = f"{self.name}: " if self.name else ""
        ok = self.n - len(self.failures)
        rate = f" (needs {self.pass_rate:.0%})" if self.pass_rate < 1 else ""
        return (f"{'PASS' if self.passed else 'FAIL'} {label}{self.kind} {self.method} on {self.model}: "
                f"{ok}/{self.n} inputs {self.condition}{rate}; {self.numbers()}")

    def failure_lines(self) -> list[str]:
        lines = [f"input {self.id_of(i)}: {self.reasons.get(i, repr(self.values[i]))}" for i in self.failures[:MAX_LISTED]]
        if len(self.failures) > MAX_LISTED:
            lines.append(f"... and {len(self.failures) - MAX_LISTED} more failing inputs")
        return lines

    def report(self) -> str:
        """The summary and, for each failing input (the first 20), its value against the threshold."""
        return "\n".join([self.summary(), *("  " + line for line in self.failure_lines())])


# ---- computing explanations ---------------------------------------------------------------------
def _model_name(model: Any) -> str:
    from .adapters import as_predictor

    try:
        return str(as_predictor(model).name)
    except Exception:  # noqa: BLE001 - only for messages: the explanation call reports the real problem
        return str(getattr(model, "name", None) or getattr(model, "__name__", type(model).__name__))


def _explain(model: Any, inputs: Any, method: str, targets: Any, store: Any, truncate: bool,
             params: Mapping[str, Any], scores: bool | tuple[str, ...] = False) -> list[Explanation]:
    from .api import explain_batch

    explanations = explain_batch(model, inputs, method, targets, truncate=truncate, store=store, scores=scores,
                                 **dict(params))
    if not explanations:
        raise ValueError("No inputs to check: give at least one input.")
    return explanations


def _result(kind: str, model: Any, method: str, condition: str, values: Sequence[Any], reasons: Mapping[int, str],
            pass_rate: float) -> CheckResult:
    if not 0 <= pass_rate <= 1:
        raise ValueError(f"pass_rate must be between 0 and 1, got {pass_rate}.")
    return CheckResult(kind=kind, model=_model_name(model), method=method, condition=condition, values=tuple(values),
                       failures=tuple(sorted(reasons)), reasons=dict(reasons), pass_rate=pass_rate)


def _check_fraction(name: str, value: float) -> float:
    value = float(value)
    if not (math.isfinite(value) and -1 <= value <= 1):
        raise ValueError(f"{name} must be a number between -1 and 1 (a share or a correlation), got {value}.")
    return value


# ---- the checks ---------------------------------------------------------------------------------
def check_mass_inside(model: Any, inputs: Any, method: str, region: Region, *, at_least: float,
                      by: str = "positive", targets: Any = None, store: Any = None, truncate: bool = False,
                      pass_rate: float = 1.0, **params: Any) -> CheckResult:
    """Share of attribution mass inside ``region``, per input; each must be ``>= at_least``.

    ``by="positive"`` counts positive attributions only (evidence *for* the target), ``"abs"`` magnitudes.
    ``region``: images, a boolean ``(H, W)`` mask, a box ``(top, left, bottom, right)`` (exclusive ends, as in
    slicing), a function ``input -> mask or box`` such as :func:`bounding_box`, or one mask per input
    ``(n, H, W)``; text, a set of tokens (case-insensitive); tabular rows, a set of feature names (or indices).
    """
    if by not in ("positive", "abs"):
        raise ValueError(f"by must be 'positive' or 'abs', got {by!r}.")
    at_least = _check_fraction("at_least", at_least)
    explanations = _explain(model, inputs, method, targets, store, truncate, params)
    values, reasons = [], {}
    for i, e in enumerate(explanations):
        attributions = np.asarray(e.attributions, dtype=float)
        if e.modality == "image":
            inside = image_mask(region, inputs[i] if callable(region) else None, attributions.shape, i)
        else:
            if isinstance(region, (str, bytes)):
                raise ValueError("region: give a set of tokens or feature names, not one string "
                                 f"(e.g. {{{region!r}}}).")
            inside = unit_mask(e, region, "region", strict=e.modality == "tabular").reshape(attributions.shape)
        mass = np.clip(attributions, 0, None) if by == "positive" else np.abs(attributions)
        total = float(mass.sum())
        share = float(mass[inside].sum() / total) if total > 0 else float("nan")
        values.append(share)
        if not share >= at_least:
            reasons[i] = (f"no {by} attribution at all (share undefined)" if math.isnan(share)
                          else f"{share:.3f} of {by} mass inside, below {at_least:g} by {at_least - share:.3f}")
    return _result("mass_inside", model, method, f">= {at_least:g} {by} mass inside", values, reasons, pass_rate)


def check_never_in_top_k(model: Any, inputs: Any, method: str, features: Iterable[Any], *, k: int,
                         targets: Any = None, store: Any = None, truncate: bool = False, pass_rate: float = 1.0,
                         **params: Any) -> CheckResult:
    """None of ``features`` (feature names or tokens) among an input's ``k`` strongest units by |attribution|.

    The value per input is the best (smallest, 1-based) rank of any of ``features``; ``inf`` when none occurs.
    """
    if isinstance(features, (str, bytes)):
        features = [features]
    features = list(features)
    if not features:
        raise ValueError("never_in_top_k: give at least one feature name or token.")
    if int(k) < 1:
        raise ValueError(f"k must be at least 1, got {k}.")
    k = int(k)
    explanations = _explain(model, inputs, method, targets, store, truncate, params)
    values, reasons = [], {}
    for i, e in enumerate(explanations):
        if e.modality == "image":
            raise ValueError("never_in_top_k is for feature names and tokens; for images use mass_inside.")
        flat = np.ravel(np.asarray(e.attributions, dtype=float))
        protected = unit_mask(e, features, "features", strict=e.modality == "tabular")
        order = np.argsort(-np.abs(flat), kind="stable")
        ranks = np.empty(flat.size, dtype=int)
        ranks[order] = np.arange(1, flat.size + 1)
        hits = np.flatnonzero(protected)
        best = float(ranks[hits].min()) if hits.size else float("inf")
        values.append(best)
        if best <= k:
            found = sorted(((int(ranks[j]), e.label_of(int(j)), float(flat[j])) for j in hits if ranks[j] <= k))
            reasons[i] = "; ".join(f"{label!r} ranked {rank} of {flat.size} (attribution {value:.3g}), top {k} forbidden"
                                   for rank, label, value in found)
    names = ", ".join(map(str, features))
    return _result("never_in_top_k", model, method, f"without {names} in the top {k}", values, reasons, pass_rate)


def check_methods_agree(model: Any, inputs: Any, method_a: str, method_b: str, *, at_least: float,
                        metric: str = "spearman_abs", k: int = 5, targets: Any = None, store: Any = None,
                        truncate: bool = False, pass_rate: float = 1.0, params_a: Mapping[str, Any] | None = None,
                        params_b: Mapping[str, Any] | None = None) -> CheckResult:
    """Agreement of two methods on each input (:mod:`explain.evaluation.agreement`) must be ``>= at_least``.

    ``metric``: ``spearman_abs`` (rank correlation of magnitudes), ``spearman`` (signed) or ``top_k``
    (share of the ``k`` strongest units in common).  Both methods explain the same targets.
    """
    from .evaluation.agreement import rank_correlation, topk_agreement

    if metric not in AGREEMENT_METRICS:
        raise ValueError(f"metric must be one of {', '.join(AGREEMENT_METRICS)}, got {metric!r}.")
    at_least = _check_fraction("at_least", at_least)
    a = _explain(model, inputs, method_a, targets, store, truncate, params_a or {})
    b = _explain(model, inputs, method_b, targets, store, truncate, params_b or {})
    values, reasons = [], {}
    label = f"top_{k}" if metric == "top_k" else metric
    for i, (ea, eb) in enumerate(zip(a, b)):
        value = topk_agreement(ea, eb, k) if metric == "top_k" else rank_correlation(ea.attributions, eb.attributions)[metric]
        values.append(float(value))
        if not value >= at_least:
            reasons[i] = (f"{label} undefined (one map is constant)" if math.isnan(value)
                          else f"{label} {value:.3f}, below {at_least:g} by {at_least - value:.3f}")
    return _result("methods_agree", model, f"{method_a} vs {method_b}", f"with {label} >= {at_least:g}", values,
                   reasons, pass_rate)


def faithful_levels() -> tuple[str, ...]:
    """The levels ``at_least`` accepts: the badge's :data:`~explain.evaluation.badge.LEVELS` and "beats random"."""
    return FAITHFUL_LEVELS


def check_faithful(model: Any, inputs: Any, method: str, *, at_least: str = BEATS_RANDOM, targets: Any = None,
                   store: Any = None, truncate: bool = False, pass_rate: float = 1.0,
                   badge_options: Mapping[str, Any] | None = None, **params: Any) -> CheckResult:
    """Each input's faithfulness badge (:mod:`explain.evaluation.badge`) must reach ``at_least``.

    ``at_least`` is a badge level, or ``"beats random"`` (level "no better than edges" or better: the
    explanation beats every random removal order, whether or not it beats the input-only map).
    With the badge's default options the badge is requested as ``scores=["badge"]``, so a ``store`` keeps it and
    the next run reads it back; ``badge_options`` (e.g. ``n_random``, ``seed``, ``steps``) compute it afresh.
    """
    if at_least not in FAITHFUL_LEVELS:
        raise ValueError(f"at_least must be one of {', '.join(map(repr, FAITHFUL_LEVELS))}, got {at_least!r}.")
    if badge_options:
        explanations = _explain(model, inputs, method, targets, store, truncate, params)
        badges = badge(model, explanations, **dict(badge_options))
    else:
        explanations = _explain(model, inputs, method, targets, store, truncate, params, scores=("badge",))
        badges = [from_scores(e.modality, e.scores) for e in explanations]
    values = [b.verdict for b in badges]
    reasons = {i: f"verdict {b.verdict!r}, short of {at_least!r} ({' '.join(b.reasons)})"
               for i, b in enumerate(badges) if not b.passes(at_least)}
    return _result("faithful", model, method, f"at least {at_least!r}", values, reasons, pass_rate)


# ---- asserts: the same checks, raising ----------------------------------------------------------
def _raise_unless(result: CheckResult) -> CheckResult:
    __tracebackhide__ = True
    if not result.passed:
        raise ExplanationCheckFailed(result)
    return result


def assert_mass_inside(model: Any, inputs: Any, method: str, region: Region, *, at_least: float,
                       targets: Any = None, **options: Any) -> CheckResult:
    """:func:`check_mass_inside`, raising :class:`ExplanationCheckFailed` when it fails."""
    __tracebackhide__ = True
    return _raise_unless(check_mass_inside(model, inputs, method, region, at_least=at_least, targets=targets, **options))


def assert_never_in_top_k(model: Any, inputs: Any, method: str, features: Iterable[Any], *, k: int,
                          targets: Any = None, **options: Any) -> CheckResult:
    """:func:`check_never_in_top_k`, raising :class:`ExplanationCheckFailed` when it fails."""
    __tracebackhide__ = True
    return _raise_unless(check_never_in_top_k(model, inputs, method, features, k=k, targets=targets, **options))


def assert_methods_agree(model: Any, inputs: Any, method_a: str, method_b: str, *, at_least: float,
                         metric: str = "spearman_abs", k: int = 5, **options: Any) -> CheckResult:
    """:func:`check_methods_agree`, raising :class:`ExplanationCheckFailed` when it fails."""
    __tracebackhide__ = True
    return _raise_unless(check_methods_agree(model, inputs, method_a, method_b, at_least=at_least, metric=metric, k=k,
                                             **options))


def assert_faithful(model: Any, inputs: Any, method: str, *, at_least: str = BEATS_RANDOM, **options: Any) -> CheckResult:
    """:func:`check_faithful`, raising :class:`ExplanationCheckFailed` when it fails."""
    __tracebackhide__ = True
    return _raise_unless(check_faithful(model, inputs, method, at_least=at_least, **options))
