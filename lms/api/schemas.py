"""What the JSON API reads and answers, as marshmallow schemas: the OpenAPI document is built from
these, and the query strings are validated by them (anything outside their bounds is a 422)."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from lms.core.calendar import EARLIEST_DATE, LATEST_DATE
from lms.core.web import MAX_ID, MAX_PAGE
from lms.courses.models import DeliveryMode
from lms.finance.models import ChargeStatus, InvoiceStatus

MAX_PER_PAGE = 100
DEFAULT_PER_PAGE = 25


def _id(**kwargs) -> fields.Integer:
    return fields.Integer(validate=validate.Range(min=1, max=MAX_ID), **kwargs)


def _date(**kwargs) -> fields.Date:
    return fields.Date(validate=validate.Range(min=EARLIEST_DATE, max=LATEST_DATE), **kwargs)


def enum_field(enum_cls, **kwargs) -> fields.String:
    """An enum by its value: the OpenAPI document lists the values."""
    return fields.String(validate=validate.OneOf([member.value for member in enum_cls]), **kwargs)


class Query(ma.Schema):
    class Meta:
        # Unknown parameters (a cache-buster, a tracking tag) are ignored rather than refused.
        unknown = ma.EXCLUDE

    @ma.pre_load
    def _empty_is_absent(self, data, **kwargs):
        """`?topic=` (a website's filter form left at "any") means no filter, not an invalid one."""
        return {key: value for key, value in data.items() if value != ""}


class PageQuery(Query):
    page = fields.Integer(
        load_default=1, validate=validate.Range(min=1, max=MAX_PAGE), metadata={"description": "Page, from 1"}
    )
    per_page = fields.Integer(
        load_default=DEFAULT_PER_PAGE,
        validate=validate.Range(min=1, max=MAX_PER_PAGE),
        metadata={"description": f"Items per page, at most {MAX_PER_PAGE}"},
    )


class Links(ma.Schema):
    self = fields.String(required=True)
    next = fields.String(allow_none=True, required=True)
    prev = fields.String(allow_none=True, required=True)


class PageMeta(ma.Schema):
    page = fields.Integer(required=True)
    per_page = fields.Integer(required=True)
    total = fields.Integer(required=True, metadata={"description": "Items on every page together"})
    pages = fields.Integer(required=True)
    links = fields.Nested(Links, required=True)


def page_of(item_schema: type[ma.Schema], name: str) -> type[ma.Schema]:
    """A page of items: the items and where they sit among the rest."""
    return ma.Schema.from_dict(
        {
            "items": fields.List(fields.Nested(item_schema), required=True),
            "meta": fields.Nested(PageMeta, required=True),
        },
        name=name,
    )


class Problem(ma.Schema):
    """RFC 9457 problem details."""

    type = fields.String(required=True)
    title = fields.String(required=True)
    status = fields.Integer(required=True)
    detail = fields.String(required=True)
    instance = fields.String()
    errors = fields.Dict(metadata={"description": "For invalid input: the messages, by field"})


# The catalogue ---------------------------------------------------------------------------------


class Topic(ma.Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)


class CourseSummary(ma.Schema):
    id = fields.Integer(required=True)
    title = fields.String(required=True)
    level = fields.String(required=True)
    level_title = fields.String(required=True)
    topic = fields.Nested(Topic, required=True)


class Course(CourseSummary):
    description = fields.String(required=True)
    target_audience = fields.String(required=True)
    delivery_mode = fields.String(required=True)
    delivery_mode_title = fields.String(required=True)
    duration_minutes = fields.Integer(required=True)
    provider = fields.String(required=True)


class Session(ma.Schema):
    id = fields.Integer(required=True)
    course = fields.Nested(CourseSummary, required=True)
    starts_at = fields.String(required=True, metadata={"description": "UTC, ISO 8601"})
    ends_at = fields.String(required=True, metadata={"description": "UTC, ISO 8601"})
    starts_at_london = fields.String(required=True, metadata={"description": "Europe/London, ISO 8601"})
    ends_at_london = fields.String(required=True, metadata={"description": "Europe/London, ISO 8601"})
    delivery_mode = fields.String(required=True)
    delivery_mode_title = fields.String(required=True)
    venue = fields.String(
        allow_none=True, required=True, metadata={"description": "None for online sessions"}
    )
    places = fields.Integer(required=True, metadata={"description": "Places offered (with overbooking)"})
    places_left = fields.Integer(required=True)
    waiting = fields.Integer(required=True, metadata={"description": "People on the waiting list"})
    status = fields.String(
        required=True,
        validate=validate.OneOf(["open", "few", "full", "closed"]),
        metadata={"description": "open, few (nearly full), full (waiting list open) or closed"},
    )
    status_text = fields.String(required=True)
    bookings_close_at = fields.String(required=True, metadata={"description": "UTC, ISO 8601"})
    url = fields.String(required=True, metadata={"description": "The session's page, to book on"})


class SessionQuery(PageQuery):
    course = _id(metadata={"description": "A course id"})
    topic = _id(metadata={"description": "A topic id"})
    mode = enum_field(DeliveryMode, metadata={"description": "How it is delivered"})
    from_ = _date(data_key="from", metadata={"description": "Sessions on or after this UK date"})
    to = _date(metadata={"description": "Sessions on or before this UK date"})
    has_places = fields.Boolean(
        metadata={"description": "true: sessions with places left that still take bookings; false: the rest"}
    )

    @ma.validates_schema
    def _order(self, data, **kwargs):
        if data.get("from_") and data.get("to") and data["to"] < data["from_"]:
            raise ma.ValidationError("Must be on or after “from”.", field_name="to")


class CourseQuery(PageQuery):
    topic = _id(metadata={"description": "A topic id"})


# A person's own --------------------------------------------------------------------------------


class Me(ma.Schema):
    id = fields.Integer(required=True)
    first_name = fields.String(required=True)
    last_name = fields.String(required=True)
    email = fields.String(required=True)
    job_role = fields.String(required=True)
    organisation = fields.String(required=True)


class Booking(ma.Schema):
    id = fields.Integer(required=True)
    session = fields.Nested(Session, required=True)
    status = fields.String(required=True)
    status_title = fields.String(required=True)
    booked_at = fields.String(required=True)
    attendance = fields.String(allow_none=True, required=True)


class BookingQuery(PageQuery):
    view = fields.String(
        load_default="all",
        validate=validate.OneOf(["all", "upcoming", "past", "cancelled"]),
        metadata={"description": "all, upcoming (live bookings to come), past or cancelled"},
    )


class RecordLine(ma.Schema):
    booking_id = fields.Integer(required=True)
    course_id = fields.Integer(required=True)
    course = fields.String(required=True)
    level = fields.String(required=True)
    session_date = fields.Date(required=True, metadata={"description": "UK date"})
    cpd_hours = fields.Float(required=True)
    attendance = fields.String(required=True)
    certificate_number = fields.String(allow_none=True, required=True)


class Record(ma.Schema):
    lines = fields.List(fields.Nested(RecordLine), required=True)
    total_cpd_hours = fields.Float(required=True)


# Organisations' staff --------------------------------------------------------------------------


class Organisation(ma.Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    parent_id = fields.Integer(allow_none=True, required=True)


class StaffMember(ma.Schema):
    id = fields.Integer(required=True)
    first_name = fields.String(required=True)
    last_name = fields.String(required=True)
    email = fields.String(required=True)
    job_role = fields.String(required=True)
    organisation_id = fields.Integer(allow_none=True, required=True)
    sessions_attended = fields.Integer(required=True)
    last_attended = fields.Date(allow_none=True, required=True)
    no_shows = fields.Integer(required=True)


class StaffQuery(PageQuery):
    organisation = _id(metadata={"description": "One of the organisations the token covers"})


class StaffRecord(ma.Schema):
    last_name = fields.String(required=True)
    first_name = fields.String(required=True)
    email = fields.String(required=True)
    job_role = fields.String(required=True)
    organisation = fields.String(required=True, metadata={"description": "Who the place was booked for"})
    course = fields.String(required=True)
    level = fields.String(required=True)
    session_date = fields.Date(required=True, metadata={"description": "UK date"})
    cpd_hours = fields.Float(required=True)
    attendance = fields.String(required=True)


class StaffRecordQuery(StaffQuery):
    from_ = _date(data_key="from", metadata={"description": "Sessions on or after this UK date"})
    to = _date(metadata={"description": "Sessions on or before this UK date"})


# Finance ---------------------------------------------------------------------------------------


class InvoiceLine(ma.Schema):
    id = fields.Integer(required=True)
    charge_id = fields.Integer(required=True)
    delegate_name = fields.String(required=True)
    organisation_name = fields.String(allow_none=True, required=True)
    course_title = fields.String(required=True)
    session_date = fields.Date(required=True)
    reason = fields.String(required=True)
    amount_pence = fields.Integer(required=True)


class Invoice(ma.Schema):
    id = fields.Integer(required=True)
    number = fields.String(required=True)
    financial_year = fields.Integer(required=True, metadata={"description": "2026 for 2026/27"})
    status = fields.String(required=True)
    status_title = fields.String(required=True)
    organisation_id = fields.Integer(required=True)
    bill_to_name = fields.String(required=True)
    purchase_order = fields.String(allow_none=True, required=True)
    period_start = fields.Date(required=True)
    period_end = fields.Date(required=True)
    issued_at = fields.String(required=True)
    issued_on = fields.Date(required=True)
    due_on = fields.Date(required=True)
    paid_at = fields.String(allow_none=True, required=True)
    net_pence = fields.Integer(required=True)
    vat_pence = fields.Integer(required=True)
    total_pence = fields.Integer(required=True)
    vat_rate_percent = fields.Integer(required=True)
    credited_pence = fields.Integer(required=True)
    paid_pence = fields.Integer(required=True)
    outstanding_pence = fields.Integer(required=True)
    lines = fields.List(fields.Nested(InvoiceLine), required=True)


class FinanceQuery(PageQuery):
    financial_year = fields.Integer(
        validate=validate.Range(min=EARLIEST_DATE.year, max=LATEST_DATE.year - 1),
        metadata={"description": "The year it starts in: 2026 for 2026/27"},
    )
    from_ = _date(data_key="from", metadata={"description": "On or after this date"})
    to = _date(metadata={"description": "On or before this date"})
    organisation = _id(metadata={"description": "An organisation id"})


class InvoiceQuery(FinanceQuery):
    status = enum_field(InvoiceStatus)


class Charge(ma.Schema):
    id = fields.Integer(required=True)
    booking_id = fields.Integer(required=True)
    organisation_id = fields.Integer(allow_none=True, required=True)
    reason = fields.String(required=True)
    reason_title = fields.String(required=True)
    status = fields.String(required=True)
    status_title = fields.String(required=True)
    amount_pence = fields.Integer(required=True)
    session_date = fields.Date(required=True)
    raised_at = fields.String(required=True)
    delegate_name = fields.String(required=True)
    course_title = fields.String(required=True)


class ChargeQuery(FinanceQuery):
    status = enum_field(ChargeStatus)
