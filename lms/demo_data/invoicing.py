"""The money side of the two years, through the finance services: budgets, waivers, invoices.

L&D set each year's training budget when the programme is commissioned (2024/25's £120,037 for the
previous year). Charges are raised by the booking services themselves, for no-shows and late
cancellations; L&D waive some within a few working days, for a reason. Finance invoice each quarter's
charges a couple of weeks after it ends; most invoices are paid within weeks, the latest are still
outstanding (some overdue), and one, disputed with evidence, is credited in full.
"""

from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING

import sqlalchemy as sa

from lms.bookings.models import Booking
from lms.core.timezones import london_date, london_to_utc
from lms.courses.models import CourseSession, DeliveryMode
from lms.extensions import db
from lms.finance.models import Charge, ChargeReason, ChargeStatus, Invoice, WaiverReason
from lms.finance.services import issue_credit_note, mark_paid, run_invoicing, set_budget, waive_charge

if TYPE_CHECKING:
    from lms.demo import ProgrammeYear
    from lms.demo_data.history import History

PREVIOUS_YEAR_BUDGET_PENCE = 12_003_700  # 2024/25: a training budget of £120,037
CURRENT_YEAR_BUDGET_PENCE = 11_850_000
WAIVED_SHARE = 0.15
WAIVER_WORKING_DAYS = (1, 6)  # how soon after the charge L&D decide
RUN_WORKING_DAYS = 8  # a quarter is invoiced this many working days after it ends
PAID_SHARE = 0.85
PAID_AFTER_DAYS = (6, 45)  # working days
CREDITED_AFTER_DAYS = 16

WAIVERS: dict[ChargeReason, tuple[tuple[WaiverReason, str], ...]] = {
    ChargeReason.LATE_CANCELLATION: (
        (WaiverReason.ILLNESS, "Phoned in sick before the session; manager confirmed by email."),
        (WaiverReason.BEREAVEMENT, "Close family bereavement the day before."),
        (WaiverReason.WORK_EMERGENCY, "Called to an urgent strategy meeting for a child on her caseload."),
        (WaiverReason.OTHER, "School closed for the day (heating failure); head teacher's letter on file."),
    ),
    ChargeReason.NO_SHOW: (
        (WaiverReason.ILLNESS, "Reported sick at 8am to the L&D inbox; the message was missed."),
        (WaiverReason.WORK_EMERGENCY, "Attending a child protection medical with a child."),
        (WaiverReason.PARTNERSHIP_ERROR, "The joining link in the reminder was for a different session."),
    ),
}
CREDIT_REASON = (
    "The delegate's manager sent the rota showing she was redeployed to an emergency ward on the day; "
    "L&D agreed the charge should not stand."
)


def set_budgets(history: History) -> None:
    """L&D record each year's budget when its programme is commissioned."""
    demo = history.demo
    for year, pence in (
        (demo.previous, PREVIOUS_YEAR_BUDGET_PENCE),
        (demo.current, CURRENT_YEAR_BUDGET_PENCE),
    ):
        history.timeline.at(
            year.opened_at,
            lambda moment, year=year, pence=pence: set_budget(
                year.first.year, pence, by=history.lnd, now=moment
            ),
        )


# Waivers ------------------------------------------------------------------------------------


def consider_waivers(history: History, session: CourseSession) -> None:
    """Some of the session's charges are waived by L&D a few working days after they are raised."""
    rng = history.rng
    charges = db.session.scalars(
        sa.select(Charge)
        .join(Booking, Booking.id == Charge.booking_id)
        .where(Booking.session_id == session.id, Charge.status == ChargeStatus.RAISED)
        .order_by(Charge.id)
    ).all()
    for charge in charges:
        if rng.random() >= WAIVED_SHARE:
            continue
        reasons = [
            (reason, note)
            for reason, note in WAIVERS[charge.reason]
            if reason is not WaiverReason.PARTNERSHIP_ERROR
            or session.delivery_mode is not DeliveryMode.IN_PERSON
        ]
        reason, note = rng.choice(reasons)
        day = history.days.after(london_date(charge.raised_at), rng.randint(*WAIVER_WORKING_DAYS))
        at = office_hours(rng, day)
        history.timeline.at(at, lambda moment, c=charge, r=reason, n=note: waive(history, c, r, n, moment))


def waive(history: History, charge: Charge, reason: WaiverReason, note: str, moment: datetime) -> None:
    if charge.can_waive:  # not invoiced in the meantime
        waive_charge(charge, reason, note, by=history.lnd, now=moment)


# Invoices -----------------------------------------------------------------------------------


def quarters(year: ProgrammeYear) -> list[tuple[date, date]]:
    """The year's four quarters, first and last day."""
    months = [year.first.month - 1 + 3 * n for n in range(4)]
    starts = [date(year.first.year + month // 12, month % 12 + 1, year.first.day) for month in months]
    ends = [*(start - timedelta(days=1) for start in starts[1:]), year.last]
    return list(zip(starts, ends, strict=True))


def schedule_invoice_runs(history: History) -> None:
    """Each quarter of both years invoiced a couple of weeks after it ends, by the demo's finance officer."""
    demo = history.demo
    for year in (demo.previous, demo.current):
        for start, end in quarters(year):
            at = office_hours(history.rng, history.days.after(end, RUN_WORKING_DAYS), hour=10)
            history.timeline.at(
                at, lambda moment, s=start, e=end, y=year: invoice_quarter(history, s, e, y, moment)
            )


def invoice_quarter(history: History, start: date, end: date, year: ProgrammeYear, moment: datetime) -> None:
    rng = history.rng
    invoices = run_invoicing(start, end, by=history.finance, now=moment)
    for invoice in invoices:
        if history.credited is None and year is history.demo.previous and len(invoice.lines) == 1:
            history.credited = invoice
            at = moment + timedelta(days=CREDITED_AFTER_DAYS)
            history.timeline.at(at, lambda later, i=invoice: credit(history, i, later))
        elif rng.random() < PAID_SHARE:
            at = office_hours(rng, history.days.after(london_date(moment), rng.randint(*PAID_AFTER_DAYS)))
            history.timeline.at(at, lambda later, i=invoice: mark_paid(i, by=history.finance, now=later))


def credit(history: History, invoice: Invoice, moment: datetime) -> None:
    lines = [line.id for line in invoice.lines]
    issue_credit_note(invoice, lines, CREDIT_REASON, by=history.finance, now=moment)


# Times ----------------------------------------------------------------------------------------


def office_hours(rng: random.Random, day: date, hour: int | None = None) -> datetime:
    """A time in the working day: at `hour` (London) with some minutes, or between 09:00 and 17:00."""
    start = time(hour, 0) if hour is not None else time(9, 0)
    minutes = rng.randrange(60 if hour is not None else 8 * 60)
    return london_to_utc(datetime.combine(day, start) + timedelta(minutes=minutes))
