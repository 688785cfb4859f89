"""Certificates and transcripts read back from the PDF, and the QR code decoded from a rendered page."""

from __future__ import annotations

import subprocess
from datetime import date
from io import BytesIO
from pathlib import Path

import pytest
import zxingcpp
from PIL import Image
from pypdf import PdfReader

from lms.evaluations.pdf import (
    CertificateData,
    TranscriptData,
    TranscriptLine,
    render_certificate,
    render_transcript,
)

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
LONG_TITLE = (
    "Domestic Abuse Module 2: Advanced Domestic Violence & Abuse training - Knowing how to validate victims "
    "and children's disclosures (on completion of Module 1)"
)


def certificate(**overrides) -> CertificateData:
    values = dict(
        number="SCP-2026-7K3Q-9XPM",
        delegate_name="Priya Shah",
        course_title="Online Safety",
        session_date=date(2026, 5, 14),
        cpd_hours=2.5,
        provider="City Training Ltd",
        partnership_name="City Safeguarding Children Partnership",
        verify_url="https://training.example.org/certificates/verify/SCP-2026-7K3Q-9XPM",
        issued_on=date(2026, 5, 20),
    )
    values.update(overrides)
    return CertificateData(**values)


def text_of(pdf: bytes) -> str:
    return " ".join(page.extract_text() for page in PdfReader(BytesIO(pdf)).pages)


def squashed(text: str) -> str:
    return "".join(text.split())


def rendered_page(pdf: bytes, tmp_path: Path, name: str) -> Image.Image:
    source = tmp_path / f"{name}.pdf"
    source.write_bytes(pdf)
    subprocess.run(
        [
            "pdftoppm",
            "-r",
            "150",
            "-png",
            "-f",
            "1",
            "-l",
            "1",
            "-singlefile",
            str(source),
            str(tmp_path / name),
        ],
        check=True,
    )
    image = Image.open(tmp_path / f"{name}.png")
    ARTIFACTS.mkdir(exist_ok=True)
    image.save(ARTIFACTS / f"{name}.png")
    return image


def test_the_certificate_carries_every_field_on_one_page():
    pdf = render_certificate(certificate())
    reader = PdfReader(BytesIO(pdf))
    assert len(reader.pages) == 1
    text = text_of(pdf)
    for expected in (
        "Priya Shah",
        "Online Safety",
        "Thursday 14 May 2026",
        "2.5 CPD hours",
        "City Training Ltd",
        "City Safeguarding Children Partnership",
    ):
        assert expected in text, expected
    assert "SCP-2026-7K3Q-9XPM" in squashed(text)
    assert "https://training.example.org/certificates/verify/SCP-2026-7K3Q-9XPM" in squashed(text)
    assert reader.metadata.title == "Certificate: Online Safety"


def test_the_qr_code_holds_the_verification_link(tmp_path):
    data = certificate()
    image = rendered_page(render_certificate(data), tmp_path, "certificate")
    codes = [
        code.text for code in zxingcpp.read_barcodes(image) if code.format == zxingcpp.BarcodeFormat.QRCode
    ]
    assert codes == [data.verify_url]


@pytest.mark.parametrize(
    "name", ["Zoë Ní Bhriain", "Łukasz Wójcik", "Bartholomew Montgomery-Fitzwilliam-Ravenscroft-Smythe"]
)
def test_long_titles_and_any_name_stay_on_one_page(name):
    pdf = render_certificate(certificate(delegate_name=name, course_title=LONG_TITLE, cpd_hours=1))
    assert len(PdfReader(BytesIO(pdf)).pages) == 1
    text = text_of(pdf)
    assert squashed(name) in squashed(text)
    assert squashed("validate victims and children's disclosures") in squashed(text)
    assert "1 CPD hour" in text


def test_the_same_certificate_renders_to_the_same_bytes():
    assert render_certificate(certificate()) == render_certificate(certificate())


def line(n: int, evaluated: bool = True) -> TranscriptLine:
    return TranscriptLine(
        course_title=f"Course number {n}",
        session_date=date(2026, 4, 1 + n % 28),
        cpd_hours=3.0 if n % 2 else 2.5,
        attendance="Attended" if n % 5 else "Partially attended",
        evaluation="Submitted" if evaluated else "Not yet submitted",
        certificate_number=f"SCP-2026-AAAA-{n:04d}" if n % 5 else None,
    )


def transcript(lines) -> bytes:
    return render_transcript(
        TranscriptData(
            delegate_name="Priya Shah",
            organisation="West Midlands Police",
            partnership_name="City Safeguarding Children Partnership",
            generated_on=date(2026, 11, 21),
            lines=lines,
        )
    )


def test_an_empty_training_record_says_so():
    text = text_of(transcript([]))
    assert "Training record" in text and "Priya Shah" in text and "No training recorded yet." in text


def test_a_long_training_record_runs_over_pages_with_headers_and_a_total(tmp_path):
    lines = [line(n) for n in range(200)]
    pdf = transcript(lines)
    reader = PdfReader(BytesIO(pdf))
    pages = [page.extract_text() for page in reader.pages]
    assert len(pages) > 3
    assert all("Course" in page for page in pages)
    assert f"Page 1 of {len(pages)}" in pages[0] and f"Page {len(pages)} of {len(pages)}" in pages[-1]
    text = " ".join(pages)
    for n in (0, 77, 199):
        assert f"Course number {n}" in text
    total = sum(item.cpd_hours for item in lines)
    assert f"{total:g}" in text
    rendered_page(pdf, tmp_path, "transcript")
