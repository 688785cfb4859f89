"""Menus and tabs offer only the pages the person may open."""

from __future__ import annotations

import re

from lms.accounts.models import Role
from lms.core.access import may_open
from tests.conftest import sign_in
from tests.factories import create_user


def tabs(page: str, label: str) -> list[str]:
    nav = re.search(rf'<nav aria-label="{label}" class="tabs">(.*?)</nav>', page, re.S)
    assert nav is not None, label
    return [text.strip() for text in re.findall(r"<a [^>]*>([^<]+)</a>", nav.group(1))]


def test_finance_reach_the_budget_from_their_tabs_and_see_no_report_they_cannot_open(client):
    sign_in(client, create_user(roles=(Role.FINANCE,)))
    finance = client.get("/finance/").get_data(as_text=True)
    assert "Budget" in tabs(finance, "Finance")
    budget = client.get("/reports/budget")
    assert budget.status_code == 200
    assert tabs(budget.get_data(as_text=True), "Reports") == ["Charges and budget"]
    # Every tab shown opens.
    for link in re.findall(r'<nav aria-label="(?:Finance|Reports)" class="tabs">.*?</nav>', finance, re.S):
        for href in re.findall(r'href="([^"]+)"', link):
            assert client.get(href.replace("&amp;", "&")).status_code == 200, href


def test_l_and_d_see_every_report_tab_but_not_the_invoice_run(client):
    sign_in(client, create_user(roles=(Role.LND_ADMIN,)))
    page = client.get("/reports/budget").get_data(as_text=True)
    assert tabs(page, "Reports") == [
        "Utilisation",
        "Evaluations and follow-ups",
        "Charges and budget",
        "Annual summary",
    ]
    assert "Invoice run" not in tabs(client.get("/finance/").get_data(as_text=True), "Finance")


def test_may_open_follows_each_route_s_own_rule(app_context):
    practitioner = create_user()
    finance = create_user(roles=(Role.FINANCE,))
    assert may_open("catalogue.index", practitioner)
    assert not may_open("finance.dashboard", practitioner)
    assert may_open("finance.run", finance) and may_open("reports.budget", finance)
    assert not may_open("reports.utilisation_report", finance)
    assert not may_open("no.such_endpoint", finance)
