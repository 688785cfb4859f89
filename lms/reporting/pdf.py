"""The annual summary as a one-page PDF. Pure rendering: figures in, bytes out."""

from __future__ import annotations

from io import BytesIO

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from lms.evaluations.pdf import fonts, text

NAVY = colors.HexColor("#1F3A5F")


def render_summary(
    title: str, partnership: str, statements: list[str], figures: list[tuple[str, str]]
) -> bytes:
    """A heading, the year's statements as the annual report words them, and a table of figures."""
    face = fonts()
    heading = ParagraphStyle("h", fontName=face.serif_bold, fontSize=22, leading=27, textColor=NAVY)
    small = ParagraphStyle(
        "s", fontName=face.sans, fontSize=10, leading=13, textColor=colors.HexColor("#444444")
    )
    body = ParagraphStyle("b", fontName=face.sans, fontSize=11.5, leading=16, spaceAfter=6)
    cell = ParagraphStyle("c", fontName=face.sans, fontSize=10.5, leading=13)
    bold = ParagraphStyle("cb", parent=cell, fontName=face.sans_bold, alignment=2)
    buffer = BytesIO()
    document = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=20 * mm,
        rightMargin=20 * mm,
        topMargin=18 * mm,
        bottomMargin=18 * mm,
        title=title,
        author=partnership,
        invariant=1,
    )
    story = [Paragraph(text(partnership), small), Paragraph(text(title), heading), Spacer(1, 4 * mm)]
    story += [Paragraph(text(statement), body) for statement in statements]
    story.append(Spacer(1, 4 * mm))
    table = Table(
        [[Paragraph(text(k), cell), Paragraph(text(v), bold)] for k, v in figures],
        colWidths=[110 * mm, 60 * mm],
    )
    table.setStyle(
        TableStyle(
            [
                ("LINEBELOW", (0, 0), (-1, -1), 0.4, colors.HexColor("#b1b4b6")),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("TOPPADDING", (0, 0), (-1, -1), 4),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 4),
            ]
        )
    )
    story.append(table)
    document.build(story)
    return buffer.getvalue()
