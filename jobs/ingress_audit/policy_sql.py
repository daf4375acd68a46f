"""The policy as SQL: tables, macros and variables the controls use, made from the policy file.

- networks: tables of ranges, which queries/lib/addresses.sql turns into `ip_trust(ip,
  trusted, proxy)` and the `requests` view (http_requests plus `client`, the address behind
  trusted proxies);
- globs: macros such as `is_login_path(path)`, `is_approved_actor(user)`, and
  `is_approved_change(user, impersonated_by)`;
- thresholds: variables, `getvariable('brute_force_failures')`; also period_start/period_end;
- the ingress baseline: `baseline_ingresses(namespace, name, manifest, file)`.
Values from the policy are bound parameters or SQL string literals, never pasted SQL.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

import duckdb

from . import db
from .baseline import load_baseline
from .period import Period
from .policy import Policy
from .resources import queries_dir


def install_policy(con: duckdb.DuckDBPyConnection, policy: Policy, period: Period) -> None:
    """Needs the period's tables (http_requests, audit_events) in `con` already."""
    for name, cidrs in (("trusted_networks", policy.trusted_networks), ("trusted_proxies", policy.trusted_proxies)):
        con.execute(f"CREATE OR REPLACE TEMP TABLE {name} (cidr VARCHAR, lo UHUGEINT, hi UHUGEINT, v4 BOOLEAN)")
        rows = [_range(c) for c in cidrs]
        if rows:
            con.executemany(f"INSERT INTO {name} VALUES (?, ?::UHUGEINT, ?::UHUGEINT, ?)", rows)
    macros = {
        "is_restricted_host": _glob_test("lower(value)", [p.lower() for p in policy.restricted_hosts]),
        "is_restricted_path": _glob_test("value", policy.restricted_paths),
        "is_restricted_upstream": _glob_test("value", policy.restricted_upstreams),
        "is_plaintext_allowed_host": _glob_test("lower(value)", [p.lower() for p in policy.plaintext_allowed_hosts]),
        "is_login_path": _glob_test("value", policy.login_paths),
        "is_approved_actor": _glob_test("value", policy.approved_actors),
        "is_controller_namespace": _glob_test("value", policy.controller_namespaces),
    }
    for name, body in macros.items():
        con.execute(f"CREATE OR REPLACE MACRO {name}(value) AS ({body})")
    # A change is approved when its actor is approved and, under impersonation, so is the real
    # user behind it: one rule for every control that asks "who changed the door".
    con.execute("""
        CREATE OR REPLACE MACRO is_approved_change(actor, impersonator) AS (
            coalesce(is_approved_actor(actor), false)
            AND (impersonator IS NULL OR coalesce(is_approved_actor(impersonator), false)))
    """)
    for name, value in policy.thresholds.model_dump().items():
        con.execute(f"SET VARIABLE {name} = {float(value) if isinstance(value, float) else int(value)}")
    start, end = period.iso()
    con.execute(f"SET VARIABLE period_start = {db.sql_string(start)}::TIMESTAMPTZ")
    con.execute(f"SET VARIABLE period_end = {db.sql_string(end)}::TIMESTAMPTZ")
    _install_baseline(con, policy.baseline.ingress_manifests)
    for lib in sorted((queries_dir() / "lib").glob("*.sql")):
        con.execute(lib.read_text(encoding="utf-8"))


def _range(cidr: str) -> tuple[str, str, str, bool]:
    """A CIDR as a range on the number line of queries/lib/addresses.sql (IPv4 at ::ffff:0:0/96)."""
    net = ipaddress.ip_network(cidr, strict=False)
    v4 = net.version == 4
    if v4:
        net = ipaddress.ip_network(f"::ffff:{net.network_address}/{96 + net.prefixlen}")
    return (cidr, str(int(net.network_address)), str(int(net.broadcast_address)), v4)


def _glob_test(expr: str, patterns: list[str]) -> str:
    if not patterns:
        return "false"
    return "(" + " OR ".join(f"{expr} GLOB {db.sql_string(p)}" for p in patterns) + ")"


def _install_baseline(con: duckdb.DuckDBPyConnection, folder: Path | None) -> None:
    con.execute("CREATE OR REPLACE TEMP TABLE baseline_ingresses (namespace VARCHAR, name VARCHAR, manifest JSON, file VARCHAR)")
    con.execute(f"SET VARIABLE baseline_loaded = {str(folder is not None).lower()}")
    if folder is None:
        return
    rows = load_baseline(folder)
    if rows:
        con.executemany("INSERT INTO baseline_ingresses VALUES (?, ?, ?, ?)", rows)
