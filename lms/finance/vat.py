"""VAT on invoices and credit notes: worked out here and nowhere else."""

from __future__ import annotations


def vat_on(net_pence: int, rate_percent: int) -> int:
    """VAT in whole pence on a document's net total, rounded to the nearest penny with halves up.

    Worked out once on the net total, never line by line, in integers (no float error). A half
    penny rounds away from zero, so a credit note's VAT mirrors the invoice's: 2.5p -> 3p, -2.5p -> -3p.
    """
    if rate_percent < 0 or rate_percent != int(rate_percent):
        raise ValueError(f"The VAT rate is a whole, non-negative percentage, not {rate_percent!r}")
    sign = -1 if net_pence < 0 else 1
    return sign * ((abs(int(net_pence)) * int(rate_percent) + 50) // 100)
