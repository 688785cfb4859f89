"""Certificates and training records as PDF: read back with pypdf, the QR code scanned from an image.

Pure rendering, so no database; the PNGs land in test-artifacts/ for a person to look at.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import replace
from datetime import date
from io import BytesIO
from pathlib import Path

import pytest
from pypdf import PdfReader

from config import BASE_DIR
from lms.evaluations import pdf
from lms.evaluations.pdf import (
    CertificateData,
    TranscriptData,
    TranscriptLine,
    cpd_hours_text,
    render_certificate,
    render_transcript,
)

pytestmark = pytest.mark.no_app_db

ARTIFACTS = BASE_DIR / "test-artifacts"
LONG_TITLE = (
    "Domestic Abuse Module 2: Advanced Domestic Violence & Abuse training - Knowing how to validate "
    "victims and children's disclosures (on completion of Module 1)"
)
LONG_NAME = "Maximilian Alexander Featherstonehaugh-Worthington-Smythe Jr"
PARTNERSHIP = "Cityshire Safeguarding Children Partnership"
VERIFY_URL = "https://training.example.org/certificates/verify/CSCP-2026-7K3Q-9XPM"


def certificate(**changes) -> CertificateData:
    data = CertificateData(
        number="CSCP-2026-7K3Q-9XPM",
        delegate_name="Priya Shah",
        course_title="Working Together to Safeguard Children",
        session_date=date(2026, 5, 13),
        cpd_hours=3.0,
        provider="Cityshire Learning and Development",
        partnership_name=PARTNERSHIP,
        verify_url=VERIFY_URL,
        issued_on=date(2026, 5, 20),
    )
    return replace(data, **changes)


def training_line(number: int, **changes) -> TranscriptLine:
    line = TranscriptLine(
        course_title=f"Course {number:03d}: Neglect and the Graded Care Profile",
        session_date=date(2025, 4, 1),
        cpd_hours=3.0,
        attendance="Attended",
        evaluation="Submitted",
        certificate_number=f"CSCP-2025-{number:04d}-ABCD",
    )
    return replace(line, **changes)


def transcript(lines: list[TranscriptLine], **changes) -> TranscriptData:
    data = TranscriptData(
        delegate_name="Zoë Ní Bhriain",
        organisation="Cityshire Council Children's Services",
        partnership_name=PARTNERSHIP,
        generated_on=date(2026, 5, 20),
        lines=lines,
    )
    return replace(data, **changes)


def read(document: bytes) -> PdfReader:
    return PdfReader(BytesIO(document))


def words(page) -> str:
    """The page's text with line breaks and runs of spaces as single spaces, as wrapping moves them."""
    return " ".join(page.extract_text().split())


def all_words(reader: PdfReader) -> str:
    return " ".join(words(page) for page in reader.pages)


def page_image(document: bytes, folder: Path, page: int = 1) -> Path:
    """The page as a PNG at 150 dpi, drawn by poppler as a viewer would."""
    pdftoppm = shutil.which("pdftoppm")
    assert pdftoppm, "pdftoppm is needed to draw PDF pages (Debian package poppler-utils)"
    source = folder / "document.pdf"
    source.write_bytes(document)
    stem = folder / f"page-{page}"
    subprocess.run(
        [pdftoppm, "-r", "150", "-png", "-singlefile", "-f", str(page), "-l", str(page), source, stem],
        check=True,
        timeout=60,
    )
    return stem.with_suffix(".png")


def keep(image: Path, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copyfile(image, ARTIFACTS / name)


def scanned_qr_codes(image: Path) -> list[str]:
    try:
        import zxingcpp
    except ImportError:  # pragma: no cover - a missing test dependency, said plainly
        pytest.fail("the QR code tests need zxing-cpp (pip install zxing-cpp)")
    from PIL import Image

    with Image.open(image) as picture:
        found = zxingcpp.read_barcodes(picture, formats=zxingcpp.BarcodeFormat.QRCode)
    return [code.text for code in found]


# Certificates --------------------------------------------------------------------------------


def test_a_certificate_shows_everything_a_reader_needs_on_one_landscape_page():
    reader = read(render_certificate(certificate()))

    assert len(reader.pages) == 1
    page = reader.pages[0]
    assert page.mediabox.width > page.mediabox.height  # landscape
    assert (round(float(page.mediabox.width)), round(float(page.mediabox.height))) == (842, 595)
    shown = words(page)
    for expected in (
        "Certificate of attendance",
        "Priya Shah",
        "attended",
        "Working Together to Safeguard Children",
        "Wednesday 13 May 2026",
        "3 CPD hours",
        "Delivered by Cityshire Learning and Development",
        PARTNERSHIP,
        "CSCP-2026-7K3Q-9XPM",
        VERIFY_URL,
    ):
        assert expected in shown


@pytest.mark.parametrize(
    ("hours", "text"),
    [
        (3.0, "3 CPD hours"),
        (2.5, "2.5 CPD hours"),
        (1, "1 CPD hour"),
        (1.0, "1 CPD hour"),
        (0.75, "0.75 CPD hours"),
        (7.499999999, "7.5 CPD hours"),
        (12, "12 CPD hours"),
    ],
)
def test_cpd_hours_are_written_as_people_say_them(hours, text):
    assert cpd_hours_text(hours) == text


def test_one_cpd_hour_is_singular_on_the_certificate():
    shown = words(read(render_certificate(certificate(cpd_hours=1))).pages[0])

    assert "1 CPD hour" in shown
    assert "1 CPD hours" not in shown


def test_the_certificate_says_what_it_is_in_its_metadata():
    reader = read(render_certificate(certificate(course_title="Neglect & Graded Care Profile 2")))

    assert reader.metadata.title == "Certificate: Neglect & Graded Care Profile 2"
    assert reader.metadata.author == PARTNERSHIP
    assert reader.metadata.subject == "CSCP-2026-7K3Q-9XPM"


def test_a_170_character_title_and_a_60_character_name_still_fit_on_one_page(tmp_path):
    assert len(LONG_TITLE) > 150 and len(LONG_NAME) == 60
    document = render_certificate(certificate(course_title=LONG_TITLE, delegate_name=LONG_NAME))
    reader = read(document)

    assert len(reader.pages) == 1
    shown = words(reader.pages[0])
    assert LONG_TITLE in shown
    assert LONG_NAME in shown
    assert VERIFY_URL in shown
    image = page_image(document, tmp_path)
    keep(image, "pdf-certificate-long-title.png")
    assert scanned_qr_codes(image) == [VERIFY_URL]


def test_even_absurd_lengths_are_shrunk_onto_one_page():
    document = render_certificate(
        certificate(
            course_title=" ".join([LONG_TITLE] * 3),
            delegate_name=f"{LONG_NAME} {LONG_NAME}",
            provider="A provider with a remarkably long name " * 4,
            partnership_name="The Cityshire and Neighbouring Boroughs Safeguarding Children Partnership " * 2,
        )
    )

    assert len(read(document).pages) == 1


@pytest.mark.parametrize(
    "name", ["Zoë Ní Bhriain", "Łukasz Wójcik", "Siobhán Ó Súilleabháin", "Đorđe Šćepanović"]
)
def test_names_beyond_latin_1_are_drawn_in_an_embedded_unicode_font(name):
    assert pdf.fonts().unicode, "DejaVu fonts are missing: install the Debian package fonts-dejavu-core"
    reader = read(render_certificate(certificate(delegate_name=name)))

    assert len(reader.pages) == 1
    assert name in words(reader.pages[0])
    fonts = reader.pages[0]["/Resources"]["/Font"]
    assert any("DejaVu" in str(font.get_object()["/BaseFont"]) for font in fonts.values())


def test_without_dejavu_the_standard_fonts_still_make_a_one_page_certificate(monkeypatch):
    monkeypatch.setattr(pdf, "fonts", lambda: pdf.STANDARD_FONTS)
    reader = read(render_certificate(certificate(delegate_name="Łukasz Wójcik")))

    assert len(reader.pages) == 1
    # Helvetica has no Ł; the rest of the name and the page survive.
    assert "ukasz Wójcik" in words(reader.pages[0])


def test_the_qr_code_scans_to_exactly_the_verification_link(tmp_path):
    document = render_certificate(certificate(delegate_name="Zoë Ní Bhriain"))
    image = page_image(document, tmp_path)
    keep(image, "pdf-certificate.png")

    assert scanned_qr_codes(image) == [VERIFY_URL]


def test_markup_characters_in_titles_are_shown_as_typed():
    title = "Children <under 5> & their families: 'Think Family'"
    shown = words(read(render_certificate(certificate(course_title=title))).pages[0])

    assert title in shown


def test_the_same_certificate_renders_to_the_same_bytes():
    assert render_certificate(certificate()) == render_certificate(certificate())


# Training records ----------------------------------------------------------------------------


def test_a_record_with_no_training_says_so_on_one_page(tmp_path):
    document = render_transcript(transcript([]))
    reader = read(document)

    assert len(reader.pages) == 1
    shown = words(reader.pages[0])
    for expected in (
        "Training record",
        "Zoë Ní Bhriain",
        "Cityshire Council Children's Services",
        PARTNERSHIP,
        "Wednesday 20 May 2026",
        "No training recorded yet.",
        "Page 1 of 1",
    ):
        assert expected in shown
    assert "Total CPD hours" not in shown
    keep(page_image(document, tmp_path), "pdf-transcript-empty.png")


def test_a_short_record_lists_each_session_and_adds_up_the_hours():
    lines = [
        training_line(
            1, course_title="Working Together to Safeguard Children", session_date=date(2026, 5, 14)
        ),
        training_line(
            2,
            course_title="Neglect & the Graded Care Profile 2",
            session_date=date(2026, 3, 2),
            cpd_hours=2.5,
            attendance="Partially attended",
            evaluation="Not yet submitted",
            certificate_number=None,
        ),
        training_line(
            3, course_title="Contextual Safeguarding", session_date=date(2025, 11, 20), cpd_hours=1
        ),
    ]
    reader = read(render_transcript(transcript(lines)))

    assert len(reader.pages) == 1
    shown = words(reader.pages[0])
    for expected in (
        "Course Date CPD hours Attendance Evaluation Certificate",
        "Working Together to Safeguard Children 14 May 2026 3 Attended Submitted CSCP-2025-0001-ABCD",
        "Neglect & the Graded Care Profile 2 2 Mar 2026 2.5 Partially attended Not yet submitted Not issued",
        "Contextual Safeguarding 20 Nov 2025 1 Attended Submitted CSCP-2025-0003-ABCD",
        "Total CPD hours: 6.5 (3 sessions)",
        "Page 1 of 1",
    ):
        assert expected in shown


def test_a_record_of_one_session_says_one_session():
    shown = words(read(render_transcript(transcript([training_line(1, cpd_hours=1)]))).pages[0])

    assert "Total CPD hours: 1 (1 session)" in shown
    assert "1 sessions" not in shown


def test_a_long_record_runs_over_pages_with_the_header_row_and_page_numbers_on_each(tmp_path):
    lines = [
        training_line(number, cpd_hours=(3.0, 2.5, 1.0)[number % 3], course_title=title)
        for number in range(1, 201)
        for title in [LONG_TITLE if number % 9 == 0 else f"Course {number:03d}: Neglect"]
    ]
    document = render_transcript(transcript(lines))
    reader = read(document)

    pages = len(reader.pages)
    assert pages > 2
    for number, page in enumerate(reader.pages, start=1):
        shown = words(page)
        assert "Course Date CPD hours Attendance Evaluation Certificate" in shown
        assert f"Page {number} of {pages}" in shown
        if number > 1:
            assert "Training record: Zoë Ní Bhriain" in shown
    everything = all_words(reader)
    for number in range(1, 201):
        assert f"CSCP-2025-{number:04d}-ABCD" in everything
    assert everything.count(LONG_TITLE) == 22
    # 67 sessions of 2.5 hours, 67 of 1 hour and 66 of 3 hours
    assert "Total CPD hours: 432.5 (200 sessions)" in words(reader.pages[-1])
    keep(page_image(document, tmp_path, 1), "pdf-transcript-page-1.png")
    keep(page_image(document, tmp_path, 2), "pdf-transcript-page-2.png")
    keep(page_image(document, tmp_path, pages), "pdf-transcript-last-page.png")


def test_the_record_says_what_it_is_in_its_metadata():
    reader = read(render_transcript(transcript([training_line(1)])))

    assert reader.metadata.title == "Training record: Zoë Ní Bhriain"
    assert reader.metadata.author == PARTNERSHIP


def test_the_same_record_renders_to_the_same_bytes():
    lines = [training_line(number) for number in range(1, 60)]

    assert render_transcript(transcript(lines)) == render_transcript(transcript(lines))
