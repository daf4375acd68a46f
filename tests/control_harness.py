"""Run one control over small given tables: the edge-case tests of every control use this.

    rows = run_control("FA-01", http=[{"client_ip": "203.0.113.9", "status": 401, ...}, ...])

Missing columns are NULL; `ts` may be an ISO string. The policy defaults apply unless a
`policy` dict (the YAML's shape) is given.
"""

from __future__ import annotations

from datetime import date

import duckdb

from ingress_audit import schema
from ingress_audit.controls import ControlResult, load_controls, run_controls
from ingress_audit.period import Period, resolve_period
from ingress_audit.policy import Policy

DEFAULT_PERIOD = resolve_period("2026-11-16", "2026-11-23", None)


def given_tables(con: duckdb.DuckDBPyConnection, http: list[dict] = (), audit: list[dict] = ()) -> None:
    for table, rows in ((schema.HTTP_REQUESTS, http), (schema.AUDIT_EVENTS, audit)):
        cols = ", ".join(f'"{c.name}" {c.type}' for c in table.columns)
        con.execute(f"CREATE OR REPLACE TABLE {table.name} ({cols})")
        names = table.column_names()
        for row in rows:
            unknown = set(row) - set(names)
            assert not unknown, f"{table.name} has no columns {unknown}"
            con.execute(
                f"INSERT INTO {table.name} ({', '.join(chr(34) + k + chr(34) for k in row)}) VALUES ({', '.join('?' * len(row))})",
                list(row.values()),
            )
    con.execute("CREATE OR REPLACE TABLE rejects (object VARCHAR, line BIGINT, source_kind VARCHAR, reason VARCHAR, raw VARCHAR)")
    cols = ", ".join(f'"{c.name}" {c.type}' for c in schema.OBJECTS.columns)
    con.execute(f"CREATE OR REPLACE TABLE objects ({cols})")


def run_control_result(
    control_id: str,
    http: list[dict] = (),
    audit: list[dict] = (),
    policy: dict | None = None,
    period: Period = DEFAULT_PERIOD,
    today: date = date(2026, 11, 23),
    con: duckdb.DuckDBPyConnection | None = None,
) -> ControlResult:
    con = con or duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    given_tables(con, http, audit)
    (control,) = [c for c in load_controls() if c.id == control_id]
    (result,) = run_controls(con, [control], Policy.model_validate(policy or {}), period, today=today)
    assert result.status != "error", result.error
    return result


def run_control(control_id: str, **kwargs) -> list[dict]:
    return run_control_result(control_id, **kwargs).findings
