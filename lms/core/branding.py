"""The partnership's brand: its colour in the page header and its logo on pages and documents.

Both are settings (BRAND_COLOUR, BRAND_LOGO), checked when the app starts (config.py). The colour
reaches the pages through a small stylesheet served from /brand.css, because the Content Security
Policy allows stylesheets from the site only and no inline styles; the logo is served from
/brand/logo. Both URLs carry a version drawn from their content, so browsers may keep them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from flask import Blueprint, Response, abort, current_app, has_request_context, request, url_for

from lms.core.access import public

bp = Blueprint("branding", __name__)

EXTENSION_KEY = "lms.brand"
# The header's 6-pixel rule under the default colour (config.DEFAULT_BRAND_COLOUR); other colours get
# a lighter tint of their own.
DEFAULT_ACCENTS = {"#12395f": "#2b7ac9"}
LONG_CACHE = "public, max-age=31536000, immutable"
SHORT_CACHE = "public, max-age=300"


@dataclass(frozen=True)
class Brand:
    colour: str  # #rrggbb, readable under white text (checked at start-up)
    logo: bytes | None
    logo_type: str | None  # image/png or image/jpeg

    @classmethod
    def from_config(cls, config) -> Brand:
        path = config.get("BRAND_LOGO") or ""
        logo = Path(path).read_bytes() if path else None
        logo_type = None
        if logo is not None:
            logo_type = "image/png" if logo.startswith(b"\x89PNG") else "image/jpeg"
        return cls(colour=config["BRAND_COLOUR"], logo=logo, logo_type=logo_type)

    @property
    def stylesheet(self) -> str:
        return (
            "/* The partnership's colour (BRAND_COLOUR), after site.css. */\n"
            f":root {{ --brand: {self.colour}; --brand-accent: {accent(self.colour)}; }}\n"
        )

    @property
    def stylesheet_version(self) -> str:
        return fingerprint(self.stylesheet.encode())

    @property
    def logo_version(self) -> str | None:
        return fingerprint(self.logo) if self.logo is not None else None


def fingerprint(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()[:12]


def accent(colour: str, tint: float = 0.45) -> str:
    """A lighter shade of the colour, for decoration only (never behind text)."""
    if colour in DEFAULT_ACCENTS:
        return DEFAULT_ACCENTS[colour]
    channels = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return "#" + "".join(f"{round(c + (255 - c) * tint):02x}" for c in channels)


def current_brand() -> Brand:
    return current_app.extensions[EXTENSION_KEY]


def brand_logo() -> bytes | None:
    """The logo's bytes for a certificate or an invoice, or None when there is none."""
    return current_brand().logo


@bp.record_once
def load_brand(state) -> None:
    # Read once when the app is built; a new logo or colour takes effect on restart.
    state.app.extensions[EXTENSION_KEY] = Brand.from_config(state.app.config)


@bp.app_context_processor
def brand_urls() -> dict:
    if not has_request_context():
        return {}  # an email rendered by a scheduled job: no page, no stylesheet
    brand = current_brand()
    logo_url = None
    if brand.logo is not None:
        logo_url = url_for("branding.logo", v=brand.logo_version)
    return {
        "brand_stylesheet_url": url_for("branding.stylesheet", v=brand.stylesheet_version),
        "brand_logo_url": logo_url,
    }


def cached(response: Response, version: str | None) -> Response:
    # A URL carrying the current version never changes; any other may, after a restart.
    response.headers["Cache-Control"] = LONG_CACHE if request.args.get("v") == version else SHORT_CACHE
    response.set_etag(version or "")
    return response.make_conditional(request)


@bp.route("/brand.css")
@public
def stylesheet():
    brand = current_brand()
    response = Response(brand.stylesheet, mimetype="text/css")
    return cached(response, brand.stylesheet_version)


@bp.route("/brand/logo")
@public
def logo():
    brand = current_brand()
    if brand.logo is None:
        abort(404)
    return cached(Response(brand.logo, mimetype=brand.logo_type), brand.logo_version)
