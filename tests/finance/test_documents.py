"""Invoice and credit note PDFs and the invoice CSV, read back as a finance officer would."""

from __future__ import annotations

import csv
import dataclasses
import io
import re
import shutil
import subprocess
from datetime import date, timedelta
from pathlib import Path

import pytest
from pypdf import PdfReader
from reportlab.pdfbase.pdfmetrics import stringWidth

from lms.evaluations.pdf import SIDE, fonts
from lms.finance.documents import (
    PAGE,
    DocumentLine,
    InvoiceDocument,
    Party,
    invoices_csv,
    render_invoice,
    totals,
)
from lms.finance.vat import vat_on

pytestmark = pytest.mark.no_app_db

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

PARTNERSHIP = Party(
    name="Northbridge Safeguarding Children Partnership",
    address="Learning and Development Team\nCivic Centre, 1 Market Street\nNorthbridge NB1 2AA",
    contact="Finance: Amira Khan",
    email="lscp.finance@northbridge.gov.uk",
)
AGENCY = Party(
    name="Northbridge Community Health NHS Trust",
    address="Accounts Payable\nPO Box 123\nNorthbridge NB4 9ZZ",
    contact="Jo Bloggs, Safeguarding Lead",
    email="ap@nch.nhs.uk",
)
HOW_TO_PAY = (
    "Pay by BACS to Northbridge City Council\n"
    "Sort code 12-34-56, account 12345678\n"
    "Quote the invoice number as the reference."
)
LONG_TITLE = (
    "Domestic Abuse, Stalking and Harassment Risk Identification, Assessment and Referral for "
    "Practitioners Working with Families in the Community Who Need Early Help Services"
)


def line(
    delegate: str = "Priya Shah",
    course: str = "Neglect & the Graded Care Profile 2",
    on: date = date(2026, 5, 14),
    reason: str = "No-show",
    pence: int = 2500,
) -> DocumentLine:
    return DocumentLine(delegate, course, on, reason, pence)


def invoice(**changes) -> InvoiceDocument:
    document = InvoiceDocument(
        kind="Invoice",
        number="INV-2026-0007",
        issued_on=date(2026, 6, 1),
        due_on=date(2026, 7, 1),
        seller=PARTNERSHIP,
        buyer=AGENCY,
        purchase_order="PO-88231",
        period=(date(2026, 5, 1), date(2026, 5, 31)),
        lines=[
            line("Łukasz Wójcik", "Working Together to Safeguard Children", date(2026, 5, 14)),
            line("Siobhán Ó Briain", "Child Exploitation", date(2026, 5, 20), "Late cancellation", 5000),
            line("Zoë Ng", LONG_TITLE, date(2026, 5, 27)),
        ],
        vat_rate_percent=0,
        how_to_pay=HOW_TO_PAY,
    )
    return dataclasses.replace(document, **changes)


def credit_note(**changes) -> InvoiceDocument:
    return invoice(
        kind="Credit note",
        number="CN-2026-0002",
        due_on=None,
        refers_to="INV-2026-0007",
        note="The delegate reported illness before the session.",
        lines=[line("Łukasz Wójcik", "Working Together to Safeguard Children")],
        **changes,
    )


def pages(pdf: bytes) -> list[str]:
    return [page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages]


def flat(value: str) -> str:
    """Text with line breaks and runs of spaces as single spaces: wrapping moves words about."""
    return re.sub(r"\s+", " ", value).strip()


def text_runs(pdf: bytes, page_number: int = 0) -> list[tuple[str, float, float]]:
    """Each piece of text drawn on a page with where it starts and ends (x, in points)."""
    runs = []

    def visit(text, cm, tm, font, size):
        shown = text.strip()
        if shown and font:
            name = str(font.get("/BaseFont", ""))
            if "Serif" in name or "Times" in name:
                face = fonts().serif_bold
            else:
                face = fonts().sans_bold if "Bold" in name else fonts().sans
            start = cm[4] + tm[4]
            runs.append((shown, start, start + stringWidth(shown, face, size)))

    PdfReader(io.BytesIO(pdf)).pages[page_number].extract_text(visitor_text=visit)
    return runs


# Totals --------------------------------------------------------------------------------------


def test_without_vat_the_total_is_the_sum_of_the_lines():
    assert totals([line(pence=2500), line(pence=5000)], 0) == (7500, 0, 7500)


def test_vat_at_twenty_percent_is_added_to_the_net_total():
    assert totals([line(pence=2500), line(pence=5000)], 20) == (7500, 1500, 9000)
    assert totals([line(pence=1234)], 20) == (1234, 247, 1481)  # 246.8p
    assert totals([line(pence=1231)], 20) == (1231, 246, 1477)  # 246.2p


def test_vat_is_rounded_half_up_once_on_the_net_total_not_per_line():
    assert totals([line(pence=50)], 5) == (50, 3, 53)  # 2.5p, where banker's rounding gives 2p
    assert totals([line(pence=30)], 15) == (30, 5, 35)  # 4.5p
    # Per line, three 0.4p amounts would round to nothing; on the total they make 1p.
    assert totals([line(pence=2)] * 3, 20) == (6, 1, 7)


def test_an_empty_document_totals_nothing():
    assert totals([], 20) == (0, 0, 0)


def test_a_negative_vat_rate_is_refused():
    with pytest.raises(ValueError):
        totals([line()], -1)


def test_vat_is_worked_out_by_one_function_rounding_half_up_in_whole_pence():
    assert vat_on(1234, 20) == 247  # 246.8p
    assert vat_on(1231, 20) == 246  # 246.2p
    assert vat_on(50, 5) == 3  # 2.5p: half up, not banker's 2p
    assert vat_on(0, 20) == 0
    assert vat_on(7500, 0) == 0
    assert vat_on(-50, 5) == -3  # a credit mirrors the invoice
    for rate in (5, 15, 20):
        for net in range(0, 1000, 7):
            assert totals([line(pence=net)], rate) == (net, vat_on(net, rate), net + vat_on(net, rate))


def test_a_vat_rate_is_a_whole_non_negative_percentage():
    with pytest.raises(ValueError):
        vat_on(1000, -1)
    with pytest.raises(ValueError):
        vat_on(1000, 17.5)


def test_the_document_prints_the_totals_stored_when_it_was_issued():
    # Three lines that sum to £100.00; the stored totals are what the agency was billed.
    document = invoice(vat_rate_percent=20, net_pence=9000, vat_pence=1800, total_pence=10800)
    text = flat(pages(render_invoice(document))[0])

    assert "Net amount £90.00" in text
    assert "VAT at 20% £18.00" in text
    assert "Total due £108.00" in text
    assert "£100.00" not in text and "£120.00" not in text


def test_a_credit_note_prints_its_stored_totals():
    note = credit_note(vat_rate_percent=20, net_pence=2500, vat_pence=500, total_pence=3000)
    text = flat(pages(render_invoice(note))[0])

    assert "It credits £30.00 to" in text
    assert "VAT at 20% £5.00" in text and "Total credit £30.00" in text


# Invoice PDF ---------------------------------------------------------------------------------


def test_an_invoice_shows_the_partnership_the_agency_and_every_line():
    document = invoice()
    text = flat("\n".join(pages(render_invoice(document))))

    for expected in (
        "Northbridge Safeguarding Children Partnership",
        "Civic Centre, 1 Market Street",
        "Invoice",
        "INV-2026-0007",
        "Issue date 1 June 2026",
        "Due date 1 July 2026",
        "Bill to",
        "Jo Bloggs, Safeguarding Lead",
        "Northbridge Community Health NHS Trust",
        "PO Box 123",
        "ap@nch.nhs.uk",
        "Purchase order / cost code PO-88231",
        "Period 1 May 2026 to 31 May 2026",
        "How to pay",
        "Sort code 12-34-56, account 12345678",
        "Page 1 of 1",
    ):
        assert expected in text
    for charge in document.lines:
        assert flat(charge.delegate_name) in text
        assert flat(charge.course_title) in text
        assert f"{charge.session_date.day} {charge.session_date:%B %Y}" in text
        assert charge.reason in text
    assert "£25.00" in text and "£50.00" in text
    assert "Total due £100.00" in text
    assert "Credit" not in text


def test_an_invoice_without_vat_has_no_vat_line():
    text = flat(pages(render_invoice(invoice(vat_rate_percent=0)))[0])

    assert "VAT" not in text
    assert "Net amount £100.00" in text
    assert "Total due £100.00" in text


def test_an_invoice_with_vat_shows_the_rate_and_the_rounded_amount():
    document = invoice(vat_rate_percent=20, lines=[line(pence=2500), line(pence=1234)])
    text = flat(pages(render_invoice(document))[0])

    assert "Net amount £37.34" in text
    assert "VAT at 20% £7.47" in text  # 746.8p
    assert "Total due £44.81" in text


def test_the_metadata_title_names_the_document():
    reader = PdfReader(io.BytesIO(render_invoice(invoice())))

    assert reader.metadata.title == "Invoice INV-2026-0007"
    assert reader.metadata.author == PARTNERSHIP.name


def test_the_same_invoice_renders_to_the_same_bytes():
    assert render_invoice(invoice()) == render_invoice(invoice())


def test_text_a_person_typed_is_shown_as_typed_not_read_as_markup():
    document = invoice(
        lines=[line("Sam <b>O'Neil</b>", "Violence & Abuse <Online>")],
        purchase_order="Cost code 4410 & 4411",
    )
    text = flat(pages(render_invoice(document))[0])

    assert "Sam <b>O'Neil</b>" in text
    assert "Violence & Abuse <Online>" in text
    assert "Cost code 4410 & 4411" in text


def test_without_a_purchase_order_or_period_the_invoice_says_so_and_still_renders():
    text = flat(pages(render_invoice(invoice(purchase_order=None, period=None)))[0])

    assert "Purchase order / cost code None given" in text
    assert "Period" not in text


def test_an_unknown_kind_or_a_negative_line_is_refused():
    with pytest.raises(ValueError):
        render_invoice(invoice(kind="Receipt"))
    with pytest.raises(ValueError):
        render_invoice(invoice(lines=[line(pence=-2500)]))


def test_names_outside_latin_1_are_printed_and_can_be_read_back():
    names = ["Łukasz Wójcik", "Ольга Петренко", "Αλέξανδρος Παπαδόπουλος", "Nguyễn Thị Hương"]
    document = invoice(
        lines=[line(name) for name in names],
        buyer=dataclasses.replace(AGENCY, contact="Zdzisław Żółkiewski"),
    )
    text = flat(pages(render_invoice(document))[0])

    for name in [*names, "Zdzisław Żółkiewski"]:
        assert name in text


def test_a_170_character_course_title_wraps_inside_its_column():
    title = LONG_TITLE
    assert len(title) == 170
    pdf = render_invoice(invoice(lines=[line("Zoë Ng", title)]))
    runs = text_runs(pdf)

    assert title in flat(pages(pdf)[0])
    course_left = next(start for shown, start, _ in runs if shown == "Course")
    next_column = next(start for shown, start, _ in runs if shown == "Session date")
    title_lines = [(shown, start, end) for shown, start, end in runs if shown and shown in title]
    assert len(title_lines) >= 3, "the title should wrap over several lines"
    assert " ".join(shown for shown, _, _ in title_lines) == title
    for shown, start, end in title_lines:
        assert course_left <= start and end <= next_column, f"{shown!r} spills out of its column"


def test_nothing_is_drawn_beyond_the_page_margins():
    pdf = render_invoice(invoice(vat_rate_percent=20))
    page_width = PAGE[0]

    for shown, start, end in text_runs(pdf):
        assert start >= SIDE - 0.5 and end <= page_width - SIDE + 0.5, f"{shown!r} is outside the margins"


# Many lines ----------------------------------------------------------------------------------


def test_a_long_invoice_repeats_the_table_header_and_numbers_its_pages():
    first = date(2026, 4, 1)
    lines = [
        line(
            delegate=f"Delegate {number:03d}",
            course=f"Course {number:03d}: Safeguarding Practice",
            on=first + timedelta(days=number % 60),
            reason="No-show" if number % 2 else "Late cancellation",
            pence=5000 if number % 3 == 0 else 2500,
        )
        for number in range(1, 121)
    ]
    document = invoice(lines=lines, vat_rate_percent=20)
    texts = pages(render_invoice(document))
    total_pages = len(texts)
    everything = flat("\n".join(texts))

    assert total_pages >= 3
    for number, page_text in enumerate(texts, start=1):
        shown = flat(page_text)
        assert "Delegate Course Session date Reason Amount" in shown, f"no header row on page {number}"
        assert f"Page {number} of {total_pages}" in shown
        if number > 1:
            assert "Invoice INV-2026-0007 (continued)" in shown
    for charge in lines:
        assert charge.delegate_name in everything
        assert charge.course_title in everything
    net = sum(charge.amount_pence for charge in lines)
    assert net == 40 * 5000 + 80 * 2500
    assert "Net amount £4,000.00" in everything
    assert "VAT at 20% £800.00" in everything
    assert "Total due £4,800.00" in flat(texts[-1])


# Credit note PDF -----------------------------------------------------------------------------


def test_a_credit_note_says_it_is_a_credit_and_which_invoice_it_corrects():
    texts = pages(render_invoice(credit_note()))
    text = flat("\n".join(texts))

    assert "Credit note" in text
    assert "CN-2026-0002" in text
    assert "Credits invoice INV-2026-0007" in text
    assert "This is a credit note, not a bill" in text
    assert "There is nothing to pay" in text
    assert "Due date" not in text
    assert "£25.00" in text and "-£25.00" not in text  # a positive amount under a credit heading
    assert "Total credit £25.00" in text
    assert "Total due" not in text
    assert "Reason for this credit The delegate reported illness before the session." in text
    assert PdfReader(io.BytesIO(render_invoice(credit_note()))).metadata.title == "Credit note CN-2026-0002"


# A look at page 1 ----------------------------------------------------------------------------


def test_page_one_renders_to_an_image_for_a_person_to_look_at():
    ARTIFACTS.mkdir(exist_ok=True)
    pdf_path = ARTIFACTS / "invoice.pdf"
    pdf_path.write_bytes(render_invoice(invoice(vat_rate_percent=20)))
    (ARTIFACTS / "credit-note.pdf").write_bytes(render_invoice(credit_note()))

    for name in ("invoice", "credit-note"):
        subprocess.run(
            [shutil.which("pdftoppm"), "-r", "110", "-png", "-f", "1", "-l", "1", "-singlefile"]
            + [str(ARTIFACTS / f"{name}.pdf"), str(ARTIFACTS / f"{name}-page-1")],
            check=True,
            timeout=60,
        )
        assert (ARTIFACTS / f"{name}-page-1.png").read_bytes().startswith(b"\x89PNG")


# CSV -----------------------------------------------------------------------------------------


def csv_row(**changes) -> dict:
    row = {
        "invoice_number": "INV-2026-0007",
        "kind": "Invoice",
        "issued_on": date(2026, 6, 1),
        "due_on": date(2026, 7, 1),
        "agency": "Northbridge Community Health NHS Trust",
        "purchase_order": "PO-88231",
        "delegate_name": "Łukasz Wójcik",
        "course_title": "Neglect, the Graded Care Profile 2",
        "session_date": date(2026, 5, 14),
        "reason": "No-show",
        "amount_pence": 2500,
    }
    return row | changes


def read_csv(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


def test_the_csv_round_trips_with_iso_dates_and_amounts_in_pounds_and_pence():
    rows = read_csv(invoices_csv([csv_row(), csv_row(amount_pence=123456, reason="Late cancellation")]))

    assert rows[0] == {
        "invoice_number": "INV-2026-0007",
        "kind": "Invoice",
        "issued_on": "2026-06-01",
        "due_on": "2026-07-01",
        "agency": "Northbridge Community Health NHS Trust",
        "purchase_order": "PO-88231",
        "delegate_name": "Łukasz Wójcik",
        "course_title": "Neglect, the Graded Care Profile 2",
        "session_date": "2026-05-14",
        "reason": "No-show",
        "amount": "25.00",
        "amount_pence": "2500",
    }
    assert rows[1]["amount"] == "1234.56" and rows[1]["amount_pence"] == "123456"


def test_credit_note_lines_are_negative_in_the_csv():
    rows = read_csv(
        invoices_csv(
            [
                csv_row(invoice_number="CN-2026-0002", kind="Credit note", due_on=None),
                csv_row(invoice_number="CN-2026-0003", kind="Credit note", due_on=None, amount_pence=-5000),
            ]
        )
    )

    assert [(row["amount"], row["amount_pence"]) for row in rows] == [
        ("-25.00", "-2500"),
        ("-50.00", "-5000"),
    ]
    assert rows[0]["due_on"] == ""


def test_the_csv_has_only_a_header_when_there_is_nothing_to_export():
    assert read_csv(invoices_csv([])) == []
    assert invoices_csv([]).splitlines()[0].startswith("invoice_number,kind,issued_on")


def test_cells_a_spreadsheet_would_run_as_formulas_are_defused():
    dangerous = csv_row(
        delegate_name='=HYPERLINK("http://evil.example","Click")',
        course_title="+SUM(A1:A9)",
        purchase_order="-2+3",
        agency="@cmd",
        reason="\tNo-show",
        invoice_number="\rINV-1",
    )
    row = read_csv(invoices_csv([dangerous]))[0]

    assert row["delegate_name"] == '\'=HYPERLINK("http://evil.example","Click")'
    assert row["course_title"] == "'+SUM(A1:A9)"
    assert row["purchase_order"] == "'-2+3"
    assert row["agency"] == "'@cmd"
    assert row["reason"] == "'\tNo-show"
    assert row["invoice_number"] == "'\rINV-1"


def test_the_amount_columns_are_numbers_a_spreadsheet_can_add_up():
    row = read_csv(invoices_csv([csv_row(kind="Credit note", amount_pence=2500)]))[0]

    assert row["amount"] == "-25.00" and row["amount_pence"] == "-2500"  # no apostrophe
    assert float(row["amount"]) * 100 == int(row["amount_pence"])


def test_quotes_commas_and_line_breaks_in_names_survive_the_round_trip():
    awkward = csv_row(course_title='The "Toxic Trio": parents, drugs\nand mental health')
    row = read_csv(invoices_csv([awkward]))[0]

    assert row["course_title"] == 'The "Toxic Trio": parents, drugs\nand mental health'
