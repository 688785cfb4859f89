"""Charges for non-attendance, their waivers, and the invoices and credit notes that bill them.

Financial records are history: an issued invoice is never edited; its lines carry copies of
what they bill; a credit note refers to it and corrects it.
"""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lms.accounts.models import Agency, User
from lms.bookings.models import Booking
from lms.core.db import UTCDateTime, enum_column
from lms.core.enums import TitledEnum
from lms.extensions import db


class ChargeReason(TitledEnum):
    NO_SHOW = ("no_show", "No-show")
    LATE_CANCELLATION = ("late_cancellation", "Late cancellation")
    PLACE_FEE = ("place_fee", "Place fee")


class ChargeStatus(TitledEnum):
    RAISED = ("raised", "Raised, not yet invoiced")
    WAIVED = ("waived", "Waived")
    WITHDRAWN = ("withdrawn", "Withdrawn (register corrected)")
    INVOICED = ("invoiced", "Invoiced")
    CREDITED = ("credited", "Credited")


class WaiverReason(TitledEnum):
    ILLNESS = ("illness", "Illness reported before the session")
    BEREAVEMENT = ("bereavement", "Bereavement")
    WORK_EMERGENCY = ("work_emergency", "Emergency at work")
    PARTNERSHIP_ERROR = ("partnership_error", "Partnership error or IT failure")
    OTHER = ("other", "Other")


class InvoiceStatus(TitledEnum):
    # An invoice exists only once issued: a run previews, then issues, with no draft in between.
    ISSUED = ("issued", "Issued")
    PAID = ("paid", "Paid")
    CREDITED = ("credited", "Credited")


class Charge(db.Model):
    __tablename__ = "charge"

    id: Mapped[int] = mapped_column(primary_key=True)
    booking_id: Mapped[int] = mapped_column(sa.ForeignKey("booking.id", ondelete="RESTRICT"), unique=True)
    # The agency billed: the delegate's agency when they booked (None while "other" is unmapped).
    agency_id: Mapped[int | None] = mapped_column(sa.ForeignKey("agency.id", ondelete="RESTRICT"), index=True)
    reason: Mapped[ChargeReason] = mapped_column(enum_column(ChargeReason))
    amount_pence: Mapped[int]
    status: Mapped[ChargeStatus] = mapped_column(enum_column(ChargeStatus))
    raised_at: Mapped[datetime] = mapped_column(UTCDateTime)
    session_date: Mapped[date]
    waiver_reason: Mapped[WaiverReason | None] = mapped_column(enum_column(WaiverReason))
    waiver_note: Mapped[str | None] = mapped_column(sa.Text)
    waived_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    waived_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id", ondelete="SET NULL"))
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    booking: Mapped[Booking] = relationship(lazy="joined")
    agency: Mapped[Agency | None] = relationship()
    waived_by: Mapped[User | None] = relationship()

    __table_args__ = (
        sa.CheckConstraint("amount_pence > 0", name="amount_positive"),
        sa.Index("ix_charge_status_date", "status", "session_date"),
    )

    @property
    def can_waive(self) -> bool:
        """Only a charge not yet invoiced can be waived."""
        return self.status is ChargeStatus.RAISED

    @property
    def is_waived(self) -> bool:
        return self.status is ChargeStatus.WAIVED

    @property
    def is_no_show(self) -> bool:
        return self.reason is ChargeReason.NO_SHOW

    @property
    def is_place_fee(self) -> bool:
        return self.reason is ChargeReason.PLACE_FEE


class DocumentCounter(db.Model):
    """The last number used for each kind of document in each financial year.

    Taken under a row lock in the transaction that creates the documents, so numbers run
    without gaps: a failed run rolls its numbers back with everything else.
    """

    __tablename__ = "document_counter"

    kind: Mapped[str] = mapped_column(sa.String(20), primary_key=True)
    financial_year: Mapped[int] = mapped_column(primary_key=True)
    last_number: Mapped[int] = mapped_column(default=0)


class Invoice(db.Model):
    __tablename__ = "invoice"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(sa.String(40), unique=True)
    financial_year: Mapped[int]
    sequence: Mapped[int]
    agency_id: Mapped[int] = mapped_column(sa.ForeignKey("agency.id", ondelete="RESTRICT"), index=True)
    status: Mapped[InvoiceStatus] = mapped_column(enum_column(InvoiceStatus))
    period_start: Mapped[date]
    period_end: Mapped[date]
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime)
    issued_on: Mapped[date]
    due_on: Mapped[date]
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id", ondelete="SET NULL"))
    # What the agency's billing details were when the invoice was issued.
    bill_to_name: Mapped[str] = mapped_column(sa.String(200))
    bill_to_contact: Mapped[str | None] = mapped_column(sa.String(200))
    bill_to_email: Mapped[str | None] = mapped_column(sa.String(254))
    bill_to_address: Mapped[str | None] = mapped_column(sa.Text)
    purchase_order: Mapped[str | None] = mapped_column(sa.String(100))
    net_pence: Mapped[int] = mapped_column(sa.BigInteger)
    vat_pence: Mapped[int] = mapped_column(sa.BigInteger)
    total_pence: Mapped[int] = mapped_column(sa.BigInteger)
    vat_rate_percent: Mapped[int]

    agency: Mapped[Agency] = relationship()
    lines: Mapped[list[InvoiceLine]] = relationship(
        back_populates="invoice", order_by="InvoiceLine.id", lazy="selectin"
    )
    credit_notes: Mapped[list[CreditNote]] = relationship(back_populates="invoice", order_by="CreditNote.id")
    payments: Mapped[list[Payment]] = relationship(
        back_populates="invoice", order_by=lambda: (Payment.received_on, Payment.id)
    )

    __table_args__ = (
        sa.UniqueConstraint("financial_year", "sequence", name="uq_invoice_year_sequence"),
        sa.CheckConstraint("total_pence >= 0", name="total_not_negative"),
    )

    def is_overdue(self, today: date) -> bool:
        return self.status is InvoiceStatus.ISSUED and today > self.due_on

    @property
    def can_mark_paid(self) -> bool:
        """Only an issued invoice can be marked paid."""
        return self.status is InvoiceStatus.ISSUED

    @property
    def can_credit(self) -> bool:
        """An issued or paid invoice can be credited while some of its lines are not yet credited."""
        return self.status in (InvoiceStatus.ISSUED, InvoiceStatus.PAID) and any(
            line.credit_line is None for line in self.lines
        )

    @property
    def credited_pence(self) -> int:
        return sum(note.total_pence for note in self.credit_notes)

    @property
    def paid_pence(self) -> int:
        return sum(payment.amount_pence for payment in self.payments)

    @property
    def balance_pence(self) -> int:
        """What is left to pay: the total less credit notes and payments (below 0: a refund is due)."""
        return self.total_pence - self.credited_pence - self.paid_pence

    @property
    def outstanding_pence(self) -> int:
        if self.status is InvoiceStatus.PAID:
            return 0
        return max(self.balance_pence, 0)

    @property
    def can_record_payment(self) -> bool:
        """Payments are recorded against an issued invoice with something left to pay."""
        return self.status is InvoiceStatus.ISSUED and self.balance_pence > 0

    def days_overdue(self, today: date) -> int:
        """Days past the due date (0 while not yet due), for aged debt."""
        return max((today - self.due_on).days, 0)


class InvoiceLine(db.Model):
    __tablename__ = "invoice_line"

    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(sa.ForeignKey("invoice.id", ondelete="RESTRICT"), index=True)
    # A charge is billed once, whatever happens: the database holds to that.
    charge_id: Mapped[int] = mapped_column(sa.ForeignKey("charge.id", ondelete="RESTRICT"), unique=True)
    delegate_name: Mapped[str] = mapped_column(sa.String(200))
    # The delegate's own organisation, when the invoice goes to its parent.
    organisation_name: Mapped[str | None] = mapped_column(sa.String(200))
    course_title: Mapped[str] = mapped_column(sa.String(300))
    session_date: Mapped[date]
    reason: Mapped[str] = mapped_column(sa.String(60))
    amount_pence: Mapped[int]

    invoice: Mapped[Invoice] = relationship(back_populates="lines")
    charge: Mapped[Charge] = relationship()
    credit_line: Mapped[CreditNoteLine | None] = relationship(back_populates="invoice_line")

    @property
    def delegate_label(self) -> str:
        """The delegate, with their organisation when the invoice goes to its parent."""
        if self.organisation_name:
            return f"{self.delegate_name} ({self.organisation_name})"
        return self.delegate_name


class CreditNote(db.Model):
    __tablename__ = "credit_note"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(sa.String(40), unique=True)
    financial_year: Mapped[int]
    sequence: Mapped[int]
    invoice_id: Mapped[int] = mapped_column(sa.ForeignKey("invoice.id", ondelete="RESTRICT"), index=True)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime)
    issued_on: Mapped[date]
    reason: Mapped[str] = mapped_column(sa.Text)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id", ondelete="SET NULL"))
    net_pence: Mapped[int] = mapped_column(sa.BigInteger)
    vat_pence: Mapped[int] = mapped_column(sa.BigInteger)
    total_pence: Mapped[int] = mapped_column(sa.BigInteger)

    invoice: Mapped[Invoice] = relationship(back_populates="credit_notes")
    lines: Mapped[list[CreditNoteLine]] = relationship(
        back_populates="credit_note", order_by="CreditNoteLine.id", lazy="selectin"
    )

    __table_args__ = (sa.UniqueConstraint("financial_year", "sequence", name="uq_credit_note_year_sequence"),)


class CreditNoteLine(db.Model):
    __tablename__ = "credit_note_line"

    id: Mapped[int] = mapped_column(primary_key=True)
    credit_note_id: Mapped[int] = mapped_column(
        sa.ForeignKey("credit_note.id", ondelete="RESTRICT"), index=True
    )
    # An invoice line is credited once at most.
    invoice_line_id: Mapped[int] = mapped_column(
        sa.ForeignKey("invoice_line.id", ondelete="RESTRICT"), unique=True
    )
    amount_pence: Mapped[int]

    credit_note: Mapped[CreditNote] = relationship(back_populates="lines")
    invoice_line: Mapped[InvoiceLine] = relationship(back_populates="credit_line")


class Payment(db.Model):
    """Money received against an invoice: part or all of its balance, never more."""

    __tablename__ = "payment"

    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(sa.ForeignKey("invoice.id", ondelete="RESTRICT"), index=True)
    received_on: Mapped[date]
    amount_pence: Mapped[int] = mapped_column(sa.BigInteger)
    reference: Mapped[str | None] = mapped_column(sa.String(100))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    recorded_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id", ondelete="SET NULL"))

    invoice: Mapped[Invoice] = relationship(back_populates="payments")
    recorded_by: Mapped[User | None] = relationship()

    __table_args__ = (sa.CheckConstraint("amount_pence > 0", name="amount_positive"),)


class Budget(db.Model):
    """The training budget L&D allocate for a financial year."""

    __tablename__ = "budget"

    financial_year: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    allocated_pence: Mapped[int] = mapped_column(sa.BigInteger)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id", ondelete="SET NULL"))

    __table_args__ = (sa.CheckConstraint("allocated_pence >= 0", name="allocated_not_negative"),)

    @property
    def id(self) -> int:
        """The audit trail names a budget by its year."""
        return self.financial_year
