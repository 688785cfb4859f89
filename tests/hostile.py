"""Pieces of the hostile-input test: a world with something in every state, hostile values,
a reader of the forms on a page, and a client that records every server error it meets."""

from __future__ import annotations

import re
import traceback
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import quote, urlencode, urlsplit

import sqlalchemy as sa
from flask import got_request_exception
from werkzeug.datastructures import MultiDict

from lms.accounts.contacts import add_training_contact
from lms.accounts.models import AgencyCategory, Role
from lms.accounts.services import make_reset_token
from lms.bookings.models import Attendance
from lms.bookings.services import (
    book_place,
    cancel_booking,
    cancel_session,
    close_register,
    mark_attendance,
    substitute_booking,
)
from lms.courses.models import DeliveryMode
from lms.evaluations.models import QuestionKind
from lms.evaluations.services import certificate_of, current_question_set, submit_evaluation
from lms.extensions import db, limiter
from lms.finance.models import Charge, WaiverReason
from lms.finance.services import issue_credit_note, mark_paid, run_invoicing, set_budget, waive_charge
from lms.followups.models import FollowUp
from lms.followups.services import invite_due
from lms.integrations.tokens import ApiToken
from tests.conftest import csrf_token, sign_in
from tests.factories import (
    NOW,
    create_agency,
    create_course,
    create_erasure_request,
    create_integration_with_tokens,
    create_session,
    create_user,
    create_webhook,
)

LMS_DIR = Path(__file__).resolve().parent.parent / "lms"

# Hostile values ------------------------------------------------------------------------------

# What goes where a route expects an id: out of every integer range, signed, padded, huge.
HOSTILE_IDS = ["0", "-1", "007", str(2**31 - 1), str(2**31), str(2**63 - 1), str(2**63), str(2**64), "9" * 25]

NUMBERS = [
    "0",
    "-0",
    "-1",
    "+5",
    "1.5",
    "-1.5",
    "1e309",
    "1e-309",
    "NaN",
    "inf",
    "-Infinity",
    "0x10",
    "1_000",
    " 7 ",
    "١٢٣",  # Arabic-Indic digits, which int() accepts
    "１２",  # full-width digits
    str(2**31),
    str(-(2**31) - 1),
    str(2**63),
    str(-(2**63) - 1),
    str(2**64),
    "9" * 25,
    "9" * 400,
    "-" + "9" * 400,
    "0." + "0" * 399 + "1",
    "9" * 400 + ".99",
    "£-5.00",
    "£1,000,000,000,000,000.00",
    "12.345",
]

DATES_AND_TIMES = [
    "0001-01-01",
    "9999-12-31",
    "2026-02-30",
    "2026-02-29",
    "2028-02-29",
    "2026-13-01",
    "0000-00-00",
    "-0001-01-01",
    "10000-01-01",
    "2026-2-3",
    "31/12/2026",
    "2026-03-29",  # the clocks go forward in the UK
    "2026-10-25",  # and back
    "2026-04-01T00:00:00",
    "24:00",
    "25:61",
    "01:30",
    "23:59:60",
    "-1:00",
    "9:3",
]

TEXTS = [
    "",
    " ",
    "\t\n\r",
    "\x00",
    "a\x00b",
    "\x01\x02\x1b[31m\x7f\x08",
    "\r\n\r\n",
    "\u0085\u2028\u2029",
    "x" * 10_000,
    "é" * 10_000,
    "\u202eRTL override\u202c",
    "\u200f\u200e\u200b\u2060",
    "😀👩‍👩‍👧‍👦🏳️‍🌈",
    "e\u0301\u0301\u0301\u0301",
    "𝕳𝖊𝖑𝖑𝖔",
    "\ufeff\ufffd\uffff",
    "\U0010ffff",
    "İı ß ﬃ",
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "{{ 7*7 }}{% raw %}",
    "=1+1",
    '=HYPERLINK("http://evil.example","x")',
    "+SUM(A1:A9)",
    "-2+3",
    "@cmd",
    "\t=1",
    "' OR 1=1 --",
    '\'; DROP TABLE "user"; --',
    "%",
    "_",
    "\\",
    "%_\\%",
    "//evil.example",
    "/\\evil.example",
    "javascript:alert(1)",
    "http://evil.example/",
    "../../etc/passwd",
    "%00",
    "a@b",
    "@",
    "a@b@c",
    "x@example.org\nBcc: y@example.org",
    ("x" * 300) + "@example.org",
    "other",
    "OTHER",
    "True",
    "on",
    "false",
    "None",
    "null",
    "[]",
    "{}",
]

HOSTILE_VALUES = NUMBERS + DATES_AND_TIMES + TEXTS

# Names that hold dates, times or numbers, for the pages whose fields do not say so by their type.
DATE_NAMES = {"start", "end", "date_from", "date_to", "date", "end_date", "start_time", "end_time"}
NUMBER_NAMES = {"page", "year", "course", "agency", "topic", "places", "overbook_percent", "cost"}
NUMBER_NAMES |= {"allocated", "duration_hours", "lines"}


def kind_of(name: str, input_type: str = "") -> str:
    """What a place holds, so the values most likely to upset it can be tried first."""
    if input_type in ("select", "radio", "checkbox", "button"):
        return "choice"
    if input_type in ("date", "time", "datetime-local") or name in DATE_NAMES:
        return "date"
    if input_type == "number" or name in NUMBER_NAMES or name.endswith("_id"):
        return "number"
    return "text"


HOSTILE_BY_KIND = {
    "id": HOSTILE_IDS,
    "number": NUMBERS,
    "date": DATES_AND_TIMES,
    "text": TEXTS,
    "choice": NUMBERS + TEXTS,
}

# Values the views read from the query string, and values worth pairing with them.
QUERY_NAMES = [
    "page",
    "show",
    "course",
    "next",
    "purpose",
    "organisation",
    "q",
    "role",
    "topic",
    "mode",
    "date_from",
    "date_to",
    "by",
    "start",
    "end",
    "agency",
    "status",
    "number",
    "year",
    "sort",
]
# Pages pass their whole query string to url_for, whose own arguments these are.
URL_FOR_NAMES = ["fmt", "endpoint", "_external", "_scheme", "_anchor", "_method"]
QUERY_NAMES += URL_FOR_NAMES
QUERY_FRIENDS = [
    "past",
    "upcoming",
    "invitation",
    "password-reset",
    "agency",
    "category",
    "course",
    "topic",
    "mode",
    "month",
    "raised",
    "invoiced",
    "waived",
    "lnd_admin",
    "online_live",
    "2026-04-01",
    "2027-03-31",
    "2",
]


def shorten(value: str, limit: int = 60) -> str:
    """A value as a readable repr: long values cut, with their length."""
    if len(value) <= limit:
        return repr(value)
    return f"{value[:limit]!r}... ({len(value)} chars)"


# The world ----------------------------------------------------------------------------------


@dataclass
class World:
    """Ids (as text, so they outlive the objects) of something in every state, by path argument."""

    people: dict[str, int]
    pools: dict[str, list[str]]
    colleague_email: str
    booking_owner: dict[str, str]  # booking id: whose it is
    booking_state: dict[str, str]  # booking id: its status and attendance

    def walk_pools(self, role: str) -> dict[str, list[str]]:
        """The ids worth opening as `role`: their own bookings, one of each other kind, a few people."""
        pools = dict(self.pools)
        own = [b for b in self.pools["booking_id"] if self.booking_owner[b] == role]
        others: dict[str, str] = {}
        for b in self.pools["booking_id"]:
            if self.booking_owner[b] != role:
                others.setdefault(self.booking_state[b], b)
        pools["booking_id"] = own + list(others.values())
        names = [role, "practitioner", "nursery", "disabled", "lnd_admin"]
        pools["user_id"] = list(dict.fromkeys(str(self.people[n]) for n in names if n in self.people))
        return pools


def build_world() -> World:
    """A course programme that has run for a while: every booking, charge and document state."""
    police = create_agency(
        "West Midlands Police",
        billing_contact="Accounts Payable",
        billing_email="ap@police.example.org",
        billing_address="Lloyd House\nBirmingham",
        purchase_order="PO-1234",
    )
    health = create_agency("City Hospital", category=AgencyCategory.HEALTH_ACUTE)
    closed = create_agency(
        "Closed Children's Centre", category=AgencyCategory.EDUCATION_EARLY_YEARS, is_active=False
    )

    people = {
        "practitioner": create_user(agency=police),
        "trainer": create_user(roles=(Role.TRAINER,), agency=health),
        "lnd_admin": create_user(roles=(Role.LND_ADMIN,), agency=health),
        "finance": create_user(roles=(Role.FINANCE,), agency=health),
        "everyone": create_user(roles=tuple(Role), agency=police),
        "colleague": create_user(agency=police),
        "police_1": create_user(agency=police),
        "police_2": create_user(agency=police),
        "health_1": create_user(agency=health),
        "health_2": create_user(agency=health),
        "nursery": create_user(other_organisation="Little Stars Nursery"),
        "disabled": create_user(agency=closed, enabled=False),
        "training_contact": create_user(roles=(Role.TRAINING_CONTACT,), agency=health),
    }
    p = people
    admin, trainer, finance = p["lnd_admin"], p["trainer"], p["finance"]
    # Training contacts: one for the hospital; the holder of every role for the police.
    add_training_contact(health, p["training_contact"], by=admin, now=NOW)
    add_training_contact(police, p["everyone"], by=admin, now=NOW)
    course = create_course("Neglect Foundations", delivery_mode=DeliveryMode.IN_PERSON)
    other_course = create_course("Right Help, Right Time", is_active=False)
    for each in (course, other_course):
        current_question_set(each, now=NOW)

    def session(days: float, **fields):
        return create_session(course=course, starts_at=NOW + timedelta(days=days), trainer=trainer, **fields)

    def booked(sess, person, at=None):
        return book_place(sess, person, by=admin, now=at or min(NOW, sess.starts_at - timedelta(days=20)))

    bookings = []
    # A session ahead: confirmed, waiting, cancelled and substituted places.
    ahead = session(30, places=3, overbook_percent=0)
    bookings += [booked(ahead, p["practitioner"]), booked(ahead, p["everyone"])]
    handed_on = booked(ahead, p["police_2"])
    waiting_then_cancelled = booked(ahead, p["police_1"])
    bookings += [handed_on, waiting_then_cancelled, booked(ahead, p["health_1"])]
    bookings.append(substitute_booking(handed_on, p["colleague"], by=p["police_2"], now=NOW))
    cancel_booking(waiting_then_cancelled, by=p["police_1"], now=NOW)
    # A full session where the signed-in delegates wait.
    full = session(20, places=1, overbook_percent=0)
    bookings += [booked(full, p["police_1"]), booked(full, p["practitioner"]), booked(full, p["everyone"])]
    # A session in two days: a late cancellation, charged and not yet invoiced.
    soon = session(2)
    late = booked(soon, p["health_2"], NOW - timedelta(days=10))
    bookings += [late, booked(soon, p["practitioner"], NOW - timedelta(days=10))]
    cancel_booking(late, by=p["health_2"], now=NOW)
    # A session running now, its register open.
    running = create_session(course=course, starts_at=NOW - timedelta(hours=1), trainer=trainer)
    bookings += [booked(running, p["practitioner"]), booked(running, p["police_1"])]
    # A session three days ago, its register closed: every attendance, and no-shows charged.
    past = session(-3)
    outcomes = {
        "practitioner": Attendance.ATTENDED,
        "everyone": Attendance.ATTENDED,
        "police_1": Attendance.PARTIAL,
        "police_2": Attendance.NO_SHOW,
        "colleague": Attendance.NO_SHOW,
        "health_1": Attendance.NO_SHOW,
        "health_2": Attendance.NO_SHOW,
        "nursery": Attendance.ATTENDED,
    }
    past_bookings = {name: booked(past, p[name]) for name in outcomes}
    bookings += past_bookings.values()
    for name, outcome in outcomes.items():
        mark_attendance(past_bookings[name], outcome, by=trainer, now=past.starts_at + timedelta(minutes=5))
    close_register(past, by=trainer, now=past.ends_at)
    # Six and a half weeks ago: attended, so the follow-up survey is open.
    old = session(-45)
    for name in ("practitioner", "everyone"):
        booking = booked(old, p[name])
        bookings.append(booking)
        mark_attendance(booking, Attendance.ATTENDED, by=trainer, now=old.starts_at + timedelta(minutes=5))
    close_register(old, by=trainer, now=old.ends_at)
    invite_due(NOW)
    # A session the partnership cancelled.
    called_off = session(40)
    bookings.append(booked(called_off, p["police_2"]))
    cancel_session(called_off, reason="Trainer unwell", by=admin, now=NOW)

    # An evaluation and its certificate.
    mine = past_bookings["practitioner"]
    questions = current_question_set(course, now=NOW)
    answers = {
        q.id: ("4" if q.kind is QuestionKind.RATING else "Ask about the child's lived experience.")
        for q in questions.questions
    }
    submit_evaluation(mine, questions, answers, by=p["practitioner"], now=NOW)
    certificate = certificate_of(mine)  # earned by the evaluation

    # Charges: one waived, then an invoice run; one invoice partly credited, the other paid.
    waive_charge(_charge(past_bookings["health_1"]), WaiverReason.ILLNESS, "", by=admin, now=NOW)
    invoices = run_invoicing(date(2026, 4, 1), date(2026, 5, 4), by=finance, now=NOW)
    police_invoice = next(i for i in invoices if i.agency_id == police.id)
    health_invoice = next(i for i in invoices if i.agency_id == health.id)
    note = issue_credit_note(
        police_invoice, [police_invoice.lines[0].id], "Register corrected", by=finance, now=NOW
    )
    mark_paid(health_invoice, by=finance, now=NOW)
    set_budget(2026, 12_003_700, by=admin, now=NOW)
    integration = create_integration_with_tokens(police, p["practitioner"], admin)
    webhook, delivery = create_webhook(integration, admin)
    data_request = create_erasure_request(p["colleague"], admin)
    db.session.flush()

    follow_ups = db.session.scalars(sa.select(FollowUp.id).order_by(FollowUp.id)).all()
    charges = db.session.scalars(sa.select(Charge.id).order_by(Charge.id)).all()
    pools = {
        "agency_id": [police.id, health.id, closed.id],
        "user_id": [user.id for user in people.values()],
        "course_id": [course.id, other_course.id],
        "session_id": [s.id for s in (ahead, full, soon, running, past, old, called_off)],
        "booking_id": sorted({b.id for b in bookings}),
        "charge_id": list(charges),
        "invoice_id": [police_invoice.id, health_invoice.id],
        "note_id": [note.id],
        "follow_up_id": list(follow_ups),
        "number": [certificate.number, certificate.number.lower()],
        "token": [
            make_reset_token(p["nursery"]),
            make_reset_token(p["trainer"], purpose="invitation"),
        ],
        "fmt": ["csv", "xlsx"],
        "integration_id": [integration.id],
        "token_id": db.session.scalars(sa.select(ApiToken.id).order_by(ApiToken.id)).all(),
        "subscription_id": [webhook.id],
        "delivery_id": [delivery.id],
        "request_id": [data_request.id],
    }
    name_of = {user.id: name for name, user in people.items()}
    return World(
        people={name: user.id for name, user in people.items()},
        pools={name: [str(value) for value in values] for name, values in pools.items()},
        colleague_email=p["colleague"].email,
        booking_owner={str(b.id): name_of[b.user_id] for b in bookings},
        booking_state={
            str(b.id): f"{b.status.value} {b.attendance.value if b.attendance else ''}" for b in bookings
        },
    )


def _charge(booking) -> Charge:
    return db.session.scalar(sa.select(Charge).where(Charge.booking_id == booking.id))


# Reading forms ------------------------------------------------------------------------------


@dataclass
class Field:
    name: str
    kind: str  # text, hidden, textarea, select, radio, checkbox, button, password, email, ...
    values: list[str] = field(default_factory=list)  # what is sent as the page stands
    options: list[str] = field(default_factory=list)  # the choices of a select, radio, checkbox, button


@dataclass
class Form:
    method: str
    action: str
    fields: dict[str, Field] = field(default_factory=dict)

    def add(self, name: str, kind: str, value: str | None, *, chosen: bool, choice: bool) -> None:
        existing = self.fields.setdefault(name, Field(name, kind))
        if choice:
            existing.options.append(value or "")
        if chosen:
            existing.values.append(value or "")


class FormParser(HTMLParser):
    """The forms on a page, each with its fields, their values and their choices."""

    def __init__(self, page_url: str):
        super().__init__(convert_charrefs=True)
        self.page_url = page_url
        self.forms: list[Form] = []
        self._form: Form | None = None
        self._select: str | None = None
        self._option: dict | None = None
        self._textarea: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = {key: (value if value is not None else "") for key, value in attrs}
        if tag == "form":
            action = a.get("action") or self.page_url
            self._form = Form(method=(a.get("method") or "get").lower(), action=action)
            self.forms.append(self._form)
            return
        form = self._form
        if form is None or "disabled" in a:
            return
        name = a.get("name")
        if tag == "input" and name:
            kind = a.get("type", "text").lower()
            if kind in ("radio", "checkbox"):
                value = a.get("value", "on")
                form.add(name, kind, value, chosen="checked" in a, choice=True)
            elif kind not in ("submit", "image", "reset", "file"):
                form.add(name, kind, a.get("value", ""), chosen=True, choice=False)
        elif tag == "button" and name:
            form.add(name, "button", a.get("value", ""), chosen=False, choice=True)
        elif tag == "select" and name:
            self._select = name
            form.fields.setdefault(name, Field(name, "select"))
        elif tag == "option" and self._select:
            if self._option is not None:  # the previous option was left open
                self._close_option()
            self._option = {"value": a.get("value"), "selected": "selected" in a}
            self._text = []
        elif tag == "textarea" and name:
            self._textarea = name
            self._text = []

    def handle_data(self, data):
        if self._option is not None or self._textarea is not None:
            self._text.append(data)

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None
        elif tag == "option" and self._option is not None:
            self._close_option()
        elif tag == "select":
            if self._option is not None:
                self._close_option()
            self._select = None
        elif tag == "textarea" and self._textarea is not None and self._form is not None:
            # A browser drops the one line break that may follow <textarea>.
            text = "".join(self._text).removeprefix("\r").removeprefix("\n")
            self._form.add(self._textarea, "textarea", text, chosen=True, choice=False)
            self._textarea = None

    def _close_option(self):
        value = self._option["value"]
        if value is None:
            value = "".join(self._text).strip()
        if self._form is not None:
            self._form.add(self._select, "select", value, chosen=self._option["selected"], choice=True)
        self._option = None


def read_forms(page_url: str, html: str) -> list[Form]:
    parser = FormParser(page_url)
    parser.feed(html)
    parser.close()
    return parser.forms


def plausible_values(world: World) -> dict[str, str]:
    """What a person would type into an empty field, so hostile values reach past the first check."""
    return {
        "email": world.colleague_email,
        "first_name": "Alex",
        "last_name": "Morgan",
        "job_role": "Teacher",
        "other_organisation": "Little Stars Nursery",
        "line_manager_name": "Lee Manager",
        "line_manager_email": "manager@example.org",
        "password": "a long new password 2026",
        "confirm_password": "a long new password 2026",
        "name": "Sandwell Children's Trust",
        "title": "Domestic Abuse Awareness",
        "description": "What the course covers.",
        "target_audience": "Everyone working with children.",
        "duration_hours": "3",
        "provider": "City Training Ltd",
        "date": "2026-06-15",
        "start_time": "09:30",
        "end_time": "12:30",
        "places": "20",
        "overbook_percent": "10",
        "cost": "450.00",
        "venue": "Training Room 1, Council House",
        "online_link": "https://meet.example.org/abc",
        "reason": "Trainer unwell",
        "note": "Reported before the session",
        "start": "2026-04-01",
        "end": "2026-05-04",
        "allocated": "120037.00",
        "example": "I ask about the child's lived experience.",
        "rated": "Your understanding of the subject now\nYour confidence",
        "free_text": "One thing you will do differently\nAny other comments (optional)",
    }


def form_defaults(form: Form, plausible: dict[str, str]) -> list[tuple[str, str]]:
    """The pairs a browser would send for the form as it stands, empty required fields filled in."""
    pairs = []
    for f in form.fields.values():
        if f.name == "csrf_token":
            continue
        values = [v for v in f.values if v != ""]
        if not values and f.name in plausible:
            values = [plausible[f.name]]
        if not values and f.kind in ("select", "radio", "button"):
            values = [next((o for o in f.options if o), "")][:1]
            if f.kind == "button":
                values = [v for v in values if v]
        if f.name.startswith("q") and f.kind == "textarea" and not values:
            values = ["An answer."]
        if not values and f.kind not in ("checkbox", "button"):
            values = [""]
        pairs += [(f.name, v) for v in values]
    return pairs


# Sending requests and recording server errors -------------------------------------------------


@dataclass
class Request:
    method: str
    path: str
    query: list[tuple[str, str]] = field(default_factory=list)
    data: list[tuple[str, str]] = field(default_factory=list)
    csrf: bool = False  # send the browser's valid CSRF token with the form

    @property
    def url(self) -> str:
        return f"{self.path}?{urlencode(self.query, quote_via=quote)}" if self.query else self.path

    def without(self, part: str, index: int | None = None) -> Request:
        pairs = getattr(self, part)
        kept = [] if index is None else pairs[:index] + pairs[index + 1 :]
        return replace(self, **{part: kept})


@dataclass
class ServerError:
    role: str
    request: Request
    endpoint: str
    status: int
    error: str  # exception type and message
    where: str  # the line of lms/ that raised it

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.endpoint, self.request.method, self.error.split(":", 1)[0], self.where)

    def describe(self) -> str:
        r = self.request
        query = ", ".join(f"{name}={shorten(value)}" for name, value in r.query)
        data = ", ".join(f"{name}={shorten(value)}" for name, value in r.data)
        lines = [f"{r.method} {shorten(r.path, 200)} as {self.role} -> {self.status}"]
        lines += [f"    query: {query}"] if query else []
        lines += [f"    form: {data}" + (" (with a valid CSRF token)" if r.csrf else "")] if data else []
        lines += [f"    {self.error}", f"    raised at {self.where}"]
        return "\n".join(lines)


def lms_location(error: BaseException) -> str:
    """The innermost frame inside lms/ (and the innermost frame overall, when that is elsewhere)."""
    frames = traceback.extract_tb(error.__traceback__)
    ours = [f for f in frames if Path(f.filename).resolve().is_relative_to(LMS_DIR)]
    parts = []
    if ours:
        f = ours[-1]
        where = Path(f.filename).resolve().relative_to(LMS_DIR.parent)
        parts.append(f"{where}:{f.lineno} in {f.name}: {f.line}")
    if frames and (not ours or frames[-1] is not ours[-1]):
        f = frames[-1]
        path = Path(f.filename).resolve()
        shown = path.relative_to(LMS_DIR.parent) if path.is_relative_to(LMS_DIR.parent) else path.name
        parts.append(f"(innermost {shown}:{f.lineno} in {f.name})")
    return " ".join(parts) or "unknown"


def describe_error(error: BaseException) -> str:
    # A database error's own message, without the SQL statement and parameters it carries.
    message = " ".join(str(error).split("[SQL:", 1)[0].split())
    if len(message) > 240:
        message = message[:240] + "..."
    return f"{type(error).__module__}.{type(error).__qualname__}: {message}"


def build_path(rule: str, values: dict[str, str]) -> str:
    """A rule's path with each <converter:name> replaced by the (quoted) value given for it."""
    return re.sub(r"<(?:[^>]*:)?(\w+)>", lambda m: quote(values[m.group(1)], safe=""), rule)


class Visitor:
    """One person's browser: signs in as the role, sends requests, and keeps the server errors.

    Each request runs inside a savepoint that is rolled back afterwards, so every request meets the
    same world whatever the one before it changed. The first time an error is met, the request is
    cut down to the parts that still cause it, so the report shows what triggers it.
    """

    def __init__(self, app, world: World, role: str):
        self.app = app
        self.world = world
        self.role = role
        self.adapter = app.url_map.bind("localhost")
        self.connection = db.session.session_factory.kw["bind"]
        self.errors: dict[tuple, ServerError] = {}
        self.seen: dict[tuple, int] = {}
        self.sent = 0
        self._raised: list[BaseException] = []
        self._first_start: tuple[dict, str] | None = None  # the browser's cookies and CSRF token then
        got_request_exception.connect(self._on_exception, app)
        self.start()

    def close(self) -> None:
        got_request_exception.disconnect(self._on_exception, self.app)

    def _on_exception(self, sender, exception, **extra):
        self._raised.append(exception)

    def start(self) -> None:
        """A fresh browser, signed in as the role, holding a CSRF token.

        Only the first start signs in. Every request after it is rolled back, so that sign-in stays
        as it was, and a later start gives the fresh browser its cookies and token instead of
        signing in again.
        """
        self.client = self.app.test_client()
        limiter.reset()
        if self._first_start is not None:
            cookies, self.token = self._first_start
            self.client._cookies.update(cookies)  # werkzeug's cookie jar, keyed by domain, path and name
            return
        if self.role == "anonymous":
            self.token = csrf_token(self.client, "/sign-in")
        else:
            user = _user(self.world.people[self.role])
            response = sign_in(self.client, user)
            assert response.status_code == 302, f"{self.role} could not sign in ({response.status_code})"
            self.token = csrf_token(self.client, "/account")
        self._first_start = (dict(self.client._cookies), self.token)

    def endpoint_of(self, path: str, method: str) -> str:
        try:
            rule, _ = self.adapter.match(urlsplit(path).path, method=method)
        except Exception:  # noqa: BLE001 - a 404 or 405: no endpoint
            return "(no route)"
        return rule

    def send(self, request: Request):
        """Send one request; a 5xx or an exception is recorded, never raised. The response, if any.

        `last_error` is then the server error it met, as first met and cut down, or None."""
        response, error = self._exchange(request)
        if error is not None:
            if error.key not in self.seen:
                error = self._reduce(error)
            self.seen[error.key] = self.seen.get(error.key, 0) + 1
            error = self.errors.setdefault(error.key, error)
        self.last_error = error
        return response

    def _exchange(self, request: Request):
        """One request in a savepoint that is rolled back: the response and the server error, if any."""
        self.sent += 1
        self._raised.clear()
        limiter.reset()
        body = [*request.data, ("csrf_token", self.token)] if request.csrf else request.data
        savepoint = self.connection.begin_nested()
        response = failure = None
        try:
            response = self.client.open(request.url, method=request.method, data=MultiDict(body))
        except Exception as exc:  # noqa: BLE001 - the app raised: a server error to report
            if not self._raised:
                raise  # the request never reached the app: a fault in the test, not the app
            failure = exc
        finally:
            savepoint.rollback()
        endpoint = self.endpoint_of(request.path, request.method)
        if request.method == "POST" and endpoint.startswith("auth."):
            self.start()  # signing in, out or up changed who this browser is
        status = response.status_code if response is not None else 500
        if status < 500:
            return response, None
        if failure is None and self._raised:
            failure = self._raised[-1]
        error = ServerError(
            role=self.role,
            request=request,
            endpoint=endpoint,
            status=status,
            error=describe_error(failure) if failure else f"status {status} without an exception",
            where=lms_location(failure) if failure else "unknown",
        )
        return response, error

    def _reduce(self, error: ServerError) -> ServerError:
        """Leave out query and form pairs, one at a time, while the same error still happens."""
        for part in ("query", "data"):
            pairs = getattr(error.request, part)
            attempts = [None] if len(pairs) > 1 else []
            attempts += list(reversed(range(len(pairs))))
            for index in attempts:
                if index is not None and index >= len(getattr(error.request, part)):
                    continue
                _, again = self._exchange(error.request.without(part, index))
                if again is not None and again.key == error.key:
                    error = again
                    if index is None:
                        break
        return error

    def report(self) -> str:
        lines = [
            f"{len(self.errors)} distinct server errors as {self.role} in {self.sent} requests "
            "(each with the least of its first request that still causes it):"
        ]
        for key in sorted(self.errors):
            error = self.errors[key]
            lines.append(f"- [{error.endpoint}] seen {self.seen[key]} times\n  {error.describe()}")
        return "\n".join(lines)


def _user(user_id: int):
    from lms.accounts.models import User

    return db.session.get(User, user_id)
