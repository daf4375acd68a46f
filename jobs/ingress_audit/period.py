"""The audit period: `--from` inclusive, `--to` exclusive, bare dates are UTC midnight."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

from .errors import ConfigError


@dataclass(frozen=True)
class Period:
    start: datetime  # inclusive, UTC
    end: datetime  # exclusive, UTC

    def days(self) -> list[date]:
        """Every UTC calendar day the period touches."""
        first = self.start.date()
        last = (self.end - timedelta(microseconds=1)).date()
        return [first + timedelta(days=i) for i in range((last - first).days + 1)]

    def iso(self) -> tuple[str, str]:
        return (_z(self.start), _z(self.end))

    def is_iso_week(self) -> bool:
        return self.start.weekday() == 0 and self.start.time() == time(0) and self.end - self.start == timedelta(days=7)

    def label(self) -> str:
        """The folder a published report goes to: `2026-W47` for an ISO week, else `<from>_<to>`."""
        if self.is_iso_week():
            year, week, _ = self.start.isocalendar()
            return f"{year}-W{week:02d}"
        fmt = "%Y-%m-%d" if self.start.time() == time(0) and self.end.time() == time(0) else "%Y-%m-%dT%H%M%SZ"
        return f"{self.start.strftime(fmt)}_{self.end.strftime(fmt)}"

    def previous(self) -> "Period":
        """The period of the same length just before this one (last week's report, for comparison)."""
        length = self.end - self.start
        return Period(self.start - length, self.start)


def _z(ts: datetime) -> str:
    return ts.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_instant(text: str, flag: str) -> datetime:
    """A bare date (UTC midnight) or an ISO 8601 timestamp; naive timestamps are UTC."""
    raw = text.strip()
    try:
        if len(raw) == 10:
            return datetime.combine(date.fromisoformat(raw), time(0), tzinfo=timezone.utc)
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(
            f"{flag} {text!r} is not a date (YYYY-MM-DD) or an ISO 8601 timestamp"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc)


def last_week(now: datetime | None = None) -> Period:
    """The last complete ISO week (Monday 00:00 UTC to Monday 00:00 UTC) before `now`."""
    now = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    this_monday = datetime.combine(now.date() - timedelta(days=now.weekday()), time(0), timezone.utc)
    return Period(this_monday - timedelta(days=7), this_monday)


def resolve_period(start: str | None, end: str | None, named: str | None, *, as_of: str | None = None) -> Period:
    """Build the period from `--from/--to` or `--period` (from the clock, or `--as-of`), refusing
    contradictory input. The same `--as-of` always gives the same period: reruns are repeatable."""
    if as_of is not None and named is None:
        raise ConfigError("--as-of goes with --period (it sets the clock the period is computed from)")
    if named is not None:
        if start or end:
            raise ConfigError("give either --period or --from/--to, not both")
        if named != "last-week":
            raise ConfigError(f"--period {named!r} is not known (use last-week)")
        return last_week(parse_instant(as_of, "--as-of") if as_of is not None else None)
    if not start or not end:
        raise ConfigError("the period needs both --from and --to (or --period last-week)")
    period = Period(parse_instant(start, "--from"), parse_instant(end, "--to"))
    if period.end <= period.start:
        raise ConfigError(f"--to {end} is not after --from {start}")
    return period
