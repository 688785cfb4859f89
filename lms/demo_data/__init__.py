"""What the demo-data command builds from: the partnership's agency list and programme (CSV),
and the details a real year would have around them (Python tables beside them)."""

from __future__ import annotations

from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent
AGENCIES_CSV = DATA_DIR / "agencies.csv"
PROGRAMME_CSV = DATA_DIR / "programme-2024-25.csv"
