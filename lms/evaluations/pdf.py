"""Certificates and training-record transcripts as PDF.

Pure rendering: plain dataclasses in, bytes out. It reads no database, no Flask state and
writes nothing, so a certificate can be re-rendered from what was recorded when it was issued.
The same input always gives the same bytes (ReportLab's invariant mode fixes the dates and ids).
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from datetime import date
from io import BytesIO
from pathlib import Path
from xml.sax.saxutils import escape

from reportlab.graphics import renderPDF
from reportlab.graphics.barcode.qr import QrCodeWidget
from reportlab.graphics.shapes import Drawing
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER, TA_LEFT, TA_RIGHT
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.lib.utils import simpleSplit
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    HRFlowable,
    KeepInFrame,
    LongTable,
    Paragraph,
    SimpleDocTemplate,
    Table,
    TableStyle,
)

from lms.core.formatting import (
    format_compact_date,
    format_hours,
    format_hours_number,
    format_long_date,
    plural,
)

log = logging.getLogger(__name__)

LANGUAGE = "en-GB"

# Dark enough on white for WCAG AAA body text (navy about 11:1, grey about 8:1).
NAVY = colors.HexColor("#1F3A5F")
INK = colors.HexColor("#1A1A1A")
GREY = colors.HexColor("#4A4A4A")
RULE = colors.HexColor("#C5CCD6")
STRIPE = colors.HexColor("#F1F4F8")


@dataclass(frozen=True)
class CertificateData:
    number: str
    delegate_name: str
    course_title: str
    session_date: date  # the London date the session took place
    cpd_hours: float
    provider: str
    partnership_name: str
    verify_url: str
    issued_on: date


@dataclass(frozen=True)
class TranscriptLine:
    course_title: str
    session_date: date
    cpd_hours: float
    attendance: str
    evaluation: str
    certificate_number: str | None


@dataclass(frozen=True)
class TranscriptData:
    delegate_name: str
    organisation: str
    partnership_name: str
    generated_on: date
    lines: list[TranscriptLine]


# Wording -------------------------------------------------------------------------------------


def cpd_hours_text(hours: float) -> str:
    """3 CPD hours, 2.5 CPD hours, 1 CPD hour."""
    return format_hours(round(float(hours) * 60), unit="CPD hour")


# Fonts ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fonts:
    sans: str
    sans_bold: str
    serif_bold: str
    unicode: bool  # False: the standard PDF fonts, which only cover Latin-1


STANDARD_FONTS = Fonts(sans="Helvetica", sans_bold="Helvetica-Bold", serif_bold="Times-Bold", unicode=False)

# Debian and Ubuntu: fonts-dejavu-core. The other paths are where other systems put DejaVu.
FONT_DIRS = (
    Path("/usr/share/fonts/truetype/dejavu"),
    Path("/usr/share/fonts/dejavu"),
    Path("/usr/share/fonts/TTF"),
    Path("/usr/local/share/fonts"),
)
DEJAVU = {
    "LmsSans": "DejaVuSans.ttf",
    "LmsSans-Bold": "DejaVuSans-Bold.ttf",
    "LmsSerif-Bold": "DejaVuSerif-Bold.ttf",
}


@functools.cache
def fonts() -> Fonts:
    """DejaVu when it is installed, for names such as Łukasz; otherwise Helvetica and Times."""
    found = {}
    for name, filename in DEJAVU.items():
        path = next((d / filename for d in FONT_DIRS if (d / filename).is_file()), None)
        if path is None:
            log.warning("%s not found; certificates fall back to Helvetica (Latin-1 only)", filename)
            return STANDARD_FONTS
        found[name] = path
    for name, path in found.items():
        if name not in pdfmetrics.getRegisteredFontNames():
            pdfmetrics.registerFont(TTFont(name, str(path)))
    return Fonts(sans="LmsSans", sans_bold="LmsSans-Bold", serif_bold="LmsSerif-Bold", unicode=True)


def text(value: str) -> str:
    """Plain text for a Paragraph, which reads markup: "Violence & Abuse" must stay as typed."""
    return escape(value)


# Certificate ---------------------------------------------------------------------------------

CERTIFICATE_PAGE = landscape(A4)
MARGIN = 60  # inside the double border
QR_SIZE = 108  # points: about 38 mm, comfortably scanned from paper or a screen
BOTTOM_BAND = 132  # the number, the issuer, the verification link and the QR code


def render_certificate(data: CertificateData) -> bytes:
    """One landscape A4 page, however long the name or the course title."""
    face = fonts()
    buffer = BytesIO()
    canvas = Canvas(buffer, pagesize=CERTIFICATE_PAGE, invariant=1, lang=LANGUAGE)
    canvas.setTitle(f"Certificate: {data.course_title}")
    canvas.setAuthor(data.partnership_name)
    canvas.setSubject(data.number)
    canvas.setCreator(data.partnership_name)
    canvas.setViewerPreference("DisplayDocTitle", "true")

    width, height = CERTIFICATE_PAGE
    draw_border(canvas, width, height)
    inner_width = width - 2 * MARGIN
    main_bottom = MARGIN + BOTTOM_BAND + 12
    place(
        canvas,
        certificate_body(data, face, inner_width),
        MARGIN,
        main_bottom,
        inner_width,
        height - MARGIN - main_bottom,
        middle=True,
    )
    qr_x = width - MARGIN - QR_SIZE
    draw_qr(canvas, data.verify_url, qr_x, MARGIN + 14, QR_SIZE)
    canvas.setFont(face.sans, 8.5)
    canvas.setFillColor(GREY)
    canvas.drawCentredString(qr_x + QR_SIZE / 2, MARGIN + 2, "Scan to check")
    footer_width = qr_x - MARGIN - 24
    place(canvas, certificate_footer(data, face, footer_width), MARGIN, MARGIN, footer_width, BOTTOM_BAND)

    canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def draw_border(canvas: Canvas, width: float, height: float) -> None:
    canvas.saveState()
    canvas.setStrokeColor(NAVY)
    canvas.setLineWidth(2.5)
    canvas.rect(24, 24, width - 48, height - 48)
    canvas.setLineWidth(0.75)
    canvas.rect(31, 31, width - 62, height - 62)
    canvas.restoreState()


def place(
    canvas: Canvas, story: list, x: float, y: float, width: float, height: float, *, middle: bool = False
) -> None:
    """Draw the story inside the box, shrunk if it would not fit: it can never run onto a new page."""
    block = KeepInFrame(width, height, story, mode="shrink")
    _, used = block.wrapOn(canvas, width, height)
    top = y + height - (height - used) / 2 if middle else y + height
    block.drawOn(canvas, x, top - used)


def draw_qr(canvas: Canvas, value: str, x: float, y: float, size: float) -> None:
    # barBorder is the quiet zone in modules; 4 is what the QR standard asks for.
    widget = QrCodeWidget(value, barLevel="M", barBorder=4, barWidth=size, barHeight=size)
    drawing = Drawing(size, size)
    drawing.add(widget)
    renderPDF.draw(drawing, canvas, x, y)


def fitted_size(value: str, font: str, sizes: tuple[float, ...], width: float, max_lines: int) -> float:
    """The largest size at which the text wraps into at most max_lines lines."""
    for size in sizes:
        if len(simpleSplit(value, font, size, width)) <= max_lines:
            return size
    return sizes[-1]


def certificate_body(data: CertificateData, face: Fonts, width: float) -> list:
    text_width = width - 80
    name_size = fitted_size(data.delegate_name, face.serif_bold, (32, 28, 24, 21), text_width, 1)
    title_size = fitted_size(data.course_title, face.sans_bold, (19, 17, 15, 14), text_width, 3)

    def style(name: str, font: str, size: float, colour=INK, after: float = 0) -> ParagraphStyle:
        return ParagraphStyle(
            name,
            fontName=font,
            fontSize=size,
            leading=size * 1.22,
            textColor=colour,
            alignment=TA_CENTER,
            spaceAfter=after,
            splitLongWords=True,
        )

    return [
        Paragraph(text(data.partnership_name), style("partnership", face.sans_bold, 12.5, NAVY, 16)),
        Paragraph("Certificate of attendance", style("heading", face.serif_bold, 34, NAVY, 6)),
        HRFlowable(width=140, thickness=1.2, color=NAVY, spaceBefore=2, spaceAfter=20),
        Paragraph(text(data.delegate_name), style("name", face.serif_bold, name_size, INK, 6)),
        Paragraph("attended", style("attended", face.sans, 13, GREY, 8)),
        Paragraph(text(data.course_title), style("course", face.sans_bold, title_size, INK, 12)),
        Paragraph(f"on {format_long_date(data.session_date)}", style("date", face.sans, 14, INK, 4)),
        Paragraph(text(cpd_hours_text(data.cpd_hours)), style("hours", face.sans_bold, 14, INK, 10)),
        Paragraph(f"Delivered by {text(data.provider)}", style("provider", face.sans, 12, GREY)),
    ]


def certificate_footer(data: CertificateData, face: Fonts, width: float) -> list:
    label = ParagraphStyle(
        "label", fontName=face.sans, fontSize=9, leading=12, textColor=GREY, alignment=TA_LEFT
    )
    number = ParagraphStyle(
        "number", parent=label, fontName=face.sans_bold, fontSize=14, leading=18, textColor=INK, spaceAfter=8
    )
    small = ParagraphStyle("small", parent=label, fontSize=9.5, leading=12.5, textColor=INK, spaceAfter=4)
    link = ParagraphStyle("link", parent=small, textColor=NAVY, splitLongWords=True)
    return [
        Paragraph("Certificate number", label),
        Paragraph(text(data.number), number),
        Paragraph(f"Issued by {text(data.partnership_name)} on {format_long_date(data.issued_on)}", small),
        Paragraph("Check this certificate is genuine at", label),
        Paragraph(text(data.verify_url), link),
    ]


# Transcript ----------------------------------------------------------------------------------

TRANSCRIPT_PAGE = A4
SIDE = 16 * mm
TOP = 22 * mm
BOTTOM = 20 * mm
FRAME_PADDING = 6  # SimpleDocTemplate's frame keeps 6 points inside each margin
CELL_PADDING = 4
TABLE_SIZE = 8.5
HEADINGS = ("Course", "Date", "CPD hours", "Attendance", "Evaluation", "Certificate")


def render_transcript(data: TranscriptData) -> bytes:
    """A4 portrait, as many pages as the record needs, the table's header row on each."""
    face = fonts()
    buffer = BytesIO()
    document = SimpleDocTemplate(
        buffer,
        pagesize=TRANSCRIPT_PAGE,
        leftMargin=SIDE,
        rightMargin=SIDE,
        topMargin=TOP,
        bottomMargin=BOTTOM,
        title=f"Training record: {data.delegate_name}",
        author=data.partnership_name,
        subject=f"Training record generated {format_long_date(data.generated_on)}",
        creator=data.partnership_name,
        lang=LANGUAGE,
        displayDocTitle=True,
        invariant=1,
    )
    decorate = functools.partial(transcript_page, data=data, face=face)
    document.build(
        transcript_story(data, face, document.width - 2 * FRAME_PADDING),
        onFirstPage=decorate,
        onLaterPages=decorate,
        canvasmaker=functools.partial(NumberedCanvas, page_number_font=face.sans, inset=FRAME_PADDING),
    )
    return buffer.getvalue()


def transcript_story(data: TranscriptData, face: Fonts, width: float) -> list:
    heading = ParagraphStyle(
        "heading", fontName=face.serif_bold, fontSize=24, leading=29, textColor=NAVY, spaceAfter=10
    )
    label = ParagraphStyle("label", fontName=face.sans, fontSize=10, leading=13, textColor=GREY)
    value = ParagraphStyle("value", parent=label, fontName=face.sans_bold, textColor=INK)
    body = ParagraphStyle("body", fontName=face.sans, fontSize=11, leading=14, textColor=INK, spaceBefore=6)
    total = ParagraphStyle("total", parent=body, fontName=face.sans_bold, alignment=TA_RIGHT, spaceBefore=8)

    details = Table(
        [
            [Paragraph(name, label), Paragraph(text(shown), value)]
            for name, shown in (
                ("Delegate", data.delegate_name),
                ("Organisation", data.organisation),
                ("Partnership", data.partnership_name),
                ("Generated", format_long_date(data.generated_on)),
            )
        ],
        colWidths=(32 * mm, width - 32 * mm),
        hAlign="LEFT",
        style=[("LEFTPADDING", (0, 0), (-1, -1), 0), ("VALIGN", (0, 0), (-1, -1), "TOP")],
    )
    story: list = [
        Paragraph("Training record", heading),
        details,
        HRFlowable(width="100%", thickness=0.75, color=RULE, spaceBefore=10, spaceAfter=12),
    ]
    if not data.lines:
        return [*story, Paragraph("No training recorded yet.", body)]
    total_hours = sum(round(float(line.cpd_hours), 2) for line in data.lines)
    return [
        *story,
        training_table(data.lines, face, width),
        Paragraph(
            f"Total CPD hours: {format_hours_number(total_hours)} ({plural(len(data.lines), 'session')})",
            total,
        ),
    ]


def training_table(lines: list[TranscriptLine], face: Fonts, width: float) -> LongTable:
    head = ParagraphStyle(
        "head",
        fontName=face.sans_bold,
        fontSize=TABLE_SIZE,
        leading=TABLE_SIZE * 1.25,
        textColor=colors.white,
    )
    cell = ParagraphStyle(
        "cell", fontName=face.sans, fontSize=TABLE_SIZE, leading=TABLE_SIZE * 1.25, textColor=INK
    )
    number = ParagraphStyle("number", parent=cell, alignment=TA_RIGHT)
    head_number = ParagraphStyle("head_number", parent=head, alignment=TA_RIGHT)

    rows = [[Paragraph(title, head_number if title == "CPD hours" else head) for title in HEADINGS]]
    for line in lines:
        rows.append(
            [
                Paragraph(text(line.course_title), cell),
                Paragraph(format_compact_date(line.session_date), cell),
                Paragraph(format_hours_number(line.cpd_hours), number),
                Paragraph(text(line.attendance), cell),
                Paragraph(text(line.evaluation), cell),
                Paragraph(text(line.certificate_number or "Not issued"), cell),
            ]
        )
    style = [
        ("BACKGROUND", (0, 0), (-1, 0), NAVY),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LINEBELOW", (0, 1), (-1, -1), 0.5, RULE),
        ("TOPPADDING", (0, 0), (-1, -1), CELL_PADDING),
        ("BOTTOMPADDING", (0, 0), (-1, -1), CELL_PADDING),
        ("LEFTPADDING", (0, 0), (-1, -1), CELL_PADDING),
        ("RIGHTPADDING", (0, 0), (-1, -1), CELL_PADDING),
    ]
    style += [("BACKGROUND", (0, row), (-1, row), STRIPE) for row in range(2, len(rows), 2)]
    return LongTable(
        rows,
        colWidths=column_widths(lines, face, width),
        repeatRows=1,
        style=TableStyle(style),
    )


def column_widths(lines: list[TranscriptLine], face: Fonts, width: float) -> list[float]:
    """Dates and certificate numbers on one line each; the course title takes what is left."""

    def widest(heading: str, values: list[str]) -> float:
        needed = max(
            pdfmetrics.stringWidth(heading, face.sans_bold, TABLE_SIZE),
            *(pdfmetrics.stringWidth(value, face.sans, TABLE_SIZE) for value in values),
        )
        return needed + 2 * CELL_PADDING + 1

    date_width = widest("Date", [format_compact_date(line.session_date) for line in lines])
    certificate_width = min(
        widest("Certificate", [line.certificate_number or "Not issued" for line in lines]), width * 0.3
    )
    hours_width = 42  # "CPD hours" wraps onto two lines, the numbers are short
    attendance_width = widest("Attendance", ["Partially"])
    evaluation_width = widest("Evaluation", ["submitted"])
    course_width = width - date_width - hours_width - attendance_width - evaluation_width - certificate_width
    return [course_width, date_width, hours_width, attendance_width, evaluation_width, certificate_width]


def transcript_page(
    canvas: Canvas, document: SimpleDocTemplate, *, data: TranscriptData, face: Fonts
) -> None:
    width, height = TRANSCRIPT_PAGE
    canvas.saveState()
    canvas.setFillColor(GREY)
    canvas.setFont(face.sans, 8.5)
    left, right = SIDE + FRAME_PADDING, width - SIDE - FRAME_PADDING
    if document.page > 1:
        running = f"Training record: {data.delegate_name}"
        canvas.drawString(left, height - TOP + 8 * mm, running)
        # A long name and partnership would overlap; the name is the one that matters.
        room = right - left - pdfmetrics.stringWidth(running, face.sans, 8.5) - 24
        if pdfmetrics.stringWidth(data.partnership_name, face.sans, 8.5) <= room:
            canvas.drawRightString(right, height - TOP + 8 * mm, data.partnership_name)
    canvas.drawString(left, BOTTOM - 10 * mm, f"Generated {format_long_date(data.generated_on)}")
    canvas.restoreState()


class NumberedCanvas(Canvas):
    """Holds every page back until the end, so each can say "Page N of M"."""

    def __init__(self, *args, page_number_font: str, inset: float = 0, **kwargs):
        super().__init__(*args, **kwargs)
        self._page_number_font = page_number_font
        self._inset = inset  # how far inside the right margin the number ends
        self._pages: list[dict] = []

    def showPage(self):  # noqa: N802 - ReportLab's name
        self._pages.append(dict(self.__dict__))
        self._startPage()

    def save(self):
        total = len(self._pages)
        for number, state in enumerate(self._pages, start=1):
            self.__dict__.update(state)
            self.setFont(self._page_number_font, 8.5)
            self.setFillColor(GREY)
            self.drawRightString(
                self._pagesize[0] - SIDE - self._inset, BOTTOM - 10 * mm, f"Page {number} of {total}"
            )
            super().showPage()
        super().save()
