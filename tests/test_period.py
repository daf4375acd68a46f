"""Periods: --from inclusive, --to exclusive, bare dates are UTC midnight, last-week is Monday to Monday."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from ingress_audit.errors import ConfigError
from ingress_audit.period import last_week, parse_instant, resolve_period


def test_bare_dates_and_offsets_become_utc():
    assert parse_instant("2026-11-16", "--from") == datetime(2026, 11, 16, tzinfo=timezone.utc)
    assert parse_instant("2026-11-16T01:30:00+01:00", "--from") == datetime(2026, 11, 16, 0, 30, tzinfo=timezone.utc)
    assert parse_instant("2026-11-16T01:30:00Z", "--from") == datetime(2026, 11, 16, 1, 30, tzinfo=timezone.utc)


@pytest.mark.parametrize("now", [datetime(2026, 11, 23, 0, 0, 1, tzinfo=timezone.utc),   # Monday just after midnight
                                 datetime(2026, 11, 29, 23, 59, tzinfo=timezone.utc)])  # Sunday night
def test_last_week_is_the_last_complete_monday_to_monday_week(now):
    period = last_week(now)
    assert period.start == datetime(2026, 11, 16, tzinfo=timezone.utc)
    assert period.end == datetime(2026, 11, 23, tzinfo=timezone.utc)
    assert period.days() == [date(2026, 11, d) for d in range(16, 23)]


def test_days_of_a_period_ending_mid_day():
    period = resolve_period("2026-11-16T12:00:00Z", "2026-11-17T00:00:01Z", None)
    assert period.days() == [date(2026, 11, 16), date(2026, 11, 17)]


@pytest.mark.parametrize(("start", "end", "named", "message"), [
    ("2026-11-16", "2026-11-16", None, "is not after"),
    ("yesterday", "2026-11-16", None, "--from 'yesterday' is not a date"),
    ("2026-11-16", None, None, "needs both"),
    ("2026-11-16", "2026-11-23", "last-week", "either --period or --from/--to"),
])
def test_bad_periods(start, end, named, message):
    with pytest.raises(ConfigError, match=message):
        resolve_period(start, end, named)


@pytest.mark.parametrize(("as_of", "label"), [
    ("2026-11-24", "2026-W47"),  # a Tuesday: the week before
    ("2026-11-23T00:00:00Z", "2026-W47"),  # Monday midnight: that week just ended
    ("2026-11-22T23:59:59Z", "2026-W46"),
    ("2027-01-04T02:00:00+01:00", "2026-W53"),  # 01:00 UTC Monday: 2026 has 53 ISO weeks
])
def test_as_of_sets_the_clock_of_last_week(as_of, label):
    assert resolve_period(None, None, "last-week", as_of=as_of).label() == label


def test_as_of_needs_a_named_period_and_a_date():
    with pytest.raises(ConfigError, match="--as-of goes with --period"):
        resolve_period("2026-11-16", "2026-11-23", None, as_of="2026-11-24")
    with pytest.raises(ConfigError, match="--as-of 'tuesday' is not a date"):
        resolve_period(None, None, "last-week", as_of="tuesday")
