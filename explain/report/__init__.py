"""Explanation reports to share: one self-contained HTML file, or a PDF.

A report is assembled once into plain data (:class:`Report`: sentences, tables
of already formatted strings, PNG bytes) and only then written, by a Jinja2
template for HTML or by reportlab for PDF (:mod:`explain.report.pdf`), so the
two formats always say the same thing with the same numbers.  Every figure
comes from :mod:`explain.render`; nothing here draws.

This module is the public face: building and writing reports, and checking the
destination before any slow work.  What a report holds and how it is assembled
live in :mod:`explain.report.content`, :mod:`explain.report.assemble`,
:mod:`explain.report.audit_tables` and :mod:`explain.report.provenance`.

>>> html = build_html(explanations, model=ref, title="Digits 0-19")          # doctest: +SKIP
>>> write_report("report.pdf", explanations, model=ref)                       # doctest: +SKIP
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

from ..explanation import Explanation
from ..paths import atomic_write, check_writable_file
from .assemble import DEFAULT_TITLE, Progress, assemble  # noqa: F401  (re-exported: callers use report.X)
from .content import MethodView, Picture, Report, Section, Table  # noqa: F401
from .provenance import input_digest  # noqa: F401

FORMATS = ("html", "pdf")


# ---- public API ---------------------------------------------------------------------------------
def write_report(
    path: str | os.PathLike,
    explanations: Explanation | Sequence[Explanation] | None = None,
    *,
    format: str | None = None,
    **options: Any,
) -> Path:
    """Write an HTML or PDF report to ``path`` (format from the suffix, or ``format=``); returns the path.

    The file is written to a temporary name beside ``path`` and renamed into
    place, so a failure never leaves half a report over an older one.
    ``options`` are those of :func:`assemble`.
    """
    target = Path(path)
    kind = check_output(target, format)
    report = assemble(explanations, **options)
    payload = to_pdf(report) if kind == "pdf" else to_html(report).encode("utf-8")
    atomic_write(target, payload)
    return target


def build_html(explanations: Explanation | Sequence[Explanation] | None = None, **options: Any) -> str:
    """The report as one self-contained HTML document (images inline; no external files, opens offline)."""
    return to_html(assemble(explanations, **options))


def build_pdf(explanations: Explanation | Sequence[Explanation] | None = None, **options: Any) -> bytes:
    """The report as PDF bytes (for a download button, say)."""
    return to_pdf(assemble(explanations, **options))


def to_html(report: Report) -> str:
    """Render an assembled report with the Jinja2 template (autoescaped: user text cannot inject HTML)."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("explain.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,  # a typo in the template fails loudly, not as an empty cell
    )
    return env.get_template("report.html.j2").render(report=report)


def to_pdf(report: Report) -> bytes:
    from .pdf import pdf_bytes

    return pdf_bytes(report)


# ---- checks ------------------------------------------------------------------------------------
def check_output(path: str | os.PathLike, format: str | None = None) -> str:
    """The report format for ``path`` (``"html"`` or ``"pdf"``), after checking the file can be written.

    Called before any slow work, so a typo in the path fails at once.
    """
    path = check_writable_file(path, "the report", "report.html")
    return _format_of(path, format)


def _format_of(path: Path, format: str | None) -> str:
    if format is not None and not isinstance(format, str):
        raise TypeError(f"format must be 'html' or 'pdf', got {type(format).__name__}.")
    suffix = {"htm": "html"}.get(path.suffix.lstrip(".").lower(), path.suffix.lstrip(".").lower())
    kind = (format or suffix).lower()
    if kind == "htm":
        kind = "html"
    if kind not in FORMATS:
        raise ValueError(f"Unknown report format {kind or '(none)'!r} for {path}: use a .html or .pdf file name, or format='html' / 'pdf'.")
    if format is not None and suffix in FORMATS and suffix != kind:
        raise ValueError(f"The format is {kind} but {path.name} ends in .{suffix}: name the file "
                         f"{path.with_suffix('.' + kind).name}, or leave the format out to write {suffix}.")
    return kind


__all__ = ["DEFAULT_TITLE", "FORMATS", "Report", "assemble", "build_html", "build_pdf", "check_output", "input_digest", "to_html",
           "to_pdf", "write_report"]
