"""The printable sign-in sheet of a session, as PDF.

Pure rendering, as the certificates and invoices are: plain data in, bytes out, nothing read from the
database and nothing written. The fonts, colours and "Page N of M" canvas are the certificates'.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from reportlab.lib import colors
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import LongTable, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from lms.evaluations.pdf import (
    BOTTOM,
    FRAME_PADDING,
    GREY,
    INK,
    NAVY,
    RULE,
    SIDE,
    STRIPE,
    TOP,
    TRANSCRIPT_PAGE,
    Fonts,
    render_portrait,
    text,
)

PAGE = TRANSCRIPT_PAGE  # A4 portrait
TABLE_SIZE = 9.5
ROW_HEIGHT = 11 * mm  # room to sign by hand
CELL_PADDING = 4


@dataclass(frozen=True)
class SheetLine:
    name: str
    organisation: str
    job_role: str = ""


@dataclass(frozen=True)
class SignInSheet:
    course_title: str
    when: str  # "Thursday 11 June 2026, 9:30am to 12:30pm"
    where: str  # the venue, or "Online"
    trainer: str
    partnership_name: str
    lines: list[SheetLine]
    blank_lines: int = 5  # for people who come without a place


def render_sign_in_sheet(sheet: SignInSheet) -> bytes:
    """A4 portrait: the session's details, then one row per delegate to sign, the header on each page."""
    return render_portrait(
        title=f"Sign-in sheet: {sheet.course_title}",
        author=sheet.partnership_name,
        subject=f"Sign-in sheet, {sheet.when}",
        story=functools.partial(sheet_story, sheet),
        decorate=functools.partial(sheet_page, sheet=sheet),
    )


def sheet_story(sheet: SignInSheet, face: Fonts, width: float) -> list:
    heading = ParagraphStyle(
        "heading", fontName=face.serif_bold, fontSize=20, leading=24, textColor=NAVY, spaceAfter=8
    )
    label = ParagraphStyle("label", fontName=face.sans, fontSize=10, leading=13, textColor=GREY)
    value = ParagraphStyle("value", parent=label, fontName=face.sans_bold, textColor=INK)
    details = Table(
        [
            [Paragraph(name, label), Paragraph(text(shown), value)]
            for name, shown in (
                ("Course", sheet.course_title),
                ("When", sheet.when),
                ("Where", sheet.where),
                ("Trainer", sheet.trainer),
            )
            if shown
        ],
        colWidths=(24 * mm, width - 24 * mm),
        hAlign="LEFT",
        style=[("LEFTPADDING", (0, 0), (-1, -1), 0), ("VALIGN", (0, 0), (-1, -1), "TOP")],
    )
    return [
        Paragraph("Sign-in sheet", heading),
        details,
        Spacer(1, 8 * mm),
        delegates_table(sheet, face, width),
    ]


def delegates_table(sheet: SignInSheet, face: Fonts, width: float) -> LongTable:
    head = ParagraphStyle(
        "head",
        fontName=face.sans_bold,
        fontSize=TABLE_SIZE,
        leading=TABLE_SIZE * 1.25,
        textColor=colors.white,
    )
    cell = ParagraphStyle(
        "cell", fontName=face.sans, fontSize=TABLE_SIZE, leading=TABLE_SIZE * 1.2, textColor=INK
    )
    small = ParagraphStyle(
        "small", parent=cell, fontSize=TABLE_SIZE - 1.5, leading=(TABLE_SIZE - 1.5) * 1.2, textColor=GREY
    )
    rows = [[Paragraph(title, head) for title in ("", "Name", "Organisation", "Signature")]]
    for number, line in enumerate(sheet.lines, start=1):
        organisation = [Paragraph(text(line.organisation), cell)]
        if line.job_role:
            organisation.append(Paragraph(text(line.job_role), small))
        rows.append([Paragraph(str(number), cell), Paragraph(text(line.name), cell), organisation, ""])
    for number in range(len(sheet.lines) + 1, len(sheet.lines) + sheet.blank_lines + 1):
        rows.append([Paragraph(str(number), cell), "", "", ""])
    number_width = pdfmetrics.stringWidth(str(len(rows)), face.sans, TABLE_SIZE) + 2 * CELL_PADDING + 2
    rest = width - number_width
    style = [
        ("BACKGROUND", (0, 0), (-1, 0), NAVY),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("GRID", (0, 1), (-1, -1), 0.5, RULE),
        ("TOPPADDING", (0, 0), (-1, -1), CELL_PADDING),
        ("BOTTOMPADDING", (0, 0), (-1, -1), CELL_PADDING),
        ("LEFTPADDING", (0, 0), (-1, -1), CELL_PADDING),
        ("RIGHTPADDING", (0, 0), (-1, -1), CELL_PADDING),
    ]
    style += [("BACKGROUND", (0, row), (2, row), STRIPE) for row in range(2, len(rows), 2)]
    return LongTable(
        rows,
        colWidths=[number_width, rest * 0.3, rest * 0.36, rest * 0.34],
        rowHeights=[None] + [ROW_HEIGHT] * (len(rows) - 1),
        repeatRows=1,
        style=TableStyle(style),
    )


def sheet_page(canvas: Canvas, document: SimpleDocTemplate, *, sheet: SignInSheet, face: Fonts) -> None:
    width, height = PAGE
    canvas.saveState()
    canvas.setFillColor(GREY)
    canvas.setFont(face.sans, 8.5)
    left = SIDE + FRAME_PADDING
    if document.page > 1:
        running = f"Sign-in sheet: {sheet.course_title}, {sheet.when}"
        room = width - 2 * left
        while pdfmetrics.stringWidth(running, face.sans, 8.5) > room:
            running = running[:-2] + "…"
        canvas.drawString(left, height - TOP + 8 * mm, running)
    canvas.drawString(left, BOTTOM - 10 * mm, sheet.partnership_name)
    canvas.restoreState()
