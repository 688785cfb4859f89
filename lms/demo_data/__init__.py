"""What the demo-data command builds from: the partnership's organisations and programme (CSV),
and the details a real year would have around them (Python tables beside them).

- agencies.csv: the partnership's agency list as it was published, large partners by name and
  the sectors made of many small organisations by category ("Primary school"). The benchmark
  dataset (lms/datasets) uses it.
- organisations.csv: every organisation of the demo, one employer a row: the large partners of
  agencies.csv (the rows that are one organisation, with the NHS bodies' real ODS codes), and
  invented schools, academy trusts, GP practices, nurseries, childminders and charities, with
  invented URN-like, ODS-like and Ofsted-like codes and postcodes in the city. A school with a
  parent is billed through its trust.
- programme-2024-25.csv: the 16 modules of the 2024/25 programme and how many sessions of each.
- sessions-2024-25.csv: those 68 sessions with a date, time, mode, trainer, places (1,905 in all)
  and cost (£67,931 in all). The annual report gives the totals, not the dates, so the dates are
  spread over the year; the demo moves them on to the years it shows.
"""

from __future__ import annotations

from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent
AGENCIES_CSV = DATA_DIR / "agencies.csv"
ORGANISATIONS_CSV = DATA_DIR / "organisations.csv"
PROGRAMME_CSV = DATA_DIR / "programme-2024-25.csv"
SESSIONS_CSV = DATA_DIR / "sessions-2024-25.csv"
