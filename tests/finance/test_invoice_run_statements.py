"""An invoice run reads its charges once and writes each kind of row in one go, however many it bills."""

from datetime import UTC, date, datetime

import sqlalchemy as sa

from lms.core.audit import AuditEntry
from lms.core.timezones import london_date
from lms.extensions import db
from lms.finance.models import Charge, ChargeStatus, DocumentCounter, Invoice
from lms.finance.services import run_invoicing
from tests.factories import NOW, create_agency
from tests.finance.test_finance import finance_user, no_shows, session_that_ran

MARCH = (date(2026, 3, 1), date(2026, 3, 31))
EARLY_APRIL = (date(2026, 4, 1), date(2026, 4, 12))
LATER = (date(2026, 4, 13), date(2026, 5, 4))


def statements_of_a_run(period) -> tuple[int, list[Invoice]]:
    """Statements sent to the database by a run, up to and including its last flush."""
    by = finance_user()
    db.session.flush()  # nothing of the set-up is left to write
    sent = []

    def count(*args) -> None:
        sent.append(args[2])

    sa.event.listen(db.engine, "before_cursor_execute", count)
    try:
        invoices = run_invoicing(*period, by=by, now=NOW)
        db.session.flush()
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", count)
    return len(sent), invoices


def test_billing_thirty_charges_takes_as_many_statements_as_billing_three(app_context):
    agencies = [create_agency(f"Agency {n}") for n in range(3)]
    # The year's counter exists from an earlier run, as it does for every run but the first.
    no_shows(session_that_ran(starts_at=datetime(2026, 3, 16, 9, 30, tzinfo=UTC)), agencies[:1])
    run_invoicing(*MARCH, by=finance_user(), now=NOW)
    no_shows(session_that_ran(starts_at=datetime(2026, 4, 8, 9, 30, tzinfo=UTC)), agencies)
    for day in (14, 21, 28):
        no_shows(session_that_ran(starts_at=datetime(2026, 4, day, 9, 30, tzinfo=UTC)), agencies * 3)
    no_shows(session_that_ran(starts_at=datetime(2026, 5, 1, 9, 30, tzinfo=UTC)), agencies[1:2])

    few, first = statements_of_a_run(EARLY_APRIL)
    many, second = statements_of_a_run(LATER)

    assert [len(i.lines) for i in first] == [1, 1, 1]
    assert sorted(len(i.lines) for i in second) == [9, 9, 10]
    assert few == many < 28


def test_a_run_writes_its_invoices_lines_charges_counter_and_audit(app_context):
    police, council = create_agency("Police"), create_agency("Council")
    early = session_that_ran(days_ago=20)
    late = session_that_ran(days_ago=5, hours=6)
    no_shows(early, [police, council])
    no_shows(late, [police])
    held = db.session.scalars(sa.select(Charge).order_by(Charge.id)).all()  # in this session

    invoices = run_invoicing(date(2026, 4, 1), date(2026, 6, 30), by=finance_user(), now=NOW)

    assert [(i.number, i.bill_to_name, i.total_pence) for i in invoices] == [
        ("INV2627-0001", "Council", 2500),
        ("INV2627-0002", "Police", 7500),
    ]
    police_lines = invoices[1].lines
    assert [line.session_date for line in police_lines] == [london_date(s.starts_at) for s in (early, late)]
    assert [line.amount_pence for line in police_lines] == [2500, 5000]
    # The charges this session already held are seen as invoiced, without reloading them.
    assert {charge.status for charge in held} == {ChargeStatus.INVOICED}
    assert db.session.get(DocumentCounter, ("invoice", 2026)).last_number == 2
    entries = db.session.scalars(
        sa.select(AuditEntry).where(AuditEntry.name.like("lms.invoice.%")).order_by(AuditEntry.id)
    ).all()
    assert [(e.name, e.subject_id, e.data) for e in entries] == [
        ("lms.invoice.issued", invoices[0].id, {"number": "INV2627-0001", "total_pence": 2500}),
        ("lms.invoice.issued", invoices[1].id, {"number": "INV2627-0002", "total_pence": 7500}),
        (
            "lms.invoice.run",
            invoices[0].id,
            {"start": "2026-04-01", "end": "2026-06-30", "invoices": 2},
        ),
    ]
    assert all(e.actor_id == invoices[0].created_by_id and e.created_at == NOW for e in entries)


def test_a_run_over_a_period_without_charges_writes_nothing(app_context):
    no_shows(session_that_ran(days_ago=5), [create_agency()])
    assert run_invoicing(date(2026, 1, 1), date(2026, 1, 31), by=finance_user(), now=NOW) == []
    assert db.session.scalar(sa.select(sa.func.count(Invoice.id))) == 0
    runs = sa.select(sa.func.count(AuditEntry.id)).where(AuditEntry.name == "lms.invoice.run")
    assert db.session.scalar(runs) == 0

