"""Issued invoices and credit notes reach the organisation's billing email as PDFs, through the outbox."""

import io
from datetime import UTC, datetime

import sqlalchemy as sa
from pypdf import PdfReader

from lms.extensions import db
from lms.finance.services import issue_credit_note, run_invoicing
from lms.messages.documents import document_attachment
from lms.messages.models import OutboxMessage
from lms.messages.services import queue_message
from tests.conftest import sign_in
from tests.factories import NOW, create_agency, create_user
from tests.finance.test_finance import PERIOD, finance_user, no_shows, session_that_ran
from tests.finance.test_invoice_run_statements import EARLY_APRIL, LATER, MARCH, statements_of_a_run

POLICE_BILLING = "accounts.payable@police.example"
COUNCIL_BILLING = "childrens.finance@council.example"


def pdf_text(message) -> tuple[str, str]:
    """The filename and the text of the message's one PDF attachment."""
    [part] = [p for p in message.iter_attachments() if p.get_content_type() == "application/pdf"]
    reader = PdfReader(io.BytesIO(part.get_content()))
    return part.get_filename(), " ".join(page.extract_text() for page in reader.pages)


def billed_agencies():
    police = create_agency("West Midlands Police", billing_email=POLICE_BILLING, billing_contact="Accounts")
    council = create_agency("City Council", billing_email=COUNCIL_BILLING)
    nursery = create_agency("Little Acorns Nursery")  # no billing email
    no_shows(session_that_ran(), [police, police, council, nursery])
    return police, council, nursery


def test_each_issued_invoice_reaches_its_billing_email_with_its_pdf(app_context, mailbox):
    billed_agencies()
    invoices = run_invoicing(*PERIOD, by=finance_user(), now=NOW)
    by_name = {invoice.bill_to_name: invoice for invoice in invoices}
    queued = db.session.scalars(
        sa.select(OutboxMessage).where(OutboxMessage.kind == "finance.invoice_issued")
    ).all()
    assert sorted(m.recipient for m in queued) == sorted([COUNCIL_BILLING, POLICE_BILLING])
    police_invoice = by_name["West Midlands Police"]
    # The outbox holds a reference to the document, not the document: it is rendered when sent.
    [message] = [m for m in queued if m.recipient == POLICE_BILLING]
    assert message.attachments == [
        {
            "document": "invoice",
            "id": police_invoice.id,
            "filename": f"{police_invoice.number}.pdf",
            "content_type": "application/pdf",
        }
    ]

    [email] = mailbox.delivered().to(POLICE_BILLING)
    assert email["Subject"].startswith(f"Invoice {police_invoice.number} from ")
    text = mailbox.text(email)
    assert "Hello Accounts," in text and "Total: £50.00" in text and "Due by:" in text
    filename, pdf = pdf_text(email)
    assert filename == f"{police_invoice.number}.pdf"
    assert police_invoice.number in pdf and "£50.00" in pdf and "West Midlands Police" in pdf
    [council_email] = mailbox.to(COUNCIL_BILLING)
    _, council_pdf = pdf_text(council_email)
    assert by_name["City Council"].number in council_pdf and "£25.00" in council_pdf
    invoices_sent = [m for m in mailbox.messages if m["Subject"].startswith("Invoice ")]
    assert len(invoices_sent) == 2  # the nursery has no billing email


def test_a_credit_note_reaches_the_billing_email_with_its_pdf(app_context, mailbox):
    billed_agencies()
    money = finance_user()
    invoices = run_invoicing(*PERIOD, by=money, now=NOW)
    police_invoice = next(i for i in invoices if i.bill_to_name == "West Midlands Police")
    mailbox.delivered().clear()
    note = issue_credit_note(
        police_invoice, [police_invoice.lines[0].id], "Attended after all", by=money, now=NOW
    )
    db.session.flush()  # as the request's commit would
    [email] = mailbox.delivered().to(POLICE_BILLING)
    assert email["Subject"] == f"Credit note {note.number} for invoice {police_invoice.number}"
    assert "Attended after all" in mailbox.text(email)
    filename, pdf = pdf_text(email)
    assert filename == f"{note.number}.pdf"
    assert note.number in pdf and police_invoice.number in pdf and "£25.00" in pdf


def test_without_a_billing_email_the_invoice_page_says_to_send_it_yourself(client):
    billed_agencies()
    money = finance_user()
    invoices = run_invoicing(*PERIOD, by=money, now=NOW)
    by_name = {invoice.bill_to_name: invoice for invoice in invoices}
    sign_in(client, money)
    nursery_page = client.get(f"/finance/invoices/{by_name['Little Acorns Nursery'].id}").get_data(
        as_text=True
    )
    assert "No billing email: send it yourself" in nursery_page
    police_page = client.get(f"/finance/invoices/{by_name['West Midlands Police'].id}").get_data(as_text=True)
    assert f"Emailed with its PDF to {POLICE_BILLING}" in police_page


def test_with_email_invoices_off_nothing_is_sent(app, app_context, mailbox):
    app.config["EMAIL_INVOICES"] = False
    try:
        billed_agencies()
        money = finance_user()
        [*_, police_invoice] = run_invoicing(*PERIOD, by=money, now=NOW)
        issue_credit_note(police_invoice, [police_invoice.lines[0].id], "Attended", by=money, now=NOW)
        finance_kinds = OutboxMessage.kind.like("finance.%")
        assert db.session.scalar(sa.select(sa.func.count(OutboxMessage.id)).where(finance_kinds)) == 0
    finally:
        app.config["EMAIL_INVOICES"] = True


def test_emailing_a_run_of_thirty_takes_as_many_statements_as_a_run_of_three(app_context):
    agencies = [create_agency(f"Agency {n}", billing_email=f"billing{n}@example.org") for n in range(3)]
    no_shows(session_that_ran(starts_at=datetime(2026, 3, 16, 9, 30, tzinfo=UTC)), agencies[:1])
    run_invoicing(*MARCH, by=finance_user(), now=NOW)
    no_shows(session_that_ran(starts_at=datetime(2026, 4, 8, 9, 30, tzinfo=UTC)), agencies)
    for day in (14, 21, 28):
        no_shows(session_that_ran(starts_at=datetime(2026, 4, day, 9, 30, tzinfo=UTC)), agencies * 3)
    no_shows(session_that_ran(starts_at=datetime(2026, 5, 1, 9, 30, tzinfo=UTC)), agencies[1:2])
    db.session.execute(sa.delete(OutboxMessage))

    few, first = statements_of_a_run(EARLY_APRIL)
    many, second = statements_of_a_run(LATER)

    assert few == many
    invoiced = db.session.scalars(
        sa.select(OutboxMessage)
        .where(OutboxMessage.kind == "finance.invoice_issued")
        .order_by(OutboxMessage.id)
    ).all()
    assert [m.attachments[0]["id"] for m in invoiced] == [i.id for i in [*first, *second]]


def test_a_message_whose_document_cannot_be_rendered_is_given_up_and_the_rest_go(app_context, mailbox):
    reader = create_user("reader@example.org")
    for kind in ("missing_kind", "invoice"):
        queue_message(
            "finance.invoice_issued",
            to=reader.email,
            subject=f"Broken {kind}",
            template="password_reset.txt",
            now=NOW,
            attachments=[document_attachment(kind, 999_999, "X.pdf", "application/pdf")],
            token="t",
            minutes=60,
        )
    queue_message(
        "test.message",
        to=reader.email,
        subject="Fine",
        template="password_reset.txt",
        now=NOW,
        token="t",
        minutes=60,
    )
    db.session.flush()
    assert [m["Subject"] for m in mailbox.delivered().to(reader.email)] == ["Fine"]
    failed = db.session.scalars(
        sa.select(OutboxMessage).where(OutboxMessage.failed_at.is_not(None)).order_by(OutboxMessage.id)
    ).all()
    assert [m.subject for m in failed] == ["Broken missing_kind", "Broken invoice"]
    assert "LookupError" in failed[0].last_error
