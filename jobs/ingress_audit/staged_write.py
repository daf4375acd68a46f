"""`stage --out s3://bucket/prefix`: stage UTC days into object storage, atomically and idempotently.

One day at a time: list and fetch the objects selected for [D, D+1), stage them into the local
Parquet cache as any staging does (stage.py: an object read by several days in one pod is
parsed once), then export the day's share (staged_layout.py: which day keeps what) as Parquet
files and commit them to the bucket. The export reads the local files through
`ObjectReport.files` and their `reject_reason` column, as tables.py does, and nothing else of
stage.py's internals.

Atomic. S3 has no rename, so a day becomes visible through its manifest:
1. every data file is uploaded under a name that carries its SHA-256 (`part-<D>-<sha:16>`), with
   its checksum, and verified (staged_s3.py); a name already holding those bytes is not
   uploaded again;
2. then `_days/day=D.json`, listing every file with its size and SHA-256 and every object's
   accounting, is written in one PUT and read back: the commit. Readers (`run --staged`) read
   only files a committed manifest lists and check each one's SHA-256;
3. then the files the previous manifest listed and this one does not are deleted, with any
   `part-<D>-` file in the day's partitions that no manifest lists (left by a job that died
   before its commit).
A job that dies before step 2 leaves the committed day as it was (plus unlisted files, swept by
the next run); after step 2 the new day is complete. A reader that read the old manifest keeps
finding its files until step 3, because new bytes never take an old file's name; if step 3
removes one while it downloads, it reads the manifest again.

What Trino, Athena or Spark see during a rerun: they list the folders instead of reading the
manifest, so between steps 1 and 3 a partition can show both the old and the new file of a day
(rows twice) when the inputs changed; with unchanged inputs the rerun writes the same names and
nothing changes. A job that dies after uploading and before its commit leaves unlisted files
that engines see until the day is staged again (an Indexed Job's retry does that). Queries that
must be exact read the files the manifests list, as `run --staged` does, or run once the staging
Job has completed. README.md, "Scale out", shows both.

Idempotent. A day's files and manifest are a function of its inputs (the objects' bytes, the
staging window, the parsers and DuckDB's version): the Parquet writer is deterministic, rows go
in object and line order, the manifest is canonical JSON. A rerun with the same inputs uploads
nothing, rewrites the same manifest bytes (skipped when identical) and deletes nothing.

One writer per day at a time: two jobs staging the same day concurrently from different inputs
could each delete the other's files (an Indexed Job runs one pod per index; use
`podReplacementPolicy: Failed` so a replacement starts only once the old pod is gone).
"""

from __future__ import annotations

import logging
import shutil
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import IO

import duckdb

from . import db, logs, staged_s3
from .cache import hash_file
from .period import Period
from .policy import Policy
from .publish import parse_out_url
from .sources import ObjectRef, fetch_objects, list_objects, make_s3_client, parse_source
from .stage import ObjectReport, StagedPeriod, stage_objects
from .staged_layout import (
    FILE_COLUMNS, OBJECT_COLUMNS, REJECT_COLUMNS, TABLES, day_period, day_share, days_written, file_key, join,
    manifest_bytes, manifest_document, manifest_key, parse_manifest, partition, selecting_days, owner_day,
    UTC_DAY, written_by, ManifestError,
)

log = logging.getLogger(__name__)

_PARQUET = "(FORMAT parquet, COMPRESSION zstd)"  # object storage and engines: smaller beats faster here
_UPLOAD_WORKERS = 8


@dataclass
class DayResult:
    day: date
    window: Period
    url: str  # the committed manifest
    objects: list[dict]
    files: list[dict]
    uploaded: int
    already_there: int
    removed: int
    unchanged: bool  # the committed manifest was already this one

    @property
    def errors(self) -> list[dict]:
        return [o for o in self.objects if o["error"]]

    def share(self) -> dict[str, int]:
        return {k: sum(o[k] for o in self.objects) for k in ("records_read", "records_parsed", "records_rejected")}


def stage_days_out(
    sources: list[str],
    days: list[date],
    window: Period,
    policy: Policy,
    cache_dir: Path,
    out: str,
    *,
    progress: bool = True,
) -> list[DayResult]:
    """Stage each day (in order) and commit it under `out`; see the module docstring."""
    from .pipeline import candidates_for

    specs = [parse_source(s) for s in sources]  # every URL checked before any I/O
    bucket, prefix = parse_out_url(out)
    candidates = candidates_for(policy)
    client = make_s3_client()
    staged_s3.check_readable(client, bucket, prefix)
    results = []
    for day in days:
        results.append(_stage_day(specs, sources, day, window, candidates, cache_dir, client, bucket, prefix, progress))
    return results


def _stage_day(specs, sources, day, window, candidates, cache_dir, client, bucket, prefix, progress) -> DayResult:
    period = day_period(day)
    with logs.stage("fetch", day=day.isoformat()) as counts:
        refs, seen = [], set()
        for spec in specs:
            for ref in list_objects(spec, period, s3_client=client if spec.scheme == "s3" else None):
                if ref.url not in seen:  # overlapping sources must not count an object twice
                    seen.add(ref.url)
                    refs.append(ref)
        fetched = fetch_objects(refs, cache_dir / "objects", s3_client=client, progress=progress)
        counts.update(objects=len(fetched), errors=sum(1 for f in fetched if f.error))
    with logs.stage("parse", day=day.isoformat()) as counts:
        staged = stage_objects(fetched, period, candidates, cache_dir, progress=progress)
        counts.update(staged.totals(), reused=sum(1 for o in staged.objects if o.reused))
    build = cache_dir / "days" / day.isoformat()
    shutil.rmtree(build, ignore_errors=True)
    build.mkdir(parents=True)
    try:
        with logs.stage("export", day=day.isoformat()) as counts:
            con = db.connect(cache_dir / "tmp" / "duckdb")
            try:
                files, objects = export_day(con, staged, {r.url: r for r in refs}, day, window, build)
            finally:
                con.close()
            counts.update(files=len(files), rows=sum(f["rows"] for f in files))
        doc = manifest_document(day, window, sources, files, objects, duckdb.__version__)
        with logs.stage("commit", day=day.isoformat()) as counts:
            result = commit_day(client, bucket, prefix, day, window, build, doc)
            counts.update(uploaded=result.uploaded, already_there=result.already_there, removed=result.removed)
    finally:
        shutil.rmtree(build, ignore_errors=True)
    for o in result.errors:
        log.warning("unreadable: %s: %s", o["url"], o["error"])
    return result


# --- export: the day's share as Parquet files ------------------------------------------------------


def export_day(con: duckdb.DuckDBPyConnection, staged: StagedPeriod, refs: dict[str, ObjectRef], day: date,
               window: Period, build: Path) -> tuple[list[dict], list[dict]]:
    """Write the day's files under `build` (named as their keys); return (files, object entries)."""
    reports = sorted(staged.objects, key=lambda o: o.object)
    by_day = _parsed_by_day(con, staged)
    data_groups: dict[tuple[str, date, str], list[ObjectReport]] = defaultdict(list)
    reject_groups: dict[str, list[ObjectReport]] = defaultdict(list)
    entries = []
    for o in reports:
        ref = refs[o.object]
        selecting = selecting_days(ref.key, ref.last_modified, window.days())
        owner = owner_day(ref.key, ref.last_modified, window)
        parsed = by_day.get(o.object, {})
        for d in days_written(day, owner, selecting, window, parsed):
            data_groups[(o.table, d, o.source_kind)].append(o)
        if owner == day and o.records_rejected:
            reject_groups[o.source_kind].append(o)
        share = day_share(day, owner, selecting, window, parsed, o.records_rejected)
        entries.append({
            "url": o.object, "cluster": o.cluster, "key": ref.key,
            "last_modified": ref.last_modified.isoformat().replace("+00:00", "Z"),
            "etag": o.etag, "version_id": o.version_id, "size": o.size, "sha256": o.sha256,
            "source_kind": o.source_kind, "table": o.table, "error": o.error, "replaced_utf8": o.replaced_utf8,
            "owner_day": owner.isoformat() if owner else None, "owner": owner == day,
            "object_records": {"read": o.records_read, "parsed": o.records_parsed, "rejected": o.records_rejected},
            "parsed_by_day": {d.isoformat(): n for d, n in sorted(parsed.items())},
            "records_read": share.records_read, "records_parsed": share.records_parsed,
            "records_rejected": share.records_rejected, "records_outside_window": share.records_outside_window,
        })
    files = []
    for (table, d, kind), objs in sorted(data_groups.items()):
        rows = sum(by_day[o.object][d] for o in objs)
        files.append(_write_data(con, staged.staged_dir, table, d, kind, objs, rows, day, build))
    for kind, objs in sorted(reject_groups.items()):
        files.append(_write_rejects(con, staged.staged_dir, kind, objs, day, build))
    files.append(_write_objects(con, entries, day, build))
    return files, entries


def _parsed_by_day(con: duckdb.DuckDBPyConnection, staged: StagedPeriod) -> dict[str, dict[date, int]]:
    paths = [staged.staged_dir / f for o in staged.objects for f in o.files]
    if not paths:
        return {}
    rows = con.execute(
        f"""SELECT object, {UTC_DAY} AS day, count(*)
            FROM read_parquet({_list(paths)}, hive_partitioning = false, union_by_name = true)
            WHERE reject_reason IS NULL GROUP BY ALL"""
    ).fetchall()
    out: dict[str, dict[date, int]] = defaultdict(dict)
    for obj, d, n in rows:
        out[obj][d] = n
    return out


def _write_data(con, staged_dir: Path, table: str, d: date, kind: str, objs: list[ObjectReport], rows: int,
                writer: date, build: Path) -> dict:
    start, end = (db.sql_string(t) for t in day_period(d).iso())
    cols = ", ".join(f'"{c}"' for c in FILE_COLUMNS[table])
    # the objects in URL order and each object's files in chunk order: rows in object and line
    # order, so the same inputs always give the same bytes
    paths = [staged_dir / f for o in objs for f in o.files]
    sql = (f"SELECT {cols} FROM read_parquet({_list(paths)}, hive_partitioning = false, union_by_name = true) "
           f"WHERE reject_reason IS NULL AND ts >= {start}::TIMESTAMPTZ AND ts < {end}::TIMESTAMPTZ")
    written = _copy(con, sql, build)
    if written[2] != rows:  # never expected: the accounting and the files must agree
        raise RuntimeError(f"{table} {d} {kind}: wrote {written[2]} rows, counted {rows}")
    return _placed(written, table, d, kind, writer, build)


def _write_rejects(con, staged_dir: Path, kind: str, objs: list[ObjectReport], writer: date, build: Path) -> dict:
    paths = [staged_dir / f for o in objs for f in o.files]
    cols = ", ".join("reject_reason AS reason" if c == "reason" else f'"{c}"' for c in REJECT_COLUMNS)
    sql = (f"SELECT {cols} "
           f"FROM read_parquet({_list(paths)}, hive_partitioning = false, union_by_name = true) "
           "WHERE reject_reason IS NOT NULL ORDER BY object, line, reason, raw")
    written = _copy(con, sql, build)
    expected = sum(o.records_rejected for o in objs)
    if written[2] != expected:
        raise RuntimeError(f"rejects {writer} {kind}: wrote {written[2]} rows, counted {expected}")
    return _placed(written, "rejects", writer, kind, writer, build)


def _write_objects(con, entries: list[dict], writer: date, build: Path) -> dict:
    cols = ", ".join(f'"{name}" {type_}' for name, type_ in OBJECT_COLUMNS)
    con.execute(f"CREATE OR REPLACE TEMP TABLE _day_objects ({cols})")
    rows = [(e["url"], e["cluster"], e["source_kind"], e["size"], e["sha256"], e["etag"], e["version_id"], e["owner"],
             e["records_read"], e["records_parsed"], e["records_rejected"], e["records_outside_window"], e["error"])
            for e in entries]
    if rows:
        con.executemany(f"INSERT INTO _day_objects VALUES ({', '.join('?' * len(OBJECT_COLUMNS))})", rows)
    written = _copy(con, "SELECT * FROM _day_objects ORDER BY object, cluster", build)
    con.execute("DROP TABLE _day_objects")
    return _placed(written, "objects", writer, None, writer, build)


def _copy(con, sql: str, build: Path) -> tuple[Path, str, int, int]:
    tmp = build / ".part.parquet"
    count = con.execute(f"COPY ({sql}) TO {db.sql_string(str(tmp))} {_PARQUET}").fetchone()[0]
    sha, size = hash_file(tmp)
    return tmp, sha, count, size


def _placed(written, table: str, d: date, kind: str | None, writer: date, build: Path) -> dict:
    tmp, sha, rows, size = written
    key = file_key(table, d, kind, writer, sha)
    target = build / key
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp.replace(target)
    return {"key": key, "table": table, "day": d.isoformat(), "source_kind": kind, "rows": rows,
            "size": size, "sha256": sha}


def _list(paths: list[Path]) -> str:
    return "[" + ", ".join(db.sql_string(str(p)) for p in paths) + "]"


# --- commit ------------------------------------------------------------------------------------


def commit_day(client, bucket: str, prefix: str, day: date, window: Period, build: Path, doc: dict) -> DayResult:
    """Upload the day's files, then its manifest, then remove what the manifest no longer lists."""
    mkey = join(prefix, manifest_key(day))
    url = f"s3://{bucket}/{mkey}"
    old_bytes = staged_s3.get_bytes(client, bucket, mkey)
    old_keys: set[str] = set()
    if old_bytes is not None:
        try:
            old_keys = {f["key"] for f in parse_manifest(old_bytes, day).get("files", ())}
        except ManifestError as exc:
            log.warning("%s: the committed manifest is unreadable (%s); it is replaced", url, exc)
    files = doc["files"]

    def upload(f: dict) -> bool:
        return staged_s3.upload_verified(client, bucket, join(prefix, f["key"]), build / f["key"], f["sha256"],
                                         f["size"], "application/vnd.apache.parquet")

    with ThreadPoolExecutor(max_workers=_UPLOAD_WORKERS, thread_name_prefix="upload") as pool:
        uploaded = sum(pool.map(upload, files))
    data = manifest_bytes(doc)
    unchanged = old_bytes == data
    if not unchanged:
        staged_s3.put_verified(client, bucket, mkey, data)  # the commit
    keep = {f["key"] for f in files}
    stale = {k for k in old_keys if k not in keep}
    days = set(window.days()) | {date.fromisoformat(f["day"]) for f in files}
    days |= {date.fromisoformat(k.split("/day=", 1)[1][:10]) for k in old_keys if "/day=" in k}
    for table in TABLES:
        for d in sorted(days):
            folder = join(prefix, partition(table, d))
            for key in staged_s3.list_keys(client, bucket, folder):
                rel = key[len(prefix) + 1:] if prefix else key
                if written_by(rel, day) and rel not in keep:
                    stale.add(rel)
    if stale:
        staged_s3.delete_keys(client, bucket, [join(prefix, k) for k in sorted(stale)])
        log.info("%s: removed %d files no longer listed", url, len(stale))
    return DayResult(day, window, url, doc["objects"], files, uploaded, len(files) - uploaded, len(stale), unchanged)


# --- the summary -------------------------------------------------------------------------------


def print_day_summary(result: DayResult, out: IO[str]) -> None:
    start, end = result.window.iso()
    share = result.share()
    owned = sum(1 for o in result.objects if o["owner"])
    out.write(f"day           {result.day.isoformat()} (staging period {start} .. {end})\n")
    out.write(f"objects       {len(result.objects)} read ({owned} kept by this day, {len(result.errors)} unreadable)\n")
    out.write(f"records       {share['records_read']:,} = {share['records_parsed']:,} parsed + "
              f"{share['records_rejected']:,} rejected (this day's share)\n")
    out.write(f"files         {len(result.files)} ({result.uploaded} uploaded, {result.already_there} already there, "
              f"{result.removed} removed)\n")
    out.write(f"committed     {result.url}{' (unchanged)' if result.unchanged else ''}\n")
    for o in result.errors:
        out.write(f"  unreadable  {o['url']}: {o['error']}\n")
