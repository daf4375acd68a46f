"""The policy as SQL: macros and variables the controls call, generated from the policy file.

Network lists become range checks over `ip_num()` (queries/lib/ip.sql), globs become GLOB
tests, thresholds become variables (`getvariable('brute_force_failures')`). Values from the
policy are always SQL string literals or numbers, never pasted SQL.
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
    for lib in sorted((queries_dir() / "lib").glob("*.sql")):
        con.execute(lib.read_text(encoding="utf-8"))
    macros = {
        "is_trusted_ip": _network_test("ip", policy.trusted_networks),
        "is_trusted_proxy": _network_test("ip", policy.trusted_proxies),
        "is_restricted_host": _glob_test("lower(value)", [p.lower() for p in policy.restricted_hosts]),
        "is_restricted_path": _glob_test("value", policy.restricted_paths),
        "is_login_path": _glob_test("value", policy.login_paths),
        "is_approved_actor": _glob_test("value", policy.approved_actors),
        "is_controller_namespace": _glob_test("value", policy.controller_namespaces),
    }
    for name, body in macros.items():
        param = "ip" if name.startswith("is_trusted") else "value"
        con.execute(f"CREATE OR REPLACE MACRO {name}({param}) AS ({body})")
    # The client behind trusted proxies: the rightmost X-Forwarded-For address that is not one
    # of them (the leftmost is whatever the client chose to send).
    con.execute("""
        CREATE OR REPLACE MACRO real_client_ip(client_ip, forwarded_for) AS (
            CASE WHEN forwarded_for IS NOT NULL AND forwarded_for <> '-' AND is_trusted_proxy(client_ip)
                 THEN coalesce(
                     list_filter(list_reverse(string_split(replace(forwarded_for, ' ', ''), ',')),
                                 lambda a: NOT coalesce(is_trusted_proxy(a), false))[1],
                     client_ip)
                 ELSE client_ip END)
    """)
    for name, value in policy.thresholds.model_dump().items():
        con.execute(f"SET VARIABLE {name} = {float(value) if isinstance(value, float) else int(value)}")
    start, end = period.iso()
    con.execute(f"SET VARIABLE period_start = {db.sql_string(start)}::TIMESTAMPTZ")
    con.execute(f"SET VARIABLE period_end = {db.sql_string(end)}::TIMESTAMPTZ")
    _install_baseline(con, policy.baseline.ingress_manifests)


def _network_test(param: str, cidrs: list[str]) -> str:
    ranges = []
    for cidr in cidrs:
        net = ipaddress.ip_network(cidr, strict=False)
        if net.version == 4:  # IPv4 lives in ::ffff:0:0/96 on ip_num's number line
            net = ipaddress.ip_network(f"::ffff:{net.network_address}/{96 + net.prefixlen}")
        lo, hi = int(net.network_address), int(net.broadcast_address)
        ranges.append(f"n BETWEEN {lo}::UHUGEINT AND {hi}::UHUGEINT")
    if not ranges:
        return "false"
    return f"(SELECT {' OR '.join(ranges)} FROM (SELECT ip_num({param}) AS n))"


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
