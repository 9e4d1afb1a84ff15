"""What a report shows, as plain data, and the part of it made for each input.

:class:`Report` and its parts hold sentences, tables of already formatted strings
and PNG bytes; both writers (the Jinja2 template and :mod:`explain.report.pdf`)
only lay them out, so the HTML and the PDF always say the same thing with the
same numbers.  The formatting helpers that turn values into those strings live
here too, so every part of a report formats a number the same way.  Every figure
comes from :mod:`explain.render`; nothing here draws.
"""
from __future__ import annotations

import base64
import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from .. import render
from ..evaluation.badge import LEVELS, badge_of
from ..explanation import Explanation
from ..formatting import number

TOP_CLASSES = 5  # classes listed in a prediction table


# ---- the assembled report: plain data that both writers read ---------------------------------------
@dataclass(frozen=True)
class Table:
    """Rows of formatted strings, so HTML and PDF show identical numbers."""

    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    title: str = ""
    note: str = ""


@dataclass(frozen=True)
class Picture:
    png: bytes
    alt: str

    @property
    def data_uri(self) -> str:
        return "data:image/png;base64," + base64.b64encode(self.png).decode("ascii")


@dataclass(frozen=True)
class MethodView:
    method: str
    caption: str
    pictures: tuple[Picture, ...]
    token_html: str | None = None  # text explanations; HTML only (the PDF shows the bar chart)


@dataclass(frozen=True)
class Section:
    """One input and every method that explains it."""

    title: str
    anchor: str
    modality: str
    verdict: str  # "Predicted 7 (p = 0.98); true label 7."
    input_picture: Picture | None
    input_text: str | None
    input_table: Table | None
    prediction: Table
    methods: tuple[MethodView, ...]
    faithfulness: Table | None
    agreement: Table | None
    badge_details: Table | None = None  # the numbers behind each badge: one click away in HTML, a table in PDF


@dataclass(frozen=True)
class Report:
    title: str
    created: str
    intro: str
    model: Table | None
    how_to_read: tuple[tuple[str, str], ...]  # (heading, text)
    overview: Table | None
    sections: tuple[Section, ...]
    audit_tables: tuple[Table, ...]
    audit_pictures: tuple[Picture, ...]
    provenance: tuple[Table, ...]
    comparison: Any = None  # a ComparisonPart (explain.report.comparison) when two model versions are compared


# ---- one input's section -----------------------------------------------------------------------
def input_section(index: int, group: list[Explanation], true_label: Any, class_names: Sequence[str] | None,
                  output_name: str | None) -> Section:
    """Section ``index`` of a report: one input (``group``: its explanations, one per method) rendered once."""
    first = group[0]
    number = index + 1
    input_fig = render.input_figure(first)
    return Section(
        title=f"Input {number}",
        anchor=f"input-{number}",
        modality=first.modality,
        verdict=_verdict(first, true_label, class_names, output_name),
        input_picture=Picture(render.png_bytes(input_fig), f"input {number}") if input_fig is not None else None,
        input_text=_input_text(first),
        input_table=_input_table(first),
        prediction=_prediction_table(first, true_label, class_names, output_name),
        methods=tuple(_method_view(e, number) for e in group),
        faithfulness=_faithfulness_table(group),
        agreement=_agreement_table(group),
        badge_details=_badge_details(group),
    )


def _method_view(e: Explanation, number: int) -> MethodView:
    pictures = [Picture(render.png_bytes(render.figure(e)), f"{e.method} attributions for input {number}")]
    if e.modality == "tabular" and e.base_value is not None:
        pictures.append(Picture(render.png_bytes(render.waterfall(e)), f"{e.method} waterfall for input {number}"))
    tokens = render.token_html(e) if e.modality == "text" else None
    return MethodView(e.method, render.caption(e), tuple(pictures), tokens)


def _input_text(e: Explanation) -> str | None:
    if e.modality != "text":
        return None
    text = str(e.meta.get("text") or " ".join(map(str, e.labels or e.data)))
    dropped = int(e.meta.get("tokens_beyond_window") or 0)
    return text + (f"\n[the model reads only the first part: {dropped} further tokens are ignored]" if dropped else "")


def _input_table(e: Explanation) -> Table | None:
    if e.modality != "tabular":
        return None
    names = list(e.labels) if e.labels is not None else [f"feature {i}" for i in range(np.size(e.data))]
    return Table(("feature", "value"), tuple((str(n), fmt(v)) for n, v in zip(names, np.ravel(e.data))), title="Input")


def _output_kind(e: Explanation) -> str:
    kind = dict(e.meta.get("model") or {}).get("output")
    if kind:
        return str(kind)
    return "regression" if e.target is None else ("binary" if np.size(e.prediction) == 1 else "multiclass")


def _class_probabilities(e: Explanation) -> np.ndarray:
    p = np.ravel(np.asarray(e.prediction, dtype=float))
    return np.array([1.0 - p[0], p[0]]) if _output_kind(e) == "binary" and p.size == 1 else p


def _name(index: Any, class_names: Sequence[str] | None) -> str:
    if isinstance(index, (int, np.integer)) and class_names and 0 <= int(index) < len(class_names):
        return str(class_names[int(index)])
    return str(index.item() if isinstance(index, np.generic) else index)


def _verdict(e: Explanation, true_label: Any, class_names: Sequence[str] | None, output_name: str | None) -> str:
    truth = "" if true_label is None else f"; true {'value' if e.target is None else 'label'} {_label_text(true_label, class_names)}"
    if _output_kind(e) == "regression":
        return f"The model predicts {output_name or 'the value'} {fmt(float(np.ravel(e.prediction)[0]))}{truth}."
    p = _class_probabilities(e)
    best = int(np.argmax(p))
    explained = "" if e.target == best else f"; the explanations are for class {_name(e.target, class_names)}"
    return f"The model predicts class {_name(best, class_names)} (p = {p[best]:.3g}){truth}{explained}."


def _label_text(label: Any, class_names: Sequence[str] | None) -> str:
    return _name(label, class_names) if isinstance(label, (int, np.integer)) else fmt(label)


def _prediction_table(e: Explanation, true_label: Any, class_names: Sequence[str] | None, output_name: str | None) -> Table:
    if _output_kind(e) == "regression":
        rows = [(f"predicted {output_name or 'value'}", fmt(float(np.ravel(e.prediction)[0])))]
        if true_label is not None:
            rows.append(("true value", fmt(true_label)))
        return Table(("", "value"), tuple(rows), title="Prediction")
    p = _class_probabilities(e)
    order = np.argsort(-p, kind="stable")[:TOP_CLASSES]
    rows = []
    for c in order:
        notes = [note for note, hit in (("explained", c == e.target), ("true label", _same_class(c, true_label, class_names))) if hit]
        rows.append((_name(int(c), class_names), f"{p[c]:.3g}", ", ".join(notes)))
    shown = "" if len(p) <= TOP_CLASSES else f"The {TOP_CLASSES} most probable of {len(p)} classes."
    return Table(("class", "probability", ""), tuple(rows), title="Prediction", note=shown)


def _same_class(c: int, label: Any, class_names: Sequence[str] | None) -> bool:
    if label is None:
        return False
    if isinstance(label, (int, np.integer)):
        return int(label) == int(c)
    return str(label) == _name(int(c), class_names)


# ---- scores and agreement tables ----------------------------------------------------------------
_SCORE_COLUMNS = ("method", "deletion AUC", "random-order AUC", "gain over random", "better than random?")


def _faithfulness_table(group: list[Explanation]) -> Table | None:
    """Per method: the deletion figures, and the badge in words where it was computed (else deletion's verdict)."""
    if not any(e.scores for e in group):
        return None
    additive = any("additivity_error" in e.scores for e in group)
    badges = [badge_of(e) for e in group]
    badged = any(b is not None for b in badges)
    rows = []
    for e, b in zip(group, badges):
        s = e.scores
        verdict = (b.words if b is not None else "not computed") if badged else _better(s)
        row = (e.method, fmt(s.get("deletion_auc")), _random_auc(s), fmt(s.get("deletion_gain")), verdict)
        rows.append(row + ((fmt(s.get("additivity_error")),) if additive else ()))
    columns = _SCORE_COLUMNS[:-1] + ("badge" if badged else _SCORE_COLUMNS[-1],) + (("additivity error",) if additive else ())
    note = "Lower deletion AUC than the random order (positive gain) is better."
    if badged:
        note += " The badge asks more: see 'The faithfulness badge' under How to read, and the numbers below."
    if additive:
        note += " Additivity error: |sum of attributions + base value - model output|, 0 for exact SHAP values."
    return Table(columns, tuple(rows), title="Faithfulness", note=note)


_BADGE_COLUMNS = ("method", "metric", "votes", "AUC", "random orders", "baseline AUC", "level", "why")


def _badge_details(group: list[Explanation]) -> Table | None:
    """Each badge's figures per metric: what the words in the faithfulness table rest on."""
    rows = []
    for e in group:
        b = badge_of(e)
        for r in b.rows() if b is not None else ():
            rows.append((e.method, r["metric"], "yes" if r["votes"] else "shown only", fmt(r["AUC"]),
                         f"{fmt(r['random min'])} .. {fmt(r['random max'])}", f"{fmt(r[b.baseline + ' AUC'])} ({b.baseline})",
                         r["level"], r["why"]))
    if not rows:
        return None
    return Table(_BADGE_COLUMNS, tuple(rows), title="The badge's numbers",
                 note="Deletion and ROAD MoRF: lower AUC is better; ROAD LeRF: higher is better, shown but not voting.")


def _random_auc(scores: Mapping[str, Any]) -> str:
    value, spread = scores.get("deletion_random_auc"), scores.get("deletion_random_auc_std")
    if value is None:
        return fmt(None)
    return fmt(value) + (f" ± {fmt(spread)}" if spread is not None and math.isfinite(spread) else "")


def _better(scores: Mapping[str, Any]) -> str:
    gain, spread = scores.get("deletion_gain"), scores.get("deletion_random_auc_std") or 0.0
    if gain is None or not math.isfinite(gain):
        return "not scored"
    if gain <= 0:
        return "no"
    return "yes" if gain > spread else "within noise"


def _agreement_table(group: list[Explanation]) -> Table | None:
    from ..metrics import agreement

    by_target: dict[Any, list[Explanation]] = {}
    for e in group:
        by_target.setdefault(e.target, []).append(e)
    frames = [agreement(same) for same in by_target.values() if len(same) > 1]
    if not frames:
        return None
    import pandas as pd

    frame = pd.concat(frames, ignore_index=True)
    frame.columns = ["method A", "method B", "Spearman (magnitudes)", "Spearman (signed)", "top-5 overlap"]
    return table_from_frame(frame, title="Agreement between methods")


def overview_table(items: list[Explanation]) -> Table:
    """Per method, over all inputs: how often the explanation beats random order, its badges, and its cost."""
    by_method: dict[str, list[Explanation]] = {}
    for e in items:
        by_method.setdefault(e.method, []).append(e)
    rows = []
    for method, group in by_method.items():
        gains = [e.scores["deletion_gain"] for e in group if "deletion_gain" in e.scores]
        seconds = [e.meta["seconds"] for e in group if isinstance(e.meta.get("seconds"), (int, float))]
        better = sum(_better(e.scores) == "yes" for e in group)
        rows.append((method, str(len(group)), fmt(_mean(gains)), f"{better} of {len(gains)}" if gains else "not scored",
                     _badge_counts(group), fmt(_mean(seconds))))
    columns = ("method", "inputs", "mean gain over random", "better than random", "badges", "seconds per input")
    return Table(columns, tuple(rows), title="Each method over all inputs")


def _badge_counts(group: list[Explanation]) -> str:
    """e.g. "3 beats random and edges, 1 inconclusive", best level first."""
    badges = [b for b in map(badge_of, group) if b is not None]
    if not badges:
        return "not computed"
    counts = {level: sum(b.level == level for b in badges) for level in reversed(LEVELS)}
    words = {b.level: b.verdict for b in badges}
    return ", ".join(f"{n} {words[level]}" for level, n in counts.items() if n)


def _mean(values: Sequence[float]) -> float | None:
    finite = [v for v in values if v is not None and math.isfinite(v)]
    return float(np.mean(finite)) if finite else None


# ---- formatting ------------------------------------------------------------------------------------
def fmt(value: Any) -> str:
    """Numbers with 4 significant digits (thousands separated), missing values as an en dash."""
    if value is None:
        return "–"
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, (list, tuple, np.ndarray)):
        return "; ".join(fmt(v) for v in value)  # "; ": image regions' names hold commas
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return number(value)
    return str(value)


def table_from_frame(frame, *, title: str = "", note: str = "", limit: int | None = None) -> Table:
    """A DataFrame or Series as a :class:`Table` (index kept as columns), at most ``limit`` rows, said in the note."""
    import pandas as pd

    if isinstance(frame, pd.Series):
        frame = frame.to_frame()
    if not isinstance(frame.index, pd.RangeIndex):
        frame = frame.reset_index()
    if limit is not None and len(frame) > limit:
        note = " ".join(filter(None, [note, f"The first {limit} of {len(frame):,} rows."]))
        frame = frame.head(limit)
    rows = tuple(tuple(fmt(v) for v in row) for row in frame.itertuples(index=False, name=None))
    return Table(tuple(str(c).replace("_", " ") for c in frame.columns), rows, title=title, note=note)
