"""Payments against invoices: part or whole, never more than the balance; balances and aged debt."""

import csv
import io
import threading
from datetime import date, timedelta

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from lms.core import clock
from lms.core.audit import AuditEntry
from lms.core.errors import PermissionDenied
from lms.extensions import db
from lms.finance.models import Invoice, InvoiceStatus, Payment
from lms.finance.payments import AGE_BUCKETS, age_bucket, aged_debt, record_payment
from lms.finance.services import FinanceError, issue_credit_note, mark_paid, run_invoicing
from lms.reporting.work import finance_work
from tests.conftest import csrf_token, empty_all_tables, sign_in
from tests.factories import NOW, create_agency
from tests.finance.test_finance import PERIOD, admin, finance_user, no_shows, session_that_ran

ISSUED_ON = date(2026, 5, 4)  # NOW's day: the day the invoices below are issued
DUE_ON = ISSUED_ON + timedelta(days=30)


def invoice_of(*agencies, money=None):
    """One invoice billing a £25 no-show for each agency given (all the same organisation)."""
    no_shows(session_that_ran(), list(agencies))
    [invoice] = run_invoicing(*PERIOD, by=money or finance_user(), now=NOW)
    return invoice


def test_part_payments_bring_the_balance_down_and_the_last_one_pays_the_invoice(app_context):
    money = finance_user()
    invoice = invoice_of(*[create_agency("Police")] * 3, money=money)
    assert (invoice.total_pence, invoice.paid_pence, invoice.balance_pence) == (7500, 0, 7500)

    first = record_payment(invoice, 5000, ISSUED_ON, " BACS 1234 ", by=money, now=NOW)
    assert (first.reference, first.recorded_by_id, first.received_on) == ("BACS 1234", money.id, ISSUED_ON)
    assert (invoice.paid_pence, invoice.balance_pence, invoice.outstanding_pence) == (5000, 2500, 2500)
    assert invoice.status is InvoiceStatus.ISSUED and invoice.paid_at is None

    later = NOW + timedelta(days=3)
    record_payment(invoice, 2500, ISSUED_ON + timedelta(days=2), None, by=money, now=later)
    assert invoice.status is InvoiceStatus.PAID and invoice.paid_at == later
    assert (invoice.paid_pence, invoice.balance_pence, invoice.outstanding_pence) == (7500, 0, 0)
    entries = db.session.scalars(
        sa.select(AuditEntry)
        .where(AuditEntry.name.in_(["lms.payment.recorded", "lms.invoice.paid"]))
        .order_by(AuditEntry.id)
    ).all()
    assert [(e.name, e.data.get("amount_pence")) for e in entries] == [
        ("lms.payment.recorded", 5000),
        ("lms.payment.recorded", 2500),
        ("lms.invoice.paid", None),
    ]
    assert entries[0].actor_id == money.id and entries[1].data["balance_pence"] == 0


def test_more_than_the_balance_is_refused_with_the_balance_named(app_context):
    money = finance_user()
    agency = create_agency()
    invoice = invoice_of(agency, agency)  # £50.00
    record_payment(invoice, invoice.balance_pence - 1000, ISSUED_ON, "first", by=money, now=NOW)
    with pytest.raises(
        FinanceError, match=r"more than the balance of £10\.00: record at most £10\.00"
    ) as error:
        record_payment(invoice, 1001, ISSUED_ON, "second", by=money, now=NOW)
    assert error.value.field == "amount"
    with pytest.raises(FinanceError, match="more than £0.00"):
        record_payment(invoice, 0, ISSUED_ON, "", by=money, now=NOW)
    assert db.session.scalar(sa.select(sa.func.count(Payment.id))) == 1


def test_a_payment_dated_in_the_future_or_before_the_invoice_is_refused(app_context):
    money = finance_user()
    invoice = invoice_of(create_agency())
    with pytest.raises(FinanceError, match="in the future") as error:
        record_payment(invoice, 100, ISSUED_ON + timedelta(days=1), None, by=money, now=NOW)
    assert error.value.field == "received_on"
    with pytest.raises(FinanceError, match=r"before the invoice was issued \(Mon 4 May 2026\)"):
        record_payment(invoice, 100, ISSUED_ON - timedelta(days=1), None, by=money, now=NOW)
    record_payment(invoice, 100, ISSUED_ON, None, by=money, now=NOW)  # the day it was issued is fine


def test_only_finance_records_payments_and_only_against_an_issued_invoice(app_context):
    money = finance_user()
    invoice = invoice_of(create_agency())
    with pytest.raises(PermissionDenied):
        record_payment(invoice, 100, ISSUED_ON, None, by=admin(), now=NOW)
    mark_paid(invoice, by=money, now=NOW)
    with pytest.raises(FinanceError, match="This invoice is paid, so no payment can be recorded") as error:
        record_payment(invoice, 100, ISSUED_ON, None, by=money, now=NOW)
    assert error.value.status == 409


def test_mark_paid_records_a_payment_of_the_whole_balance_today(app_context):
    money = finance_user()
    invoice = invoice_of(*[create_agency("Police")] * 2, money=money)
    record_payment(invoice, 1000, ISSUED_ON, None, by=money, now=NOW)
    later = NOW + timedelta(days=10)
    mark_paid(invoice, by=money, now=later)
    assert [(p.amount_pence, p.received_on) for p in invoice.payments] == [
        (1000, ISSUED_ON),
        (4000, ISSUED_ON + timedelta(days=10)),
    ]
    assert invoice.status is InvoiceStatus.PAID and invoice.balance_pence == 0


def test_the_balance_counts_credit_notes_and_a_credit_can_settle_a_part_paid_invoice(app_context):
    money = finance_user()
    invoice = invoice_of(*[create_agency("Police")] * 3, money=money)
    first, second, third = invoice.lines
    record_payment(invoice, 5000, ISSUED_ON, None, by=money, now=NOW)
    issue_credit_note(invoice, [first.id], "Was there after all", by=money, now=NOW)
    assert (invoice.credited_pence, invoice.paid_pence, invoice.balance_pence) == (2500, 5000, 0)
    assert invoice.status is InvoiceStatus.PAID and invoice.outstanding_pence == 0
    # A credit note after payment leaves a refund due: the balance says so, nothing is outstanding.
    issue_credit_note(invoice, [second.id], "Paid for twice", by=money, now=NOW)
    assert invoice.balance_pence == -2500 and invoice.outstanding_pence == 0


def test_the_finance_dashboard_counts_what_is_left_to_pay(app_context):
    money = finance_user()
    invoice = invoice_of(*[create_agency("Police")] * 2, money=money)
    record_payment(invoice, 2000, ISSUED_ON, None, by=money, now=NOW)
    work = finance_work(ISSUED_ON)
    assert (work.unpaid_count, work.unpaid_pence, work.overdue_count) == (1, 3000, 0)
    work = finance_work(DUE_ON + timedelta(days=1))
    assert (work.overdue_count, work.overdue_pence) == (1, 3000)


def test_payments_are_history(app_context):
    money = finance_user()
    invoice = invoice_of(create_agency())
    payment = record_payment(invoice, 1000, ISSUED_ON, None, by=money, now=NOW)
    with pytest.raises(FinanceError, match="cannot be changed"), db.session.begin_nested():
        payment.amount_pence = 1
        db.session.flush()
    db.session.refresh(payment)
    with pytest.raises(FinanceError, match="never deleted"), db.session.begin_nested():
        db.session.delete(payment)
        db.session.flush()


# Aged debt ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("days", "bucket"),
    [
        (0, "Not yet due"),
        (1, "1–30 days"),
        (30, "1–30 days"),
        (31, "31–60 days"),
        (60, "31–60 days"),
        (61, "61–90 days"),
        (90, "61–90 days"),
        (91, "Over 90 days"),
        (400, "Over 90 days"),
    ],
)
def test_each_day_past_due_falls_in_one_bucket(days, bucket):
    assert AGE_BUCKETS[age_bucket(days)][0] == bucket


def test_aged_debt_sorts_each_organisations_balances_by_how_late_they_are(app_context):
    money = finance_user()
    police, council = create_agency("Police"), create_agency("Council")
    # Police: a March invoice (issued 1 April) part paid; a May invoice not yet due. Council: paid.
    no_shows(session_that_ran(days_ago=40), [police, police, council])
    clock.freeze(NOW - timedelta(days=33))
    early = run_invoicing(date(2026, 3, 1), date(2026, 3, 31), by=money, now=NOW - timedelta(days=33))
    clock.freeze(NOW)
    no_shows(session_that_ran(days_ago=3), [police])
    late = run_invoicing(*PERIOD, by=money, now=NOW)
    council_invoice = next(i for i in early if i.bill_to_name == "Council")
    police_early = next(i for i in early if i.bill_to_name == "Police")
    mark_paid(council_invoice, by=money, now=NOW)
    record_payment(police_early, 1000, ISSUED_ON, None, by=money, now=NOW)

    today = police_early.due_on + timedelta(days=31)
    debt = aged_debt(today)
    assert [row.name for row in debt.rows] == ["Police"]
    [row] = debt.rows
    assert row.buckets == [2500, 0, 4000, 0, 0] and row.invoices == 2 and row.total == 6500
    assert late[0].days_overdue(today) == 0
    assert debt.totals.buckets == row.buckets and debt.totals.total == 6500


def test_the_finance_overview_shows_aged_debt_and_downloads_it(client):
    money = finance_user()
    invoice = invoice_of(create_agency("West Midlands Police"), money=money)
    record_payment(invoice, 500, ISSUED_ON, None, by=money, now=NOW)
    sign_in(client, money)
    clock.freeze(NOW + timedelta(days=45))  # 15 days past due
    page = client.get("/finance/").get_data(as_text=True)
    assert "Aged debt" in page and "1–30 days" in page and "£20.00" in page
    rows = list(csv.reader(io.StringIO(client.get("/finance/aged-debt.csv").get_data(as_text=True))))
    assert rows[0] == ["Organisation", "Invoices", *[t for t, _, _ in AGE_BUCKETS], "Total"]
    assert rows[1] == ["West Midlands Police", "1", "0.00", "20.00", "0.00", "0.00", "0.00", "20.00"]
    assert rows[2][0] == "Total" and rows[2][-1] == "20.00"
    book = load_workbook(io.BytesIO(client.get("/finance/aged-debt.xlsx").data))
    sheet = book.active
    values = [[cell.value for cell in row] for row in sheet.iter_rows()]
    police_row = next(row for row in values if row[0] == "West Midlands Police")
    assert float(police_row[3]) == 20.0
    money_cell = next(row for row in sheet.iter_rows() if row[0].value == "West Midlands Police")[3]
    assert "£" in money_cell.number_format
    clock.freeze(NOW)


# The pages ------------------------------------------------------------------------------------


def test_finance_records_a_part_payment_on_the_invoice_page_then_the_rest(client):
    money = finance_user()
    invoice = invoice_of(*[create_agency("Police")] * 2, money=money)
    sign_in(client, money)
    path = f"/finance/invoices/{invoice.id}"
    page = client.get(path).get_data(as_text=True)
    assert "Record a payment" in page and "Mark as paid" not in page
    assert 'value="50.00"' in page and 'value="2026-05-04"' in page  # the balance, today
    token = csrf_token(client, path)
    response = client.post(
        f"{path}/payments",
        data={"received_on": "2026-05-04", "amount": "30", "reference": "REMIT-77", "csrf_token": token},
    )
    assert response.status_code == 302
    page = client.get(path).get_data(as_text=True)
    assert "Payment of £30.00 recorded against" in page and "£20.00 is left to pay" in page
    assert "REMIT-77" in page and "Balance" in page and 'value="20.00"' in page

    response = client.post(
        f"{path}/payments", data={"received_on": "2026-05-04", "amount": "20.01", "csrf_token": token}
    )
    assert response.status_code == 422
    assert "record at most £20.00" in response.get_data(as_text=True)
    response = client.post(
        f"{path}/payments", data={"received_on": "2026-05-05", "amount": "20", "csrf_token": token}
    )
    assert response.status_code == 422 and "in the future" in response.get_data(as_text=True)

    client.post(f"{path}/payments", data={"received_on": "2026-05-04", "amount": "20", "csrf_token": token})
    page = client.get(path).get_data(as_text=True)
    assert "it is paid in full" in page and "Record a payment" not in page
    listing = client.get("/finance/invoices").get_data(as_text=True)
    assert "Balance" in listing and "£50.00" in listing
    assert db.session.scalar(sa.select(Invoice.status).where(Invoice.id == invoice.id)) is InvoiceStatus.PAID


def test_l_and_d_see_the_balance_but_cannot_record_a_payment(client):
    invoice = invoice_of(create_agency())
    lnd = admin()
    sign_in(client, lnd)
    page = client.get(f"/finance/invoices/{invoice.id}").get_data(as_text=True)
    assert "Balance" in page and "Record a payment" not in page
    token = csrf_token(client, f"/finance/invoices/{invoice.id}")
    response = client.post(
        f"/finance/invoices/{invoice.id}/payments",
        data={"received_on": "2026-05-04", "amount": "1", "csrf_token": token},
    )
    assert response.status_code == 403
    assert db.session.scalar(sa.select(sa.func.count(Payment.id))) == 0


# Two officers at once -------------------------------------------------------------------------


@pytest.mark.committing
def test_two_officers_recording_at_once_never_take_the_balance_below_zero(app):
    with app.app_context():
        invoice_id = invoice_of(*[create_agency("Police")] * 4).id  # £100
        officers = [finance_user().id, finance_user().id]
        db.session.commit()
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def pay(officer_id):
        try:
            with app.app_context():
                from lms.accounts.models import User
                from lms.core.db import write_intent

                barrier.wait()
                with write_intent():
                    try:
                        record_payment(
                            db.session.get(Invoice, invoice_id),
                            6000,
                            ISSUED_ON,
                            f"by {officer_id}",
                            by=db.session.get(User, officer_id),
                            now=NOW,
                        )
                        db.session.commit()
                        outcomes.append("recorded")
                    except FinanceError as error:
                        db.session.rollback()
                        outcomes.append(error.message)
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            outcomes.append(repr(exc))

    threads = [threading.Thread(target=pay, args=(officer,)) for officer in officers]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert sorted(outcomes) == sorted(
            ["recorded", "That is more than the balance of £40.00: record at most £40.00."]
        )
        with app.app_context():
            invoice = db.session.get(Invoice, invoice_id)
            assert invoice.paid_pence == 6000 and invoice.balance_pence == 4000
    finally:
        with app.app_context():
            empty_all_tables()


# The migration --------------------------------------------------------------------------------


@pytest.mark.committing
def test_an_invoice_marked_paid_before_payments_were_kept_gets_one_payment_of_what_was_left(app):
    from datetime import UTC, datetime

    from flask_migrate import downgrade, upgrade

    from config import BASE_DIR

    migrations = str(BASE_DIR / "migrations")
    with app.app_context():
        downgrade(directory=migrations, revision="0018_registers")
        try:
            agency_id = create_agency("Police").id
            db.session.commit()
            now = datetime(2026, 5, 1, tzinfo=UTC).replace(tzinfo=None)
            with db.engine.begin() as connection:
                for n, (status, paid_at) in enumerate(
                    [("paid", datetime(2026, 5, 31, 23, 30)), ("issued", None)], start=1
                ):
                    connection.execute(
                        sa.text(
                            "INSERT INTO invoice (id, number, financial_year, sequence, agency_id, status,"
                            " period_start, period_end, issued_at, issued_on, due_on, paid_at, bill_to_name,"
                            " net_pence, vat_pence, total_pence, vat_rate_percent) VALUES"
                            " (:id, :number, 2026, :id, :agency, :status, '2026-04-01', '2026-04-30', :now,"
                            " '2026-05-01', '2026-05-31', :paid_at, 'Police', 7500, 0, 7500, 0)"
                        ),
                        {
                            "id": n,
                            "number": f"INV2627-000{n}",
                            "agency": agency_id,
                            "status": status,
                            "now": now,
                            "paid_at": paid_at,
                        },
                    )
                # Credited before it was paid (less was paid), and after (a refund, not less paid).
                for n, issued_at in ((1, datetime(2026, 5, 10)), (2, datetime(2026, 6, 5))):
                    connection.execute(
                        sa.text(
                            "INSERT INTO credit_note (id, number, financial_year, sequence, invoice_id,"
                            " issued_at, issued_on, reason, net_pence, vat_pence, total_pence) VALUES"
                            " (:id, :number, 2026, :id, 1, :at, '2026-05-10', 'Corrected', 2500, 0, 2500)"
                        ),
                        {"id": n, "number": f"CN2627-000{n}", "at": issued_at},
                    )
        finally:
            upgrade(directory=migrations)
        try:
            payments = db.session.execute(
                sa.select(Payment.invoice_id, Payment.amount_pence, Payment.received_on)
            )
            # 23:30 UTC on 31 May is 1 June in London.
            assert payments.all() == [(1, 5000, date(2026, 6, 1))]
            assert db.session.get(Invoice, 1).balance_pence == 7500 - 5000 - 5000
        finally:
            db.session.remove()
            empty_all_tables()
