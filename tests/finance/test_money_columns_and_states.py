"""Amounts past 32 bits are kept whole, and the database refuses states the application does not know."""

import pytest
import sqlalchemy as sa

from lms.accounts.models import Role
from lms.extensions import db
from lms.finance.models import Budget, ChargeStatus, Invoice, InvoiceStatus
from lms.finance.services import run_invoicing, set_budget
from tests.factories import NOW, create_agency, create_session, create_user
from tests.finance.test_finance import PERIOD, finance_user, no_shows, session_that_ran

THIRTY_MILLION_POUNDS = 3_000_000_000  # pence: more than a 32-bit integer holds


def read_back(sql: str, **params):
    db.session.expire_all()
    return db.session.execute(sa.text(sql), params).scalar_one()


def test_a_thirty_million_pound_budget_is_stored_and_read_back(app_context):
    set_budget(2026, THIRTY_MILLION_POUNDS, by=create_user(roles=(Role.LND_ADMIN,)), now=NOW)
    stored = read_back("SELECT allocated_pence FROM budget WHERE financial_year = 2026")
    assert stored == THIRTY_MILLION_POUNDS
    assert db.session.get(Budget, 2026).allocated_pence == THIRTY_MILLION_POUNDS


def test_a_session_costing_thirty_million_pounds_is_stored_and_read_back(app_context):
    session = create_session(cost_pence=THIRTY_MILLION_POUNDS)
    assert read_back("SELECT cost_pence FROM course_session WHERE id = :id", id=session.id) == (
        THIRTY_MILLION_POUNDS
    )


def test_invoice_totals_past_thirty_two_bits_are_kept_whole(app_context):
    no_shows(session_that_ran(), [create_agency()])
    [invoice] = run_invoicing(*PERIOD, by=finance_user(), now=NOW)
    # No run bills this much today; the columns must still hold a year's totals for a large area.
    db.session.execute(
        sa.update(Invoice)
        .where(Invoice.id == invoice.id)
        .values(net_pence=THIRTY_MILLION_POUNDS, vat_pence=0, total_pence=THIRTY_MILLION_POUNDS)
    )
    assert read_back("SELECT total_pence FROM invoice WHERE id = :id", id=invoice.id) == THIRTY_MILLION_POUNDS


def test_an_invoice_has_no_draft_state_and_the_database_refuses_one(app_context):
    assert [status.value for status in InvoiceStatus] == ["issued", "paid", "credited"]
    no_shows(session_that_ran(), [create_agency()])
    [invoice] = run_invoicing(*PERIOD, by=finance_user(), now=NOW)
    with pytest.raises(sa.exc.IntegrityError, match="ck_invoice_status_known"), db.session.begin_nested():
        db.session.execute(sa.text("UPDATE invoice SET status = 'draft' WHERE id = :id"), {"id": invoice.id})
    assert read_back("SELECT status FROM invoice WHERE id = :id", id=invoice.id) == "issued"


@pytest.mark.parametrize(
    ("column", "unknown"),
    [("status", "lost"), ("reason", "late"), ("waiver_reason", "whim")],
)
def test_the_database_refuses_a_charge_state_it_does_not_know(app_context, column, unknown):
    [booking] = no_shows(session_that_ran(), [create_agency()])
    with pytest.raises(sa.exc.IntegrityError, match=f"ck_charge_{column}_known"), db.session.begin_nested():
        db.session.execute(
            sa.text(f"UPDATE charge SET {column} = :unknown WHERE booking_id = :id"),  # noqa: S608 - fixed names
            {"unknown": unknown, "id": booking.id},
        )
    assert read_back("SELECT status FROM charge WHERE booking_id = :id", id=booking.id) == (
        ChargeStatus.RAISED.value
    )
