"""The audit part of a report: an audit DataFrame summarised as tables and charts.

The audit itself (many inputs explained, one row per input and method) comes
from :func:`explain.audit`; here it is only shortened and formatted, with the
charts drawn by :mod:`explain.render`.
"""
from __future__ import annotations

from typing import Any, Mapping

from .. import render
from .content import Picture, Table, fmt, table_from_frame

AUDIT_TABLE_ROWS = 20  # an audit of 10,000 inputs must not become a 500-page report


def audit_part(audit: Any) -> tuple[tuple[Table, ...], tuple[Picture, ...]]:
    """The audit's tables (an overview, then each summary table, shortened) and charts; checks ``audit`` first."""
    frame, summary = _split_audit(audit)
    if len(frame) == 0:
        raise ValueError("The audit is empty: nothing to report.")
    tables = [_audit_overview(frame)]
    tables += [table_from_frame(table, title=str(name).replace("_", " ").capitalize(), limit=AUDIT_TABLE_ROWS)
               for name, table in summary.items()]
    pictures = []
    gains = render.audit_gain_chart(frame)
    if gains is not None:
        pictures.append(Picture(render.png_bytes(gains), "box plot of deletion gain per method"))
    top = render.top_features_chart(summary.get("top_features"))
    if top is not None:
        pictures.append(Picture(render.png_bytes(top), "most frequent top features per method"))
    return tuple(tables), tuple(pictures)


def _split_audit(audit: Any):
    import pandas as pd

    if isinstance(audit, pd.DataFrame):
        from ..audit import audit_summary

        return audit, audit_summary(audit)
    if isinstance(audit, tuple) and len(audit) == 2 and isinstance(audit[0], pd.DataFrame) and isinstance(audit[1], Mapping):
        bad = [name for name, table in audit[1].items() if not isinstance(table, (pd.DataFrame, pd.Series))]
        if bad:
            raise TypeError(f"The audit summary must map names to DataFrames; {bad} are not.")
        return audit
    raise TypeError("audit must be the DataFrame from explain.audit(...) or a tuple (frame, explain.audit_summary(frame)); "
                    f"got {type(audit).__name__}.")


def _audit_overview(frame) -> Table:
    rows = [("inputs", fmt(frame["input"].nunique() if "input" in frame else len(frame))),
            ("methods", ", ".join(map(str, frame["method"].unique())) if "method" in frame else "–"),
            ("rows (input × method)", fmt(len(frame)))]
    if "correct" in frame:
        rows.append(("accuracy", fmt(float(frame.drop_duplicates("input")["correct"].mean()))))
    if "abs_error" in frame:
        rows.append(("mean absolute error", fmt(float(frame.drop_duplicates("input")["abs_error"].mean()))))
    if "deletion_gain" in frame:
        rows.append(("better than random (deletion gain > 0)", f"{(frame['deletion_gain'] > 0).mean():.0%} of rows"))
    return Table(("", ""), tuple(rows), title="Overview")
