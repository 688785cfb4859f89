"""Money, numbers, percentages, dates, times, durations and counts, each said one way everywhere."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from lms.core.formatting import (
    bookings_close_sentence,
    format_compact_date,
    format_date,
    format_datetime,
    format_decimal,
    format_hours,
    format_hours_number,
    format_long_date,
    format_money,
    format_month,
    format_number,
    format_percent,
    format_period,
    format_plain_date,
    format_point_change,
    format_pounds_plain,
    format_range,
    format_rate,
    format_time,
    format_times,
    format_whole_pounds,
    percent_value,
    plural,
    plural_word,
    pounds_value,
)
from lms.core.timezones import start_of_london_day

pytestmark = pytest.mark.no_app_db


# Money ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pence", "shown"),
    [(0, "£0.00"), (5, "£0.05"), (2500, "£25.00"), (125050, "£1,250.50"), (-1050, "-£10.50"), (None, "")],
)
def test_money_is_pounds_and_pence_with_a_thousands_separator(pence, shown):
    assert format_money(pence) == shown


@pytest.mark.parametrize(
    ("pence", "shown"),
    [
        (12003700, "£120,037"),
        (12003750, "£120,038"),
        (5049, "£50"),
        (5050, "£51"),
        (-5050, "-£51"),
        (0, "£0"),
    ],
)
def test_whole_pounds_round_to_the_nearest_pound_halves_up(pence, shown):
    assert format_whole_pounds(pence) == shown


def test_spreadsheets_and_form_fields_get_plain_exact_pounds():
    assert format_pounds_plain(125050) == "1250.50"
    assert format_pounds_plain(-2500) == "-25.00"
    assert format_pounds_plain(None) == ""
    assert pounds_value(125050) == Decimal("1250.50")
    assert pounds_value(1) == Decimal("0.01")
    assert pounds_value(None) is None


# Counts --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("count", "shown"),
    [
        (0, "0 invoices"),
        (1, "1 invoice"),
        (2, "2 invoices"),
        (1905, "1,905 invoices"),
        (1_000_000, "1,000,000 invoices"),
    ],
)
def test_a_count_agrees_with_its_noun(count, shown):
    assert plural(count, "invoice") == shown


@pytest.mark.parametrize(
    ("count", "shown"), [(0, "0 people"), (1, "1 person"), (2, "2 people"), (3066, "3,066 people")]
)
def test_an_irregular_plural_is_given_once(count, shown):
    assert plural(count, "person", "people") == shown


def test_the_word_alone_agrees_with_the_count():
    assert plural_word(1, "person", "people") == "person"
    assert plural_word(0, "place") == "places"
    assert plural_word(1, "stands", "stand") == "stands"
    assert plural_word(2, "stands", "stand") == "stand"
    assert f"{plural(1, 'place')} + 10% overbooking" == "1 place + 10% overbooking"


def test_numbers_carry_thousands_separators():
    assert format_number(1905) == "1,905"
    assert format_number(0) == "0"
    assert format_number(None) == ""


def test_a_range_of_one_is_said_once():
    assert format_range("INV2728-0003", "INV2728-0003") == "INV2728-0003"
    assert format_range("INV2728-0003", "INV2728-0007") == "INV2728-0003 to INV2728-0007"
    assert format_range(3, 3) == "3"
    assert f"{plural(1, 'invoice')} issued, {format_range('INV2728-0003', 'INV2728-0003')}." == (
        "1 invoice issued, INV2728-0003."
    )


# Percentages ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("share", "decimals", "shown"),
    [
        (1291 / 1905, 0, "68%"),  # 67.77%: the 2024/25 utilisation
        (1291 / 1905, 1, "67.8%"),
        (0.685, 0, "69%"),  # half up; Python's "%.0f" gives 68%
        (0.675, 0, "68%"),  # 0.675 * 100 is 67.50000000000001 as a float: still 68%
        (0.6745, 1, "67.5%"),
        (0.68, 1, "68.0%"),
        (0, 0, "0%"),
        (-0.001, 0, "0%"),  # never "-0%"
        (1.1, 0, "110%"),  # overbooking can take utilisation past 100%
        (None, 0, "–"),
    ],
)
def test_a_share_is_a_percentage_rounded_half_up_at_the_precision_shown(share, decimals, shown):
    assert format_percent(share, decimals) == shown


def test_a_rate_set_in_percent_takes_the_same_sign_and_rounding():
    assert format_rate(20) == "20%"
    assert format_rate(10) == "10%"
    assert format_rate(17.5) == "18%"
    assert format_rate(17.5, 1) == "17.5%"
    assert format_rate(None) == "–"


def test_a_spreadsheet_gets_the_percentage_as_a_number_rounded_the_same_way():
    assert percent_value(1291 / 1905) == 67.8
    assert percent_value(0.68) == 68.0
    assert percent_value(0.6745) == 67.5
    assert percent_value(None) is None


def test_a_change_in_points_adds_up_with_the_percentages_shown():
    assert format_point_change(0.68, 0.66) == "up 2 points"
    assert format_point_change(0.66, 0.67) == "down 1 point"
    # 67.6% shows as 68% and 66.4% as 66%: the change reads 2 points, not the raw 1.2.
    assert format_point_change(0.676, 0.664) == "up 2 points"
    assert format_point_change(0.671, 0.669) == "no change"
    assert format_point_change(0.68, None) == ""
    assert format_point_change(0.6777, 0.6612, decimals=1) == "up 1.7 points"  # 67.8% on 66.1%


def test_a_measured_number_is_rounded_half_up():
    assert format_decimal(3.65) == "3.7"
    assert format_decimal(4) == "4.0"
    assert format_decimal(2.345, 2) == "2.35"
    assert format_decimal(None) == "–"


# Dates and times -----------------------------------------------------------------------------


def test_a_moment_is_shown_on_its_uk_date_and_time():
    late_summer_evening = datetime(2026, 7, 1, 23, 30, tzinfo=UTC)  # 00:30 on 2 July in London
    assert format_date(late_summer_evening) == "Thu 2 July 2026"
    assert format_time(late_summer_evening) == "00:30"
    assert format_datetime(late_summer_evening) == "Thu 2 July 2026, 00:30"
    winter = datetime(2026, 12, 2, 14, 30, tzinfo=UTC)  # GMT: the same wall clock
    assert format_datetime(winter) == "Wed 2 December 2026, 14:30"


def test_each_date_style_has_one_function():
    day = date(2026, 12, 2)
    assert format_date(day) == "Wed 2 December 2026"
    assert format_long_date(day) == "Wednesday 2 December 2026"
    assert format_plain_date(day) == "2 December 2026"
    assert format_compact_date(day) == "2 Dec 2026"
    assert format_month(day) == "December 2026"
    assert format_date(None) == format_plain_date(None) == format_time(None) == ""


def test_a_period_of_one_day_is_that_day():
    assert format_period(date(2026, 4, 1), date(2027, 3, 31)) == "1 April 2026 to 31 March 2027"
    assert format_period(date(2026, 5, 14), date(2026, 5, 14)) == "14 May 2026"


def test_when_a_session_runs_gives_the_end_date_only_when_it_differs():
    starts = datetime(2026, 6, 9, 8, 30, tzinfo=UTC)
    assert format_times(starts, starts + timedelta(hours=3)) == "Tue 9 June 2026, 09:30 to 12:30"
    assert format_times(starts, starts + timedelta(days=1, hours=7)) == (
        "Tue 9 June 2026, 09:30 to Wed 10 June 2026, 16:30"
    )


# When bookings close -------------------------------------------------------------------------


def test_bookings_closing_at_midnight_close_at_the_end_of_the_day_before():
    closes_at = start_of_london_day(date(2026, 12, 3))  # 00:00 on Thursday 3 December
    assert bookings_close_sentence(closes_at) == "Bookings close at the end of Wednesday 2 December 2026"
    this_year = datetime(2026, 11, 20, 10, tzinfo=UTC)
    assert bookings_close_sentence(closes_at, now=this_year) == (
        "Bookings close at the end of Wednesday 2 December"
    )
    after = closes_at + timedelta(hours=9)
    assert bookings_close_sentence(closes_at, now=after) == (
        "Bookings closed at the end of Wednesday 2 December"
    )
    the_year_before = datetime(2025, 12, 20, 10, tzinfo=UTC)
    assert bookings_close_sentence(closes_at, now=the_year_before) == (
        "Bookings close at the end of Wednesday 2 December 2026"
    )


def test_in_summer_time_uk_midnight_is_still_the_end_of_the_day_before():
    closes_at = start_of_london_day(date(2026, 7, 2))  # 23:00 UTC on 1 July
    assert closes_at.hour == 23
    assert bookings_close_sentence(closes_at, now=datetime(2026, 6, 1, tzinfo=UTC)) == (
        "Bookings close at the end of Wednesday 1 July"
    )


def test_bookings_closing_when_the_session_starts_give_the_time():
    starts_at = datetime(2026, 12, 3, 9, 30, tzinfo=UTC)
    assert bookings_close_sentence(starts_at, now=datetime(2026, 11, 1, tzinfo=UTC)) == (
        "Bookings close at 09:30 on Thursday 3 December"
    )


# Durations -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("minutes", "shown"),
    [
        (0, "0 hours"),
        (45, "0.75 hours"),
        (60, "1 hour"),
        (90, "1.5 hours"),
        (100, "1.67 hours"),  # never 1.66667
        (180, "3 hours"),
        (1440, "24 hours"),
        (None, ""),
    ],
)
def test_minutes_are_shown_as_hours_to_at_most_two_decimals(minutes, shown):
    assert format_hours(minutes) == shown


def test_hours_take_their_unit_and_drop_float_artefacts():
    assert format_hours(60, unit="CPD hour") == "1 CPD hour"
    assert format_hours(150, unit="CPD hour") == "2.5 CPD hours"
    assert format_hours_number(7.499999999) == "7.5"
    assert format_hours_number(3.0) == "3"
    assert format_hours_number(1.25) == "1.25"
