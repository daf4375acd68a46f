"""Staged days in object storage: the layout, the day manifest, and which day keeps what.

DESIGN.md, "Scale": past one machine, staging is per day and idempotent, written as Parquet to
object storage; a Kubernetes Indexed Job fans the days out across pods and the weekly run reads
only Parquet. `stage --day D --out s3://bucket/prefix` writes a day (staged_write.py) and
`run --staged s3://bucket/prefix` reads a period's days (staged_read.py); this module is what
both agree on.

Layout under the prefix, hive-partitioned by day and source kind (Trino, Athena and Spark read
each folder as a table, `day` and `source_kind` as partition columns):

    http_requests/day=2026-11-17/source_kind=ingress-nginx/part-2026-11-17-<sha256:16>.parquet
    audit_events/day=2026-11-17/source_kind=k8s-audit/part-2026-11-17-<sha256:16>.parquet
    rejects/day=2026-11-17/source_kind=ingress-nginx/part-2026-11-17-<sha256:16>.parquet
    objects/day=2026-11-17/part-2026-11-17-<sha256:16>.parquet
    _days/day=2026-11-17.json         the day's manifest: its commit, written last

- `http_requests` and `audit_events` files hold parsed records only, with exactly the documented
  columns except the partition columns (`source_kind` is the folder, as Hive and Spark write
  it). Rejected records are split into their own `rejects` table (object, line, reason, raw,
  cluster; `source_kind` from the folder): unlike the local Parquet cache, where they share the
  files and every reader must add `WHERE reject_reason IS NULL`, an engine's `http_requests`
  here is the documented table as it is.
- `objects` is the per-day accounting as a table (see "Accounting" below); the day manifest
  holds the same, plus the file list.
- `part-<D>-` names the day whose job wrote the file; the rest of the name is the start of the
  file's SHA-256. A file's name therefore changes whenever its bytes do, and a rerun never
  overwrites a file an earlier committed manifest lists (see staged_write.py, "Atomic"). Folder
  and file names beginning with `_` are hidden from Hive, Trino, Athena and Spark.

Which records belong to day D. Objects are selected for D as for any period (the date in the
key, one day of margin either side, else LastModified): `selected()` for [D, D+1). Records are
kept by their own timestamps: day D's job writes the records of [D, D+1) of every object it
reads, so an object spanning midnight is read by both days' jobs and each keeps its own day's
records. What has no timestamp, or no day that reads it, belongs to one day, the object's
*owner* (`owner_day`):

- the owner is the day of the key's date, else the LastModified day, clamped into the days of
  the staging window that select the object (the object is always selected by the owner, so
  the owner's job has read it);
- the owner keeps the object's rejected records (they have no timestamp) and its records on
  days of the window that do not select the object (a file keyed 2026-11-16 holding records of
  the 18th: the 18th's job never reads it); records outside the window are counted by the
  owner, not written (as `objects.records_outside_period` counts them in a local run);
- an object that cannot be read is reported by every day that tried (that day may be missing
  records); the period's coverage lists it once.

The staging window is the period the day is staged for: `--period` / `--from/--to` (whole UTC
days), or with a bare `--day D` the ISO week holding D (the `--period last-week` a weekly run
reads). `--day D` and `--period last-week --day-index N` for the same day therefore write the
same day. A window is needed because an object's owner must be a day the job set stages:
otherwise an object read by Sunday's and Monday's jobs (a log rotated after midnight) would
keep its rejects on a day the weekly run for the week before does not read.

Accounting. Each day lists every object it read with the object's identity (url, cluster, etag,
version_id, size, sha256, source_kind), its error, the whole object's counts (read, parsed,
rejected, and parsed per UTC day) and the day's *share*: the records this day wrote or kept
(read = parsed + rejected, parsed including the records outside the window for the owner).
Summed over the window's days, the shares give each object's read = parsed + rejected once:
every parsed record is written by exactly one day (its own day's job if that day selects the
object, else the owner), and rejects by the owner only. `run --staged` takes the counts from
the whole-object figures, so a period read from the staged days reports exactly what a run
over the raw objects reports, and checks the staged records against them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Iterable

from . import __version__, schema
from .period import Period
from .sources import key_date, selected

SCHEMA = "ingress-audit/staged-day/v1"
MARGIN = timedelta(days=1)  # list_objects' default: what a day job selects with
DATA_TABLES = ("http_requests", "audit_events")
TABLES = (*DATA_TABLES, "rejects", "objects")
MANIFEST_DIR = "_days"
# A record's UTC day by floor division of its epoch (what CAST(ts AS DATE) gives, 3x faster)
UTC_DAY = "(DATE '1970-01-01' + CAST(fdiv(epoch_us(ts), 86400000000) AS INTEGER))"

# Columns of the data files: the documented tables without the partition columns.
FILE_COLUMNS = {
    "http_requests": [c for c in schema.HTTP_REQUESTS.column_names() if c != "source_kind"],
    "audit_events": schema.AUDIT_EVENTS.column_names(),
}
REJECT_COLUMNS = ["object", "line", "reason", "raw", "cluster"]  # + source_kind (the folder)
OBJECT_COLUMNS = [  # the `objects` table: one row per object a day read, with the day's share
    ("object", "VARCHAR"), ("cluster", "VARCHAR"), ("source_kind", "VARCHAR"), ("size", "BIGINT"),
    ("sha256", "VARCHAR"), ("etag", "VARCHAR"), ("version_id", "VARCHAR"), ("owner", "BOOLEAN"),
    ("records_read", "BIGINT"), ("records_parsed", "BIGINT"), ("records_rejected", "BIGINT"),
    ("records_outside_window", "BIGINT"), ("error", "VARCHAR"),
]


# --- days and windows --------------------------------------------------------------------------


def day_period(day: date) -> Period:
    start = datetime.combine(day, time(0), timezone.utc)
    return Period(start, start + timedelta(days=1))


def whole_days(period: Period) -> Period:
    """The period widened to whole UTC days: what a set of day jobs stages."""
    days = period.days()
    return Period(day_period(days[0]).start, day_period(days[-1]).end)


def iso_week(day: date) -> Period:
    """The ISO week (Monday 00:00 UTC to Monday) holding `day`: a bare `--day`'s window."""
    monday = day - timedelta(days=day.weekday())
    return Period(day_period(monday).start, day_period(monday + timedelta(days=7)).start)


# --- which day keeps what ----------------------------------------------------------------------


def selecting_days(key: str, last_modified: datetime, days: Iterable[date], margin: timedelta = MARGIN) -> list[date]:
    """The days among `days` whose job selects the object (as list_objects does for that day)."""
    return [d for d in sorted(days) if selected(key, last_modified, day_period(d), margin)]


def home_day(key: str, last_modified: datetime) -> date:
    """The day an object is filed under: its key's date, else its LastModified day (UTC)."""
    return key_date(key) or last_modified.astimezone(timezone.utc).date()


def owner_day(key: str, last_modified: datetime, window: Period, margin: timedelta = MARGIN) -> date | None:
    """The one day of the window that keeps the object's rejects, error and unselected days' records:
    its home day clamped into the window's days that select it. None when no day of the window does."""
    chosen = selecting_days(key, last_modified, window.days(), margin)
    if not chosen:
        return None
    return min(max(home_day(key, last_modified), chosen[0]), chosen[-1])


def days_written(day: date, owner: date | None, selecting: list[date], window: Period,
                 record_days: Iterable[date]) -> list[date]:
    """The days whose records of the object day `day`'s job writes: its own, and as the owner
    every day of the window that does not select the object."""
    window_days = set(window.days())
    out = set()
    for d in record_days:
        if d == day or (owner == day and d in window_days and d not in selecting):
            out.add(d)
    return sorted(out)


@dataclass(frozen=True)
class Share:
    """The records of one object that one day wrote or kept: read = parsed + rejected."""

    records_read: int
    records_parsed: int
    records_rejected: int
    records_outside_window: int


def day_share(day: date, owner: date | None, selecting: list[date], window: Period,
              parsed_by_day: dict[date, int], rejected: int) -> Share:
    written = days_written(day, owner, selecting, window, parsed_by_day)
    parsed = sum(parsed_by_day[d] for d in written)
    window_days = set(window.days())
    outside = sum(n for d, n in parsed_by_day.items() if d not in window_days) if owner == day else 0
    kept_rejects = rejected if owner == day else 0
    return Share(parsed + outside + kept_rejects, parsed + outside, kept_rejects, outside)


# --- keys --------------------------------------------------------------------------------------


def manifest_key(day: date) -> str:
    return f"{MANIFEST_DIR}/day={day.isoformat()}.json"


def partition(table: str, day: date, source_kind: str | None = None) -> str:
    folder = f"{table}/day={day.isoformat()}/"
    return folder + f"source_kind={source_kind}/" if source_kind is not None else folder


def file_key(table: str, day: date, source_kind: str | None, writer: date, sha256: str) -> str:
    return partition(table, day, source_kind) + f"part-{writer.isoformat()}-{sha256[:16]}.parquet"


def written_by(key: str, writer: date) -> bool:
    return key.rsplit("/", 1)[-1].startswith(f"part-{writer.isoformat()}-")


def join(prefix: str, key: str) -> str:
    return f"{prefix}/{key}" if prefix else key


# --- the manifest ------------------------------------------------------------------------------


def manifest_document(day: date, window: Period, sources: list[str], files: list[dict], objects: list[dict],
                      duckdb_version: str) -> dict:
    start, end = window.iso()
    return {
        "schema": SCHEMA,
        "day": day.isoformat(),
        "window": {"start": start, "end": end},
        "tool": {"name": "ingress-audit", "version": __version__, "duckdb": duckdb_version},
        "sources": list(sources),
        "files": sorted(files, key=lambda f: f["key"]),
        "objects": sorted(objects, key=lambda o: o["url"]),
    }


def manifest_bytes(doc: dict) -> bytes:
    """Canonical: the same day staged from the same inputs gives the same bytes."""
    return (json.dumps(doc, indent=1, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


class ManifestError(ValueError):
    """A day manifest that is not one this version can read."""


def parse_manifest(data: bytes, day: date) -> dict:
    try:
        doc = json.loads(data)
    except ValueError as exc:
        raise ManifestError(f"not JSON: {exc}") from None
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        raise ManifestError(f"schema is {doc.get('schema') if isinstance(doc, dict) else None!r}, not {SCHEMA!r}")
    if doc.get("day") != day.isoformat():
        raise ManifestError(f"it is the manifest of day {doc.get('day')!r}")
    for f in doc.get("files", ()):
        key = f.get("key", "")
        if key.startswith("/") or ".." in key.split("/") or "\\" in key or key.split("/", 1)[0] not in TABLES:
            raise ManifestError(f"file key {key!r} is outside the staged layout")
    return doc


def window_of(doc: dict) -> Period:
    from .period import parse_instant

    return Period(parse_instant(doc["window"]["start"], "window"), parse_instant(doc["window"]["end"], "window"))
