"""The least a request can cost on this stack: a minimal Flask app, nothing of the project's.

Served by gunicorn for bench/bench_floor.py, which creates its tables in a schema of its own and
passes it in FLOOR_DATABASE_URL. It does only what any signed-in request must: Flask's signed
session cookie and one pooled SQLAlchemy Core statement for the person and their roles. On top of
that: a booking (a CSRF token compared with the cookie's, then the transaction in bare SQL: the
session row locked, the places counted, the booking, its audit entry and its message inserted); a
page of 20 sessions with their places left (one statement, a plain Jinja template, each card
linking to its session and its booking form); and a stored PDF of the person's (one statement).
No ORM, forms library, layout, navigation, filters, rate limits, security headers or request keys.
"""

from __future__ import annotations

import hmac
import os

import sqlalchemy as sa
from flask import Flask, abort, g, request, session

engine = sa.create_engine(os.environ.get("FLOOR_DATABASE_URL", "sqlite://"), pool_size=5)

PERSON = sa.text(
    "SELECT p.id, p.email, (SELECT string_agg(r.role, ',') FROM floor_role r WHERE r.person_id = p.id) "
    "FROM floor_person p WHERE p.token = :token"
)
LOCK = sa.text("SELECT capacity FROM floor_session WHERE id = :id FOR NO KEY UPDATE")
TAKEN = sa.text(
    "SELECT count(*) FILTER (WHERE person_id = :person), count(*) FROM floor_booking WHERE session_id = :id"
)
BOOK = sa.text(
    "INSERT INTO floor_booking (session_id, person_id, status) VALUES (:id, :person, :status) RETURNING id"
)
RECORD = sa.text(
    "WITH audit AS (INSERT INTO floor_audit (booking_id, action) VALUES (:booking, 'booked')) "
    "INSERT INTO floor_outbox (recipient, body) VALUES (:email, 'Your place is booked')"
)

DOCUMENT = sa.text("SELECT pdf FROM floor_document WHERE id = :id AND person_id = :person")
PAGE = sa.text(
    "SELECT s.id, s.capacity, s.capacity - (SELECT count(*) FROM floor_booking b "
    "WHERE b.session_id = s.id AND b.status = 'confirmed') AS left "
    "FROM floor_session s ORDER BY s.id LIMIT 20 OFFSET :offset"
)
CARDS = """<!doctype html>
<html lang="en-GB"><head><meta charset="utf-8"><title>Sessions</title></head>
<body><main><h1>Sessions</h1>
{% for row in rows %}<article>
<h2><a href="{{ url_for('one_session', session_id=row.id) }}">Session {{ row.id }}</a></h2>
<p>{{ row.left }} of {{ row.capacity }} places left</p>
<form method="post" action="{{ url_for('book', session_id=row.id) }}"><input type="hidden" name="csrf"
value="{{ session.csrf }}"><button>Book a place</button></form></article>
{% endfor %}</main></body></html>"""

app = Flask(__name__)
app.secret_key = os.environ.get("FLOOR_SECRET_KEY", "floor")
TEMPLATE = app.jinja_env.from_string(CARDS)  # compiled once, as Flask keeps a file's template


@app.before_request
def signed_in_person() -> None:
    g.connection = engine.connect()
    token = session.get("token")
    g.person = g.connection.execute(PERSON, {"token": token}).first() if token else None


@app.teardown_request
def give_back(_error) -> None:
    connection = g.pop("connection", None)
    if connection is not None:
        connection.close()


@app.get("/healthz")
def health():
    g.connection.execute(sa.text("SELECT 1"))
    return {"status": "ok"}


@app.get("/sessions/")
def sessions():
    if g.person is None:
        abort(403)
    offset = request.args.get("page", 0, type=int) * 20
    return TEMPLATE.render(rows=g.connection.execute(PAGE, {"offset": offset}).all())


@app.get("/sessions/<int:session_id>")
def one_session(session_id: int):
    return {"id": session_id}


@app.get("/documents/<int:document_id>")
def document(document_id: int):
    if g.person is None:
        abort(403)
    pdf = g.connection.execute(DOCUMENT, {"id": document_id, "person": g.person.id}).scalar()
    if pdf is None:
        abort(404)
    return bytes(pdf), 200, {"Content-Type": "application/pdf"}


@app.get("/sign-in/<token>")
def sign_in(token: str):
    session["token"] = token
    session["csrf"] = os.urandom(16).hex()
    return {"csrf": session["csrf"]}


@app.post("/sessions/<int:session_id>/book")
def book(session_id: int):
    if g.person is None or not hmac.compare_digest(request.form.get("csrf", ""), session.get("csrf", "")):
        abort(403)
    connection = g.connection
    capacity = connection.execute(LOCK, {"id": session_id}).scalar()
    if capacity is None:
        abort(404)
    mine, taken = connection.execute(TAKEN, {"id": session_id, "person": g.person.id}).one()
    if not mine:
        status = "confirmed" if taken < capacity else "waiting"
        booking = connection.execute(
            BOOK, {"id": session_id, "person": g.person.id, "status": status}
        ).scalar()
        connection.execute(RECORD, {"booking": booking, "email": g.person.email})
    connection.commit()
    return "", 302, {"Location": f"/sessions/{session_id}"}
