"""The JSON API, version 1, under /api/v1/: read-only, authenticated by bearer tokens, documented by
an OpenAPI 3.1 document that flask-smorest builds from the routes and their marshmallow schemas and
that the app serves at /api/v1/openapi.json.

The API never reads the session cookie (a signed-in browser gets nothing from token-only routes),
has no CSRF token to check (nothing in it changes state, and a cookie does not authenticate it), and
answers every error as RFC 9457 problem details (lms.api.problems).
"""

from __future__ import annotations

from http import HTTPStatus

from flask import Flask, current_app
from flask_smorest import Api
from flask_smorest.utils import prepare_response

from lms.api import schemas
from lms.api.auth import SECURITY_SCHEME, open_to_all
from lms.api.blueprint import PREFIX
from lms.api.problems import MEDIA_TYPE
from lms.core.web import MAX_ID, IdConverter

DESCRIPTION = """\
The training programme, bookings, training records, charges and invoices, read-only.

Send a token as `Authorization: Bearer <token>`. The catalogue (sessions, courses, topics) needs
none. A person makes their own token under My account, API tokens; L&D make tokens for an
integration. Each route says the scope it needs. Lists are paged with `page` and `per_page`.
Errors are RFC 9457 problem details (`application/problem+json`).
"""


class ApiV1(Api):
    """flask-smorest's Api, fitted to this app: errors are problem details for API paths only (the
    app's own pages keep their HTML error pages), and the document is served by a marked route."""

    ERROR_SCHEMA = schemas.Problem

    def _register_error_handlers(self):
        pass  # the API blueprints and the app's error pages answer with problem details themselves

    def _register_doc_blueprint(self):
        pass  # served by `openapi_document` below, with the API's access mark

    def _register_responses(self):
        for status in HTTPStatus:
            response = {"description": status.phrase}
            if status >= 400:
                response["schema"] = self.ERROR_SCHEMA
            prepare_response(response, self.spec, MEDIA_TYPE)
            self.spec.components.response(status.name, response, lazy=True)
        response = {"description": "Problem details", "schema": self.ERROR_SCHEMA}
        prepare_response(response, self.spec, MEDIA_TYPE)
        self.spec.components.response("DEFAULT_ERROR", response, lazy=True)


@open_to_all
def openapi_document():
    """The OpenAPI 3.1 document of this API."""
    api = current_app.extensions["flask-smorest"]["apis"][""]["ext_obj"]
    return current_app.json.response(api.spec.to_dict())


def init_api(app: Flask) -> ApiV1:
    from lms.api import catalogue, finance, me, staff

    api = ApiV1()
    api.init_app(
        app,
        spec_kwargs={
            "title": f"{app.config['PARTNERSHIP_NAME']} training API",
            "version": "1.0.0",
            "openapi_version": "3.1.0",
            "info": {"description": DESCRIPTION},
            "servers": [{"url": "/"}],
        },
    )
    api.register_converter(
        IdConverter, lambda converter: {"type": "integer", "minimum": 1, "maximum": MAX_ID}
    )
    api.spec.components.security_scheme(
        SECURITY_SCHEME, {"type": "http", "scheme": "bearer", "description": "An API token"}
    )
    for module in (catalogue, me, staff, finance):
        api.register_blueprint(module.blp)
    app.add_url_rule(f"{PREFIX}/openapi.json", "api_openapi", openapi_document)
    return api
