"""The comparison part of a report: model A against model B (:func:`explain.compare`), as tables and charts.

The comparison itself is computed by :mod:`explain.drift`; here it is only
shortened and formatted, with the charts drawn by :mod:`explain.render`, so
the HTML and the PDF say the same thing.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .. import render
from .content import Picture, Table, fmt, table_from_frame

SHIFT_ROWS = 15  # importance shifts listed per report
CHANGED_INPUTS = 5  # most-changed inputs shown with both models' figures

HOW_TO_READ_COMPARISON = (
    "Comparison of two model versions: both models explain the same inputs with the same methods, for the same "
    "target (model A's predicted class unless chosen). Per input, the Spearman rank correlation of their "
    "attributions (1 = same ranking of what matters, 0 = unrelated) and the share of their top-k units in common. "
    "Globally, each model's share of the mean |attribution| per feature, token or image region, and the shift "
    "(B - A); 'importance moved' is half the sum of |shift|: 0 when both models rely on the same things in the "
    "same proportions, 1 when they share nothing. A harmless retrain (another seed) keeps these close to 1 and 0."
)


@dataclass(frozen=True)
class ComparisonPart:
    """What a report shows of a comparison: a summary, the shifts, the inputs that changed most, with figures."""

    title: str
    intro: str
    summary: Table
    shifts: tuple[Table, ...]
    shift_pictures: tuple[Picture, ...]
    changed: Table
    changed_pictures: tuple[tuple[str, Picture, Picture], ...]  # (heading, model A's figure, model B's figure)


def comparison_part(comparison: Any) -> ComparisonPart:
    """The report's part for an :class:`explain.Comparison`; checks its type first."""
    from ..drift import Comparison

    if not isinstance(comparison, Comparison):
        raise TypeError(f"comparison must be the result of explain.compare(...), got {type(comparison).__name__}.")
    c = comparison
    summary = c.summary()
    rows = [("model A", c.name_a), ("model B", c.name_b), ("inputs", fmt(c.n_inputs)), ("methods", ", ".join(c.methods))]
    labels = {"median_spearman_abs": "median Spearman of |attributions|", "median_spearman": "median Spearman (signed)",
              "mean_top_k": f"mean top-{c.k} overlap", "importance_moved": "importance moved (0-1)",
              "largest_shift": "largest shift of one unit's share"}
    for method in c.methods:
        prefix = f"{method} " if len(c.methods) > 1 else ""
        rows += [(f"{labels[key]}{f' ({method})' if prefix else ''}", fmt(summary[prefix + key])) for key in labels]
    summary_table = Table(("", ""), tuple(rows), title="Summary",
                          note="Two seeds of one recipe typically agree closely; low correlations or a large move of "
                               "importance mean the new model decides for other reasons.")
    unit = c.unit_name()
    shifts, pictures = [], []
    for method in c.methods:
        part = c.importance[c.importance["method"] == method][["unit", "importance_a", "importance_b", "shift"]]
        part = part.rename(columns={"unit": unit, "importance_a": f"share in {c.name_a}",
                                    "importance_b": f"share in {c.name_b}", "shift": "shift (B - A)"})
        shifts.append(table_from_frame(part.reset_index(drop=True), title=f"Importance shifts, {method}",
                                       limit=SHIFT_ROWS))
        chart = render.importance_shift_chart(c.importance, method, (c.name_a, c.name_b))
        if chart is not None:
            pictures.append(Picture(render.png_bytes(chart), f"importance shares of {c.name_a} and {c.name_b}, {method}"))
    changed = c.most_changed(CHANGED_INPUTS)
    changed_rows = tuple((f"Input {int(r.input) + 1}", str(r.method), _target(r.target, r.target_name),
                          fmt(float(r.prediction_a)), fmt(float(r.prediction_b)), fmt(float(r.spearman_abs)),
                          fmt(float(r.spearman)), fmt(float(r.top_k)))
                         for r in changed.itertuples(index=False))
    changed_table = Table(("input", "method", "target", "output A", "output B", "Spearman |attr|", "Spearman",
                           f"top-{c.k}"), changed_rows, title="The inputs whose explanations changed most",
                          note="Inputs are numbered from 1 in the order given; lowest rank correlation first.")
    figures = []
    for r in changed.itertuples(index=False):
        a, b = c.explanation_pair(int(r.input), str(r.method))
        figures.append((f"Input {int(r.input) + 1}, {r.method}",
                        Picture(render.png_bytes(render.figure(a)), f"{c.name_a}: {r.method}, input {int(r.input) + 1}"),
                        Picture(render.png_bytes(render.figure(b)), f"{c.name_b}: {r.method}, input {int(r.input) + 1}")))
    intro = (f"{c.name_a} (A) and {c.name_b} (B) explained on the same {c.n_inputs} inputs with {', '.join(c.methods)}; "
             f"importance per {unit}" + (f" on a {c.grid}x{c.grid} grid" if c.grid else "") + ".")
    return ComparisonPart(f"Comparison: {c.name_a} against {c.name_b}", intro, summary_table, tuple(shifts),
                          tuple(pictures), changed_table, tuple(figures))


def _target(target: Any, name: Any) -> str:
    if target is None or target != target:  # None, or NaN from a DataFrame of regression rows
        return "the value"
    return str(name) if name else fmt(int(target))
