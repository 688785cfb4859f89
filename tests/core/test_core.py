from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lms.bookings.places import bookable_limit
from lms.bookings.rules import is_late_on
from lms.core.calendar import is_working_day, working_days_before, working_days_between
from lms.core.formatting import format_date, format_hours, format_money, parse_money
from lms.core.timezones import InvalidLocalTime, london_to_utc, to_london


@pytest.mark.parametrize(
    ("places", "percent", "limit"),
    [(20, 10, 22), (15, 10, 16), (8, 10, 8), (10, 10, 11), (20, 0, 20), (1, 100, 2), (99, 10, 108)],
)
def test_bookable_limit_rounds_the_overbooking_allowance_down(places, percent, limit):
    assert bookable_limit(places, percent) == limit


def test_bank_holidays_and_weekends_are_not_working_days():
    assert is_working_day(date(2026, 5, 5))  # Tuesday
    assert not is_working_day(date(2026, 5, 4))  # Early May bank holiday
    assert not is_working_day(date(2026, 5, 9))  # Saturday
    assert not is_working_day(date(2026, 12, 28))  # Boxing Day substitute
    assert not is_working_day(date(2027, 3, 26))  # Good Friday 2027


def test_whole_working_days_between_skip_weekends_and_holidays():
    thursday = date(2026, 6, 11)
    assert working_days_between(date(2026, 6, 5), thursday) == 3  # Friday before: Mon-Wed
    assert working_days_between(date(2026, 6, 8), thursday) == 2  # Monday: Tue, Wed
    # Across the late May bank holiday (25 May 2026)
    assert working_days_between(date(2026, 5, 22), date(2026, 5, 28)) == 2


def test_working_days_before_steps_over_weekends_and_holidays():
    assert working_days_before(date(2026, 5, 26), 1) == date(2026, 5, 22)  # Tue after bank holiday
    assert working_days_before(date(2026, 6, 11), 3) == date(2026, 6, 8)


def test_london_times_convert_both_ways_across_clock_changes():
    summer = london_to_utc(datetime(2026, 7, 1, 9, 30))
    winter = london_to_utc(datetime(2026, 12, 1, 9, 30))
    assert summer == datetime(2026, 7, 1, 8, 30, tzinfo=UTC)
    assert winter == datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
    assert to_london(summer).hour == 9


def test_a_time_in_the_spring_gap_is_refused():
    with pytest.raises(InvalidLocalTime):
        london_to_utc(datetime(2026, 3, 29, 1, 30))


def test_money_is_pence_shown_as_pounds():
    assert format_money(2500) == "£25.00"
    assert format_money(123456) == "£1,234.56"
    assert format_money(-1050) == "-£10.50"
    assert parse_money("£1,250.5") == 125050
    assert parse_money("450") == 45000
    assert parse_money(".99") == 99
    for bad in ("", "abc", "1.234", "-5", "12.3.4"):
        with pytest.raises(ValueError):
            parse_money(bad)


def test_dates_and_hours_read_naturally():
    assert format_date(datetime(2026, 7, 1, 23, 30, tzinfo=UTC)) == "Thu 2 July 2026"
    assert format_hours(90) == "1.5 hours"
    assert format_hours(60) == "1 hour"


@settings(max_examples=400, deadline=None, database=None)
@given(
    day=st.dates(min_value=date(2025, 1, 1), max_value=date(2027, 12, 31)),
    ahead=st.integers(min_value=-10, max_value=200),
    notice=st.integers(min_value=0, max_value=10),
)
def test_late_from_the_notice_periods_first_working_day_as_counting_the_days_between_says(day, ahead, notice):
    session_day = day + timedelta(days=ahead)
    assert is_late_on(day, session_day, notice) == (working_days_between(day, session_day) < notice)
