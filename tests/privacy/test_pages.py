"""An erased person's name and email are gone from every page and download the staff can open:
every GET route in the URL map, walked as L&D, finance, the training contact and the trainer, with
each id the world has for it, and each spreadsheet's cells, PDF's text and ZIP's data read."""

from __future__ import annotations

import io
import itertools
import json
import zipfile

import sqlalchemy as sa
from flask import url_for
from openpyxl import load_workbook
from pypdf import PdfReader

from lms.accounts.models import Role
from lms.extensions import db
from lms.finance.models import Charge
from lms.integrations.webhook_models import WebhookDelivery
from lms.privacy.erasure import anonymise_person
from tests.conftest import sign_in
from tests.factories import NOW
from tests.privacy.world import EMAIL, LAST_NAME, World, build_world

STAFF = (Role.LND_ADMIN, Role.FINANCE, Role.TRAINING_CONTACT, Role.TRAINER)


def arguments(world: World) -> dict[str, list]:
    """Every id the world can put in a URL, by the URL's argument name."""
    charge = db.session.scalar(sa.select(Charge).where(Charge.booking_id == world.bookings[1].id))
    return {
        "user_id": [world.person.id],
        "agency_id": [world.police.id],
        "course_id": [world.course.id],
        "session_id": [world.attended.id, world.missed.id, world.coming.id],
        "booking_id": [b.id for b in world.bookings],
        "invoice_id": [world.invoice.id],
        "note_id": [note.id for note in world.invoice.credit_notes],
        "charge_id": [charge.id],
        "number": [world.certificate.number],
        "request_id": [world.request.id],
        "follow_up_id": [world.follow_up.id],
        "integration_id": [world.subscription.integration_id],
        "subscription_id": [world.subscription.id],
        "delivery_id": db.session.scalars(sa.select(WebhookDelivery.id)).all(),
        "fmt": ["csv", "xlsx"],
    }


def urls(app, world: World) -> list[tuple[str, str]]:
    """(endpoint, path) for every GET route for signed-in people, with each combination of ids."""
    values = arguments(world)
    found = []
    with app.test_request_context():
        for rule in app.url_map.iter_rules():
            rule_of = getattr(app.view_functions[rule.endpoint], "access_rule", None)
            staff_may = rule_of == "signed_in" or (isinstance(rule_of, tuple) and rule_of[0] == "roles")
            if "GET" not in rule.methods or not staff_may:
                continue
            if set(rule.arguments) - set(values):
                continue
            names = sorted(rule.arguments)
            for combination in itertools.product(*(values[name] for name in names)):
                found.append(
                    (rule.endpoint, url_for(rule.endpoint, **dict(zip(names, combination, strict=True))))
                )
    return found


def text_of(response) -> str:
    """What a person could read in the response: the page, or the file's cells, text or data."""
    data, kind = response.data, response.mimetype
    if kind == "application/pdf":
        return " ".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(data)).pages)
    if "spreadsheetml" in kind:
        book = load_workbook(io.BytesIO(data), read_only=True)
        return " ".join(
            str(cell) for sheet in book for row in sheet.iter_rows(values_only=True) for cell in row
        )
    if kind == "application/zip":
        archive = zipfile.ZipFile(io.BytesIO(data))
        return json.dumps(json.loads(archive.read("personal_data.json")), ensure_ascii=False)
    return response.get_data(as_text=True)


def showing_the_person(app, world: World) -> set[str]:
    """The endpoints on which any of the staff can read the person's name or email."""
    people = {Role.LND_ADMIN: world.lnd, Role.FINANCE: world.finance, Role.TRAINING_CONTACT: world.contact}
    people[Role.TRAINER] = world.trainer
    shown, opened = set(), 0
    for role in STAFF:
        client = app.test_client()
        sign_in(client, people[role])
        for endpoint, path in urls(app, world):
            response = client.get(path)
            assert response.status_code < 500, path
            if response.status_code != 200:
                continue
            opened += 1
            text = text_of(response).lower()
            if LAST_NAME.lower() in text or EMAIL in text:
                shown.add(endpoint)
    assert opened > 60
    return shown


def test_an_erased_person_is_on_no_page_or_download_that_showed_them(app, app_context):
    world = build_world()
    before = showing_the_person(app, world)
    # The walk reaches the pages, spreadsheets and PDFs that name delegates.
    assert {
        "people.edit_person",
        "bookings.register",
        "trainer_tools.register_export",
        "trainer_tools.sign_in_sheet",
        "finance.invoice",
        "finance.invoice_pdf",
        "finance.export_xlsx",
        "contacts.staff",
        "contacts.records_as_xlsx",
        "privacy.request_detail",
        "privacy.request_zip",
        "webhooks.delivery",
    } <= before, before

    anonymise_person(world.person, by=world.lnd, now=NOW, reason="erasure request")
    db.session.flush()

    assert showing_the_person(app, world) == set()
