"""Ad-hoc SQL over the period's tables, printed as a table, CSV, JSON or Parquet."""

from __future__ import annotations

import csv
import json
import re
import shutil
import sys
import tempfile
from datetime import date, datetime, time, timezone
from decimal import Decimal
from pathlib import Path
from typing import IO

import duckdb

from . import db
from .errors import ConfigError

FORMATS = ("table", "csv", "json", "parquet")
_BATCH = 10_000
TABLE_ROW_LIMIT = 10_000


def run_query(con: duckdb.DuckDBPyConnection, sql: str, fmt: str, out: IO[str], output: Path | None = None) -> int:
    """Print the result of `sql`; returns the number of rows. SQL errors are ConfigErrors."""
    if fmt not in FORMATS:
        raise ConfigError(f"--format {fmt!r} is not one of {', '.join(FORMATS)}")
    try:
        if fmt == "parquet":
            return _parquet(con, sql, output)
        cur = con.execute(sql)
    except duckdb.Error as exc:
        raise ConfigError(f"SQL error: {_first_line(exc)}") from None
    if cur.description is None:  # a statement without a result (SET, CREATE VIEW …)
        return 0
    names = [d[0] for d in cur.description]
    if fmt == "json":
        # JSON columns (request_object …) are embedded as JSON, not as strings holding JSON
        json_cols = [i for i, d in enumerate(cur.description) if str(d[1]) == "JSON"]
        return _json(cur, names, out, json_cols)
    writer = {"table": _table, "csv": _csv}[fmt]
    return writer(cur, names, out)


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0]


def _batches(cur):
    while rows := cur.fetchmany(_BATCH):
        yield rows


def _csv(cur, names, out) -> int:
    w = csv.writer(out, lineterminator="\n")
    # the csv module quotes a field holding the line terminator (\n) but not a bare \r, which
    # readers treat as a line break too: a row with one is written with every field quoted
    quoted = csv.writer(out, lineterminator="\n", quoting=csv.QUOTE_ALL)
    w.writerow(names)
    n = 0
    for rows in _batches(cur):
        for r in rows:
            cells = [_csv_cell(v) for v in r]
            (quoted if any("\r" in c for c in cells) else w).writerow(cells)
        n += len(rows)
    return n


# OWASP CSV injection: a spreadsheet runs a cell starting with one of these as a formula.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def _csv_cell(value) -> str:
    """A CSV cell; log text that a spreadsheet would run as a formula gets a leading `'`.
    Numbers (a column's, or text that is one, like -5) are left as they are."""
    text = _plain(value)
    if isinstance(value, str) and text.startswith(_FORMULA_START) and not _NUMBER.fullmatch(text):
        return "'" + text
    return text


def _json(cur, names, out, json_cols: list[int]) -> int:
    out.write("[")
    n = 0
    for rows in _batches(cur):
        for r in rows:
            if json_cols:
                r = list(r)
                for i in json_cols:
                    r[i] = json.loads(r[i]) if r[i] is not None else None
            out.write(",\n" if n else "\n")
            out.write(json.dumps(dict(zip(names, r)), default=_json_value, ensure_ascii=False))
            n += 1
    out.write("\n]\n" if n else "]\n")
    return n


def _table(cur, names, out) -> int:
    from rich.console import Console
    from rich.table import Table

    table = Table(*names, show_lines=False)
    n = 0
    for rows in _batches(cur):
        for r in rows:
            if n < TABLE_ROW_LIMIT:
                # Log fields are attacker-controlled: markup=False keeps "[red]" literal text.
                table.add_row(*[_plain(v) for v in r])
            n += 1
    table.caption = f"{n} rows" + (f" (first {TABLE_ROW_LIMIT} shown; use --format csv)" if n > TABLE_ROW_LIMIT else "")
    console = Console(file=out, markup=False, emoji=False, highlight=False, soft_wrap=False,
                      width=None if out.isatty() else 200)
    console.print(table)
    return n


def _parquet(con, sql: str, output: Path | None) -> int:
    if output is None and sys.stdout.isatty():
        raise ConfigError("--format parquet writes binary: give --output FILE or redirect stdout")
    target = output or Path(tempfile.mkdtemp()) / "result.parquet"
    rows = con.execute(f"COPY ({sql}) TO {db.sql_string(str(target))} (FORMAT parquet, COMPRESSION zstd)").fetchall()
    if output is None:
        with target.open("rb") as f:
            shutil.copyfileobj(f, sys.stdout.buffer)
        sys.stdout.buffer.flush()
        shutil.rmtree(target.parent, ignore_errors=True)
    return int(rows[0][0]) if rows else 0


def _plain(value) -> str:
    if value is None:
        return ""
    if isinstance(value, (datetime, date, time)):
        return _iso(value)
    if isinstance(value, (list, dict)):
        return json.dumps(value, default=_json_value, ensure_ascii=False)
    return str(value)


def _iso(value) -> str:
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
    return value.isoformat()


def _json_value(value):
    if isinstance(value, (datetime, date, time)):
        return _iso(value)
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, (bytes, bytearray)):
        return value.hex()
    return str(value)
