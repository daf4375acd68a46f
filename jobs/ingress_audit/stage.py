"""Stage a period: archive objects -> normalized Parquet (cached per object) -> DuckDB views.

For every object: sniff its format, cut it into chunks (chunks.py), parse each chunk with its
format's SQL in a worker thread, and write the rows as Parquet partitioned by table, source
kind and UTC day (readable by Trino, Athena or Spark), plus its rejects. A manifest per object
records its counts, so a rerun or a second query reuses the Parquet instead of reparsing.

Nothing read is dropped silently: per object, records read = parsed + rejected, and an object
that cannot be read or classified is reported with its error.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import threading
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from fnmatch import fnmatch
from pathlib import Path

import duckdb

from . import chunks, db, formats, schema
from .formats import Format
from .period import Period
from .progress import Progress
from .sources import FetchedObject

log = logging.getLogger(__name__)

# Bump when the Parquet layout or manifest changes: older cache entries are then ignored.
STAGE_VERSION = 1
_DELIM = "chr(1) || chr(2) || chr(3) || chr(4)"  # never in a log line; each line is one field


@dataclass
class ObjectReport:
    object: str
    cluster: str
    size: int | None = None
    sha256: str | None = None
    source_kind: str | None = None
    table: str | None = None
    records_read: int = 0
    records_parsed: int = 0
    records_rejected: int = 0
    replaced_utf8: bool = False
    error: str | None = None
    files: list[str] = field(default_factory=list)  # table Parquet, relative to the staged dir
    reject_files: list[str] = field(default_factory=list)
    reused: bool = False  # came from the cache, nothing reparsed


@dataclass
class StagedPeriod:
    period: Period
    staged_dir: Path
    objects: list[ObjectReport]

    @property
    def errors(self) -> list[ObjectReport]:
        return [o for o in self.objects if o.error]

    @property
    def complete(self) -> bool:
        return not self.errors

    def totals(self) -> dict[str, int]:
        return {
            "objects": len(self.objects),
            "records_read": sum(o.records_read for o in self.objects),
            "records_parsed": sum(o.records_parsed for o in self.objects),
            "records_rejected": sum(o.records_rejected for o in self.objects),
        }


@dataclass(frozen=True)
class Candidate:
    """A format staging may pick for an object; `match` pins it to keys without sniffing."""

    format: Format
    match: str | None = None


def stage_objects(
    fetched: list[FetchedObject],
    period: Period,
    candidates: list[Candidate],
    cache_dir: Path,
    *,
    workers: int | None = None,
    chunk_bytes: int = chunks.CHUNK_BYTES,
    progress: bool = True,
) -> StagedPeriod:
    staged_dir = cache_dir / "staged"
    work_dir = cache_dir / "tmp" / f"chunks-{os.getpid()}"
    work_dir.mkdir(parents=True, exist_ok=True)
    parsers = _Parsers(staged_dir, cache_dir / "tmp" / "duckdb", workers or os.cpu_count() or 2)
    sniffer = duckdb.connect()
    candidates_key = _candidates_key(candidates)
    reports: list[ObjectReport] = []
    try:
        with Progress("staged", total=len(fetched), unit="objects", enabled=progress) as bar:
            for item in fetched:
                report = _stage_one(item, candidates, candidates_key, sniffer, parsers, work_dir, chunk_bytes)
                reports.append(report)
                parsers.finish_ready(bar)
            parsers.finish_all(bar)
    finally:
        parsers.close()
        shutil.rmtree(work_dir, ignore_errors=True)
    return StagedPeriod(period, staged_dir, reports)


def _stage_one(
    item: FetchedObject,
    candidates: list[Candidate],
    candidates_key: str,
    sniffer: duckdb.DuckDBPyConnection,
    parsers: _Parsers,
    work_dir: Path,
    chunk_bytes: int,
) -> ObjectReport:
    ref = item.ref
    report = ObjectReport(object=ref.url, cluster=ref.source.cluster, size=ref.size, sha256=item.sha256)
    if item.error or item.local_path is None:
        report.error = item.error or "not fetched"
        parsers.done_now(report)
        return report
    key = _object_key(report, candidates_key)
    cached = _load_manifest(parsers.staged_dir, key)
    if cached is not None:
        cached.reused = True
        parsers.done_now(cached)
        return cached
    _remove_outputs(parsers.staged_dir, key)
    try:
        head = chunks.read_head(item.local_path)
    except chunks.ObjectReadError as exc:
        report.error = str(exc)
        parsers.done_now(report, manifest_key=key)
        return report
    if not head:  # an empty object holds no records; that is not an error
        parsers.done_now(report, manifest_key=key)
        return report
    fmt = _sniff(head, candidates, ref.key, sniffer)
    if fmt is None:
        report.error = f"unrecognized format (first line: {head[0][:120]!r})"
        parsers.done_now(report, manifest_key=key)
        return report
    report.source_kind, report.table = fmt.kind, fmt.table
    parsers.parse_object(report, key, fmt, item.local_path, work_dir, chunk_bytes)
    return report


# --- sniffing -----------------------------------------------------------------------------


def _sniff(head: list[str], candidates: list[Candidate], key: str, con: duckdb.DuckDBPyConnection) -> Format | None:
    """The candidate that parses most of the object's first lines (earlier candidates win ties)."""
    for cand in candidates:
        if cand.match and fnmatch(key, cand.match):
            return cand.format
    best, best_score = None, 0
    for cand in candidates:
        try:
            rows = formats.parse_lines(cand.format, head, con)
        except duckdb.Error:
            continue
        score = len({r["line"] for r in rows if r["reject_reason"] is None})
        if score > best_score:
            best, best_score = cand.format, score
    return best


# --- the parse workers --------------------------------------------------------------------


class _Parsers:
    """A pool of DuckDB cursors parsing chunks while the main thread inflates the next ones."""

    def __init__(self, staged_dir: Path, spill_dir: Path, workers: int) -> None:
        self.staged_dir = staged_dir
        self.con = db.connect(spill_dir)
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="parse")
        self.local = threading.local()
        self.max_pending = workers + 1  # bounds the chunk files waiting on disk
        self.pending: deque[tuple[ObjectReport, str | None, list[Future]]] = deque()
        self.in_flight: deque[Future] = deque()

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
        self.con.close()

    def done_now(self, report: ObjectReport, manifest_key: str | None = None) -> None:
        self.pending.append((report, manifest_key, []))

    def parse_object(self, report: ObjectReport, key: str, fmt: Format, path: Path, work_dir: Path, chunk_bytes: int) -> None:
        futures: list[Future] = []
        self.pending.append((report, key, futures))
        try:
            for piece in chunks.iter_chunks(path, work_dir, key, chunk_bytes):
                if isinstance(piece, chunks.OverlongLine):
                    futures.append(self.pool.submit(self._reject_overlong, report, key, fmt, piece))
                    continue
                while len(self.in_flight) >= self.max_pending:
                    self.in_flight.popleft().exception()  # wait; errors are read in finish
                fut = self.pool.submit(self._parse_chunk, report, key, fmt, piece)
                futures.append(fut)
                self.in_flight.append(fut)
        except chunks.ObjectReadError as exc:
            report.error = str(exc)

    def finish_ready(self, bar: Progress) -> None:
        while self.pending and all(f.done() for f in self.pending[0][2]):
            self._finish(*self.pending.popleft(), bar)

    def finish_all(self, bar: Progress) -> None:
        while self.pending:
            self._finish(*self.pending.popleft(), bar)

    def _finish(self, report: ObjectReport, key: str | None, futures: list[Future], bar: Progress) -> None:
        for fut in futures:
            try:
                stats = fut.result()
            except duckdb.Error as exc:
                report.error = report.error or f"parse failed: {str(exc).splitlines()[0]}"
                continue
            report.records_read += stats["read"]
            report.records_parsed += stats["parsed"]
            report.records_rejected += stats["rejected"]
            report.replaced_utf8 |= stats.get("replaced", False)
            report.files += stats["files"]
            report.reject_files += stats["reject_files"]
        report.files.sort()
        report.reject_files.sort()
        if key is not None and not (report.error or "").startswith("parse failed"):
            _save_manifest(self.staged_dir, key, report)
        bar.advance(1, bytes=report.size or 0)

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        cur = getattr(self.local, "cursor", None)
        if cur is None:
            cur = self.local.cursor = self.con.cursor()
        return cur

    def _parse_chunk(self, report: ObjectReport, key: str, fmt: Format, chunk: chunks.Chunk) -> dict:
        cur = self._cursor()
        try:
            cur.execute(_chunk_sql(report, fmt, chunk))
            read, rejected = cur.execute("SELECT count(*), count(reject_reason) FROM staged_chunk").fetchone()
            files = self._copy_rows(cur, fmt, key, chunk.index) if read > rejected else []
            reject_files = self._copy_rejects(cur, key, chunk.index) if rejected else []
        finally:
            chunk.path.unlink(missing_ok=True)
            cur.execute("DROP TABLE IF EXISTS staged_chunk")
        return {"read": read, "parsed": read - rejected, "rejected": rejected,
                "replaced": chunk.replaced_bytes, "files": files, "reject_files": reject_files}

    def _copy_rows(self, cur: duckdb.DuckDBPyConnection, fmt: Format, key: str, index: int) -> list[str]:
        table = schema.HTTP_REQUESTS if fmt.table == "http_requests" else schema.AUDIT_EVENTS
        out_dir = self.staged_dir / fmt.table / f"source_kind={fmt.kind}"
        out_dir.mkdir(parents=True, exist_ok=True)
        cols = ", ".join(f'"{c}"' for c in table.column_names())
        rows = cur.execute(
            f"""COPY (
                    SELECT {cols},
                           -- integer epoch arithmetic: date_trunc on TIMESTAMPTZ goes through ICU
                           DATE '1970-01-01' + CAST(epoch_us(ts) // 86400000000 AS INTEGER) AS day
                    FROM staged_chunk WHERE reject_reason IS NULL
                ) TO {db.sql_string(str(out_dir))}
                (FORMAT parquet, COMPRESSION zstd, PARTITION_BY (day), OVERWRITE_OR_IGNORE true,
                 FILENAME_PATTERN {db.sql_string(f"{key}-c{index:05d}-{{i}}")}, RETURN_FILES true)"""
        ).fetchall()
        return [str(Path(f).relative_to(self.staged_dir)) for f in rows[0][1]]

    def _copy_rejects(self, cur: duckdb.DuckDBPyConnection, key: str, index: int) -> list[str]:
        path = self.staged_dir / "rejects" / f"{key}-c{index:05d}.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        cur.execute(
            f"""COPY (SELECT object, line, source_kind, reject_reason AS reason, raw
                      FROM staged_chunk WHERE reject_reason IS NOT NULL ORDER BY line)
                TO {db.sql_string(str(path))} (FORMAT parquet, COMPRESSION zstd)"""
        )
        return [str(path.relative_to(self.staged_dir))]

    def _reject_overlong(self, report: ObjectReport, key: str, fmt: Format, piece: chunks.OverlongLine) -> dict:
        path = self.staged_dir / "rejects" / f"{key}-l{piece.line}.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        cur = self._cursor()
        cur.execute(
            f"""COPY (SELECT ? AS object, ?::BIGINT AS line, ? AS source_kind, ? AS reason, ? AS raw)
                TO {db.sql_string(str(path))} (FORMAT parquet)""",
            [report.object, piece.line, fmt.kind,
             f"line longer than {chunks.MAX_LINE_BYTES // (1024 * 1024)} MiB", piece.head],
        )
        return {"read": 1, "parsed": 0, "rejected": 1, "files": [],
                "reject_files": [str(path.relative_to(self.staged_dir))]}


def _chunk_sql(report: ObjectReport, fmt: Format, chunk: chunks.Chunk) -> str:
    table = schema.HTTP_REQUESTS if fmt.table == "http_requests" else schema.AUDIT_EVENTS
    parsed = set(fmt.fields)
    casts = []
    for col in table.columns:
        if col.name in parsed:
            casts.append(f'CAST(p."{col.name}" AS {col.type}) AS "{col.name}"')
    line_limit = max(chunk.path.stat().st_size + 1, 2 * 1024 * 1024)
    return f"""
        CREATE OR REPLACE TEMP TABLE staged_chunk AS
        WITH numbered AS (
            SELECT row_number() OVER () + {chunk.first_line - 1} AS line, text
            FROM read_csv({db.sql_string(str(chunk.path))}, columns = {{'text': 'VARCHAR'}},
                          delim = {_DELIM}, quote = '', escape = '', header = false,
                          auto_detect = false, strict_mode = false,
                          max_line_size = {line_limit}, buffer_size = {line_limit})
        ),
        raw AS (
            -- blank lines are not records; trim() is costly, so only lines starting with
            -- whitespace pay for it
            SELECT line, text FROM numbered
            WHERE text IS NOT NULL AND (text[1] NOT IN (' ', chr(9), chr(13)) OR trim(text) <> '')
        )
        SELECT
            {db.sql_string(report.object)} AS object,
            {db.sql_string(report.cluster)} AS cluster,
            {db.sql_string(fmt.kind)} AS source_kind,
            p.line,
            -- a safety net under every format: a row without a timestamp is never a record
            coalesce(p.reject_reason, CASE WHEN p.ts IS NULL THEN 'no timestamp' END) AS reject_reason,
            CASE WHEN p.reject_reason IS NOT NULL OR p.ts IS NULL THEN left(p.text, {schema.RAW_TRUNCATE}) END AS raw,
            {", ".join(casts)}
        FROM ({fmt.sql}) AS p
    """


# --- the cache ----------------------------------------------------------------------------


def _candidates_key(candidates: list[Candidate]) -> str:
    text = "\n".join(f"{c.format.fingerprint}:{c.match}" for c in candidates)
    return hashlib.sha256(f"v{STAGE_VERSION}\n{text}".encode()).hexdigest()[:16]


def _object_key(report: ObjectReport, candidates_key: str) -> str:
    text = f"{report.object}\0{report.cluster}\0{report.sha256}\0{candidates_key}"
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _manifest_path(staged_dir: Path, key: str) -> Path:
    return staged_dir / "_objects" / f"{key}.json"


def _load_manifest(staged_dir: Path, key: str) -> ObjectReport | None:
    path = _manifest_path(staged_dir, key)
    try:
        data = json.loads(path.read_text())
        report = ObjectReport(**data)
    except (OSError, ValueError, TypeError):
        return None
    if not all((staged_dir / f).is_file() for f in report.files + report.reject_files):
        return None
    return report


def _save_manifest(staged_dir: Path, key: str, report: ObjectReport) -> None:
    path = _manifest_path(staged_dir, key)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({k: v for k, v in asdict(report).items() if k != "reused"}, indent=1))
    tmp.replace(path)  # last: an interrupted staging leaves no manifest, so it is redone


def _remove_outputs(staged_dir: Path, key: str) -> None:
    """Files of an earlier, interrupted staging of the same object."""
    if staged_dir.is_dir():
        for stale in staged_dir.glob(f"**/{key}-*.parquet"):
            stale.unlink(missing_ok=True)


# --- the tables ---------------------------------------------------------------------------


def open_tables(con: duckdb.DuckDBPyConnection, staged: StagedPeriod) -> None:
    """Create the documented tables over the staged Parquet, filtered to the period."""
    start, end = (db.sql_string(t) for t in staged.period.iso())
    days = {d.isoformat() for d in staged.period.days()}
    for table in (schema.HTTP_REQUESTS, schema.AUDIT_EVENTS):
        files = [
            staged.staged_dir / f
            for o in staged.objects if o.table == table.name
            for f in o.files if _file_day(f) in days
        ]
        cols = ", ".join(f'"{c}"' for c in table.column_names())
        source = _parquet_or_empty(files, table)
        con.execute(f"CREATE OR REPLACE VIEW {table.name} AS SELECT {cols} FROM {source} "
                    f"WHERE ts >= {start}::TIMESTAMPTZ AND ts < {end}::TIMESTAMPTZ")
    reject_files = [staged.staged_dir / f for o in staged.objects for f in o.reject_files]
    con.execute(f"CREATE OR REPLACE VIEW rejects AS SELECT * FROM {_parquet_or_empty(reject_files, schema.REJECTS)}")
    _create_objects_table(con, staged)


def _file_day(relative: str) -> str | None:
    for part in Path(relative).parts:
        if part.startswith("day="):
            return part[4:]
    return None


def _parquet_or_empty(files: list[Path], table: schema.Table) -> str:
    if files:
        listed = ", ".join(db.sql_string(str(f)) for f in files)
        return f"read_parquet([{listed}], hive_partitioning = false)"
    cols = ", ".join(f'CAST(NULL AS {c.type}) AS "{c.name}"' for c in table.columns)
    return f"(SELECT {cols} WHERE false)"


def _create_objects_table(con: duckdb.DuckDBPyConnection, staged: StagedPeriod) -> None:
    table = schema.OBJECTS
    cols = ", ".join(f'"{c.name}" {c.type}' for c in table.columns)
    con.execute(f"CREATE OR REPLACE TABLE objects ({cols})")
    outside = _outside_period_counts(con, staged)
    rows = [
        (o.object, o.cluster, o.source_kind, o.size, o.sha256, o.records_read, o.records_parsed,
         o.records_rejected, outside.get(o.object, 0), o.error)
        for o in staged.objects
    ]
    if rows:
        con.executemany(f"INSERT INTO objects VALUES ({', '.join('?' * len(table.columns))})", rows)


def _outside_period_counts(con: duckdb.DuckDBPyConnection, staged: StagedPeriod) -> dict[str, int]:
    files = [staged.staged_dir / f for o in staged.objects for f in o.files]
    if not files:
        return {}
    start, end = (db.sql_string(t) for t in staged.period.iso())
    listed = ", ".join(db.sql_string(str(f)) for f in files)
    rows = con.execute(
        f"""SELECT object, count(*) FROM read_parquet([{listed}], hive_partitioning = false)
            WHERE ts < {start}::TIMESTAMPTZ OR ts >= {end}::TIMESTAMPTZ GROUP BY object"""
    ).fetchall()
    return dict(rows)

