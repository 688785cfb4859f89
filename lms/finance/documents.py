"""Invoices and credit notes as PDF, and invoice lines as CSV.

Pure rendering: plain frozen dataclasses in, bytes or text out. Nothing here reads the database
or Flask state or writes anything, so an issued invoice can be rendered again, byte for byte,
from the amounts copied onto it when it was issued; its totals are printed as they were stored,
never worked out again from the lines. Fonts, colours and the "Page N of M" canvas
are the certificates' (lms.evaluations.pdf), so names such as Łukasz print on every document.
"""

from __future__ import annotations

import csv
import functools
import io
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from reportlab.lib import colors
from reportlab.lib.enums import TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    HRFlowable,
    KeepTogether,
    LongTable,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from lms.core.formatting import (
    format_money,
    format_period,
    format_plain_date,
    format_pounds_plain,
    format_rate,
    spreadsheet_safe,
)
from lms.evaluations.pdf import (
    BOTTOM,
    GREY,
    INK,
    LANGUAGE,
    NAVY,
    RULE,
    SIDE,
    STRIPE,
    TOP,
    Fonts,
    NumberedCanvas,
    fonts,
    logo_image,
    text,
)
from lms.finance.vat import vat_on

INVOICE = "Invoice"
CREDIT_NOTE = "Credit note"
KINDS = (INVOICE, CREDIT_NOTE)


@dataclass(frozen=True)
class Party:
    """The partnership (seller) or the agency billed."""

    name: str
    address: str  # multi-line
    contact: str | None = None
    email: str | None = None
    logo: bytes | None = None  # the partnership's PNG or JPEG logo (BRAND_LOGO), above its name


@dataclass(frozen=True)
class DocumentLine:
    delegate_name: str
    course_title: str
    session_date: date
    reason: str  # "No-show" / "Late cancellation"
    amount_pence: int


@dataclass(frozen=True)
class InvoiceDocument:
    kind: str  # "Invoice" or "Credit note"
    number: str  # "INV-2026-0007" / "CN-2026-0002"
    issued_on: date
    due_on: date | None  # None for credit notes
    seller: Party
    buyer: Party
    purchase_order: str | None  # purchase order or cost code
    period: tuple[date, date] | None
    lines: list[DocumentLine]
    vat_rate_percent: int  # 0: no VAT, and no VAT line
    how_to_pay: str  # multi-line: bank details, the reference to quote
    refers_to: str | None = None  # a credit note: the invoice it corrects
    note: str | None = None  # a credit note: why it was issued
    # The totals stored on the issued invoice or credit note, printed as they are. Left out only
    # for a document that was never issued (a preview), whose totals are worked out from its lines.
    net_pence: int | None = None
    vat_pence: int | None = None
    total_pence: int | None = None

    @property
    def is_credit(self) -> bool:
        return self.kind == CREDIT_NOTE

    @property
    def amounts(self) -> tuple[int, int, int]:
        """(net, VAT, total) in pence as printed: the stored totals when the document has them."""
        stored = (self.net_pence, self.vat_pence, self.total_pence)
        if all(amount is None for amount in stored):
            return totals(self.lines, self.vat_rate_percent)
        return stored


# Money and dates -----------------------------------------------------------------------------


def totals(lines: list[DocumentLine], vat_rate_percent: int) -> tuple[int, int, int]:
    """(net, VAT, gross) in pence worked out from lines, with VAT as issuing works it out (vat_on)."""
    net = sum(line.amount_pence for line in lines)
    vat = vat_on(net, vat_rate_percent)
    return net, vat, net + vat


def multiline(value: str) -> str:
    """Typed lines (an address, bank details) as Paragraph markup, each line kept."""
    return "<br/>".join(text(line.strip()) for line in value.strip().splitlines())


# PDF -----------------------------------------------------------------------------------------

PAGE = A4
FRAME_PADDING = 6  # SimpleDocTemplate's frame keeps this inside each margin
COLUMNS = (
    # Wide enough that "30 September 2026", "Late cancellation" and "£1,000.00" never wrap.
    ("Delegate", 0.21),
    ("Course", 0.32),
    ("Session date", 0.19),
    ("Reason", 0.17),
    ("Amount", 0.11),
)


@dataclass(frozen=True)
class Styles:
    seller: ParagraphStyle
    small: ParagraphStyle
    kind: ParagraphStyle
    number: ParagraphStyle
    label: ParagraphStyle
    value: ParagraphStyle
    value_bold: ParagraphStyle
    heading: ParagraphStyle
    body: ParagraphStyle
    notice: ParagraphStyle
    head: ParagraphStyle
    head_right: ParagraphStyle
    cell: ParagraphStyle
    cell_right: ParagraphStyle
    total: ParagraphStyle
    total_bold: ParagraphStyle


@functools.cache
def styles(face: Fonts) -> Styles:
    small = ParagraphStyle("small", fontName=face.sans, fontSize=9, leading=12, textColor=GREY)
    label = ParagraphStyle("label", parent=small, fontSize=9, leading=12)
    value = ParagraphStyle("value", parent=small, textColor=INK)
    head = ParagraphStyle("head", fontName=face.sans_bold, fontSize=8.5, leading=10.5, textColor=colors.white)
    cell = ParagraphStyle("cell", fontName=face.sans, fontSize=8.5, leading=10.5, textColor=INK)
    total = ParagraphStyle(
        "total", fontName=face.sans, fontSize=10, leading=13, textColor=INK, alignment=TA_RIGHT
    )
    return Styles(
        seller=ParagraphStyle(
            "seller", fontName=face.sans_bold, fontSize=13, leading=16, textColor=NAVY, spaceAfter=3
        ),
        small=small,
        kind=ParagraphStyle(
            "kind", fontName=face.serif_bold, fontSize=26, leading=30, textColor=NAVY, alignment=TA_RIGHT
        ),
        number=ParagraphStyle(
            "number", fontName=face.sans_bold, fontSize=13, leading=16, textColor=INK, alignment=TA_RIGHT
        ),
        label=label,
        value=value,
        value_bold=ParagraphStyle("value_bold", parent=value, fontName=face.sans_bold),
        heading=ParagraphStyle(
            "heading", fontName=face.sans_bold, fontSize=10.5, leading=13, textColor=NAVY, spaceAfter=3
        ),
        body=ParagraphStyle("body", fontName=face.sans, fontSize=9.5, leading=12.5, textColor=INK),
        notice=ParagraphStyle(
            "notice", fontName=face.sans_bold, fontSize=10, leading=13.5, textColor=NAVY, splitLongWords=True
        ),
        head=head,
        head_right=ParagraphStyle("head_right", parent=head, alignment=TA_RIGHT),
        cell=ParagraphStyle("cell_wrapping", parent=cell, splitLongWords=True),
        cell_right=ParagraphStyle("cell_right", parent=cell, alignment=TA_RIGHT),
        total=total,
        total_bold=ParagraphStyle(
            "total_bold", parent=total, fontName=face.sans_bold, fontSize=11, leading=14
        ),
    )


def render_invoice(doc: InvoiceDocument) -> bytes:
    """A4 portrait, as many pages as the lines need, the table's header row on each."""
    check(doc)
    face = fonts()
    buffer = io.BytesIO()
    document = SimpleDocTemplate(
        buffer,
        pagesize=PAGE,
        leftMargin=SIDE,
        rightMargin=SIDE,
        topMargin=TOP,
        bottomMargin=BOTTOM,
        title=f"{doc.kind} {doc.number}",
        author=doc.seller.name,
        subject=f"{doc.kind} {doc.number} to {doc.buyer.name}",
        creator=doc.seller.name,
        lang=LANGUAGE,
        displayDocTitle=True,
        invariant=1,
    )
    decorate = functools.partial(decorate_page, doc=doc, face=face)
    document.build(
        invoice_story(doc, styles(face), document.width - 2 * FRAME_PADDING),
        onFirstPage=decorate,
        onLaterPages=decorate,
        canvasmaker=functools.partial(NumberedCanvas, page_number_font=face.sans),
    )
    return buffer.getvalue()


def check(doc: InvoiceDocument) -> None:
    # Credit notes carry positive amounts too: the heading, not the sign, says it is a credit.
    if doc.kind not in KINDS:
        raise ValueError(f"A document is an {INVOICE!r} or a {CREDIT_NOTE!r}, not {doc.kind!r}")
    if any(line.amount_pence < 0 for line in doc.lines):
        raise ValueError("Line amounts are positive pence; a credit note says it is a credit")
    if doc.vat_rate_percent < 0:
        raise ValueError("The VAT rate cannot be negative")
    stored = (doc.net_pence, doc.vat_pence, doc.total_pence)
    if any(amount is None for amount in stored) and any(amount is not None for amount in stored):
        raise ValueError("Give all three stored totals (net, VAT and total) or none of them")
    net, vat, total = doc.amounts
    if net + vat != total:
        raise ValueError(f"The total {total} is not the net {net} plus the VAT {vat}")


def invoice_story(doc: InvoiceDocument, s: Styles, width: float) -> list:
    story = [
        header(doc, s, width),
        HRFlowable(width="100%", thickness=1.2, color=NAVY, spaceBefore=8, spaceAfter=10),
    ]
    if doc.is_credit:
        story += [credit_notice(doc, s, width), Spacer(1, 10)]
    story += [
        parties(doc, s, width),
        Spacer(1, 14),
        lines_table(doc, s, width),
        Spacer(1, 8),
        totals_table(doc, s, width),
    ]
    if doc.note:
        heading = "Reason for this credit" if doc.is_credit else "Note"
        story.append(block(heading, multiline(doc.note), s))
    if doc.how_to_pay.strip():
        heading = "Payment" if doc.is_credit else "How to pay"
        story.append(block(heading, multiline(doc.how_to_pay), s))
    return story


def header(doc: InvoiceDocument, s: Styles, width: float) -> Table:
    logo = doc.seller.logo
    seller = [logo_image(logo, width * 0.4, 18 * mm, "LEFT"), Spacer(1, 6)] if logo else []
    seller += [Paragraph(text(doc.seller.name), s.seller), Paragraph(multiline(doc.seller.address), s.small)]
    seller += [Paragraph(text(extra), s.small) for extra in (doc.seller.contact, doc.seller.email) if extra]
    kind = [Paragraph(text(doc.kind), s.kind), Paragraph(text(doc.number), s.number)]
    return Table(
        [[seller, kind]],
        colWidths=(width * 0.58, width * 0.42),
        style=[
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ("LEFTPADDING", (0, 0), (-1, -1), 0),
            ("RIGHTPADDING", (0, 0), (-1, -1), 0),
            ("TOPPADDING", (0, 0), (-1, -1), 0),
        ],
    )


def credit_notice(doc: InvoiceDocument, s: Styles, width: float) -> Table:
    _, _, gross = doc.amounts
    against = f" against invoice {text(doc.refers_to)}" if doc.refers_to else ""
    sentence = (
        f"This is a credit note, not a bill. It credits {format_money(gross)} to "
        f"{text(doc.buyer.name)}{against}. There is nothing to pay."
    )
    return Table(
        [[Paragraph(sentence, s.notice)]],
        colWidths=(width,),
        style=[
            ("BOX", (0, 0), (-1, -1), 1, NAVY),
            ("BACKGROUND", (0, 0), (-1, -1), STRIPE),
            ("TOPPADDING", (0, 0), (-1, -1), 7),
            ("BOTTOMPADDING", (0, 0), (-1, -1), 7),
            ("LEFTPADDING", (0, 0), (-1, -1), 8),
            ("RIGHTPADDING", (0, 0), (-1, -1), 8),
        ],
    )


def parties(doc: InvoiceDocument, s: Styles, width: float) -> Table:
    buyer = doc.buyer
    bill_to = [Paragraph("Bill to", s.heading)]
    if buyer.contact:
        bill_to.append(Paragraph(text(buyer.contact), s.value))
    bill_to += [Paragraph(text(buyer.name), s.value_bold), Paragraph(multiline(buyer.address), s.value)]
    if buyer.email:
        bill_to.append(Paragraph(text(buyer.email), s.value))

    details = [(f"{doc.kind} number", doc.number), ("Issue date", format_plain_date(doc.issued_on))]
    if doc.due_on is not None:
        details.append(("Due date", format_plain_date(doc.due_on)))
    if doc.refers_to:
        details.append(("Credits invoice", doc.refers_to))
    details.append(("Purchase order / cost code", doc.purchase_order or "None given"))
    if doc.period is not None:
        details.append(("Period", format_period(*doc.period)))
    facts = Table(
        [[Paragraph(name, s.label), Paragraph(text(shown), s.value_bold)] for name, shown in details],
        colWidths=(width * 0.26, width * 0.30),
        style=[
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ("LEFTPADDING", (0, 0), (-1, -1), 0),
            ("RIGHTPADDING", (0, 0), (-1, -1), 4),
            ("TOPPADDING", (0, 0), (-1, -1), 1),
            ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
        ],
    )
    return Table(
        [[bill_to, facts]],
        colWidths=(width * 0.44, width * 0.56),
        style=[
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ("LEFTPADDING", (0, 0), (-1, -1), 0),
            ("RIGHTPADDING", (0, 0), (0, -1), 12),
            ("RIGHTPADDING", (1, 0), (1, -1), 0),
        ],
    )


def lines_table(doc: InvoiceDocument, s: Styles, width: float) -> LongTable:
    amount_title = "Credit" if doc.is_credit else "Amount"
    rows = [[Paragraph(title, s.head) for title, _ in COLUMNS[:-1]] + [Paragraph(amount_title, s.head_right)]]
    for line in doc.lines:
        rows.append(
            [
                Paragraph(text(line.delegate_name), s.cell),
                Paragraph(text(line.course_title), s.cell),
                Paragraph(format_plain_date(line.session_date), s.cell),
                Paragraph(text(line.reason), s.cell),
                Paragraph(format_money(line.amount_pence), s.cell_right),
            ]
        )
    if not doc.lines:
        rows.append([Paragraph("No charges.", s.cell), "", "", "", ""])
    style = [
        ("BACKGROUND", (0, 0), (-1, 0), NAVY),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LINEBELOW", (0, 1), (-1, -1), 0.5, RULE),
        ("TOPPADDING", (0, 0), (-1, -1), 4),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 4),
        ("LEFTPADDING", (0, 0), (-1, -1), 4),
        ("RIGHTPADDING", (0, 0), (-1, -1), 4),
    ]
    style += [("BACKGROUND", (0, row), (-1, row), STRIPE) for row in range(2, len(rows), 2)]
    return LongTable(
        rows,
        colWidths=[width * share for _, share in COLUMNS],
        repeatRows=1,
        style=TableStyle(style),
    )


def totals_table(doc: InvoiceDocument, s: Styles, width: float) -> KeepTogether:
    net, vat, gross = doc.amounts
    rows = [("Net amount", net, s.total)]
    if doc.vat_rate_percent > 0 or vat:
        rows.append((f"VAT at {format_rate(doc.vat_rate_percent)}", vat, s.total))
    rows.append(("Total credit" if doc.is_credit else "Total due", gross, s.total_bold))
    table = Table(
        [[Paragraph(name, style), Paragraph(format_money(pence), style)] for name, pence, style in rows],
        colWidths=(width * 0.25, width * 0.15),
        hAlign="RIGHT",
        style=[
            ("LINEABOVE", (0, -1), (-1, -1), 1, NAVY),
            ("TOPPADDING", (0, 0), (-1, -1), 2),
            ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
            ("LEFTPADDING", (0, 0), (-1, -1), 4),
            ("RIGHTPADDING", (0, 0), (-1, -1), 4),
        ],
    )
    return KeepTogether([table])


def block(heading: str, markup: str, s: Styles) -> KeepTogether:
    return KeepTogether([Spacer(1, 14), Paragraph(heading, s.heading), Paragraph(markup, s.body)])


def decorate_page(canvas: Canvas, document: SimpleDocTemplate, *, doc: InvoiceDocument, face: Fonts) -> None:
    width, height = PAGE
    canvas.saveState()
    canvas.setFillColor(GREY)
    canvas.setFont(face.sans, 8.5)
    if document.page > 1:
        canvas.drawString(SIDE, height - TOP + 8 * mm, f"{doc.kind} {doc.number} (continued)")
        canvas.drawRightString(width - SIDE, height - TOP + 8 * mm, doc.seller.name)
    canvas.drawString(SIDE, BOTTOM - 10 * mm, f"{doc.kind} {doc.number} · {doc.seller.name}")
    canvas.restoreState()


# CSV -----------------------------------------------------------------------------------------

CSV_COLUMNS = (
    "invoice_number",
    "kind",
    "issued_on",
    "due_on",
    "agency",
    "purchase_order",
    "delegate_name",
    "course_title",
    "session_date",
    "reason",
    "amount",
    "amount_pence",
)
TEXT_COLUMNS = (
    "invoice_number",
    "kind",
    "agency",
    "purchase_order",
    "delegate_name",
    "course_title",
    "reason",
)
DATE_COLUMNS = ("issued_on", "due_on", "session_date")


def invoices_csv(rows: list[dict]) -> str:
    """Invoice and credit note lines, one a row; credit note amounts are negative."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS)
    writer.writeheader()
    for row in rows:
        writer.writerow(csv_row(row))
    return buffer.getvalue()


def invoices_xlsx(rows: list[dict]) -> bytes:
    """The same lines as a spreadsheet: dates as dates and amounts as numbers, in the CSV's columns."""
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.title = "Invoices and credit notes"
    sheet.append(list(CSV_COLUMNS))
    for row in rows:
        out = csv_row(row)
        pence = int(out["amount_pence"])
        cells = {name: row[name] for name in DATE_COLUMNS}
        cells |= {"amount": Decimal(pence) / 100, "amount_pence": pence}
        sheet.append([cells.get(name, out[name]) for name in CSV_COLUMNS])
        sheet.cell(row=sheet.max_row, column=CSV_COLUMNS.index("amount") + 1).number_format = "#,##0.00"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def csv_row(row: dict) -> dict:
    # Whichever sign the caller used, a credit note's amount takes money off the agency's bill.
    pence = int(row["amount_pence"])
    if is_credit_kind(row["kind"]):
        pence = -abs(pence)
    out = {name: safe_cell(row[name]) for name in TEXT_COLUMNS}
    out |= {name: row[name].isoformat() if row[name] is not None else "" for name in DATE_COLUMNS}
    out |= {"amount": format_pounds_plain(pence), "amount_pence": str(pence)}
    return out


def is_credit_kind(kind: str) -> bool:
    return str(kind).strip().lower().replace("_", " ") == CREDIT_NOTE.lower()


def safe_cell(value: object) -> str:
    """Text typed by a person, defused so a spreadsheet shows it rather than running it."""
    return "" if value is None else spreadsheet_safe(str(value))
