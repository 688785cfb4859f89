"""Invoices and credit notes read back from the PDF, totals checked, and the CSV for the finance system."""

from __future__ import annotations

import csv
import io
import subprocess
from datetime import date
from pathlib import Path

import pytest
from pypdf import PdfReader

from lms.finance.documents import DocumentLine, InvoiceDocument, Party, invoices_csv, render_invoice, totals

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
SELLER = Party(
    "City Safeguarding Children Partnership",
    "Council House\nVictoria Square\nBirmingham B1 1BB",
    email="training@example.org",
)
BUYER = Party(
    "West Midlands Police",
    "Lloyd House\nColmore Circus\nBirmingham B4 6NQ",
    contact="Accounts Payable",
    email="ap@wmp.example",
)


def document(lines, *, kind="Invoice", vat=0, **overrides) -> InvoiceDocument:
    values = dict(
        kind=kind,
        number="INV2627-0007" if kind == "Invoice" else "CN2627-0002",
        issued_on=date(2026, 7, 1),
        due_on=date(2026, 7, 31) if kind == "Invoice" else None,
        seller=SELLER,
        buyer=BUYER,
        purchase_order="PO-4471",
        period=(date(2026, 4, 1), date(2026, 6, 30)),
        lines=lines,
        vat_rate_percent=vat,
        how_to_pay="Pay by BACS quoting INV2627-0007.",
    )
    values.update(overrides)
    return InvoiceDocument(**values)


def lines(n: int) -> list[DocumentLine]:
    return [
        DocumentLine(
            f"Delegate {i:03d}",
            f"Course {i % 7}",
            date(2026, 4, 1 + i % 28),
            "No-show" if i % 3 else "Late cancellation",
            5000 if i % 4 == 0 else 2500,
        )
        for i in range(n)
    ]


def text_of(pdf: bytes) -> list[str]:
    return [page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages]


def test_an_invoice_shows_every_line_and_the_total():
    items = lines(5)
    text = " ".join(text_of(render_invoice(document(items))))
    for expected in (
        "INV2627-0007",
        "West Midlands Police",
        "Accounts Payable",
        "Lloyd House",
        "PO-4471",
        "City Safeguarding Children Partnership",
        "31 July 2026",
        "Pay by BACS",
    ):
        assert expected in text, expected
    flat = "".join(text.split())
    for item in items:
        assert item.delegate_name in text and "".join(item.reason.split()) in flat
        assert f"£{item.amount_pence / 100:.2f}" in text
    net, vat, gross = totals(items, 0)
    assert (net, vat, gross) == (17500, 0, 17500)
    assert "£175.00" in text and "VAT" not in text


def test_vat_is_added_only_when_configured_and_rounded_half_up():
    assert totals([DocumentLine("A", "B", date(2026, 4, 1), "No-show", 2503)], 20) == (2503, 501, 3004)
    text = " ".join(text_of(render_invoice(document(lines(2), vat=20))))
    assert "VAT at 20%" in text and "£15.00" in text and "£90.00" in text  # 75.00 net + 15.00 VAT


def test_a_long_invoice_repeats_its_header_and_totals_at_the_end(tmp_path):
    items = lines(120)
    pages = text_of(render_invoice(document(items)))
    assert len(pages) > 2
    assert all("Delegate" in page and "Amount" in page for page in pages)
    assert f"Page 1 of {len(pages)}" in pages[0]
    text = " ".join(pages)
    assert all(item.delegate_name in text for item in items)
    assert f"£{sum(i.amount_pence for i in items) / 100:,.2f}" in pages[-1]


def test_a_credit_note_says_which_invoice_it_corrects(tmp_path):
    pdf = render_invoice(
        document(lines(1), kind="Credit note", refers_to="INV2627-0007", note="Delegate attended")
    )
    text = " ".join(text_of(pdf))
    assert "Credit note" in text and "CN2627-0002" in text and "INV2627-0007" in text
    source = tmp_path / "credit.pdf"
    source.write_bytes(pdf)
    ARTIFACTS.mkdir(exist_ok=True)
    subprocess.run(
        [
            "pdftoppm",
            "-r",
            "90",
            "-png",
            "-singlefile",
            "-f",
            "1",
            "-l",
            "1",
            str(source),
            str(ARTIFACTS / "credit-note"),
        ],
        check=True,
    )


def test_a_long_title_and_any_name_are_printed_whole(tmp_path):
    title = (
        "Domestic Abuse Module 2: Advanced Domestic Violence & Abuse training - Knowing how to validate "
        "victims and children's disclosures (on completion of Module 1)"
    )
    items = [DocumentLine("Łukasz Wójcik", title, date(2026, 5, 14), "No-show", 5000)]
    pdf = render_invoice(document(items))
    text = "".join(" ".join(text_of(pdf)).split())
    assert "ŁukaszWójcik" in text and "(oncompletionofModule1)" in text
    source = tmp_path / "invoice.pdf"
    source.write_bytes(pdf)
    ARTIFACTS.mkdir(exist_ok=True)
    subprocess.run(
        [
            "pdftoppm",
            "-r",
            "90",
            "-png",
            "-singlefile",
            "-f",
            "1",
            "-l",
            "1",
            str(source),
            str(ARTIFACTS / "invoice"),
        ],
        check=True,
    )
    assert (ARTIFACTS / "invoice.png").stat().st_size > 0


def test_the_csv_round_trips_and_cannot_run_formulas():
    rows = [
        dict(
            invoice_number="INV2627-0007",
            kind="Invoice",
            issued_on=date(2026, 7, 1),
            due_on=date(2026, 7, 31),
            agency="West Midlands Police",
            purchase_order='=HYPERLINK("x")',
            delegate_name="@Sam",
            course_title="Online Safety",
            session_date=date(2026, 5, 14),
            reason="No-show",
            amount_pence=2500,
        ),
        dict(
            invoice_number="CN2627-0002",
            kind="Credit note",
            issued_on=date(2026, 7, 2),
            due_on=None,
            agency="West Midlands Police",
            purchase_order="PO-1",
            delegate_name="Jo",
            course_title="Online Safety",
            session_date=date(2026, 5, 14),
            reason="No-show",
            amount_pence=2500,
        ),
    ]
    parsed = list(csv.DictReader(io.StringIO(invoices_csv(rows))))
    assert parsed[0]["purchase_order"] == '\'=HYPERLINK("x")' and parsed[0]["delegate_name"] == "'@Sam"
    assert (parsed[0]["amount"], parsed[0]["amount_pence"]) == ("25.00", "2500")
    assert (parsed[1]["amount"], parsed[1]["amount_pence"], parsed[1]["due_on"]) == ("-25.00", "-2500", "")
    assert parsed[0]["session_date"] == "2026-05-14"


def test_an_invoice_prints_its_stored_totals_even_if_the_lines_would_sum_differently():
    items = lines(2)  # £50.00 and £25.00: £75.00 net, £15.00 VAT, £90.00 if worked out again
    stored = document(items, vat=20, net_pence=7000, vat_pence=1400, total_pence=8400)
    text = "".join(" ".join(text_of(render_invoice(stored))).split())
    assert "Netamount£70.00" in text and "VATat20%£14.00" in text and "Totaldue£84.00" in text
    assert "£75.00" not in text and "£90.00" not in text


def test_a_credit_note_credits_its_stored_total():
    note = document(
        lines(1),
        kind="Credit note",
        refers_to="INV2627-0007",
        net_pence=4000,
        vat_pence=0,
        total_pence=4000,
    )
    text = " ".join(" ".join(text_of(render_invoice(note))).split())
    assert "It credits £40.00 to West Midlands Police" in text and "Total credit £40.00" in text


def test_stored_totals_must_be_complete_and_add_up():
    with pytest.raises(ValueError, match="all three"):
        render_invoice(document(lines(1), net_pence=5000))
    with pytest.raises(ValueError, match="not the net"):
        render_invoice(document(lines(1), net_pence=5000, vat_pence=0, total_pence=5001))
