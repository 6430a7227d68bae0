"""The nightly run's business date and date window.

The business date is the calendar date, in the schedule's time zone, on which the nightly job
runs; it is computed explicitly (never from the host's local time), so a cron time that fires
twice in a daylight-saving change still maps to one business date.

The window is the trailing ``window_days`` days ending yesterday; on the first of a month it is
the whole previous month instead, so every month is reconciled once in full.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo


def business_date(moment: datetime, timezone: str) -> date:
    """The calendar date of ``moment`` (timezone-aware) in ``timezone``."""
    if moment.tzinfo is None:
        raise ValueError("business_date: moment must be timezone-aware")
    return moment.astimezone(ZoneInfo(timezone)).date()


def nightly_window(business_day: date, window_days: int) -> tuple[date, date]:
    """The ``(from, to)`` dates, inclusive, that the nightly run on ``business_day`` reconciles.

    Trailing ``window_days`` days ending the day before ``business_day``; on the first of a
    month, the whole previous month.
    """
    if window_days < 1:
        raise ValueError("nightly_window: window_days must be at least 1")
    yesterday = business_day - timedelta(days=1)
    if business_day.day == 1:
        return yesterday.replace(day=1), yesterday
    return business_day - timedelta(days=window_days), yesterday


__all__ = ["business_date", "nightly_window"]
