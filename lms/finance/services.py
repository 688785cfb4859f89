"""Charges for no-shows, late cancellations and place fees, waivers, invoice runs, payments and
credit notes."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from sqlalchemy import event
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session as OrmSession
from sqlalchemy.orm import aliased, lazyload, selectinload

from lms.accounts.models import Agency, AgencyCategory, Role, User
from lms.bookings.managers import charge_copied
from lms.bookings.models import Attendance, Booking
from lms.core.audit import log_action
from lms.core.errors import DomainError, PermissionDenied
from lms.core.financial_year import financial_year_of
from lms.core.timezones import london_date
from lms.courses.models import Course, CourseSession
from lms.extensions import db
from lms.finance.models import (
    Budget,
    Charge,
    ChargeReason,
    ChargeStatus,
    CreditNote,
    CreditNoteLine,
    DocumentCounter,
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    WaiverReason,
)
from lms.finance.paperwork import email_credit_note, email_invoices
from lms.finance.vat import vat_on
from lms.integrations.webhooks import emit
from lms.messages.services import queue_message, session_subject


class FinanceError(DomainError):
    pass


# The price ------------------------------------------------------------------------------------


def is_exempt(agency: Agency | None) -> bool:
    exempt = {value.strip().lower() for value in current_app.config["CHARGE_EXEMPT_CATEGORIES"]}
    return agency is not None and (
        agency.category.value.lower() in exempt or agency.category.title.lower() in exempt
    )


def charge_amount(session: CourseSession) -> int:
    """£25 up to 4 hours; above that £50 for each day the session runs on (all settings)."""
    config = current_app.config
    hours = (session.ends_at - session.starts_at).total_seconds() / 3600
    if hours <= config["CHARGE_SHORT_SESSION_MAX_HOURS"]:
        return config["CHARGE_SHORT_SESSION_PENCE"]
    days = (london_date(session.ends_at) - london_date(session.starts_at)).days + 1
    return config["CHARGE_PER_DAY_PENCE"] * days


def place_fee_categories() -> list[AgencyCategory]:
    """The organisation categories that pay a fee per place (PLACE_FEE_CATEGORIES), by value or title."""
    chosen = {value.strip().lower() for value in current_app.config["PLACE_FEE_CATEGORIES"]}
    return [c for c in AgencyCategory if c.value.lower() in chosen or c.title.lower() in chosen]


def pays_place_fee(agency: Agency | None) -> bool:
    """The organisation is in a category that pays a fee per place."""
    return agency is not None and agency.category in place_fee_categories()


def place_fee(course: Course) -> int:
    """The course's own fee per place, or PLACE_FEE_PENCE; 0 means no fee."""
    if course.place_fee_pence is not None:
        return course.place_fee_pence
    return current_app.config["PLACE_FEE_PENCE"]


def set_place_fee(course: Course, pence: int | None, *, by: User, now: datetime) -> Course:
    """L&D set a course's own fee per place; None goes back to PLACE_FEE_PENCE. Charges already
    raised keep the amount they were raised for."""
    if not by.has_role(Role.LND_ADMIN):
        raise PermissionDenied("Only the L&D team can set place fees.")
    if pence is not None and pence < 0:
        raise FinanceError("The fee cannot be negative.", field="fee")
    before = course.place_fee_pence
    course.place_fee_pence = pence
    db.session.flush()
    log_action("lms.course.place_fee_set", subject=course, actor=by, now=now, before=before, after=pence)
    return course


# Raising and withdrawing ----------------------------------------------------------------------


def charge_of(booking: Booking) -> Charge | None:
    return db.session.scalar(sa.select(Charge).where(Charge.booking_id == booking.id))


def _agency_of(booking: Booking) -> Agency | None:
    return booking.agency or (db.session.get(Agency, booking.agency_id) if booking.agency_id else None)


def raise_charge(booking: Booking, reason: ChargeReason, *, now: datetime) -> Charge | None:
    """Charge the delegate's agency for a no-show, late cancellation or place, and tell the delegate
    (and their line manager)."""
    fee = reason is ChargeReason.PLACE_FEE
    if not fee and is_exempt(_agency_of(booking)):
        return None
    amount = place_fee(booking.session.course) if fee else charge_amount(booking.session)
    if amount <= 0:
        return None
    charge = charge_of(booking)
    if charge is not None and charge.status is not ChargeStatus.WITHDRAWN:
        return charge
    if charge is None:
        charge = Charge(booking=booking)
        db.session.add(charge)
    charge.agency_id = booking.agency_id
    charge.reason = reason
    charge.amount_pence = amount
    charge.status = ChargeStatus.RAISED
    charge.raised_at = now
    charge.session_date = london_date(booking.session.starts_at)
    charge.withdrawn_at = None
    db.session.flush()
    log_action(
        "lms.charge.raised",
        subject=charge,
        actor=None,
        now=now,
        reason=reason.value,
        amount_pence=charge.amount_pence,
        booking_id=booking.id,
    )
    queue_message(
        "charge.raised",
        to=booking.user.email,
        user=booking.user,
        subject=session_subject("Place fee" if fee else "Non-attendance charge", booking.session),
        template="finance/charge_raised.txt",
        now=now,
        booking=booking,
        session=booking.session,
        charge=charge,
    )
    charge_copied(charge, now=now)
    return charge


def settle_register_charge(booking: Booking, *, by: User, now: datetime) -> Charge | None:
    """The charge a closed register calls for, raised or corrected as the register is.

    A delegate of an organisation that pays a fee per place is charged the place fee whether they
    came or not (the place was theirs), and no no-show charge besides: one charge per booking.
    Anyone else is charged for a no-show, and a charge the register no longer supports is withdrawn."""
    if booking.attendance is None:
        return charge_of(booking)
    if pays_place_fee(_agency_of(booking)) and place_fee(booking.session.course) > 0:
        return raise_charge(booking, ChargeReason.PLACE_FEE, now=now)
    if booking.attendance is Attendance.NO_SHOW:
        return raise_charge(booking, ChargeReason.NO_SHOW, now=now)
    return withdraw_charge(booking, by=by, now=now)


def withdraw_charge(booking: Booking, *, by: User, now: datetime) -> Charge | None:
    """The register was corrected: an unbilled charge is withdrawn; a billed one needs a credit note."""
    charge = charge_of(booking)
    if charge is None or charge.status is not ChargeStatus.RAISED:
        return charge
    charge.status = ChargeStatus.WITHDRAWN
    charge.withdrawn_at = now
    db.session.flush()
    log_action("lms.charge.withdrawn", subject=charge, actor=by, now=now, booking_id=booking.id)
    return charge


def charges_needing_credit() -> list[Charge]:
    """Invoiced charges whose booking is no longer a no-show or late cancellation."""
    return list(
        db.session.scalars(
            sa.select(Charge)
            .join(Charge.booking)
            .where(
                Charge.status == ChargeStatus.INVOICED,
                Charge.reason == ChargeReason.NO_SHOW,
                Booking.attendance.in_([Attendance.ATTENDED, Attendance.PARTIAL]),
            )
        )
    )


def waive_charge(charge: Charge, reason: WaiverReason, note: str, *, by: User, now: datetime) -> None:
    """L&D waive an unbilled charge for a reason; who and when are kept."""
    if not by.has_role(Role.LND_ADMIN):
        raise PermissionDenied("Only the L&D team can waive a charge.")
    if not charge.can_waive:
        raise FinanceError.conflict(f"This charge is {charge.status.title.lower()}, so it cannot be waived.")
    if reason is WaiverReason.OTHER and not note.strip():
        raise FinanceError("Say why the charge is waived.", field="note")
    charge.status = ChargeStatus.WAIVED
    charge.waiver_reason = reason
    charge.waiver_note = note.strip() or None
    charge.waived_at = now
    charge.waived_by_id = by.id
    db.session.flush()
    log_action("lms.charge.waived", subject=charge, actor=by, now=now, reason=reason.value)


# Numbers --------------------------------------------------------------------------------------


def _locked_counter(kind: str, year: int) -> DocumentCounter:
    """The year's counter for `kind`, locked until the transaction ends (created the first time)."""
    query = (
        sa.select(DocumentCounter)
        .where(DocumentCounter.kind == kind, DocumentCounter.financial_year == year)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    counter = db.session.scalar(query)
    if counter is None:
        try:
            with db.session.begin_nested():
                db.session.add(DocumentCounter(kind=kind, financial_year=year, last_number=0))
        except IntegrityError:
            pass  # another run created it a moment ago; wait for its lock instead
        counter = db.session.scalar(query)
    return counter


def _next_number(kind: str, year: int) -> int:
    counter = _locked_counter(kind, year)
    counter.last_number += 1
    db.session.flush()
    return counter.last_number


def document_number(prefix: str, year: int, sequence: int) -> str:
    return f"{prefix}{year % 100:02d}{(year + 1) % 100:02d}-{sequence:04d}"


# The invoice run ------------------------------------------------------------------------------


@dataclass
class AgencyBill:
    agency: Agency
    charges: list[Charge] = field(default_factory=list)

    @property
    def net_pence(self) -> int:
        return sum(charge.amount_pence for charge in self.charges)


@dataclass
class RunPreview:
    bills: list[AgencyBill]
    waiting_for_an_agency: int

    @property
    def total_pence(self) -> int:
        return sum(bill.net_pence for bill in self.bills)


def _billable(start: date, end: date) -> list[Charge]:
    query = (
        sa.select(Charge)
        .where(Charge.status == ChargeStatus.RAISED, Charge.session_date.between(start, end))
        .options(selectinload(Charge.agency))
        .order_by(Charge.session_date, Charge.id)
    )
    return list(db.session.scalars(query))


def _bills(charges: list[Charge]) -> RunPreview:
    bills: dict[int, AgencyBill] = {}
    waiting = 0
    for charge in charges:
        if charge.agency_id is None:
            waiting += 1
            continue
        payer = charge.agency.payer  # a school in a trust is billed through the trust
        bills.setdefault(payer.id, AgencyBill(payer)).charges.append(charge)
    return RunPreview(sorted(bills.values(), key=lambda b: b.agency.name), waiting)


def preview_invoice_run(start: date, end: date) -> RunPreview:
    """What confirming a run for this period would invoice, agency by agency."""
    if end < start:
        raise FinanceError("The period must end on or after the day it starts.", field="end")
    return _bills(_billable(start, end))


def run_invoicing(start: date, end: date, *, by: User, now: datetime) -> list[Invoice]:
    """One invoice per paying organisation for every unbilled charge in the period, numbered without
    gaps; an organisation with a parent that pays is billed through the parent."""
    if not by.has_role(Role.FINANCE):
        raise PermissionDenied("Only finance can run invoicing.")
    if end < start:
        raise FinanceError("The period must end on or after the day it starts.", field="end")
    config = current_app.config
    year = financial_year_of(london_date(now), config["FINANCIAL_YEAR_START"])
    # Take the year's counter first: a second run waits here, then finds these charges billed.
    counter = _locked_counter("invoice", year)
    bills = _bills_to_issue(start, end)
    if not bills:
        return []
    first = counter.last_number + 1
    rows = [
        _issue_invoice(bill, start, end, year=year, sequence=first + n, by=by, now=now)
        for n, bill in enumerate(bills)
    ]
    counter.last_number += len(rows)
    # Each kind of row is written in one statement, however many charges the run bills.
    db.session.execute(sa.insert(Invoice.__table__), rows)
    issued = (Invoice.financial_year == year, Invoice.sequence.between(first, counter.last_number))
    invoices = list(
        db.session.scalars(
            sa.select(Invoice).where(*issued).order_by(Invoice.sequence).options(lazyload(Invoice.lines))
        )
    )
    lines = [
        line | {"invoice_id": invoice.id}
        for invoice, bill in zip(invoices, bills, strict=True)
        for line in bill.lines
    ]
    db.session.execute(sa.insert(InvoiceLine.__table__), lines)
    billed = sa.select(InvoiceLine.charge_id).join(Invoice).where(*issued)
    db.session.execute(
        sa.update(Charge)
        .where(Charge.id.in_(billed), Charge.status == ChargeStatus.RAISED)
        .values(status=ChargeStatus.INVOICED),
        execution_options={"synchronize_session": "fetch"},  # charges this session holds, too
    )
    for invoice in invoices:
        log_action(
            "lms.invoice.issued",
            subject=invoice,
            actor=by,
            now=now,
            number=invoice.number,
            total_pence=invoice.total_pence,
        )
    emit("invoice.issued", *invoices, now=now)
    email_invoices(invoices, now=now)
    log_action(
        "lms.invoice.run",
        subject=invoices[0],
        actor=by,
        now=now,
        start=start.isoformat(),
        end=end.isoformat(),
        invoices=len(invoices),
    )
    db.session.flush()
    return invoices


@dataclass
class _Bill:
    """What one invoice of a run copies: the payer's billing details and a line for each charge."""

    payer: sa.Row
    lines: list[dict] = field(default_factory=list)

    @property
    def net_pence(self) -> int:
        return sum(line["amount_pence"] for line in self.lines)


def _bills_to_issue(start: date, end: date) -> list[_Bill]:
    """The period's unbilled charges, each with what its line copies, grouped by who pays, in one read.

    The charges stay locked until the run ends; read under the counter's lock, so a charge waived a
    moment ago, or billed by a run that finished while this one waited, is not billed."""
    organisation, payer = aliased(Agency), aliased(Agency)
    query = (
        sa.select(
            Charge.id,
            Charge.agency_id,
            Charge.reason,
            Charge.amount_pence,
            Charge.session_date,
            User.full_name.label("delegate_name"),
            Course.title.label("course_title"),
            organisation.name.label("organisation_name"),
            payer.id.label("payer_id"),
            payer.name,
            payer.billing_contact,
            payer.billing_email,
            payer.billing_address,
            payer.purchase_order,
        )
        .select_from(Charge)
        .join(Booking, Booking.id == Charge.booking_id)
        .join(User, User.id == Booking.user_id)
        .join(CourseSession, CourseSession.id == Booking.session_id)
        .join(Course, Course.id == CourseSession.course_id)
        .join(organisation, organisation.id == Charge.agency_id)
        # A school in a trust is billed through the trust (Agency.payer).
        .join(payer, payer.id == sa.func.coalesce(organisation.parent_id, organisation.id))
        .where(Charge.status == ChargeStatus.RAISED, Charge.session_date.between(start, end))
        .order_by(Charge.session_date, Charge.id)
        .with_for_update(of=Charge)
    )
    bills: dict[int, _Bill] = {}
    for row in db.session.execute(query):
        bills.setdefault(row.payer_id, _Bill(row)).lines.append(
            {
                "charge_id": row.id,
                "delegate_name": row.delegate_name,
                "organisation_name": row.organisation_name if row.agency_id != row.payer_id else None,
                "course_title": row.course_title,
                "session_date": row.session_date,
                "reason": row.reason.title,
                "amount_pence": row.amount_pence,
            }
        )
    return sorted(bills.values(), key=lambda bill: bill.payer.name)


def _issue_invoice(
    bill: _Bill, start: date, end: date, *, year: int, sequence: int, by: User, now: datetime
) -> dict:
    """An invoice's row: the payer's billing details as they stand today, the totals of its lines."""
    config = current_app.config
    payer = bill.payer
    today = london_date(now)
    net = bill.net_pence
    vat = vat_on(net, config["VAT_RATE_PERCENT"])
    return {
        "number": document_number(config["INVOICE_PREFIX"], year, sequence),
        "financial_year": year,
        "sequence": sequence,
        "agency_id": payer.payer_id,
        "status": InvoiceStatus.ISSUED,
        "period_start": start,
        "period_end": end,
        "issued_at": now,
        "issued_on": today,
        "due_on": today + timedelta(days=config["PAYMENT_TERMS_DAYS"]),
        "created_by_id": by.id,
        "bill_to_name": payer.name,
        "bill_to_contact": payer.billing_contact,
        "bill_to_email": payer.billing_email,
        "bill_to_address": payer.billing_address,
        "purchase_order": payer.purchase_order,
        "net_pence": net,
        "vat_pence": vat,
        "total_pence": net + vat,
        "vat_rate_percent": config["VAT_RATE_PERCENT"],
    }


# After issue ----------------------------------------------------------------------------------


def mark_paid(invoice: Invoice, *, by: User, now: datetime) -> None:
    """Finance records that the agency paid the whole balance today (a payment of it)."""
    from lms.finance.payments import record_payment

    record_payment(invoice, invoice.balance_pence, london_date(now), None, by=by, now=now)


def lock_invoice(invoice: Invoice) -> Invoice:
    """The invoice, re-read under a row lock held until the transaction ends, with its payments and
    credit notes as they stand now: a payment or credit note recorded at the same moment waits here."""
    locked = db.session.scalar(
        sa.select(Invoice)
        .where(Invoice.id == invoice.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    db.session.expire(locked, ["payments", "credit_notes"])
    return locked


def issue_credit_note(
    invoice: Invoice, line_ids: list[int], reason: str, *, by: User, now: datetime
) -> CreditNote:
    """Correct an issued invoice, in whole or for chosen lines, with a credit note that refers to it."""
    if not by.has_role(Role.FINANCE):
        raise PermissionDenied("Only finance can issue credit notes.")
    invoice = lock_invoice(invoice)
    if invoice.status not in (InvoiceStatus.ISSUED, InvoiceStatus.PAID):
        raise FinanceError(f"This invoice is {invoice.status.title.lower()}; nothing is left to credit.")
    if not reason.strip():
        raise FinanceError("Say why the invoice is credited.", field="reason")
    open_lines = {line.id: line for line in invoice.lines if line.credit_line is None}
    chosen = [open_lines[i] for i in line_ids if i in open_lines]
    if not chosen or len(chosen) != len(set(line_ids)):
        raise FinanceError("Choose lines of this invoice that have not been credited.", field="lines")
    config = current_app.config
    year = financial_year_of(london_date(now), config["FINANCIAL_YEAR_START"])
    sequence = _next_number("credit_note", year)
    net = sum(line.amount_pence for line in chosen)
    vat = vat_on(net, invoice.vat_rate_percent)
    note = CreditNote(
        number=document_number("CN", year, sequence),
        financial_year=year,
        sequence=sequence,
        invoice=invoice,
        issued_at=now,
        issued_on=london_date(now),
        reason=reason.strip(),
        created_by_id=by.id,
        net_pence=net,
        vat_pence=vat,
        total_pence=net + vat,
    )
    db.session.add(note)
    for line in chosen:
        note.lines.append(CreditNoteLine(invoice_line=line, amount_pence=line.amount_pence))
        line.charge.status = ChargeStatus.CREDITED
    db.session.flush()
    if all(line.credit_line is not None for line in invoice.lines):
        invoice.status = InvoiceStatus.CREDITED
    db.session.flush()
    log_action(
        "lms.credit_note.issued",
        subject=note,
        actor=by,
        now=now,
        invoice=invoice.number,
        total_pence=note.total_pence,
    )
    emit("credit_note.issued", note, now=now)
    from lms.finance.payments import settle_if_paid

    settle_if_paid(invoice, by=by, now=now)  # part paid, and the credit note covers the rest
    email_credit_note(note, now=now)
    return note


# The budget ---------------------------------------------------------------------------------


def set_budget(year: int, allocated_pence: int, *, by: User, now: datetime) -> Budget:
    """L&D record the training budget allocated for a financial year."""
    if not by.has_role(Role.LND_ADMIN):
        raise PermissionDenied("Only the L&D team can set the budget.")
    if allocated_pence < 0:
        raise FinanceError("The budget cannot be negative.", field="allocated")
    budget = db.session.get(Budget, year) or Budget(financial_year=year)
    before = budget.allocated_pence
    budget.allocated_pence = allocated_pence
    budget.updated_at = now
    budget.updated_by_id = by.id
    db.session.add(budget)
    db.session.flush()
    log_action("lms.budget.set", subject=budget, actor=by, now=now, before=before, after=allocated_pence)
    return budget


# Issued documents never change ----------------------------------------------------------------

_INVOICE_MAY_CHANGE = {"status", "paid_at"}


@event.listens_for(OrmSession, "before_flush")
def _issued_documents_are_history(session, flush_context, instances) -> None:
    for obj in session.dirty:
        if isinstance(obj, Invoice):
            state = sa.inspect(obj)
            changed = {a.key for a in state.attrs if a.history.has_changes()} - _INVOICE_MAY_CHANGE
            changed -= {"lines", "credit_notes", "agency", "payments"}
            if changed and state.persistent:
                raise FinanceError(f"An issued invoice cannot be changed ({', '.join(sorted(changed))}).")
        elif isinstance(obj, InvoiceLine | CreditNote | CreditNoteLine):
            state = sa.inspect(obj)
            changed = {
                a.key
                for a in state.attrs
                if a.history.has_changes() and a.key not in ("credit_line", "lines", "invoice")
            }
            if changed and state.persistent:
                raise FinanceError("Invoice lines and credit notes cannot be changed once issued.")
    for obj in session.deleted:
        if isinstance(obj, Invoice | InvoiceLine | CreditNote | CreditNoteLine):
            raise FinanceError("Invoices and credit notes are never deleted; issue a credit note instead.")
