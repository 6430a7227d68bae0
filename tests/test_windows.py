"""The nightly business date and window."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from jobs.windows import business_date, nightly_window


def test_trailing_window_ends_yesterday():
    assert nightly_window(date(2026, 8, 15), 7) == (date(2026, 8, 8), date(2026, 8, 14))
    assert nightly_window(date(2026, 8, 2), 1) == (date(2026, 8, 1), date(2026, 8, 1))


def test_window_may_reach_into_the_previous_month():
    assert nightly_window(date(2026, 3, 3), 7) == (date(2026, 2, 24), date(2026, 3, 2))


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (date(2026, 8, 1), (date(2026, 7, 1), date(2026, 7, 31))),
        (date(2026, 3, 1), (date(2026, 2, 1), date(2026, 2, 28))),
        (date(2028, 3, 1), (date(2028, 2, 1), date(2028, 2, 29))),  # leap year
        (date(2027, 1, 1), (date(2026, 12, 1), date(2026, 12, 31))),  # year boundary
    ],
)
def test_first_of_month_reconciles_the_whole_previous_month(day, expected):
    assert nightly_window(day, 7) == expected


def test_every_day_of_a_year_is_covered():
    covered: set[date] = set()
    day = date(2026, 1, 2)
    while day <= date(2027, 1, 1):
        start, end = nightly_window(day, 3)
        covered.update(start + timedelta(days=i) for i in range((end - start).days + 1))
        day += timedelta(days=1)
    expected = {date(2026, 1, 1) + timedelta(days=i) for i in range(365)}
    assert expected <= covered


def test_window_days_must_be_positive():
    with pytest.raises(ValueError):
        nightly_window(date(2026, 8, 15), 0)


def test_business_date_is_taken_in_the_schedule_timezone():
    moment = datetime(2026, 8, 14, 22, 30, tzinfo=UTC)
    assert business_date(moment, "Africa/Nairobi") == date(2026, 8, 15)
    assert business_date(moment, "America/New_York") == date(2026, 8, 14)
    with pytest.raises(ValueError):
        business_date(datetime(2026, 8, 14), "UTC")
