"""Every page, as every role that may open it, at 390 and at 1280 pixels wide: no sideways
scrolling and no accessibility violation that axe-core finds.

The pages are read from the app's own URL map, so a page added later is walked too; one that
needs an id this walk cannot supply fails the test until it is given one here (or is said below
to be something other than a page).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask import Flask, url_for

from lms.accounts.models import Role, User
from lms.bookings.checkin import check_in_token
from lms.bookings.models import Attendance
from lms.bookings.services import book_place, close_register, mark_attendance
from lms.core.access import may_open
from lms.evaluations.models import Certificate, QuestionKind
from lms.evaluations.services import current_question_set, submit_evaluation
from lms.extensions import db
from lms.finance.models import Charge, ChargeStatus
from lms.finance.services import issue_credit_note, run_invoicing
from lms.followups.models import FollowUp
from lms.followups.services import invite_due
from tests.browser.accessibility import page_problems
from tests.browser.conftest import PHONE
from tests.browser.pages import page_heading, resize_to, sign_in_through_the_form, visit
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

pytestmark = [pytest.mark.browser, pytest.mark.layout]

# Not pages: files, feeds, the health check, and the steps of flows that start elsewhere (signing
# in, the second factor, single sign-on); pages reached only through a secret emailed link are
# walked by their own journeys.
NOT_PAGES = {
    "static",
    "main.health",
    "branding.stylesheet",
    "branding.logo",
    "auth.sign_in_code",
    "auth.sign_in_set_up",
    "auth.confirm_second_factor",
    "sso.start",
    "sso.callback",
    "sso.finish",
}
FILE_ENDINGS = (".pdf", ".csv", ".xlsx", ".ics", ".css", ".zip", ".<any(csv, xlsx):fmt>")
EMAILED_LINKS = {
    "approvals.decide",
    "approvals.decided",
    "calendar.feed",
    "followups.manager_comment",
    "auth.reset_password_page",
    "auth.confirm_registration",
    "auth.sign_in_with_link",
}
ROLES = (Role.PRACTITIONER, Role.TRAINER, Role.TRAINING_CONTACT, Role.FINANCE, Role.LND_ADMIN)
# Pages about something one person holds: walked as the people it belongs to (the route's roles
# would let others in, and they would rightly be refused).
OWNED = {
    "bookings.cancel": {Role.PRACTITIONER},
    "bookings.substitute": {Role.PRACTITIONER},
    "evaluations.evaluate": {Role.PRACTITIONER},
    "followups.answer": {Role.PRACTITIONER},
    "trainer_tools.check_in_page": {Role.PRACTITIONER},
}


@dataclass
class World:
    people: dict[Role, str]  # email of the person walking as each role
    arguments: dict[str, dict]  # endpoint: the URL's arguments


def build_world() -> World:
    """An organisation with a practitioner, a trainer, a training contact, finance and L&D; a session
    to come and two that ran, one invoiced, evaluated, certified and followed up."""
    police = create_agency("West Midlands Police", billing_email="accounts@example.org")
    practitioner = create_user("pat@example.org", agency=police, first_name="Pat")
    colleague = create_user("chris@example.org", agency=police, first_name="Chris")
    trainer = create_user("trainer@example.org", roles=(Role.TRAINER,))
    lnd = create_user("lnd@example.org", roles=(Role.LND_ADMIN,))
    create_user("money@example.org", roles=(Role.FINANCE,))
    contact = create_user("contact@example.org", roles=(Role.TRAINING_CONTACT,), agency=police)
    _follow(contact, police, lnd)
    course = create_course("Neglect and the Graded Care Profile")

    coming = create_session(course=course, trainer=trainer, starts_at=NOW + timedelta(days=20))
    upcoming = book_place(coming, practitioner, by=practitioner, now=NOW - timedelta(days=1))
    book_place(coming, colleague, by=colleague, now=NOW - timedelta(days=1))

    long_ago = create_session(course=course, trainer=trainer, starts_at=NOW - timedelta(days=45))
    attended = book_place(long_ago, practitioner, by=lnd, now=long_ago.starts_at - timedelta(days=20))
    missed = book_place(long_ago, colleague, by=lnd, now=long_ago.starts_at - timedelta(days=20))
    mark_attendance(attended, Attendance.ATTENDED, by=trainer, now=long_ago.starts_at)
    mark_attendance(missed, Attendance.NO_SHOW, by=trainer, now=long_ago.starts_at)
    close_register(long_ago, by=trainer, now=long_ago.ends_at)
    questions = current_question_set(course, now=long_ago.ends_at)
    answers = {
        q.id: "Talk to the school sooner" if q.kind is QuestionKind.TEXT else "4" for q in questions.questions
    }
    evaluated_at = long_ago.ends_at + timedelta(hours=1)
    submit_evaluation(attended, questions, answers, by=practitioner, now=evaluated_at)
    invite_due(long_ago.ends_at + timedelta(days=42))
    finance = db.session.scalar(sa.select(User).where(User.email == "money@example.org"))
    [invoice] = run_invoicing(
        long_ago.starts_at.date() - timedelta(days=1), NOW.date(), by=finance, now=NOW - timedelta(days=2)
    )
    issue_credit_note(invoice, [invoice.lines[0].id], "Register corrected", by=finance, now=NOW)

    last_week = create_session(course=course, trainer=trainer, starts_at=NOW - timedelta(days=6))
    late = book_place(last_week, colleague, by=lnd, now=last_week.starts_at - timedelta(days=20))
    mark_attendance(late, Attendance.NO_SHOW, by=trainer, now=last_week.starts_at)
    close_register(last_week, by=trainer, now=last_week.ends_at)
    raised = db.session.scalar(sa.select(Charge).where(Charge.status == ChargeStatus.RAISED))
    follow_up = db.session.scalar(sa.select(FollowUp).where(FollowUp.booking_id == attended.id))
    certificate = db.session.scalar(sa.select(Certificate).where(Certificate.booking_id == attended.id))
    integration = create_integration_with_tokens(police, practitioner, lnd)
    webhook, delivery = create_webhook(integration, lnd)
    data_request = create_erasure_request(colleague, lnd)
    db.session.commit()

    return World(
        people={
            Role.PRACTITIONER: practitioner.email,
            Role.TRAINER: trainer.email,
            Role.TRAINING_CONTACT: contact.email,
            Role.FINANCE: "money@example.org",
            Role.LND_ADMIN: lnd.email,
        },
        arguments={
            "people.edit_agency": {"agency_id": police.id},
            "people.edit_person": {"user_id": practitioner.id},
            "programme.edit_course": {"course_id": course.id},
            "evaluations.questions": {"course_id": course.id},
            "programme.cancel": {"session_id": coming.id},
            "programme.edit_session": {"session_id": coming.id},
            "bookings.roster": {"session_id": coming.id},
            "catalogue.detail": {"session_id": coming.id},
            "bookings.register": {"session_id": last_week.id},
            "bookings.cancel": {"booking_id": upcoming.id},
            "bookings.substitute": {"booking_id": upcoming.id},
            "evaluations.evaluate": {"booking_id": attended.id},
            "evaluations.verify_number": {"number": certificate.number},
            "finance.waive": {"charge_id": raised.id},
            "finance.invoice": {"invoice_id": invoice.id},
            "followups.answer": {"follow_up_id": follow_up.id},
            "trainer_tools.check_in_code": {"session_id": coming.id},
            "trainer_tools.check_in_page": {"token": check_in_token(coming)},
            "integrations.integration": {"integration_id": integration.id},
            "webhooks.integration_webhooks": {"integration_id": integration.id},
            "webhooks.subscription": {"subscription_id": webhook.id},
            "webhooks.edit": {"subscription_id": webhook.id},
            "webhooks.delivery": {"delivery_id": delivery.id},
            "privacy.request_detail": {"request_id": data_request.id},
            "privacy.erase_for": {"request_id": data_request.id},
            "privacy.erase_person": {"user_id": practitioner.id},
        },
    )


def _follow(contact: User, agency, lnd: User) -> None:
    """The training contact follows their organisation (when the app has training contacts)."""
    from lms.accounts.contacts import add_training_contact

    add_training_contact(agency, contact, by=lnd, now=NOW)


def pages(app: Flask, world: World) -> list[tuple[str, dict]]:
    """Every page the URL map holds, with its arguments; fails on a page it cannot open."""
    found, missing = [], []
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.endpoint in NOT_PAGES or rule.endpoint in EMAILED_LINKS:
            continue
        if rule.rule.endswith(FILE_ENDINGS):
            continue
        if rule.rule.startswith("/api/"):  # the JSON API answers JSON, not pages (tests/api)
            continue
        arguments = world.arguments.get(rule.endpoint, {})
        if set(rule.arguments) - set(arguments):
            missing.append(rule.rule)
            continue
        found.append((rule.endpoint, arguments))
    assert not missing, f"give the walk an id for: {missing}"
    return sorted(found)


def walkers(app: Flask, endpoint: str, people: dict[Role, User]) -> list[Role | None]:
    """Everyone who may open the page: each role that may, or nobody signed in for a public page."""
    if getattr(app.view_functions[endpoint], "access_rule", None) == "public":
        return [None]
    roles = [role for role in ROLES if may_open(endpoint, people[role])]
    roles = [role for role in roles if role in OWNED.get(endpoint, roles)]
    assert roles, f"nobody may open {endpoint}"
    return roles


def test_every_page_fits_a_phone_and_passes_axe_for_the_people_who_use_it(app, browser, live_server):
    with app.app_context():
        world = build_world()
        people = {
            role: db.session.scalar(sa.select(User).where(User.email == email))
            for role, email in world.people.items()
        }
        walks: dict[Role | None, list[tuple[str, str]]] = {}
        with app.test_request_context():
            for endpoint, arguments in pages(app, world):
                for role in walkers(app, endpoint, people):
                    walks.setdefault(role, []).append((endpoint, url_for(endpoint, **arguments)))
        db.session.remove()

    problems: list[str] = []
    walked = 0
    for role in (None, *ROLES):
        if role is not None:
            browser.delete_all_cookies()
            sign_in_through_the_form(browser, live_server, world.people[role])
        if role is Role.LND_ADMIN:
            visit(browser, live_server, "/dashboard")
            resize_to(browser, PHONE)
            rows = browser.execute_script(
                "return new Set([...document.querySelectorAll('.nav > li')].map(li => li.offsetTop)).size"
            )
            assert rows <= 3, f"the L&D team's menu takes {rows} lines on a phone"
        for endpoint, path in walks.get(role, []):
            visit(browser, live_server, path)
            heading = page_heading(browser)
            assert heading and not heading.startswith(("Page not found", "Not allowed")), (endpoint, path)
            problems += page_problems(browser, f"{endpoint} ({role.title if role else 'signed out'})")
            walked += 1
    assert walked >= 100
    assert not problems, "\n".join(problems)
