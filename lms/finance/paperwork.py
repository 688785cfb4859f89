"""What an invoice's or credit note's PDF shows, and sending them to the organisation's billing email.

Shared by finance's pages, the training contact's downloads and the outbox: a message refers to
its document, and the document is rendered from these same functions when the message is sent.
"""

from __future__ import annotations

from datetime import datetime

from flask import Flask, current_app

from lms.core.branding import brand_logo
from lms.extensions import db
from lms.finance.documents import DocumentLine, InvoiceDocument, Party, render_invoice
from lms.finance.models import CreditNote, Invoice
from lms.messages.documents import document_attachment, register_document
from lms.messages.services import queue_message, queue_messages

PDF = "application/pdf"


def _seller() -> Party:
    config = current_app.config
    return Party(
        name=config["PARTNERSHIP_NAME"],
        address=config["PARTNERSHIP_ADDRESS"],
        email=config["PARTNERSHIP_EMAIL"],
        logo=brand_logo(),
    )


def _buyer(invoice: Invoice) -> Party:
    return Party(
        name=invoice.bill_to_name,
        address=invoice.bill_to_address or "",
        contact=invoice.bill_to_contact,
        email=invoice.bill_to_email,
    )


def _how_to_pay(reference: str) -> str:
    return current_app.config["PAYMENT_INSTRUCTIONS"].replace("{reference}", reference)


def invoice_document(found: Invoice) -> InvoiceDocument:
    """What an invoice's PDF shows, for finance and for the organisation's training contact alike."""
    return InvoiceDocument(
        kind="Invoice",
        number=found.number,
        issued_on=found.issued_on,
        due_on=found.due_on,
        seller=_seller(),
        buyer=_buyer(found),
        purchase_order=found.purchase_order,
        period=(found.period_start, found.period_end),
        lines=[
            DocumentLine(
                line.delegate_label, line.course_title, line.session_date, line.reason, line.amount_pence
            )
            for line in found.lines
        ],
        vat_rate_percent=found.vat_rate_percent,
        how_to_pay=_how_to_pay(found.number),
        net_pence=found.net_pence,
        vat_pence=found.vat_pence,
        total_pence=found.total_pence,
    )


def credit_note_document(note: CreditNote) -> InvoiceDocument:
    """What a credit note's PDF shows, for finance and for the organisation's training contact alike."""
    invoice = note.invoice
    return InvoiceDocument(
        kind="Credit note",
        number=note.number,
        issued_on=note.issued_on,
        due_on=None,
        seller=_seller(),
        buyer=_buyer(invoice),
        purchase_order=invoice.purchase_order,
        period=None,
        lines=[
            DocumentLine(
                cl.invoice_line.delegate_label,
                cl.invoice_line.course_title,
                cl.invoice_line.session_date,
                cl.invoice_line.reason,
                cl.amount_pence,
            )
            for cl in note.lines
        ],
        vat_rate_percent=invoice.vat_rate_percent,
        how_to_pay="No payment is due on a credit note.",
        refers_to=invoice.number,
        note=note.reason,
        net_pence=note.net_pence,
        vat_pence=note.vat_pence,
        total_pence=note.total_pence,
    )


# Rendering when a message is sent --------------------------------------------------------------


def _invoice_pdf(invoice_id: int) -> bytes:
    found = db.session.get(Invoice, invoice_id)
    if found is None:
        raise LookupError(f"Invoice {invoice_id} does not exist")
    return render_invoice(invoice_document(found))


def _credit_note_pdf(note_id: int) -> bytes:
    note = db.session.get(CreditNote, note_id)
    if note is None:
        raise LookupError(f"Credit note {note_id} does not exist")
    return render_invoice(credit_note_document(note))


def register_documents(app: Flask) -> None:
    """Let outbox messages attach invoices and credit notes, rendered as they are sent."""
    register_document(app, "invoice", _invoice_pdf)
    register_document(app, "credit_note", _credit_note_pdf)


# Sending to the billing email -----------------------------------------------------------------


def emailed_to(invoice: Invoice) -> str | None:
    """Where the invoice and its credit notes are emailed; None when they are not (send it yourself)."""
    if not current_app.config["EMAIL_INVOICES"]:
        return None
    return invoice.bill_to_email or None


def email_invoices(invoices: list[Invoice], *, now: datetime) -> int:
    """Queue each issued invoice, as a PDF, to its billing email, in one statement for the lot."""
    partnership = current_app.config["PARTNERSHIP_NAME"]
    messages = [
        {
            "to": address,
            "subject": f"Invoice {invoice.number} from {partnership}",
            "attachments": [document_attachment("invoice", invoice.id, f"{invoice.number}.pdf", PDF)],
            "invoice": invoice,
            "how_to_pay": _how_to_pay(invoice.number),
        }
        for invoice in invoices
        if (address := emailed_to(invoice))
    ]
    return queue_messages("finance.invoice_issued", messages, template="finance/invoice_issued.txt", now=now)


def email_credit_note(note: CreditNote, *, now: datetime) -> None:
    """Queue a credit note, as a PDF, to the billing email of the invoice it corrects."""
    address = emailed_to(note.invoice)
    if address is None:
        return
    queue_message(
        "finance.credit_note_issued",
        to=address,
        subject=f"Credit note {note.number} for invoice {note.invoice.number}",
        template="finance/credit_note_issued.txt",
        now=now,
        attachments=[document_attachment("credit_note", note.id, f"{note.number}.pdf", PDF)],
        note=note,
        invoice=note.invoice,
    )
