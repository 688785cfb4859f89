"""Certificates and training-record transcripts as PDF.

Pure rendering: plain dataclasses in, bytes out. It reads no database, no Flask state and
writes nothing, so a certificate can be re-rendered from what was recorded when it was issued.
The same input always gives the same bytes (ReportLab's invariant mode fixes the dates and ids).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from io import BytesIO
from pathlib import Path
from xml.sax.saxutils import escape

import segno
from reportlab.lib import colors
from reportlab.lib.enums import TA_RIGHT
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.lib.utils import ImageReader, simpleSplit
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    HRFlowable,
    Image,
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
    logo: bytes | None = None  # the partnership's PNG or JPEG logo (BRAND_LOGO), above its name


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


def logo_image(logo: bytes, max_width: float, max_height: float, align: str) -> Image:
    """The logo in its own proportions, as large as fits the box (a certificate's or an invoice's)."""
    width, height = ImageReader(BytesIO(logo)).getSize()
    scale = min(max_width / width, max_height / height)
    return Image(BytesIO(logo), width=width * scale, height=height * scale, hAlign=align)


# Certificate ---------------------------------------------------------------------------------
#
# Drawn straight onto the canvas rather than through a platypus story: each block of text is
# wrapped with its font's own widths, and a box whose text would not fit is scaled down as a
# whole, so a certificate is always one page. Two faces are embedded: the serif for what the
# certificate is about (the heading, the name, the course, the hours, the number), the sans for
# everything else. The QR code is one filled path.

CERTIFICATE_PAGE = landscape(A4)
MARGIN = 60  # inside the double border
QR_SIZE = 108  # points: about 38 mm, comfortably scanned from paper or a screen
QR_QUIET_ZONE = 4  # modules of white around the code, as the QR standard asks
BOTTOM_BAND = 132  # the number, the issuer, the verification link and the QR code
LOGO_HEIGHT = 20 * mm
LOGO_WIDTH = 70 * mm


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
    body_height = height - MARGIN - main_bottom
    body = certificate_body(data, face, inner_width)
    place(canvas, body, MARGIN, main_bottom, inner_width, body_height, middle=True)
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


def draw_qr(canvas: Canvas, value: str, x: float, y: float, size: float) -> None:
    """The QR code of `value` (error correction M), its quiet zone included in `size`, as one path."""
    matrix = segno.make_qr(value, error="m", boost_error=False).matrix
    count = len(matrix)
    module = size / (count + 2 * QR_QUIET_ZONE)
    left = x + QR_QUIET_ZONE * module
    top = y + size - QR_QUIET_ZONE * module
    path = canvas.beginPath()
    for row_number, row in enumerate(matrix):
        bottom = top - (row_number + 1) * module
        column = 0
        while column < count:
            if not row[column]:
                column += 1
                continue
            start = column
            while column < count and row[column]:
                column += 1
            # One rectangle for each run of dark modules in a row.
            path.rect(left + start * module, bottom, (column - start) * module, module)
    canvas.saveState()
    canvas.setFillColor(colors.black)
    canvas.drawPath(path, stroke=0, fill=1)
    canvas.restoreState()


def wrapped(value: str, font: str, size: float, width: float) -> list[str]:
    """Lines of at most `width` points, broken between words, and inside a word longer than a line."""
    lines = []
    for line in simpleSplit(value, font, size, width):
        while pdfmetrics.stringWidth(line, font, size) > width and len(line) > 1:
            cut = len(line) - 1
            while cut > 1 and pdfmetrics.stringWidth(line[:cut], font, size) > width:
                cut -= 1
            lines.append(line[:cut])
            line = line[cut:]
        lines.append(line)
    return lines


def fitted_size(value: str, font: str, sizes: tuple[float, ...], width: float, max_lines: int) -> float:
    """The largest size at which the text wraps into at most max_lines lines."""
    for size in sizes:
        if len(simpleSplit(value, font, size, width)) <= max_lines:
            return size
    return sizes[-1]


@dataclass(frozen=True)
class TextBlock:
    """Text in one font, size and colour, wrapped to the box, centred or from the left."""

    value: str
    font: str
    size: float
    colour: colors.Color = INK
    after: float = 0
    leading: float = 1.22  # times the size
    centred: bool = True

    def lay_out(self, width: float) -> tuple[float, list[str]]:
        lines = wrapped(self.value, self.font, self.size, width)
        return len(lines) * self.size * self.leading + self.after, lines

    def draw(self, canvas: Canvas, top: float, width: float, lines: list[str]) -> None:
        canvas.setFont(self.font, self.size)
        canvas.setFillColor(self.colour)
        for number, line in enumerate(lines):
            baseline = top - self.size - number * self.size * self.leading
            if self.centred:
                canvas.drawCentredString(width / 2, baseline, line)
            else:
                canvas.drawString(0, baseline, line)


@dataclass(frozen=True)
class Rule:
    """A short centred line under the heading."""

    length: float
    thickness: float
    before: float
    after: float

    def lay_out(self, width: float) -> tuple[float, None]:
        return self.before + self.thickness + self.after, None

    def draw(self, canvas: Canvas, top: float, width: float, _) -> None:
        canvas.setStrokeColor(NAVY)
        canvas.setLineWidth(self.thickness)
        y = top - self.before - self.thickness / 2
        canvas.line((width - self.length) / 2, y, (width + self.length) / 2, y)


@dataclass(frozen=True)
class Logo:
    """The partnership's logo, centred, in its own proportions, as large as fits its box."""

    image: bytes
    after: float

    def lay_out(self, width: float) -> tuple[float, tuple[ImageReader, float, float]]:
        reader = ImageReader(BytesIO(self.image))
        image_width, image_height = reader.getSize()
        scale = min(LOGO_WIDTH / image_width, LOGO_HEIGHT / image_height)
        size = (image_width * scale, image_height * scale)
        return size[1] + self.after, (reader, *size)

    def draw(self, canvas: Canvas, top: float, width: float, laid) -> None:
        reader, image_width, image_height = laid
        canvas.drawImage(reader, (width - image_width) / 2, top - image_height, image_width, image_height)


def place(
    canvas: Canvas, blocks: list, x: float, y: float, width: float, height: float, *, middle: bool = False
) -> None:
    """Draw the blocks down the box, scaled down if they would not fit: never onto a new page."""
    scale = 1.0
    while True:
        laid = [block.lay_out(width / scale) for block in blocks]
        used = sum(block_height for block_height, _ in laid) * scale
        if used <= height or scale < 0.05:
            break
        # Narrower text at a smaller size wraps into fewer lines, so look again at the new scale.
        scale *= max(min(height / used, 0.97), 0.5)
    top = y + height - (height - used) / 2 if middle else y + height
    canvas.saveState()
    canvas.translate(x, top)
    canvas.scale(scale, scale)
    offset = 0.0
    for block, (block_height, content) in zip(blocks, laid, strict=True):
        block.draw(canvas, -offset, width / scale, content)
        offset += block_height
    canvas.restoreState()


def certificate_body(data: CertificateData, face: Fonts, width: float) -> list:
    text_width = width - 80
    name_size = fitted_size(data.delegate_name, face.serif_bold, (32, 28, 24, 21), text_width, 1)
    title_size = fitted_size(data.course_title, face.serif_bold, (19, 17, 15, 14), text_width, 3)
    logo = [Logo(data.logo, after=10)] if data.logo else []
    return [
        *logo,
        TextBlock(data.partnership_name, face.sans, 13, NAVY, after=16),
        TextBlock("Certificate of attendance", face.serif_bold, 34, NAVY, after=6),
        Rule(length=140, thickness=1.2, before=2, after=20),
        TextBlock(data.delegate_name, face.serif_bold, name_size, INK, after=6),
        TextBlock("attended", face.sans, 13, GREY, after=8),
        TextBlock(data.course_title, face.serif_bold, title_size, INK, after=12),
        TextBlock(f"on {format_long_date(data.session_date)}", face.sans, 14, INK, after=4),
        TextBlock(cpd_hours_text(data.cpd_hours), face.serif_bold, 14, INK, after=10),
        TextBlock(f"Delivered by {data.provider}", face.sans, 12, GREY),
    ]


def certificate_footer(data: CertificateData, face: Fonts, width: float) -> list:
    def line(value: str, font: str, size: float, colour=INK, after: float = 0, leading: float = 1.32):
        return TextBlock(value, font, size, colour, after=after, leading=leading, centred=False)

    issued = f"Issued by {data.partnership_name} on {format_long_date(data.issued_on)}"
    return [
        line("Certificate number", face.sans, 9, GREY),
        line(data.number, face.serif_bold, 14, INK, after=8, leading=18 / 14),
        line(issued, face.sans, 9.5, after=4),
        line("Check this certificate is genuine at", face.sans, 9, GREY),
        line(data.verify_url, face.sans, 9.5, NAVY),
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
    return render_portrait(
        title=f"Training record: {data.delegate_name}",
        author=data.partnership_name,
        subject=f"Training record generated {format_long_date(data.generated_on)}",
        story=functools.partial(transcript_story, data),
        decorate=functools.partial(transcript_page, data=data),
    )


def render_portrait(
    *,
    title: str,
    author: str,
    subject: str,
    story: Callable[[Fonts, float], list],
    decorate: Callable[..., None],
) -> bytes:
    """An A4 portrait document in the house style: its margins, metadata and "Page N of M".
    `story(face, width)` makes what it says; `decorate(canvas, document, face=face)` draws each page."""
    face = fonts()
    buffer = BytesIO()
    document = SimpleDocTemplate(
        buffer,
        pagesize=TRANSCRIPT_PAGE,
        leftMargin=SIDE,
        rightMargin=SIDE,
        topMargin=TOP,
        bottomMargin=BOTTOM,
        title=title,
        author=author,
        subject=subject,
        creator=author,
        lang=LANGUAGE,
        displayDocTitle=True,
        invariant=1,
    )
    on_page = functools.partial(decorate, face=face)
    document.build(
        story(face, document.width - 2 * FRAME_PADDING),
        onFirstPage=on_page,
        onLaterPages=on_page,
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
