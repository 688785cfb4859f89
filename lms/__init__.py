"""Safeguarding training booking and learning management."""

from __future__ import annotations

import logging
from pathlib import Path

from flask import Flask, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.middleware.proxy_fix import ProxyFix

from lms.core import formatting
from lms.core.access import may_open
from lms.core.db import set_write_intent
from lms.core.web import Boundary, register_boundary
from lms.extensions import csrf, db, limiter, login_manager, migrate

ROOT = Path(__file__).resolve().parent.parent

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)


def create_app(config=None) -> Flask:
    """Build the app. Nothing is started here: the scheduler has its own command."""
    from config import Config

    app = Boundary(
        __name__,
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
        instance_path=str(ROOT / "instance"),
    )
    config = config if config is not None else Config()
    app.config.from_object(config)
    _configure_database(app)
    if app.config["PROXY_FIX_COUNT"]:
        count = app.config["PROXY_FIX_COUNT"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=count, x_proto=count, x_host=count)

    db.init_app(app)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"), compare_type=True, render_as_batch=True)
    csrf.init_app(app)
    limiter.init_app(app)
    _configure_login(app)
    _register_models()
    _register_errors(app)
    _register_blueprints(app)
    _register_api(app)
    _register_templates(app)
    _register_hooks(app)
    _register_documents(app)

    from lms.cli import register_cli

    register_cli(app)
    if not app.debug and not app.testing:
        logging.basicConfig(level=logging.INFO)
    return app


def _configure_database(app: Flask) -> None:
    uri = app.config["SQLALCHEMY_DATABASE_URI"]
    # No ping before every use of a pooled connection (a round trip on each request): connections are
    # replaced after DATABASE_POOL_RECYCLE_SECONDS instead, and one the server has dropped fails its
    # first statement, which throws the whole pool away; the user loader and the request boundary
    # then run that work again on a new connection.
    options = {
        "pool_pre_ping": app.config.get("DATABASE_PRE_PING", False),
        "pool_recycle": app.config.get("DATABASE_POOL_RECYCLE_SECONDS", 1800),
        **app.config.get("SQLALCHEMY_ENGINE_OPTIONS", {}),
    }
    if uri.startswith("sqlite"):
        Path(app.instance_path).mkdir(parents=True, exist_ok=True)
        connect_args = dict(options.get("connect_args", {}))
        connect_args.setdefault("timeout", app.config["SQLITE_BUSY_TIMEOUT_MS"] / 1000)
        options["connect_args"] = connect_args
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = options


def _configure_login(app: Flask) -> None:
    login_manager.init_app(app)
    login_manager.login_view = "auth.sign_in"
    login_manager.login_message = "Sign in to see that page."
    login_manager.login_message_category = "info"
    login_manager.session_protection = "basic"

    @login_manager.user_loader
    def load_user(token: str):
        from flask import has_request_context, session
        from sqlalchemy.exc import DBAPIError

        from lms.accounts import security
        from lms.accounts.views import SIGN_IN

        # One statement for the person, their roles, their authenticator app and this browser's
        # sign-in, which every signed-in request asks about.
        browser_token = session.get(SIGN_IN) if has_request_context() else None
        first = not db.session().in_transaction()
        try:
            return security.signed_in_person(token, browser_token)
        except DBAPIError as error:
            # Connections are not pinged before use (_configure_database): the first statement of a
            # request is the ping. One the database dropped (a restart) has been thrown away with
            # the rest of the pool; nothing was done on it yet, so ask again on a new one.
            if not (first and error.connection_invalidated):
                raise
            db.session.rollback()
            return security.signed_in_person(token, browser_token)


def _register_models() -> None:
    # Import every model so metadata is complete for Alembic and the schema check.
    import lms.accounts.domains  # noqa: F401
    import lms.accounts.models  # noqa: F401
    import lms.accounts.sso  # noqa: F401
    import lms.bookings.models  # noqa: F401
    import lms.core.audit  # noqa: F401
    import lms.core.idempotency  # noqa: F401
    import lms.courses.models  # noqa: F401
    import lms.evaluations.models  # noqa: F401
    import lms.finance.models  # noqa: F401
    import lms.followups.models  # noqa: F401
    import lms.integrations.models  # noqa: F401
    import lms.integrations.tokens  # noqa: F401
    import lms.integrations.webhook_models  # noqa: F401
    import lms.messages.models  # noqa: F401
    import lms.privacy.models  # noqa: F401


def _register_blueprints(app: Flask) -> None:
    from lms.accounts.admin_views import bp as people_bp
    from lms.accounts.views import bp as auth_bp
    from lms.bookings.views import bp as bookings_bp
    from lms.courses.admin_views import bp as programme_bp
    from lms.courses.views import bp as catalogue_bp
    from lms.evaluations.views import bp as evaluations_bp
    from lms.finance.views import bp as finance_bp
    from lms.followups.views import bp as followups_bp
    from lms.imports.views import bp as imports_bp
    from lms.main import bp as main_bp
    from lms.messages.views import bp as calendar_bp
    from lms.reporting.views import bp as reports_bp

    for blueprint in (
        main_bp,
        auth_bp,
        people_bp,
        catalogue_bp,
        programme_bp,
        bookings_bp,
        evaluations_bp,
        followups_bp,
        finance_bp,
        reports_bp,
        imports_bp,
        calendar_bp,
    ):
        app.register_blueprint(blueprint)
    from lms.bookings.approval_views import bp as approvals_bp  # line-manager approval

    app.register_blueprint(approvals_bp)
    from lms.core.branding import bp as branding_bp  # the partnership's colour and logo

    app.register_blueprint(branding_bp)
    from lms.accounts.contact_views import admin_bp as contact_admin_bp
    from lms.accounts.contact_views import bp as contacts_bp  # training contacts' pages

    app.register_blueprint(contacts_bp)
    app.register_blueprint(contact_admin_bp)
    from lms.privacy.views import bp as privacy_bp  # access and erasure requests, retention

    app.register_blueprint(privacy_bp)
    from lms.accounts.domain_views import bp as domains_bp
    from lms.accounts.sso_views import bp as sso_bp  # single sign-on and email domains

    app.register_blueprint(sso_bp)
    app.register_blueprint(domains_bp)
    from lms.bookings.trainer_views import bp as trainer_tools_bp  # sign-in sheets, check-in, walk-ins

    app.register_blueprint(trainer_tools_bp)
    from lms.integrations.webhook_views import bp as webhooks_bp  # integrations' webhooks

    app.register_blueprint(webhooks_bp)


def _register_api(app: Flask) -> None:
    from lms.api import init_api  # the JSON API and its OpenAPI document
    from lms.integrations.views import bp as integrations_bp  # integrations and API tokens

    app.register_blueprint(integrations_bp)
    init_api(app)


def _register_templates(app: Flask) -> None:
    from lms.accounts.models import Role

    # Every word and number on a page or in an email is formatted by lms.core.formatting.
    app.jinja_env.filters.update(
        money=formatting.format_money,
        whole_pounds=formatting.format_whole_pounds,
        number=formatting.format_number,
        decimal=formatting.format_decimal,
        percent=formatting.format_percent,
        rate=formatting.format_rate,
        plural=formatting.plural,
        plural_word=formatting.plural_word,
        date=formatting.format_date,
        long_date=formatting.format_long_date,
        plain_date=formatting.format_plain_date,
        month=formatting.format_month,
        datetime=formatting.format_datetime,
        time=formatting.format_time,
        hours=formatting.format_hours,
    )
    app.jinja_env.globals.update(
        plural=formatting.plural,
        plural_word=formatting.plural_word,
        number_range=formatting.format_range,
        period=formatting.format_period,
        times=formatting.format_times,
        point_change=formatting.format_point_change,
        bookings_close=formatting.bookings_close_sentence,
        may_open=may_open,
        weeks_ago=formatting.format_weeks_ago,
    )

    @app.context_processor
    def inject_globals():
        return {"partnership_name": app.config["PARTNERSHIP_NAME"], "Role": Role}


def _register_errors(app: Flask) -> None:
    from lms.api.problems import is_api_request, problem_page

    def page(code: int, title: str, message: str):
        if is_api_request():  # the JSON API answers every error as problem details
            return problem_page(code, message)
        return render_template("errors/error.html", code=code, title=title, message=message), code

    @app.errorhandler(CSRFError)
    def csrf_error(error):
        return page(
            400,
            "The form has expired",
            "For your security the form could not be sent. Go back, reload the page and try again.",
        )

    @app.errorhandler(400)
    def bad_request(error):
        return page(400, "Something in the request was not right", "Go back and try again.")

    @app.errorhandler(403)
    def forbidden(error):
        return page(403, "You cannot see this page", "Your account does not have access to it.")

    @app.errorhandler(404)
    def not_found(error):
        return page(404, "Page not found", "Check the address, or start again from the home page.")

    @app.errorhandler(405)
    def not_allowed(error):
        return page(405, "That action is not allowed here", "Go back and use the page's buttons.")

    @app.errorhandler(413)
    def too_large(error):
        limit = app.config["MAX_CONTENT_LENGTH"] // (1024 * 1024)
        return page(413, "That was too large to send", f"Send at most {limit} MB at a time.")

    @app.errorhandler(429)
    def too_many(error):
        return page(429, "Too many attempts", "Wait a few minutes and try again.")

    register_boundary(app, page)

    @app.errorhandler(500)
    def server_error(error):
        db.session.rollback()
        return page(500, "Sorry, something went wrong", "Nothing was saved. Try again in a moment.")


def _register_documents(app: Flask) -> None:
    # Messages attach invoices and credit notes by reference; finance renders them as they are sent.
    from lms.finance.paperwork import register_documents

    register_documents(app)


def _register_hooks(app: Flask) -> None:
    # Commits that write to the outbox wake its dispatcher (NOTIFY on PostgreSQL); nothing starts here.
    from lms.messages import delivery

    @app.before_request
    def start_mail_dispatcher():
        # Requests never send mail. The development server sends it from a thread of its own,
        # started with the first request; in production the scheduler process sends it.
        if app.config.get("MAIL_DISPATCH_THREAD", app.config.get("ENV_NAME") == "development"):
            delivery.start_dispatcher(app)

    @app.after_request
    def security_headers(response):
        headers = response.headers
        headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Referrer-Policy", "same-origin")
        headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        if app.config["SESSION_COOKIE_SECURE"]:
            headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        if request.endpoint != "static":
            headers.setdefault("Cache-Control", "no-store")
        return response

    @app.teardown_request
    def clear_write_intent(exc):
        set_write_intent(False)
