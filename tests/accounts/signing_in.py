"""Signing in through the pages as a person does: the password, then, when the page asks, the code
the authenticator app shows, or, at the first sign-in of L&D and finance, setting the app up."""

from __future__ import annotations

import re

from lms.accounts import two_factor
from lms.core import clock
from tests.conftest import csrf_token
from tests.factories import PASSWORD, second_factor_code

CODE_PAGE = "/sign-in/code"
SET_UP_PAGE = "/sign-in/set-up"
SET_UP_KEY = re.compile(r'<code id="set-up-key">([A-Z2-7 ]+)</code>')
# The secrets of the apps people set up through the pages in this run, by email address, as the
# app on their phone would keep them.
APPS: dict[str, str] = {}


def sign_in(client, user, password: str | None = None, *, code: str | None = None, next_url: str = ""):
    """The response to the last form sent: a redirect once signed in, the form again when refused."""
    token = csrf_token(client, "/sign-in")
    response = client.post(
        "/sign-in",
        data={"email": user.email, "password": password or PASSWORD, "next": next_url, "csrf_token": token},
    )
    if response.status_code == 302 and response.headers["Location"] == CODE_PAGE:
        response = enter_code(client, code or second_factor_code(user))
    return response


def enter_code(client, code: str, page: str = CODE_PAGE):
    return client.post(page, data={"code": code, "csrf_token": csrf_token(client, page)})


def finish_sign_in(client, response, email: str):
    """After the password: set up an app when the page asks (keeping its secret in APPS), or enter
    the code of the app set up earlier. Returns the last response; the person is then signed in."""
    where = response.headers.get("Location") if response.status_code == 302 else None
    if where == SET_UP_PAGE:
        page = client.get(SET_UP_PAGE).get_data(as_text=True)
        APPS[email] = SET_UP_KEY.search(page).group(1).replace(" ", "")
        response = enter_code(client, two_factor.code_at(APPS[email], clock.now()), page=SET_UP_PAGE)
        assert response.status_code == 200, response.get_data(as_text=True)  # the recovery codes
    elif where == CODE_PAGE:
        step = two_factor.step_at(clock.now())
        for candidate in (step - 1, step, step + 1):  # each code works once
            response = enter_code(client, two_factor.code_at_step(APPS[email], candidate))
            if response.status_code == 302:
                break
    return response
