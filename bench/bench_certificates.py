"""Certificates per second: render_certificate beside a bare ReportLab page with the same text.

Run on demand: .venv/bin/python -m bench.bench_certificates [--count 300]
Prints progress to stderr and the figures, with their ratio, to stdout.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import date
from io import BytesIO

from reportlab.lib.pagesizes import A4, landscape
from reportlab.pdfgen.canvas import Canvas

from lms.evaluations.pdf import CertificateData, render_certificate

DATA = CertificateData(
    number="SCP-2026-7K3Q-9XPM",
    delegate_name="Priya Shah",
    course_title="Domestic Abuse Module 1: Understanding Coercive Control & Domestic Violence & Abuse (DVA)",
    session_date=date(2026, 5, 14),
    cpd_hours=3,
    provider="City Training Ltd",
    partnership_name="City Safeguarding Children Partnership",
    verify_url="https://training.example.org/certificates/verify/SCP-2026-7K3Q-9XPM",
    issued_on=date(2026, 5, 20),
)


def bare_page(data: CertificateData) -> bytes:
    """The floor: one canvas page, the same words, no layout engine, no QR code, standard fonts."""
    buffer = BytesIO()
    canvas = Canvas(buffer, pagesize=landscape(A4), invariant=1)
    width, height = landscape(A4)
    lines = [
        data.partnership_name,
        "Certificate of attendance",
        data.delegate_name,
        "attended",
        data.course_title,
        f"on {data.session_date:%A %d %B %Y}",
        f"{data.cpd_hours:g} CPD hours",
        f"Delivered by {data.provider}",
        data.number,
        data.verify_url,
    ]
    for n, text in enumerate(lines):
        canvas.setFont("Helvetica", 14)
        canvas.drawCentredString(width / 2, height - 80 - n * 30, text)
    canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def timed(label: str, render, count: int) -> list[float]:
    samples = []
    for n in range(count):
        start = time.perf_counter()
        render(DATA)
        samples.append(time.perf_counter() - start)
        if n % 50 == 0:
            print(f"\r{label}: {n}/{count}", end="", file=sys.stderr, flush=True)
    print(f"\r{label}: {count}/{count}", file=sys.stderr)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=300, help="pages of each kind (at most 2,000)")
    count = max(10, min(parser.parse_args().count, 2000))
    render_certificate(DATA), bare_page(DATA)  # warm up: fonts registered, modules loaded
    results = {}
    for label, render in (("certificate", render_certificate), ("bare page", bare_page)):
        samples = timed(label, render, count)
        results[label] = statistics.median(samples)
    print(f"{'':16}{'median ms':>12}{'per second':>12}")
    for label, median in results.items():
        print(f"{label:16}{median * 1000:12.2f}{1 / median:12.1f}")
    print(f"certificate / bare page time: {results['certificate'] / results['bare page']:.1f}")


if __name__ == "__main__":
    main()
