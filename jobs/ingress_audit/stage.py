"""Stage a period: archive objects -> normalized Parquet (cached per object) -> DuckDB views.

For every object: sniff its format, cut it into chunks (chunks.py), parse each chunk with its
format's SQL in a worker thread (first with the format's fast chunk parser where it has one,
kept only when it vouches for every line: see _Parsers._copy_fast), and write the records as
Parquet partitioned by table, source kind and UTC day (readable by Trino, Athena or Spark);
rejected records are kept in the same files with `reject_reason` and `raw` set. A manifest per
object records its counts, so a rerun or a second query reuses the Parquet instead of
reparsing. tables.py turns the files into the documented tables.

Nothing read is dropped silently: per object, records read = parsed + rejected, and an object
that cannot be read or classified is reported with its error.
"""

from __future__ import annotations

import hashlib
import importlib
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
import pyarrow as pa

from . import chunks, db, formats, schema, tokenized_parquet
# imported now for INGRESS_AUDIT_TOKENIZER_AOT (read on import), not in a parse worker at the first
# tokenized object: a bad value stops the run with exit 2 before any work
from . import tokenizer_aot  # noqa: F401
from .errors import ConfigError
from .formats import Format
from .period import Period
from .progress import Progress
from .switches import env_switch
from .sources import FetchedObject

log = logging.getLogger(__name__)

# Bump when the Parquet layout or manifest changes: older cache entries are then ignored.
STAGE_VERSION = 2  # 2: lone CRs and mixed CRLF/LF no longer shift line numbers
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
    # Parquet files, relative to the staged dir; they hold the rejected records too
    files: list[str] = field(default_factory=list)
    reused: bool = False  # came from the cache, nothing reparsed
    # the object's identity in its store, for the evidence manifest (not part of the cache key's file)
    etag: str | None = None
    version_id: str | None = None


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


# Objects classified ahead of the one being inflated: their heads are read and sniffed by the
# parse workers, so the main thread, which inflates every byte, never waits on a sniffing query
# (~15 ms each: 10-20% of the main thread's time on an archive of many small objects).
_CLASSIFY_AHEAD = 4


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
    candidates_key = _candidates_key(candidates)
    reports: list[ObjectReport] = []
    ahead: deque[Future] = deque()
    todo = iter(fetched)
    try:
        with Progress("staged", total=len(fetched), unit="objects", enabled=progress) as bar:
            while True:
                while len(ahead) < _CLASSIFY_AHEAD and (item := next(todo, None)) is not None:
                    ahead.append(parsers.pool.submit(_classify, item, candidates, candidates_key, parsers))
                if not ahead:
                    break
                plan = ahead.popleft().result()
                if plan.format is None:
                    parsers.done_now(plan.report, manifest_key=plan.manifest_key)
                else:
                    parsers.parse_object(plan.report, plan.manifest_key, plan.format, plan.path, work_dir,
                                         chunk_bytes, fast=plan.fast)
                reports.append(plan.report)
                parsers.finish_ready(bar)
            parsers.finish_all(bar)
    finally:
        parsers.close()
        shutil.rmtree(work_dir, ignore_errors=True)
    return StagedPeriod(period, staged_dir, reports)


@dataclass
class _Plan:
    """What staging does with one object: parse it with `format`, or (format None) record it as is."""

    report: ObjectReport
    manifest_key: str | None  # None: not cached (not fetched, or over the size cap)
    format: Format | None = None
    path: Path | None = None
    fast: bool = False


def _classify(item: FetchedObject, candidates: list[Candidate], candidates_key: str, parsers: _Parsers) -> _Plan:
    """The object's cached result, its error, or its format (runs in a parse worker)."""
    ref = item.ref
    report = ObjectReport(object=ref.url, cluster=ref.source.cluster, size=ref.size, sha256=item.sha256)
    _set_identity(report, ref)
    if item.error or item.local_path is None:
        report.error = item.error or "not fetched"
        return _Plan(report, None)
    key = _object_key(report, candidates_key)
    cached = _load_manifest(parsers.staged_dir, key)
    if cached is not None:
        cached.reused = True
        _set_identity(cached, ref)
        return _Plan(cached, None)
    if _manifest_path(parsers.staged_dir, key).exists():  # a manifest whose files are gone
        _remove_outputs(parsers.staged_dir, key)
    try:
        head = chunks.read_head(item.local_path)
    except chunks.ObjectReadError as exc:
        report.error = str(exc)
        # over the size cap: not cached, so a raised cap stages the object on the next run
        return _Plan(report, None if isinstance(exc, chunks.ObjectTooLarge) else key)
    if not head:  # an empty object holds no records; that is not an error
        return _Plan(report, key)
    fmt = _sniff(head, candidates, ref.key, parsers.cursor())
    if fmt is None:
        report.error = f"unrecognized format (first line: {head[0][:120]!r})"
        return _Plan(report, key)
    report.source_kind, report.table = fmt.kind, fmt.table
    _begin_staging(parsers.staged_dir, key)
    return _Plan(report, key, fmt, item.local_path, fast=_fast_path_fits(fmt, head))


def _fast_path_fits(fmt: Format, head: list[str]) -> bool:
    """Whether to try the format's fast paths on this object: its compiled tokenizer, or its fast
    chunk parser.

    Both read single audit events only: an object of EventList batches (the webhook backend's
    archive) would fail them on every line and pay for two parses, so it goes straight to the
    exact parser. A batch further down an object of single events is still caught, line by line
    or chunk by chunk (see _Parsers._parse_tokenized and _copy_fast).
    """
    if fmt.table == "audit_events" and any("EventList" in line for line in head):
        return False
    return fmt.fast_sql is not None or fmt.tokenizer is not None


def _set_identity(report: ObjectReport, ref) -> None:
    report.etag, report.version_id = ref.etag, ref.version_id


# --- sniffing -----------------------------------------------------------------------------


def _sniff(head: list[str], candidates: list[Candidate], key: str, con: duckdb.DuckDBPyConnection) -> Format | None:
    """The candidate that parses most of the object's first lines (earlier candidates win ties)."""
    for cand in candidates:
        if cand.match and fnmatch(key, cand.match):
            return cand.format
    best, best_score = None, 0
    json_like = sum(1 for line in head if line.lstrip().startswith("{")) * 2 > len(head)
    for cand in candidates:
        if cand.format.json_lines != json_like:  # a cheap first cut: JSON or text
            continue
        try:
            score = len(head) if _tokenizer_takes_all(cand.format, head) else formats.count_parsed(cand.format, head, con)
        except duckdb.Error:
            continue
        if score > best_score:
            best, best_score = cand.format, score
        if score == len(head):  # nothing can beat every line, and earlier candidates win ties
            break
    return best


def _tokenizer_takes_all(fmt: Format, head: list[str]) -> bool:
    """Whether the format's compiled tokenizer takes every one of these lines.

    Then the format's SQL parses every one too (the tokenizer takes only lines the SQL parses,
    to the same row), so sniffing skips its query: ~13 ms an object, a third of the fixed cost
    of staging 1 M nginx lines in 28 objects.
    """
    if not (fmt.tokenizer and _TOKENIZE and head):
        return False
    chunk = chunks.text_chunk("\n".join(head).encode())
    try:
        return _tokenizer(fmt).tokenize_file(chunk, 1, len(head)).accepted == len(head)
    except Exception:  # noqa: BLE001 - the SQL decides; parsing the object reports the failure
        log.debug("the %s tokenizer failed on an object's first lines", fmt.kind, exc_info=True)
        return False


# --- the parse workers --------------------------------------------------------------------


class _Parsers:
    """A pool of DuckDB cursors parsing chunks while the main thread inflates the next ones."""

    def __init__(self, staged_dir: Path, spill_dir: Path, workers: int) -> None:
        self.staged_dir = staged_dir
        # One DuckDB thread per query: each chunk's query is one pipeline anyway (row_number),
        # and with more, the workers' concurrent queries fought over the same scheduler
        # threads (measured: two concurrent queries took 2.4x one instead of 1x).
        self.con = db.connect(spill_dir, threads=1)
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="parse")
        self.local = threading.local()
        self.max_pending = workers + 1  # bounds the chunks waiting, on disk or in memory
        self.pending: deque[tuple[ObjectReport, str | None, list[Future]]] = deque()
        self.in_flight: deque[Future] = deque()
        self.discarded: set[int] = set()  # id() of reports whose records must not count

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
        self.con.close()
        chunks.release_memory()  # the in-memory chunks' arrays: not needed by the controls

    def done_now(self, report: ObjectReport, manifest_key: str | None = None) -> None:
        self.pending.append((report, manifest_key, []))

    def parse_object(self, report: ObjectReport, key: str, fmt: Format, path: Path, work_dir: Path, chunk_bytes: int,
                     *, fast: bool = False) -> None:
        futures: list[Future] = []
        self.pending.append((report, key, futures))
        try:
            # the compiled tokenizers read the chunk from memory; the SQL, from a file
            in_memory = fast and fmt.tokenizer is not None and _TOKENIZE
            for piece in chunks.iter_chunks(path, work_dir, key, chunk_bytes, in_memory=in_memory):
                if isinstance(piece, chunks.OverlongLine):
                    futures.append(self.pool.submit(self._reject_overlong, report, key, fmt, piece))
                    continue
                while len(self.in_flight) >= self.max_pending:
                    self.in_flight.popleft().exception()  # wait; errors are read in finish
                fut = self.pool.submit(self._parse_chunk, report, key, fmt, piece, fast)
                futures.append(fut)
                self.in_flight.append(fut)
        except chunks.ObjectTooLarge as exc:
            # unlike a damaged gzip, nothing partial counts: _finish drops what was parsed
            report.error = str(exc)
            self.discarded.add(id(report))
        except chunks.ObjectReadError as exc:
            report.error = str(exc)

    def finish_ready(self, bar: Progress) -> None:
        while self.pending and all(f.done() for f in self.pending[0][2]):
            self._finish(*self.pending.popleft(), bar)

    def finish_all(self, bar: Progress) -> None:
        while self.pending:
            self._finish(*self.pending.popleft(), bar)

    def _finish(self, report: ObjectReport, key: str | None, futures: list[Future], bar: Progress) -> None:
        if id(report) in self.discarded:
            self.discarded.discard(id(report))
            for fut in futures:
                fut.exception()  # wait: a running parse may still write a file
            if key is not None:
                _remove_outputs(self.staged_dir, key)
                _partial_marker(self.staged_dir, key).unlink(missing_ok=True)
            bar.advance(1, bytes=report.size or 0)
            return  # no counts, no files, no manifest: the next run tries again
        for fut in futures:
            try:
                stats = fut.result()
            except Exception as exc:  # noqa: BLE001 - one object's failure must not stop the run
                log.debug("parse of %s failed", report.object, exc_info=True)
                report.error = report.error or f"parse failed: {(str(exc).strip().splitlines() or [type(exc).__name__])[0]}"
                continue
            report.records_read += stats["read"]
            report.records_parsed += stats["parsed"]
            report.records_rejected += stats["rejected"]
            report.replaced_utf8 |= stats.get("replaced", False)
            report.files += stats["files"]
        report.files.sort()
        if key is not None and not (report.error or "").startswith("parse failed"):
            _save_manifest(self.staged_dir, key, report)
        bar.advance(1, bytes=report.size or 0)

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """This thread's cursor on the staging connection."""
        cur = getattr(self.local, "cursor", None)
        if cur is None:
            cur = self.local.cursor = db.quiet(self.con.cursor())
        return cur

    def _parse_chunk(self, report: ObjectReport, key: str, fmt: Format, chunk: chunks.Chunk, fast: bool = False) -> dict:
        """Parse one chunk straight into Parquet, then file it under the UTC day it holds.

        One pass: rejected rows are written with the parsed ones (reject_reason and raw set)
        and the views split them; materializing the chunk first and writing twice, or
        DuckDB's PARTITION_BY, each cost more than the parse itself.
        """
        cur = self.cursor()
        table_dir = self.staged_dir / fmt.table / f"source_kind={fmt.kind}"
        stem = f"{key}-c{chunk.index:05d}"
        tmp = table_dir / f".{stem}.parquet"
        tmp.parent.mkdir(parents=True, exist_ok=True)
        if fast and fmt.tokenizer and _TOKENIZE:
            return self._parse_tokenized(cur, report, fmt, chunk, table_dir, stem, tmp)
        try:
            stats = self._copy_fast(cur, report, fmt, chunk, tmp) if fast and fmt.fast_sql else None
            if stats is None:
                stats = _copy(cur, _chunk_sql(report, fmt, chunk), tmp)
        finally:
            chunk.discard()
        read, rejected, days = stats[0], stats[1], sorted(stats[2] or [])
        files = self._file_by_day(cur, tmp, table_dir, stem, days)
        return {"read": read, "parsed": read - rejected, "rejected": rejected,
                "replaced": chunk.replaced_bytes, "files": files}

    def _parse_tokenized(self, cur, report: ObjectReport, fmt: Format, chunk: chunks.Chunk, table_dir: Path,
                         stem: str, tmp: Path) -> dict:
        """Parse one chunk with the format's compiled tokenizer and the lines it hands back (odd
        lines and rejects) with the format's SQL, into one file filed by day.

        One file, not one per parser: a second, small file per chunk made every control's scan
        of the week ~25% slower (per-file overhead, measured).
        """
        tokenizer = _tokenizer(fmt)
        try:
            tok = tokenizer.tokenize_file(chunk.text, chunk.first_line, chunk.n_lines)
        finally:
            chunk.discard()
        rows = tokenized_parquet.table(fmt, report.object, report.cluster, tok.columns, tok.accepted)
        if len(tok.fallback_lines):
            source = f"WITH raw AS (SELECT line, text FROM handed_back WHERE {_NOT_BLANK}) SELECT * FROM ({fmt.sql})"
            handed_back = pa.table({"line": tok.fallback_lines, "text": tok.fallback_text})  # noqa: F841
            # DuckDB reads `handed_back` from this frame (a replacement scan). A cursor of its own:
            # a relation refuses to run on one whose last COPY result was not fetched.
            with cur.cursor() as sql_cur:
                parsed_by_sql = sql_cur.sql(_chunk_sql(report, fmt, chunk, source=source)).to_arrow_table()
            rows = pa.concat_tables([rows, parsed_by_sql.cast(rows.schema)])
        stats = {"read": rows.num_rows, "rejected": rows.num_rows - rows["reject_reason"].null_count}
        stats["parsed"] = stats["read"] - stats["rejected"]
        files: list[str] = []
        if rows.num_rows:
            tokenized_parquet.write(rows, tmp, _COMPRESSION)
            files = self._file_by_day(cur, tmp, table_dir, stem, tokenized_parquet.days(rows))
        return {**stats, "replaced": chunk.replaced_bytes, "files": files}

    @staticmethod
    def _copy_fast(cur, report: ObjectReport, fmt: Format, chunk: chunks.Chunk, tmp: Path) -> tuple | None:
        """The format's fast parse of the chunk, or None when it cannot vouch for every line.

        It is kept only when every line of the chunk became one record that parsed: a failed
        query (a malformed line), a row count other than the chunk's line count (a blank line,
        which the fast reader skips without a trace) or any reject (whose raw text it does not
        keep) sends the chunk to the exact parser, which overwrites the file.
        """
        try:
            stats = _copy(cur, _chunk_sql(report, fmt, chunk, fast=True), tmp)
        except duckdb.Error as exc:
            log.debug("fast parse of %s chunk %d fell back: %s", report.object, chunk.index, exc)
            return None
        if stats[1] or stats[0] != chunk.n_lines:
            log.debug("fast parse of %s chunk %d fell back: %d rows, %d rejected, %d lines",
                      report.object, chunk.index, stats[0], stats[1], chunk.n_lines)
            return None
        return stats

    def _file_by_day(self, cur, tmp: Path, table_dir: Path, stem: str, days: list) -> list[str]:
        if len(days) <= 1:  # the usual case: move the file into its day's folder
            target = table_dir / f"day={days[0].isoformat() if days else _NULL_PARTITION}" / f"{stem}.parquet"
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp.replace(target)
            return [str(target.relative_to(self.staged_dir))]
        # a chunk across midnight: one file per day; rows without a timestamp (rejects) go
        # with the first day
        out = []
        for i, day in enumerate(days):
            target = table_dir / f"day={day.isoformat()}" / f"{stem}.parquet"
            target.parent.mkdir(parents=True, exist_ok=True)
            cond = f"{_DAY} = DATE '{day.isoformat()}'" + (" OR ts IS NULL" if i == 0 else "")
            cur.execute(f"COPY (SELECT * FROM read_parquet({db.sql_string(str(tmp))}) WHERE {cond}) "
                        f"TO {db.sql_string(str(target))} {_PARQUET}")
            out.append(str(target.relative_to(self.staged_dir)))
        tmp.unlink()
        return out

    def _reject_overlong(self, report: ObjectReport, key: str, fmt: Format, piece: chunks.OverlongLine) -> dict:
        """A line too long to parse is a reject in its own file, beside the object's rows."""
        path = self.staged_dir / fmt.table / f"source_kind={fmt.kind}" / f"day={_NULL_PARTITION}" / f"{key}-l{piece.line}.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        table = fmt.table_schema
        values = {"object": report.object, "cluster": report.cluster, "source_kind": fmt.kind, "line": piece.line}
        cols = ", ".join(
            f"{db.sql_string(str(values[c.name]))}::{c.type} AS \"{c.name}\"" if c.name in values
            else f'NULL::{c.type} AS "{c.name}"'
            for c in table.columns
        )
        reason = f"line longer than {chunks.MAX_LINE_BYTES // (1024 * 1024)} MiB"
        self.cursor().execute(
            f"COPY (SELECT {cols}, ? AS reject_reason, ? AS raw) TO {db.sql_string(str(path))} {_PARQUET}",
            [reason, piece.head],
        )
        return {"read": 1, "parsed": 0, "rejected": 1, "files": [str(path.relative_to(self.staged_dir))]}


# Uncompressed by default: Parquet's dictionary and run-length encodings already make a chunk
# 2.7x smaller than its text, and snappy's extra 40% cost 0.45 us a line (11% of staging, the
# difference between ~330k and ~400k lines/s on 2 cores). INGRESS_AUDIT_PARQUET_COMPRESSION
# (snappy, zstd, lz4_raw …) trades that speed for a smaller cache.
_COMPRESSION = os.environ.get("INGRESS_AUDIT_PARQUET_COMPRESSION", "uncompressed")
if not _COMPRESSION.replace("_", "").isalnum():
    raise ConfigError(f"INGRESS_AUDIT_PARQUET_COMPRESSION={_COMPRESSION!r} is not a codec name")
_PARQUET = f"(FORMAT parquet, COMPRESSION {_COMPRESSION})"
# INGRESS_AUDIT_TOKENIZER=off parses every line with the formats' SQL: the same rows, slower
# (for comparing the two, and a way out should the compiled tokenizer fail on some machine).
_TOKENIZE = env_switch("INGRESS_AUDIT_TOKENIZER", True)
# The line limit given to the fast parsers (read_json's maximum_object_size): its buffers are sized
# by it (64 MiB cost 40 MB more peak memory per worker than 16 MiB on a 64 MiB chunk). Measured
# with DuckDB 2.0: a longer line is still read; were it refused, the query would fail and the
# exact parser, which takes lines up to chunks.MAX_LINE_BYTES, would parse the chunk.
_FAST_MAX_LINE_BYTES = 16 * 1024 * 1024
# The timestamps a record can have: its day names a folder and a Python date (DuckDB reads years
# up to 294247: "12026-11-17T08:00:00Z" once made a whole object fail)
_FILEABLE = "p.ts >= TIMESTAMPTZ '0001-01-01 00:00:00+00' AND p.ts < TIMESTAMPTZ '10000-01-01 00:00:00+00'"
# UTC day by integer epoch arithmetic: date_trunc on TIMESTAMPTZ goes through ICU (slower)
_DAY = "(DATE '1970-01-01' + CAST(epoch_us(ts) // 86400000000 AS INTEGER))"
# Hive's name for a NULL partition value: files of rejects only (no timestamp to file them by)
_NULL_PARTITION = "__HIVE_DEFAULT_PARTITION__"


def _copy(cur, sql: str, target: Path) -> tuple:
    """Write a chunk's rows to Parquet; (rows, rejects, UTC days) as read back from the file."""
    cur.execute(f"COPY ({sql}) TO {db.sql_string(str(target))} {_PARQUET}")
    return cur.execute(
        f"""SELECT count(*), count(reject_reason), list(DISTINCT {_DAY}) FILTER (WHERE ts IS NOT NULL)
            FROM read_parquet({db.sql_string(str(target))})"""
    ).fetchone()


def _chunk_sql(report: ObjectReport, fmt: Format, chunk: chunks.Chunk, *, fast: bool = False,
               source: str | None = None) -> str:
    """The chunk's rows in the table's columns; `source` replaces the format's parse of the
    chunk file (a query with the output contract of `fmt.sql`)."""
    table = fmt.table_schema
    parsed = set(fmt.fields)
    # Constant columns as one-value ENUMs: the Parquet writer then stores a dictionary index
    # per row instead of hashing a long string per row (measured 20% of the write).
    constants = {
        "object": _enum(report.object),
        "cluster": _enum(report.cluster),
        "source_kind": _enum(fmt.kind),
        "line": "p.line",
    }
    cols = []
    for col in table.columns:
        if col.name in constants:
            cols.append(f'{constants[col.name]} AS "{col.name}"')
        elif col.name == "ts":  # a record is filed under its UTC day: one it cannot be is a reject
            cols.append(f'CASE WHEN {_FILEABLE} THEN CAST(p.ts AS TIMESTAMPTZ) END AS ts')
        elif col.name in parsed:
            cols.append(f'CAST(p."{col.name}" AS {col.type}) AS "{col.name}"')
    if "source_kind" not in table.column_names():  # audit_events: kept for the rejects view
        cols.append(f'{constants["source_kind"]} AS source_kind')
    if source is None:
        line_limit = max(chunk.path.stat().st_size + 1, 2 * 1024 * 1024)
        if fast:  # the format reads the chunk file itself
            source = fmt.fast_chunk_sql(str(chunk.path), chunk.first_line, min(line_limit, _FAST_MAX_LINE_BYTES))
        else:
            source = f"{_raw_sql(chunk, line_limit)} SELECT * FROM ({fmt.sql})"
    return f"""
        SELECT
            {", ".join(cols)},
            -- a safety net under every format: a row without a timestamp (or with one beyond the
            -- years a day folder can name) is never a record
            coalesce(p.reject_reason, CASE WHEN p.ts IS NULL THEN 'no timestamp'
                                           WHEN NOT ({_FILEABLE}) THEN 'timestamp outside the years 1-9999' END) AS reject_reason,
            CASE WHEN p.reject_reason IS NOT NULL OR p.ts IS NULL OR NOT ({_FILEABLE})
                 THEN left(p.text, {schema.RAW_TRUNCATE}) END AS raw
        FROM ({source}) AS p
    """


def _raw_sql(chunk: chunks.Chunk, line_limit: int) -> str:
    """The chunk file as raw(line, text), the input of every format's SQL (a WITH clause)."""
    return f"""
        WITH numbered AS (
            SELECT row_number() OVER () + {chunk.first_line - 1} AS line, text
            FROM read_csv({db.sql_string(str(chunk.path))}, columns = {{'text': 'VARCHAR'}},
                          delim = {_DELIM}, quote = '', escape = '', header = false,
                          auto_detect = false, strict_mode = false,
                          max_line_size = {line_limit}, buffer_size = {line_limit})
        ),
        raw AS (
            SELECT line, text FROM numbered WHERE {_NOT_BLANK}
        )"""


# Blank lines (nothing but spaces) are not records; trim() is costly, so only lines that do not
# start with a printable character pay for it.
_NOT_BLANK = "text >= '!' OR trim(text) <> ''"


def _tokenizer(fmt: Format):
    """The format's tokenizer module (imported on first use: numba takes ~0.4 s to import)."""
    return importlib.import_module(f".{fmt.tokenizer.split(':')[0]}", __package__)


def _enum(value: str) -> str:
    literal = db.sql_string(value)
    return f"{literal}::ENUM({literal})"


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
    if not all((staged_dir / f).is_file() for f in report.files):
        return None
    return report


_NOT_CACHED = {"reused", "etag", "version_id"}


def _save_manifest(staged_dir: Path, key: str, report: ObjectReport) -> None:
    path = _manifest_path(staged_dir, key)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({k: v for k, v in asdict(report).items() if k not in _NOT_CACHED}, indent=1))
    tmp.replace(path)  # last: an interrupted staging leaves no manifest, so it is redone
    _partial_marker(staged_dir, key).unlink(missing_ok=True)


def _partial_marker(staged_dir: Path, key: str) -> Path:
    return staged_dir / "_objects" / f"{key}.partial"


def _begin_staging(staged_dir: Path, key: str) -> None:
    """Mark the object as being staged, first removing what an interrupted staging of it left.

    Only a marked object can have left files behind, so only then is the tree searched: a search
    for every object would walk every staged file once per object, quadratic in a large archive.
    (Files no manifest lists are never read; removing them only saves space.)
    """
    marker = _partial_marker(staged_dir, key)
    if marker.exists():
        _remove_outputs(staged_dir, key)
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.touch()


def _remove_outputs(staged_dir: Path, key: str) -> None:
    """Files of an earlier, interrupted staging of the same object."""
    if staged_dir.is_dir():
        for pattern in (f"**/{key}-*.parquet", f"**/.{key}-*.parquet"):
            for stale in staged_dir.glob(pattern):
                stale.unlink(missing_ok=True)
