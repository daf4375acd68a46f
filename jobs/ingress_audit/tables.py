"""The documented tables over a staged period: views on the Parquet, filtered to the period.

http_requests and audit_events read only the Parquet of the period's days and drop rejected
records; rejects reads every staged file of the period's objects; objects is a small table of
what staging reported for each object.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from . import db, schema
from .stage import StagedPeriod


def open_tables(con: duckdb.DuckDBPyConnection, staged: StagedPeriod) -> None:
    """Create the documented tables over the staged Parquet, filtered to the period."""
    start, end = (db.sql_string(t) for t in staged.period.iso())
    days = {d.isoformat() for d in staged.period.days()}
    reject_sources = []
    for table in (schema.HTTP_REQUESTS, schema.AUDIT_EVENTS):
        files = [staged.staged_dir / f for o in staged.objects if o.table == table.name for f in o.files]
        in_period = [f for f in files if _file_day(f) in days]
        cols = ", ".join(f'"{c}"' for c in table.column_names())
        con.execute(
            f"CREATE OR REPLACE VIEW {table.name} AS SELECT {cols} FROM {_read(in_period, table)} "
            f"WHERE reject_reason IS NULL AND ts >= {start}::TIMESTAMPTZ AND ts < {end}::TIMESTAMPTZ"
        )
        if files:
            reject_sources.append(
                f"SELECT object, line, source_kind, reject_reason AS reason, raw FROM {_read(files, table)} "
                "WHERE reject_reason IS NOT NULL"
            )
    empty = ", ".join(f'CAST(NULL AS {c.type}) AS "{c.name}"' for c in schema.REJECTS.columns)
    con.execute(f"CREATE OR REPLACE VIEW rejects AS {' UNION ALL '.join(reject_sources) or f'SELECT {empty} WHERE false'}")
    _create_objects_table(con, staged)


def _file_day(path: str | Path) -> str | None:
    for part in Path(path).parts:
        if part.startswith("day="):
            return part[4:]
    return None


def _read(files: list[Path], table: schema.Table) -> str:
    if files:
        listed = ", ".join(db.sql_string(str(f)) for f in files)
        return f"read_parquet([{listed}], hive_partitioning = false)"
    cols = ", ".join(f'CAST(NULL AS {c.type}) AS "{c.name}"' for c in table.columns)
    return f"(SELECT {cols}, NULL::VARCHAR AS reject_reason, NULL::VARCHAR AS raw WHERE false)"


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
        f"""SELECT object, count(*) FROM read_parquet([{listed}], hive_partitioning = false, union_by_name = true)
            WHERE reject_reason IS NULL AND (ts < {start}::TIMESTAMPTZ OR ts >= {end}::TIMESTAMPTZ)
            GROUP BY object"""
    ).fetchall()
    return dict(rows)

