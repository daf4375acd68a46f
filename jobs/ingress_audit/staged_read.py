"""`run --staged s3://bucket/prefix` (and `query --staged`): a period from committed staged days.

Instead of listing, fetching and parsing the raw logs, read the manifests of the period's days
(`_days/day=D.json`, written by `stage --out`, staged_write.py), download the Parquet files they
list into the cache (each checked against its SHA-256; DuckDB's httpfs is not available offline,
and local files are what the controls are measured on), and open them as the same tables:
`load_staged` returns a `StagedPeriod` (a `StagedDays`), so `open_period`, the controls,
findings.json and the evidence manifest work unchanged.

What the period is made of (staged_layout.py has the rules):
- objects: every object a day of the period read, once; its identity, error and counts are the
  whole object's, as a run over the raw logs reports them;
- http_requests / audit_events: the files in the period's day partitions, from the period's
  days and, for records kept by an owner day outside the period (a period shorter than the
  staging window), from the other days of the window, restricted to the period's objects;
- rejects: each object's rejects from the one day that keeps them;
- objects.records_outside_period: the object's parsed records minus those in the period.

Nothing is taken on trust: when the tables are opened, the staged records of each object and
day are counted and compared with what the day jobs counted when they read the object, and its
rejects likewise. A difference (a day restaged from changed inputs, days staged for different
periods, a file lost) marks the object unreadable, with what differs. A day of the period with
no committed manifest is reported the same way: the run says its input is incomplete (exit 3).

The objects are those the period's days selected. For periods of whole UTC days (weeks, days)
that is exactly what a run over the raw logs selects; for a period starting inside a day, an
object without a date in its key, last modified on that day before the period's start, is read
by the staged day and not by a raw run (its records before the start are not shown either way).
"""

from __future__ import annotations

import hashlib

import logging
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import duckdb

from . import db, schema, staged_s3
from .errors import ConfigError
from .period import Period
from .progress import Progress
from .publish import parse_out_url
from .sources import make_s3_client
from .stage import ObjectReport, StagedPeriod
from .staged_layout import (
    DATA_TABLES, REJECT_COLUMNS, UTC_DAY, ManifestError, join, manifest_key, parse_manifest, window_of,
)

log = logging.getLogger(__name__)

_ATTEMPTS = 3  # a day rerun can replace files between reading its manifest and downloading them


@dataclass(frozen=True)
class StagedFile:
    path: Path  # the local copy
    table: str
    day: date
    source_kind: str
    restricted: bool  # from a day outside the period: only the period's objects' rows count


@dataclass
class StagedDays(StagedPeriod):
    """A period read from staged days; `errors` also names the days that are not staged."""

    url: str = ""
    sources: list[str] = field(default_factory=list)  # as the day jobs were given them
    files: list[StagedFile] = field(default_factory=list)
    reject_owner: dict[str, date] = field(default_factory=dict)  # object -> the day keeping its rejects
    parsed_by_day: dict[str, dict[date, int]] = field(default_factory=dict)
    missing_days: list[ObjectReport] = field(default_factory=list)
    outside_period: dict[str, int] = field(default_factory=dict)  # filled when the tables are opened
    day_manifests: list[dict] = field(default_factory=list)  # url, size, sha256 of each committed day read

    @property
    def errors(self) -> list[ObjectReport]:
        return [o for o in self.objects if o.error] + self.missing_days


DIGEST = "__read_as__"  # a key parse_manifest never produces: the manifest's own bytes, as read


def parse_staged_url(url: str) -> tuple[str, str]:
    if not (url or "").strip().lower().startswith("s3://"):
        raise ConfigError(f"--staged {url!r} is not an s3:// URL (use s3://bucket/prefix, as given to `stage --out`)")
    try:
        return parse_out_url(url)
    except ConfigError as exc:
        raise ConfigError(str(exc).replace("--out", "--staged", 1)) from None


def load_staged(url: str, period: Period, cache_dir: Path, *, progress: bool = True) -> StagedDays:
    """The period's committed days under `url`, downloaded into the cache."""
    bucket, prefix = parse_staged_url(url)
    client = make_s3_client()
    staged_s3.check_readable(client, bucket, prefix)
    root = cache_dir / "staged-s3" / bucket / prefix if prefix else cache_dir / "staged-s3" / bucket
    for attempt in range(1, _ATTEMPTS + 1):
        manifests, extra, missing = _manifests(client, bucket, prefix, period)
        staged = _assemble(url, bucket, prefix, period, root, manifests, extra, missing)
        try:
            _download(client, bucket, prefix, root, staged, manifests | extra, progress)
            return staged
        except staged_s3.Gone as gone:
            if attempt == _ATTEMPTS:
                raise ConfigError(f"{gone}: listed by a committed day but gone; is that day being restaged?") from None
            log.info("%s: replaced while reading (a day was restaged); reading the manifests again", gone)
    raise AssertionError("unreachable")


def _manifests(client, bucket: str, prefix: str, period: Period):
    """The period's day manifests, those of the other days of their staging windows, and the days missing."""
    manifests: dict[date, dict] = {}
    missing: list[ObjectReport] = []
    for d in period.days():
        doc, problem = _manifest(client, bucket, prefix, d)
        if doc is not None:
            manifests[d] = doc
        else:
            url = f"s3://{bucket}/{join(prefix, manifest_key(d))}"
            missing.append(ObjectReport(object=url, cluster="-", error=problem))
    extra: dict[date, dict] = {}
    windows = {(m["window"]["start"], m["window"]["end"]): window_of(m) for m in manifests.values()}
    for bounds, window in sorted(windows.items()):
        for d in window.days():
            if d in manifests or d in period.days() or d in extra:
                continue
            doc, _ = _manifest(client, bucket, prefix, d)
            if doc is not None and (doc["window"]["start"], doc["window"]["end"]) == bounds:
                extra[d] = doc
    return manifests, extra, missing


def _manifest(client, bucket: str, prefix: str, d: date) -> tuple[dict | None, str]:
    key = join(prefix, manifest_key(d))
    data = staged_s3.get_bytes(client, bucket, key)
    if data is None:
        return None, f"day {d.isoformat()} is not staged (no committed manifest): stage it with `ingress-audit stage --day {d.isoformat()} --out …`"
    try:
        doc = parse_manifest(data, d)
        # what the evidence manifest records of this day: the committed manifest, by hash
        doc[DIGEST] = {"url": f"s3://{bucket}/{key}", "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
        return doc, ""
    except ManifestError as exc:
        return None, f"day {d.isoformat()}: the manifest cannot be read: {exc}"


def _assemble(url, bucket, prefix, period, root, manifests, extra, missing) -> StagedDays:
    period_days = set(period.days())
    entries: dict[str, list[tuple[date, dict]]] = defaultdict(list)
    owners: dict[str, list[date]] = defaultdict(list)
    sources: list[str] = []
    for d, doc in sorted(manifests.items()):
        sources += [s for s in doc.get("sources", ()) if s not in sources]
        for e in doc["objects"]:
            entries[e["url"]].append((d, e))
    for d, doc in sorted((manifests | extra).items()):
        for e in doc["objects"]:
            if e["owner"]:
                owners[e["url"]].append(d)
    objects, reject_owner, parsed_by_day = [], {}, {}
    for obj_url in sorted(entries):
        (first_day, e), *others = entries[obj_url]
        rec = e["object_records"]
        report = ObjectReport(
            object=obj_url, cluster=e["cluster"], size=e["size"], sha256=e["sha256"], source_kind=e["source_kind"],
            table=e["table"], records_read=rec["read"], records_parsed=rec["parsed"], records_rejected=rec["rejected"],
            replaced_utf8=e["replaced_utf8"], error=e["error"] or next((o["error"] for _, o in others if o["error"]), None),
            etag=e["etag"], version_id=e["version_id"],
        )
        changed = [(d, o) for d, o in others if (o["sha256"], o["size"]) != (e["sha256"], e["size"])]
        if changed and report.error is None:
            d, o = changed[0]
            report.error = (f"changed between the stagings of {first_day} and {d} "
                            f"(SHA-256 {str(e['sha256'])[:12]} then {str(o['sha256'])[:12]})")
        keeping = sorted(owners.get(obj_url, ()), key=lambda d: (d not in period_days, d))
        if keeping:
            reject_owner[obj_url] = keeping[0]
        elif rec["rejected"] and report.error is None:
            report.error = (f"its {rec['rejected']} rejected records are kept by day {e['owner_day']}, "
                            "which is not among the committed days read")
        parsed_by_day[obj_url] = {date.fromisoformat(k): v for k, v in e["parsed_by_day"].items()}
        objects.append(report)
    files = []
    keeping_days = set(reject_owner.values())
    for d, doc in sorted((manifests | extra).items()):
        owner_of_rejects = d in keeping_days
        for f in doc["files"]:
            fday = date.fromisoformat(f["day"])
            if f["table"] in DATA_TABLES and fday in period_days:
                files.append(StagedFile(staged_s3.local_path(root, f["key"]), f["table"], fday, f["source_kind"],
                                        d not in manifests))
            elif f["table"] == "rejects" and owner_of_rejects:
                files.append(StagedFile(staged_s3.local_path(root, f["key"]), "rejects", fday, f["source_kind"], True))
    return StagedDays(period, root, objects, url=url, sources=sources, files=files, reject_owner=reject_owner,
                      parsed_by_day=parsed_by_day, missing_days=missing,
                      day_manifests=[m[DIGEST] for _, m in sorted((manifests | extra).items())])


def _download(client, bucket, prefix, root, staged: StagedDays, docs: dict[date, dict], progress: bool) -> None:
    listed = {staged_s3.local_path(root, f["key"]): f for doc in docs.values() for f in doc["files"]}
    wanted = [listed[f.path] for f in staged.files]

    def one(f: dict) -> bool:
        return staged_s3.download_verified(client, bucket, join(prefix, f["key"]), staged_s3.local_path(root, f["key"]),
                                           f["sha256"], f["size"])

    with Progress("downloaded", total=len(wanted), unit="staged files", enabled=progress) as bar:
        with ThreadPoolExecutor(max_workers=8, thread_name_prefix="download") as pool:
            for f, _ in zip(wanted, pool.map(one, wanted)):
                bar.advance(1, bytes=f["size"])


# --- the tables --------------------------------------------------------------------------------


def open_staged_tables(con: duckdb.DuckDBPyConnection, staged: StagedDays) -> None:
    """The documented tables over the downloaded files, checked against the day jobs' counts."""
    con.execute("CREATE OR REPLACE TEMP TABLE _staged_objects (object VARCHAR PRIMARY KEY)")
    if staged.objects:
        con.executemany("INSERT INTO _staged_objects VALUES (?)", [(o.object,) for o in staged.objects])
    start, end = (db.sql_string(t) for t in staged.period.iso())
    for table in (schema.HTTP_REQUESTS, schema.AUDIT_EVENTS):
        groups: dict[tuple[str, bool], list[Path]] = defaultdict(list)
        for f in staged.files:
            if f.table == table.name:
                groups[(f.source_kind, f.restricted)].append(f.path)
        parts = [_data_select(table, kind, paths, restricted) for (kind, restricted), paths in sorted(groups.items())]
        body = " UNION ALL ".join(parts) if parts else _empty(table.columns)
        con.execute(f"CREATE OR REPLACE TEMP VIEW _staged_{table.name} AS {body}")
        cols = ", ".join(f'"{c}"' for c in table.column_names())
        con.execute(f"CREATE OR REPLACE VIEW {table.name} AS SELECT {cols} FROM _staged_{table.name} "
                    f"WHERE ts >= {start}::TIMESTAMPTZ AND ts < {end}::TIMESTAMPTZ")
    _create_rejects(con, staged)
    _check(con, staged)
    _create_objects(con, staged)


def _data_select(table: schema.Table, source_kind: str, paths: list[Path], restricted: bool) -> str:
    cols = ", ".join(f"{db.sql_string(source_kind)} AS source_kind" if c == "source_kind" else f'"{c}"'
                     for c in table.column_names())
    listed = "[" + ", ".join(db.sql_string(str(p)) for p in paths) + "]"
    where = " WHERE object IN (SELECT object FROM _staged_objects)" if restricted else ""
    return f"SELECT {cols} FROM read_parquet({listed}, hive_partitioning = false){where}"


def _create_rejects(con: duckdb.DuckDBPyConnection, staged: StagedDays) -> None:
    kept = [(o, d.isoformat()) for o, d in staged.reject_owner.items()]
    con.execute("CREATE OR REPLACE TEMP TABLE _staged_reject_owner (object VARCHAR, day DATE)")
    if kept:
        con.executemany("INSERT INTO _staged_reject_owner VALUES (?, ?)", kept)
    parts = []
    for f in staged.files:
        if f.table == "rejects":
            cols = ", ".join(f'"{c}"' for c in REJECT_COLUMNS)
            parts.append(
                f"SELECT {cols}, {db.sql_string(f.source_kind)} AS source_kind FROM read_parquet({db.sql_string(str(f.path))}, "
                f"hive_partitioning = false) WHERE object IN (SELECT object FROM _staged_reject_owner "
                f"WHERE day = DATE '{f.day.isoformat()}')"
            )
    select = ", ".join(f'"{c}"' for c in schema.REJECTS.column_names())
    if parts:
        con.execute(f"CREATE OR REPLACE VIEW rejects AS SELECT {select} FROM ({' UNION ALL '.join(parts)})")
    else:
        con.execute(f"CREATE OR REPLACE VIEW rejects AS {_empty(schema.REJECTS.columns)}")


def _check(con: duckdb.DuckDBPyConnection, staged: StagedDays) -> None:
    """Compare the staged rows with the day jobs' counts; a difference marks the object unreadable."""
    start, end = (db.sql_string(t) for t in staged.period.iso())
    found: dict[str, dict[date, int]] = defaultdict(dict)
    in_period: dict[str, int] = defaultdict(int)
    for table in DATA_TABLES:
        rows = con.execute(
            f"""SELECT object, {UTC_DAY}, count(*),
                       count(*) FILTER (WHERE ts >= {start}::TIMESTAMPTZ AND ts < {end}::TIMESTAMPTZ)
                FROM _staged_{table} GROUP BY ALL"""
        ).fetchall()
        for obj, d, n, inside in rows:
            found[obj][d] = found[obj].get(d, 0) + n
            in_period[obj] += inside
    rejects = dict(con.execute("SELECT object, count(*) FROM rejects GROUP BY ALL").fetchall())
    period_days = staged.period.days()
    for o in staged.objects:
        expected = {d: n for d, n in staged.parsed_by_day.get(o.object, {}).items() if d in period_days}
        got = found.get(o.object, {})
        if got != expected and o.error is None:
            d = min(d for d in set(got) | set(expected) if got.get(d) != expected.get(d))
            o.error = (f"its staged records of {d} do not match what was read: {got.get(d, 0)} staged, "
                       f"{expected.get(d, 0)} counted (restage the period's days with one --period)")
        if rejects.get(o.object, 0) != o.records_rejected and o.error is None:
            o.error = (f"its staged rejects do not match what was read: {rejects.get(o.object, 0)} staged, "
                       f"{o.records_rejected} counted")
        staged.outside_period[o.object] = o.records_parsed - in_period.get(o.object, 0)


def _create_objects(con: duckdb.DuckDBPyConnection, staged: StagedDays) -> None:
    table = schema.OBJECTS
    cols = ", ".join(f'"{c.name}" {c.type}' for c in table.columns)
    con.execute(f"CREATE OR REPLACE TABLE objects ({cols})")
    rows = [
        (o.object, o.cluster, o.source_kind, o.size, o.sha256, o.records_read, o.records_parsed,
         o.records_rejected, staged.outside_period.get(o.object, 0), o.error)
        for o in staged.objects
    ]
    if rows:
        con.executemany(f"INSERT INTO objects VALUES ({', '.join('?' * len(table.columns))})", rows)


def _empty(columns) -> str:
    return "SELECT " + ", ".join(f'CAST(NULL AS {c.type}) AS "{c.name}"' for c in columns) + " WHERE false"
