"""Hostile input never makes a server error: every page, as every role, with ids out of range, other
people's ids, and query strings and forms full of huge numbers, impossible dates, control characters,
odd unicode, markup, formulas and repeated fields.

As each role:
1. walk: open every route with the world's real ids (own and other people's), read the forms on each
   page, and send each form as it stands;
2. sweep (as the person holding every role): put the sharpest values, one place at a time, into each
   path id, each filter of a page and each field of each form;
3. explore: Hypothesis puts hostile values, repeated and in combination, into those same places.

Every request is rolled back afterwards, so each meets the same world. A failure lists every distinct
server error met, with the least of its request that still causes it, and the line of lms/ that
raised it. HOSTILE_EXAMPLES sets the number of Hypothesis requests per role (a long run: 1000).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from datetime import date
from urllib.parse import parse_qsl

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests.hostile import (
    HOSTILE_BY_KIND,
    HOSTILE_VALUES,
    QUERY_FRIENDS,
    QUERY_NAMES,
    URL_FOR_NAMES,
    Form,
    Request,
    Visitor,
    build_path,
    build_world,
    form_defaults,
    kind_of,
    plausible_values,
    read_forms,
)

ROLES = ["anonymous", "practitioner", "trainer", "lnd_admin", "finance", "training_contact", "everyone"]
EXAMPLES = int(os.environ.get("HOSTILE_EXAMPLES", "60"))
SWEEPER = "everyone"

# Pages that show their form only when the query string says what it is about.
WALK_QUERIES = {
    "people.map_other": [("organisation", "Little Stars Nursery")],
    "finance.run": [("start", "2026-04-01"), ("end", "2026-05-04")],
}

# The JSON API's query parameters, by the input type a form would give them: its routes answer JSON,
# so the walk learns no filters from them.
API_FILTERS = {
    "page": "number",
    "per_page": "number",
    "course": "number",
    "topic": "number",
    "organisation": "number",
    "financial_year": "number",
    "from": "date",
    "to": "date",
    "mode": "select",
    "status": "select",
    "view": "select",
    "has_places": "select",
}

# The sharpest values for each kind of place, tried one place at a time by the sweep: past the
# PostgreSQL and SQLite integer ranges and past a float, the first and last dates, NUL bytes, very
# long text, and a choice that is only white space (which an Optional() field lets through).
SHARP = {
    "id": [str(2**31), str(2**63)],
    "number": ["9" * 25, str(2**31), "9" * 400],
    "date": ["0001-01-01", "9999-12-31"],
    "text": ["a\x00b", "x" * 10_000],
    "choice": ["9" * 25, "a\x00b", " \xa0"],
}


def routes(app, method: str):
    return sorted(
        (r for r in app.url_map.iter_rules() if r.endpoint != "static" and method in r.methods),
        key=lambda r: (r.rule, r.endpoint),
    )


@dataclass(frozen=True)
class Slot:
    """One place a hostile value can go: a path argument, a query parameter, or a form field."""

    part: str  # "path", "query" or "form"
    method: str
    rule: object  # the werkzeug Rule the request goes to
    name: str
    kind: str  # a key of HOSTILE_BY_KIND
    form: Form | None = None


@dataclass
class Pages:
    """What the walk learnt: the forms that post to each endpoint, and each page's filters."""

    forms: dict[str, list[Form]] = field(default_factory=dict)
    filters: dict[str, dict[str, str]] = field(default_factory=dict)  # endpoint: {name: input type}
    downloads: set[str] = field(default_factory=set)  # endpoints that answered with a file

    def learn(self, visitor: Visitor, endpoint: str, page: str, html: str) -> None:
        for form in read_forms(page, html):
            if form.method == "get":
                filters = self.filters.setdefault(endpoint, {})
                filters.update({name: f.kind for name, f in form.fields.items()})
                continue
            target = visitor.endpoint_of(form.action, "POST")
            known = self.forms.setdefault(target, [])
            if all(set(form.fields) != set(other.fields) for other in known):
                known.append(form)

    def slots(self, app) -> list[Slot]:
        found = []
        for method in ("GET", "POST"):
            for rule in routes(app, method):
                for name in sorted(rule.arguments):
                    found.append(Slot("path", method, rule, name, "id" if name.endswith("_id") else "text"))
        every_filter = {name: kind for filters in self.filters.values() for name, kind in filters.items()}
        for rule in routes(app, "GET"):
            filters = self.filters.get(rule.endpoint, {})
            names = {**filters, "page": ""}
            if rule.rule.startswith("/api/"):
                names.update(API_FILTERS)
            if filters:  # pages with filters pass their query string on to url_for
                names.update(dict.fromkeys(URL_FOR_NAMES, ""))
            if rule.endpoint in self.downloads:  # a download reads the filters of the page it is on
                names.update(every_filter)
            for name, input_type in sorted(names.items()):
                found.append(Slot("query", "GET", rule, name, kind_of(name, input_type)))
        rules = {rule.endpoint: rule for rule in routes(app, "POST")}
        for endpoint, forms in sorted(self.forms.items()):
            for form in forms:
                for name, f in sorted(form.fields.items()):
                    if name != "csrf_token" and endpoint in rules:
                        found.append(Slot("form", "POST", rules[endpoint], name, kind_of(name, f.kind), form))
        return found


class Requests:
    """Builds the request that puts a value into a slot, the rest as a person would fill it in."""

    def __init__(self, visitor: Visitor, pages: Pages):
        self.pools = visitor.world.walk_pools(visitor.role)
        self.pages = pages
        self.plausible = plausible_values(visitor.world)

    def form_for(self, endpoint: str) -> Form | None:
        return next(iter(self.pages.forms.get(endpoint, [])), None)

    def base(self, slot: Slot, ids: dict[str, str] | None = None) -> Request:
        ids = {name: (ids or {}).get(name) or self.pools.get(name, ["1"])[0] for name in slot.rule.arguments}
        path = build_path(slot.rule.rule, ids)
        if slot.method == "GET":
            return Request("GET", path, list(WALK_QUERIES.get(slot.rule.endpoint, [])))
        form = slot.form or self.form_for(slot.rule.endpoint)
        if slot.part == "form":
            path, _, query = form.action.partition("?")
            return Request("POST", path, parse_qsl(query), form_defaults(form, self.plausible), csrf=True)
        data = form_defaults(form, self.plausible) if form else []
        return Request("POST", path, [], data, csrf=True)

    def put(self, slot: Slot, values: list[str], ids: dict[str, str] | None = None) -> Request:
        """The slot's request with `values` in the slot (two values make a repeated parameter)."""
        if slot.part == "path":
            return self.base(slot, {**(ids or {}), slot.name: values[0]})
        request = self.base(slot, ids)
        if slot.part == "query":
            kept = [(n, v) for n, v in request.query if n != slot.name]
            return replace(request, query=kept + [(slot.name, v) for v in values])
        kept = [(n, v) for n, v in request.data if n != slot.name]
        return replace(request, data=kept + [(slot.name, v) for v in values])


def walk(visitor: Visitor) -> Pages:
    """Open every page with real ids, then send each kind of form found as it stands."""
    pages = Pages()
    pools = visitor.world.walk_pools(visitor.role)
    for rule in routes(visitor.app, "GET"):
        names = sorted(rule.arguments)
        for values in zip(*(pools.get(name, ["1"]) for name in names), strict=False) if names else [()]:
            path = build_path(rule.rule, dict(zip(names, values, strict=True)))
            request = Request("GET", path, list(WALK_QUERIES.get(rule.endpoint, [])))
            response = visitor.send(request)
            if response is None or response.status_code >= 300:
                continue
            if response.mimetype == "text/html":
                pages.learn(visitor, rule.endpoint, request.url, response.get_data(as_text=True))
            else:
                pages.downloads.add(rule.endpoint)
    requests = Requests(visitor, pages)
    for endpoint in sorted(pages.forms):
        for form in pages.forms[endpoint]:
            path, _, query = form.action.partition("?")
            data = form_defaults(form, requests.plausible)
            visitor.send(Request("POST", path, parse_qsl(query), data, csrf=True))
    return pages


def sweep(visitor: Visitor, pages: Pages) -> None:
    """Each sharp value into each slot, one slot at a time, everything else as a person would send it."""
    requests = Requests(visitor, pages)
    for slot in pages.slots(visitor.app):
        for value in SHARP[slot.kind]:
            visitor.send(requests.put(slot, [value]))


def hostile_text(kind: str):
    """Mostly hostile values for this kind of place, then any hostile value, then anything at all."""
    return st.one_of(
        st.sampled_from(HOSTILE_BY_KIND[kind]),
        st.sampled_from(HOSTILE_VALUES),
        st.sampled_from(QUERY_FRIENDS),
        st.integers().map(str),
        st.dates().map(date.isoformat),
        st.text(st.characters(exclude_categories=("Cs",)), max_size=40),
    )


def explore(visitor: Visitor, pages: Pages, examples: int) -> None:
    """Hypothesis chooses a slot, one or two hostile values for it, and more hostile parameters."""
    requests = Requests(visitor, pages)
    slots = pages.slots(visitor.app)
    pools = visitor.world.pools

    @st.composite
    def hostile_request(draw):
        slot = draw(st.sampled_from(slots))
        ids = {name: draw(st.sampled_from(pools.get(name, ["1"]))) for name in sorted(slot.rule.arguments)}
        if slot.part == "path":
            values = [draw(hostile_text(slot.kind))]
        else:
            value = hostile_text(slot.kind)
            options = [o for o in slot.form.fields[slot.name].options if o] if slot.form else []
            value = st.one_of(value, st.sampled_from(options)) if options else value
            values = draw(st.lists(value, min_size=1, max_size=2))
        request = requests.put(slot, values, ids)
        more = st.sampled_from(QUERY_NAMES).flatmap(lambda n: st.tuples(st.just(n), hostile_text(kind_of(n))))
        request = replace(request, query=request.query + draw(st.lists(more, max_size=2)))
        if slot.form is not None:
            others = sorted(n for n in slot.form.fields if n not in ("csrf_token", slot.name))
            for name in draw(st.lists(st.sampled_from(others), max_size=2, unique=True)) if others else []:
                kind = kind_of(name, slot.form.fields[name].kind)
                data = [(n, v) for n, v in request.data if n != name]
                request = replace(request, data=data + [(name, draw(hostile_text(kind)))])
        return request

    @settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )
    @given(hostile_request())
    def send_hostile(request):
        visitor.send(request)

    send_hostile()


@pytest.fixture
def world(app):
    return build_world()


@pytest.fixture(scope="module")
def tally(request):
    """Requests sent and distinct server errors met, by role, shown at the end of the run."""
    counts: dict[str, tuple[int, int]] = {}
    yield counts
    plugins = request.config.pluginmanager
    reporter, capture = plugins.get_plugin("terminalreporter"), plugins.get_plugin("capturemanager")
    if reporter is not None and capture is not None and counts:
        each = ", ".join(f"{role} {sent} ({errors} errors)" for role, (sent, errors) in counts.items())
        total = sum(sent for sent, _ in counts.values())
        with capture.global_and_fixture_disabled():
            reporter.write_line(f"\nhostile input: {total} requests sent; by role: {each}")


class ApiVisitor(Visitor):
    """A browser that also holds its person's API token, with every scope their roles allow, so the
    JSON API's routes are probed past the token check (the API never reads the session cookie)."""

    def start(self) -> None:
        super().start()
        if self.role == "anonymous":
            return
        if not hasattr(self, "api_secret"):
            from lms.accounts.models import User
            from lms.extensions import db
            from lms.integrations.services import create_personal_token, scopes_for_person
            from tests.factories import NOW

            person = db.session.get(User, self.world.people[self.role])
            scopes = scopes_for_person(person)
            self.api_secret = create_personal_token(person, "Probe", scopes, expires_at=None, now=NOW).secret
        self.client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {self.api_secret}"


@pytest.mark.parametrize("role", ROLES)
def test_no_hostile_input_makes_a_server_error(app, world, role, tally):
    visitor = ApiVisitor(app, world, role)
    try:
        pages = walk(visitor)
        if role == SWEEPER:
            sweep(visitor, pages)
        explore(visitor, pages, EXAMPLES)
    finally:
        visitor.close()
        tally[role] = (visitor.sent, len(visitor.errors))
    if visitor.errors:
        pytest.fail(visitor.report(), pytrace=False)
