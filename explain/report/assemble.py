"""Assembling a report: checking what it was given, then computing and rendering everything once.

:func:`assemble` scores the explanations that need it, groups them by input
and builds the :class:`~explain.report.content.Report` that both writers lay
out: a section per input (:mod:`explain.report.content`), the audit's part
(:mod:`explain.report.audit_tables`) and the appendix (:mod:`explain.report.provenance`).
The report-wide parts are made here: the introduction, how to read the
figures, and the model card's summary.
"""
from __future__ import annotations

import datetime as _dt
from typing import Any, Callable, Mapping, Sequence

from .. import render
from ..explanation import Explanation
from .audit_tables import audit_part
from .comparison import HOW_TO_READ_COMPARISON, comparison_part
from .content import Report, Table, fmt, input_section, overview_table
from .provenance import input_digest, provenance

DEFAULT_TITLE = "Model explanation report"
Progress = Callable[[str], None]

HOW_TO_READ_SCORES = (
    "Faithfulness (deletion test): the input's most important parts, according to the explanation, are removed "
    "first, and the model's score for the explained class is recorded as more and more is removed. The area under "
    "that curve (deletion AUC) is compared with removing parts in random order. A faithful explanation makes the "
    "score fall faster than random: a lower AUC than the random order, so a positive gain."
)
HOW_TO_READ_AGREEMENT = (
    "Agreement between methods: Spearman rank correlation of two methods' attributions for the same input "
    "(1 = same ranking, 0 = unrelated, negative = opposite), on signed values and on magnitudes, and the share of "
    "their top-5 most important parts in common. Methods that disagree strongly deserve a closer look."
)


def assemble(
    explanations: Explanation | Sequence[Explanation] | None = None,
    *,
    audit: Any = None,
    comparison: Any = None,
    model: Any = None,
    card: Mapping[str, Any] | None = None,
    title: str = DEFAULT_TITLE,
    true_labels: Sequence[Any] | None = None,
    inputs_source: str | None = None,
    score: bool = True,
    badge: bool = True,
    progress: Progress | None = None,
) -> Report:
    """Everything a report shows, computed and rendered once.

    ``explanations`` are grouped by input (same model, same data: one section
    each, in order of first appearance).  ``model`` (a Keras model, reference
    model or :class:`~explain.Predictor`) is used to score explanations that have
    no faithfulness scores yet (``score=False`` skips that), to add missing badges (``badge=False`` skips them:
    ROAD takes seconds per 224 x 224 image) and for class names;
    a reference model also brings its ``card``.  ``true_labels`` gives one label
    per input section; ``audit`` is an audit DataFrame or ``(DataFrame, summary)``;
    ``comparison`` (from :func:`explain.compare`) brings its explanations to the appendix.
    """
    items = _check_explanations(explanations)
    if not items and audit is None and comparison is None:
        raise ValueError("Nothing to report: pass explanations=[...] (from explain.explain_batch), audit=... (from "
                         "explain.audit) and/or comparison=... (from explain.compare).")
    _check_title(title)
    card = _card_of(model, card)
    audit_tables, audit_pictures = audit_part(audit) if audit is not None else ((), ())  # checked before slow work
    compared = comparison_part(comparison) if comparison is not None else None
    say = progress or (lambda message: None)
    items, scored_here = _scored(model, items, say, badge) if items and model is not None and score else (items, 0)
    groups = _group(items)
    labels = _check_true_labels(true_labels, len(groups))
    class_names, output_name = _class_names(model, card), (card or {}).get("target_name")
    sections = []
    for i, group in enumerate(groups):
        say(f"rendering input {i + 1}/{len(groups)}")
        sections.append(input_section(i, group, labels[i], class_names, output_name))
    appendix_items, appendix_groups = _appendix(items, groups, comparison if compared is not None else None)
    modalities = list(dict.fromkeys(e.modality for e in (items or appendix_items)))
    how_to_read = _how_to_read(modalities, items, compared=any(s.agreement is not None for s in sections))
    how_to_read += (("Comparing two models", HOW_TO_READ_COMPARISON),) if compared is not None else ()
    return Report(
        title=title.strip(),
        created=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        intro=_intro(items, groups, audit is not None, inputs_source, compared.intro if compared else None),
        model=_model_table(card) if card else None,
        how_to_read=how_to_read,
        overview=overview_table(items) if len(groups) > 1 else None,
        sections=tuple(sections),
        audit_tables=audit_tables,
        audit_pictures=audit_pictures,
        provenance=provenance(appendix_items, appendix_groups, card, inputs_source, scored_here=scored_here),
        comparison=compared,
    )


def _check_title(title: Any) -> None:
    if not isinstance(title, str):
        raise TypeError(f"title must be a string, got {type(title).__name__}.")
    if not title.strip():
        raise ValueError("title is empty: give the report a title people will recognise, e.g. 'Digits 0-19, mnist_cnn'.")


def _appendix(items: list[Explanation], groups: list, comparison: Any) -> tuple[list[Explanation], list]:
    """What the provenance appendix records: the explanations, or both compared models' when there are none."""
    if comparison is None or items:
        return items, groups
    first = [e for found in comparison.explanations_a.values() for e in found]
    return first + [e for found in comparison.explanations_b.values() for e in found], _group(first)


# ---- arguments, scores and grouping --------------------------------------------------------------
def _check_explanations(explanations: Any) -> list[Explanation]:
    if explanations is None:
        return []
    if isinstance(explanations, Explanation):
        return [explanations]
    if isinstance(explanations, (str, bytes, Mapping)) or not isinstance(explanations, Sequence):
        raise TypeError(f"explanations must be a list of explain.Explanation (from explain.explain_batch), got {type(explanations).__name__}.")
    wrong = [type(e).__name__ for e in explanations if not isinstance(e, Explanation)]
    if wrong:
        raise TypeError(f"explanations must all be explain.Explanation objects; got {', '.join(sorted(set(wrong)))}. "
                        "Load saved ones with explain.Explanation.load(path).")
    return list(explanations)


def _check_true_labels(labels: Sequence[Any] | None, n_inputs: int) -> list[Any]:
    if labels is None:
        return [None] * n_inputs
    if isinstance(labels, (str, bytes)) or not hasattr(labels, "__len__"):
        raise TypeError(f"true_labels must be a sequence with one label per input, got {type(labels).__name__}.")
    if len(labels) != n_inputs:
        raise ValueError(f"Got {len(labels)} true labels for {n_inputs} distinct inputs; pass one per input, in the order the inputs first appear.")
    return list(labels)


def _card_of(model: Any, card: Any) -> Mapping[str, Any] | None:
    if card is None:
        card = getattr(model, "card", None) if hasattr(model, "model") else None  # a models.ReferenceModel
    if card is not None and not isinstance(card, Mapping):
        raise TypeError(f"card must be a model card dict (models.load(...).card), got {type(card).__name__}.")
    return card


def _class_names(model: Any, card: Mapping[str, Any] | None) -> Sequence[str] | None:
    if model is not None:
        from ..adapters import as_predictor

        names = as_predictor(model).class_names
        if names:
            return names
    return (card or {}).get("class_names") or None


def _scored(model: Any, items: list[Explanation], say: Progress, badge: bool) -> tuple[list[Explanation], int]:
    """Fill in what is missing, one batched call per method: the deletion scores (and additivity where the method
    promises it) of unscored explanations, and the faithfulness badge of those without one; also says how many."""
    from ..evaluation.scoring import promises_additivity, score_explanations

    todo: dict[tuple[str, tuple[str, ...]], list[int]] = {}
    for i, e in enumerate(items):
        wanted = () if e.scores else ("deletion",) + (("additivity",) if promises_additivity(e) else ())
        wanted += ("badge",) if badge and "badge_level" not in e.scores else ()
        if wanted:
            todo.setdefault((e.method, wanted), []).append(i)
    for (method, wanted), indices in todo.items():
        say(f"scoring {len(indices)} {method} explanations ({', '.join(wanted)})")
        for i, scored in zip(indices, score_explanations(model, [items[i] for i in indices], metrics=list(wanted))):
            items[i] = items[i].with_scores(**scored.scores)
    return items, sum(len(indices) for indices in todo.values())


def _group(items: list[Explanation]) -> list[list[Explanation]]:
    """Explanations of the same input by the same model, inputs in order of first appearance and the
    methods in the same order in every group (the order each method first appears)."""
    groups: dict[tuple, list[Explanation]] = {}
    for e in items:
        key = (_fingerprint(e), e.modality, input_digest(e))
        groups.setdefault(key, []).append(e)
    rank = {method: i for i, method in enumerate(dict.fromkeys(e.method for e in items))}
    return [sorted(group, key=lambda e: rank[e.method]) for group in groups.values()]


def _fingerprint(e: Explanation) -> str:
    return str(dict(e.meta.get("model") or {}).get("fingerprint", "unknown model"))


# ---- the model card ----------------------------------------------------------------------------
def _model_table(card: Mapping[str, Any]) -> Table:
    dataset, training = card.get("dataset") or {}, card.get("training") or {}
    architecture, gate = card.get("architecture") or {}, card.get("gate") or {}
    rows = [
        ("model", " — ".join(str(v) for v in (card.get("name"), card.get("description")) if v)),
        ("task", card.get("task")),
        ("data set", dataset.get("name")),
        ("split sizes", ", ".join(f"{k} {fmt(v)}" for k, v in (dataset.get("sizes") or {}).items())),
        ("test metrics", _metrics_text((card.get("metrics") or {}).get("test") or {})),
        ("cross-validation", _cv_text(card.get("cross_validation"))),
        ("quality gate", f"{gate.get('rule')} ({'passed' if gate.get('passed') else 'failed'})" if gate else None),
        ("parameters", fmt(architecture.get("parameters"))),
        ("training time", f"{fmt(training.get('seconds'))} s, {training.get('epochs_run')} epochs" if training.get("seconds") is not None else None),
        ("trained on", card.get("created")),
    ]
    return Table(("", ""), tuple((k, str(v)) for k, v in rows if v not in (None, "", "None")), title="Model card")


def _metrics_text(metrics: Mapping[str, Any]) -> str:
    shown = [(k, v) for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool) and k != "n"]
    text = ", ".join(f"{k} {fmt(v)}" for k, v in shown)
    return text + (f" on {fmt(metrics['n'])} test inputs" if "n" in metrics and text else "")


def _cv_text(cv: Mapping[str, Any] | None) -> str | None:
    if not cv:
        return None
    return f"{cv.get('folds')}-fold {cv.get('metric')} {fmt(cv.get('mean'))} ± {fmt(cv.get('std'))}"


# ---- texts ---------------------------------------------------------------------------------------
def _intro(items: list[Explanation], groups: list, has_audit: bool, source: str | None,
           comparison: str | None = None) -> str:
    parts = [f"This report compares two versions of a model: {comparison}"] if comparison else []
    if items:
        methods = ", ".join(dict.fromkeys(e.method for e in items))
        models = ", ".join(dict.fromkeys(str(dict(e.meta.get("model") or {}).get("model", "a model")) for e in items))
        parts.append(f"This report explains {len(groups)} prediction{'s' if len(groups) != 1 else ''} of {models} "
                     f"with {methods}.")
    if source:
        parts.append(f"Inputs: {source}.")
    if has_audit:
        parts.append(("It also summarises" if items else "This report summarises") + " an audit of the model over many inputs.")
    parts.append("An explanation shows which parts of an input pushed the model towards its answer and which pushed away "
                 "from it; the appendix records everything needed to reproduce the results.")
    return " ".join(parts)


def _how_to_read(modalities: Sequence[str], items: list[Explanation], *, compared: bool) -> tuple[tuple[str, str], ...]:
    from ..evaluation.badge import HOW_TO_READ as HOW_TO_READ_BADGE, BASELINE_NAMES

    badged = [e.modality for e in items if "badge_level" in e.scores]
    texts = [(f"{m.capitalize()} explanations", render.HOW_TO_READ[m]) for m in modalities if m in render.HOW_TO_READ]
    texts += [("Faithfulness scores", HOW_TO_READ_SCORES)] if any(e.scores for e in items) else []
    baselines = " / ".join(dict.fromkeys(BASELINE_NAMES[m] for m in badged))
    texts += [("The faithfulness badge", HOW_TO_READ_BADGE.format(baseline=baselines))] if badged else []
    texts += [("Agreement between methods", HOW_TO_READ_AGREEMENT)] if compared else []
    return tuple(texts)
