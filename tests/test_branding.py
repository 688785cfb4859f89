"""The partnership's colour and logo: checked at start-up, served to the pages without inline
styles, and drawn on certificates and invoices."""

from __future__ import annotations

import re
from datetime import date
from io import BytesIO

import pytest
from PIL import Image
from pypdf import PdfReader

from config import contrast_with_white
from lms import create_app
from lms.core.branding import brand_logo
from lms.evaluations.pdf import CertificateData, render_certificate
from lms.finance.documents import DocumentLine, InvoiceDocument, Party, render_invoice
from tests import conftest

pytestmark = pytest.mark.no_app_db

PLUM = "#7a1f5c"


def image_bytes(kind: str = "PNG", size: tuple[int, int] = (240, 80)) -> bytes:
    buffer = BytesIO()
    mode = "RGBA" if kind == "PNG" else "RGB"
    Image.new(mode, size, (122, 31, 92)).save(buffer, kind)
    return buffer.getvalue()


def branded_app(monkeypatch, **settings: str):
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    config = conftest.TestConfig()
    config.SQLALCHEMY_DATABASE_URI = conftest.test_database_url()
    return create_app(config)


def stylesheet_link(page: str) -> str:
    return re.search(r'<link rel="stylesheet" href="(/brand\.css\?v=[0-9a-f]+)">', page).group(1)


# The colour --------------------------------------------------------------------------------------


def test_the_brand_colour_reaches_the_pages_through_a_stylesheet_browsers_keep(monkeypatch):
    client = branded_app(monkeypatch, BRAND_COLOUR=PLUM).test_client()
    page = client.get("/sign-in").get_data(as_text=True)
    link = stylesheet_link(page)
    response = client.get(link)
    assert response.status_code == 200
    assert response.mimetype == "text/css"
    assert f"--brand: {PLUM};" in response.get_data(as_text=True)
    assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    again = client.get(link, headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304


def test_the_stylesheet_without_its_version_may_be_kept_only_briefly(monkeypatch):
    response = branded_app(monkeypatch, BRAND_COLOUR=PLUM).test_client().get("/brand.css")
    assert response.headers["Cache-Control"] == "public, max-age=300"


def test_a_new_colour_gets_a_new_stylesheet_address(monkeypatch):
    plum = stylesheet_link(
        branded_app(monkeypatch, BRAND_COLOUR=PLUM).test_client().get("/sign-in").get_data(as_text=True)
    )
    green = stylesheet_link(
        branded_app(monkeypatch, BRAND_COLOUR="#00703c").test_client().get("/sign-in").get_data(as_text=True)
    )
    assert plum != green


def test_without_a_colour_the_pages_keep_the_products_navy(client):
    css = client.get(stylesheet_link(client.get("/sign-in").get_data(as_text=True))).get_data(as_text=True)
    assert "--brand: #12395f;" in css
    assert "--brand-accent: #2b7ac9;" in css


def test_the_pages_still_carry_no_inline_style(monkeypatch):
    response = branded_app(monkeypatch, BRAND_COLOUR=PLUM).test_client().get("/sign-in")
    assert "style-src 'self';" in response.headers["Content-Security-Policy"]
    page = response.get_data(as_text=True)
    assert " style=" not in page and "<style" not in page


def test_the_static_stylesheet_takes_the_colour_from_the_brand_stylesheet():
    css = (conftest.BASE_DIR / "static" / "site.css").read_text()
    assert ".site-header { background: var(--brand);" in css
    assert "border-bottom: 6px solid var(--brand-accent);" in css


@pytest.mark.parametrize(
    ("typed", "kept"), [("#7A1F5C", PLUM), ("#135", "#113355"), (" #00703c ", "#00703c")]
)
def test_a_colour_is_kept_as_six_lower_case_digits(monkeypatch, typed, kept):
    monkeypatch.setenv("BRAND_COLOUR", typed)
    config = conftest.TestConfig()
    assert kept == config.BRAND_COLOUR


@pytest.mark.parametrize("colour", ["#ffcc00", "#fff", "#2b7ac9", "#00a33b"])
def test_a_colour_white_text_cannot_be_read_on_is_refused_at_start_up(monkeypatch, colour):
    monkeypatch.setenv("BRAND_COLOUR", colour)
    with pytest.raises(
        RuntimeError, match=r"BRAND_COLOUR #[0-9a-f]{6} is too light: .* contrast ratio of \d\.\d:1"
    ):
        conftest.TestConfig()


@pytest.mark.parametrize("colour", ["red", "12395f", "#12395", "#12395g", "#1239 5f", "rgb(0,0,0)"])
def test_a_colour_that_is_not_hex_is_refused_at_start_up(monkeypatch, colour):
    monkeypatch.setenv("BRAND_COLOUR", colour)
    with pytest.raises(RuntimeError, match="BRAND_COLOUR must be a hex colour such as #12395f"):
        conftest.TestConfig()


def test_the_contrast_check_follows_wcag():
    assert round(contrast_with_white("#000000"), 1) == 21.0
    assert round(contrast_with_white("#ffffff"), 1) == 1.0
    assert round(contrast_with_white("#767676"), 2) == 4.54  # the lightest grey WCAG AA allows


# The logo ----------------------------------------------------------------------------------------


def test_a_logo_is_shown_in_the_header_and_served_as_it_was_given(monkeypatch, tmp_path):
    logo = tmp_path / "logo.png"
    logo.write_bytes(image_bytes())
    client = branded_app(monkeypatch, BRAND_LOGO=str(logo)).test_client()
    page = client.get("/sign-in").get_data(as_text=True)
    address = re.search(r'<img class="brand-logo" src="(/brand/logo\?v=[0-9a-f]+)" alt="">', page).group(1)
    response = client.get(address)
    assert response.status_code == 200
    assert response.mimetype == "image/png"
    assert response.data == logo.read_bytes()
    assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"


def test_a_jpeg_logo_is_served_as_a_jpeg(monkeypatch, tmp_path):
    logo = tmp_path / "logo.jpg"
    logo.write_bytes(image_bytes("JPEG"))
    response = branded_app(monkeypatch, BRAND_LOGO=str(logo)).test_client().get("/brand/logo")
    assert response.mimetype == "image/jpeg"
    assert response.data == logo.read_bytes()


def test_without_a_logo_there_is_none_to_show(client):
    assert "brand-logo" not in client.get("/sign-in").get_data(as_text=True)
    assert client.get("/brand/logo").status_code == 404


def test_the_logo_is_handed_to_documents_as_its_bytes(monkeypatch, tmp_path):
    logo = tmp_path / "logo.png"
    logo.write_bytes(image_bytes())
    with branded_app(monkeypatch, BRAND_LOGO=str(logo)).app_context():
        assert brand_logo() == logo.read_bytes()


def test_a_missing_logo_is_refused_at_start_up(monkeypatch, tmp_path):
    monkeypatch.setenv("BRAND_LOGO", str(tmp_path / "logo.png"))
    with pytest.raises(RuntimeError, match="BRAND_LOGO .*logo.png.*: no such file"):
        conftest.TestConfig()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "is not an image that can be read"),
        (image_bytes("GIF"), "is a GIF image; use a PNG or JPEG file"),
        (image_bytes()[:60], "is not an image that can be read"),
        (b"\x89PNG" + b"\0" * (1024 * 1024), "keep a logo under 1024 KB"),
    ],
    ids=["svg", "gif", "cut short", "too large"],
)
def test_a_logo_that_is_not_a_usable_png_or_jpeg_is_refused_at_start_up(
    monkeypatch, tmp_path, content, message
):
    logo = tmp_path / "logo.img"
    logo.write_bytes(content)
    monkeypatch.setenv("BRAND_LOGO", str(logo))
    with pytest.raises(RuntimeError, match=message):
        conftest.TestConfig()


# The logo on certificates and invoices ----------------------------------------------------------


def certificate(**overrides) -> CertificateData:
    return CertificateData(
        **{
            "number": "SCP-2026-7K3Q-9XPM",
            "delegate_name": "Priya Shah",
            "course_title": "Online Safety",
            "session_date": date(2026, 5, 14),
            "cpd_hours": 2.5,
            "provider": "City Training Ltd",
            "partnership_name": "Northshire Safeguarding Children Partnership",
            "verify_url": "https://training.example.org/certificates/verify/SCP-2026-7K3Q-9XPM",
            "issued_on": date(2026, 5, 20),
            **overrides,
        }
    )


def invoice(logo: bytes | None) -> InvoiceDocument:
    return InvoiceDocument(
        kind="Invoice",
        number="INV2627-0001",
        issued_on=date(2026, 5, 4),
        due_on=date(2026, 6, 3),
        seller=Party(
            "Northshire Safeguarding Children Partnership", "County Hall\nNorthtown NT1 1AA", logo=logo
        ),
        buyer=Party("Northshire Police", "Headquarters\nNorthtown NT2 2BB"),
        purchase_order="PO-1234",
        period=(date(2026, 4, 1), date(2026, 4, 30)),
        lines=[DocumentLine("Priya Shah", "Online Safety", date(2026, 4, 14), "No-show", 2500)],
        vat_rate_percent=0,
        how_to_pay="Pay by BACS quoting INV2627-0001.",
    )


def images_on_first_page(pdf: bytes) -> list[tuple[int, int]]:
    reader = PdfReader(BytesIO(pdf))
    return [image.image.size for image in reader.pages[0].images]


@pytest.mark.parametrize("kind", ["PNG", "JPEG"])
def test_the_logo_is_drawn_on_the_certificate(kind):
    logo = image_bytes(kind, (300, 120))
    assert images_on_first_page(render_certificate(certificate(logo=logo))) == [(300, 120)]
    assert images_on_first_page(render_certificate(certificate())) == []


def test_the_certificate_with_a_logo_stays_one_page_with_all_its_words():
    reader = PdfReader(BytesIO(render_certificate(certificate(logo=image_bytes(size=(100, 400))))))
    assert len(reader.pages) == 1
    words = " ".join(reader.pages[0].extract_text().split())
    for expected in (
        "Northshire Safeguarding Children Partnership",
        "Priya Shah",
        "Online Safety",
        "SCP-2026-7K3Q-9XPM",
    ):
        assert expected in words


@pytest.mark.parametrize("kind", ["PNG", "JPEG"])
def test_the_logo_is_drawn_on_the_invoice(kind):
    logo = image_bytes(kind, (300, 120))
    assert images_on_first_page(render_invoice(invoice(logo))) == [(300, 120)]
    assert images_on_first_page(render_invoice(invoice(None))) == []


def test_a_document_with_a_logo_renders_to_the_same_bytes_each_time():
    logo = image_bytes()
    assert render_invoice(invoice(logo)) == render_invoice(invoice(logo))
    assert render_certificate(certificate(logo=logo)) == render_certificate(certificate(logo=logo))
