"""The PDF writer for an assembled :class:`explain.report.Report` (reportlab platypus).

It only lays out what :func:`explain.report.assemble` prepared, so it cannot
disagree with the HTML report.  Text uses DejaVu Sans (shipped with
matplotlib) embedded in the file, so reviews in any script print correctly
rather than as boxes; Helvetica is the fallback.
"""
from __future__ import annotations

import functools
import io
from pathlib import Path
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import cm
from reportlab.lib.utils import ImageReader
from reportlab.platypus import (Image, KeepTogether, PageBreak, Paragraph, SimpleDocTemplate, Spacer, Table,
                                TableStyle)

if TYPE_CHECKING:
    from .content import Picture, Report, Section
    from .content import Table as ReportTable

MARGIN = 1.6 * cm
WIDTH = A4[0] - 2 * MARGIN
FIGURE_WIDTH = 5.6 * cm  # three image figures side by side
GRID = colors.HexColor("#dddddd")


@functools.lru_cache(maxsize=1)
def _fonts() -> tuple[str, str]:
    """(regular, bold) font names: embedded DejaVu Sans when matplotlib ships it, else Helvetica."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    try:
        import matplotlib

        folder = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
        pdfmetrics.registerFont(TTFont("DejaVuSans", str(folder / "DejaVuSans.ttf")))
        pdfmetrics.registerFont(TTFont("DejaVuSans-Bold", str(folder / "DejaVuSans-Bold.ttf")))
        pdfmetrics.registerFontFamily("DejaVuSans", normal="DejaVuSans", bold="DejaVuSans-Bold")
        return "DejaVuSans", "DejaVuSans-Bold"
    except Exception:  # no usable TTF: standard fonts cover Latin text
        return "Helvetica", "Helvetica-Bold"


@functools.lru_cache(maxsize=1)
def _styles() -> dict[str, ParagraphStyle]:
    regular, bold = _fonts()
    base = getSampleStyleSheet()
    body = ParagraphStyle("body", parent=base["BodyText"], fontName=regular, fontSize=9, leading=12)
    return {
        "title": ParagraphStyle("title", parent=base["Title"], fontName=bold),
        "h1": ParagraphStyle("h1", parent=base["Heading1"], fontName=bold, fontSize=15, spaceBefore=10),
        "h2": ParagraphStyle("h2", parent=base["Heading3"], fontName=bold, fontSize=10, spaceBefore=6, spaceAfter=3),
        "body": body,
        "small": ParagraphStyle("small", parent=body, fontSize=7.5, leading=9.5, textColor=colors.HexColor("#555555")),
        "cell": ParagraphStyle("cell", parent=body, fontSize=7.5, leading=9),
        "head": ParagraphStyle("head", parent=body, fontName=bold, fontSize=7.5, leading=9),
        "verdict": ParagraphStyle("verdict", parent=body, fontName=bold, fontSize=10),
    }


def pdf_bytes(report: "Report") -> bytes:
    """Lay the report out on A4 pages: title, model, how to read, one block per input, audit, appendix."""
    s = _styles()
    story: list[Any] = [Paragraph(escape(report.title), s["title"]),
                        Paragraph(escape(f"Created {report.created} with keras-explain."), s["small"]),
                        Spacer(1, 6), Paragraph(escape(report.intro), s["body"])]
    if report.model:
        story += [_heading("The model"), _table(report.model)]
    if report.how_to_read:
        story.append(_heading("How to read this report"))
        for heading, text in report.how_to_read:
            story += [Paragraph(escape(heading), s["h2"]), Paragraph(escape(text), s["body"])]
    if report.overview:
        story += [_heading("Summary"), _table(report.overview)]
    for section in report.sections:
        story.append(KeepTogether(_section(section)))  # one input per page when it fits
    if report.comparison is not None:
        story += _comparison(report.comparison)
    if report.audit_tables:
        story.append(_heading("Audit"))
        story += [_table(t) for t in report.audit_tables]
        story += [_image(p, WIDTH * 0.8) for p in report.audit_pictures]
    story += [PageBreak(), _heading("Appendix: provenance"),
              Paragraph("Everything needed to reproduce this report: the model's fingerprint, the inputs' content hashes, "
                        "each method's parameters (seeds included) and the library versions.", s["body"])]
    story += [_table(t) for t in report.provenance]
    buffer = io.BytesIO()
    document = SimpleDocTemplate(buffer, pagesize=A4, leftMargin=MARGIN, rightMargin=MARGIN, topMargin=MARGIN,
                                 bottomMargin=MARGIN, title=report.title, author="keras-explain",
                                 subject="Model explanation report", creator="keras-explain")
    document.build(story, onFirstPage=_footer, onLaterPages=_footer)
    return buffer.getvalue()


def _section(section: "Section") -> list[Any]:
    s = _styles()
    head = [_heading(section.title), Paragraph(escape(section.verdict), s["verdict"]), Spacer(1, 4)]
    facts = [t for t in (section.input_table, section.prediction) if t is not None]
    top: list[Any] = [_image(section.input_picture, 4 * cm)] if section.input_picture is not None else []
    fact_width = (WIDTH - 4.5 * cm * len(top)) / len(facts)
    top += [_table_parts(t, width=fact_width - 0.4 * cm) for t in facts]  # KeepTogether cannot sit in a cell
    widths = [4.5 * cm] * (len(top) - len(facts)) + [fact_width] * len(facts)
    parts: list[Any] = head + [_row(top, widths)]
    if section.input_text:
        parts += [Paragraph("Input text", s["h2"]), Paragraph(escape(section.input_text).replace("\n", "<br/>"), s["body"])]
    figures = []
    for method in section.methods:
        cells = [Paragraph(f"<b>{escape(method.method)}</b>", s["body"]), Paragraph(escape(method.caption), s["small"])]
        width = FIGURE_WIDTH if section.modality == "image" else WIDTH / 2 - 0.4 * cm
        cells += [_image(p, width) for p in method.pictures]
        figures.append(cells)
    per_row = 3 if section.modality == "image" else 2
    for start in range(0, len(figures), per_row):
        parts.append(_row(figures[start:start + per_row], [WIDTH / per_row] * per_row))
    parts += [_table(t) for t in (section.faithfulness, section.badge_details, section.agreement) if t is not None]
    return parts


def _comparison(part: Any) -> list[Any]:
    """Two model versions compared: summary, shift charts and tables, the most changed inputs side by side."""
    s = _styles()
    story: list[Any] = [_heading(part.title), Paragraph(escape(part.intro), s["body"]), _table(part.summary)]
    story += [_image(p, WIDTH * 0.75) for p in part.shift_pictures]
    story += [_table(t) for t in part.shifts]
    story.append(_table(part.changed))
    for heading, a, b in part.changed_pictures:
        cells = [[Paragraph(escape(p.alt), s["small"]), _image(p, WIDTH / 2 - 0.6 * cm)] for p in (a, b)]
        story.append(KeepTogether([Paragraph(escape(heading), s["h2"]), _row(cells, [WIDTH / 2] * 2)]))
    return story


def _heading(text: str) -> Paragraph:
    return Paragraph(escape(text), _styles()["h1"])


def _row(cells: list[Any], widths: list[float]) -> Table:
    """Flowables side by side (a borderless one-row table)."""
    row = Table([cells], colWidths=widths[:len(cells)], hAlign="LEFT")
    row.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (-1, -1), 0),
                             ("RIGHTPADDING", (0, 0), (-1, -1), 8)]))
    return row


def _image(picture: "Picture", width: float) -> Image:
    """A PNG scaled to ``width``, keeping its aspect ratio."""
    pixels_wide, pixels_high = ImageReader(io.BytesIO(picture.png)).getSize()
    height = width * pixels_high / pixels_wide
    return Image(io.BytesIO(picture.png), width=width, height=height)


def _table(table: "ReportTable", width: float = WIDTH) -> KeepTogether:
    """Title, table and note on one page when they fit (long tables still split)."""
    return KeepTogether(_table_parts(table, width))


def _table_parts(table: "ReportTable", width: float) -> list[Any]:
    """A titled table whose cells wrap (long hashes and parameter lists stay inside the page)."""
    s = _styles()
    has_header = any(table.columns)
    data = [[Paragraph(escape(c), s["head"]) for c in table.columns]] if has_header else []
    data += [[Paragraph(escape(cell), s["head"] if (j == 0 and not table.columns[0]) else s["cell"])
              for j, cell in enumerate(row)] for row in table.rows]
    parts: list[Any] = [Paragraph(escape(table.title), s["h2"])] if table.title else []
    if data:
        grid = Table(data, colWidths=_widths(table, width), hAlign="LEFT", repeatRows=1 if has_header else 0)
        style = [("VALIGN", (0, 0), (-1, -1), "TOP"), ("LINEBELOW", (0, 0), (-1, -1), 0.4, GRID),
                 ("TOPPADDING", (0, 0), (-1, -1), 1.5), ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5)]
        if has_header:
            style += [("LINEBELOW", (0, 0), (-1, 0), 0.9, colors.grey), ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#f2f2f2"))]
        grid.setStyle(TableStyle(style))
        parts.append(grid)
    if table.note:
        parts.append(Paragraph(escape(table.note), s["small"]))
    return parts


def _widths(table: "ReportTable", width: float) -> list[float]:
    """Column widths: wide enough for each column's longest word (headers never break mid-word), then the
    room left shared in proportion to how much more each column's longest cell needs."""
    from reportlab.pdfbase.pdfmetrics import stringWidth

    regular, bold = _fonts()
    padding = 13  # the cell's left and right padding, plus a little slack

    def measure(text: str, font: str) -> float:
        return stringWidth(text, font, 7.5) + padding

    columns = [[table.columns[j]] + [row[j] for row in table.rows if j < len(row)] for j in range(len(table.columns))]
    smallest = [min(max(measure(word, bold) for text in column for word in (text.split() or [""])), width / 3)
                for column in columns]
    wanted = [max(max(measure(text, bold if i == 0 else regular) for i, text in enumerate(column)), low)
              for column, low in zip(columns, smallest)]
    if sum(smallest) >= width:
        return [w * width / sum(smallest) for w in smallest]
    extra = [want - low for want, low in zip(wanted, smallest)]
    room = width - sum(smallest)
    share = min(1.0, room / sum(extra)) if sum(extra) else 0.0
    return [low + e * share for low, e in zip(smallest, extra)]


def _footer(canvas: Any, document: Any) -> None:
    regular, _ = _fonts()
    canvas.saveState()
    canvas.setFont(regular, 7)
    canvas.setFillColor(colors.grey)
    canvas.drawString(MARGIN, MARGIN / 2, document.title or "")
    canvas.drawRightString(A4[0] - MARGIN, MARGIN / 2, f"page {canvas.getPageNumber()}")
    canvas.restoreState()
