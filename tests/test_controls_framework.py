"""The control framework itself: loading refuses bad files by name; a failing SQL is `error`, not a crash."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from ingress_audit.controls import load_controls, run_controls
from ingress_audit.errors import ConfigError
from ingress_audit.policy import Policy

from .cli_helpers import run_cli
from .control_harness import DEFAULT_PERIOD, given_tables
from .test_stage import nginx_line

GOOD_META = """id: {id}
title: A control for the test
category: access_patterns
severity: high
description: A description long enough to pass the validation.
rationale: Why the control matters, long enough to pass.
remediation: Do something useful.
entity: [client_ip]
"""


def make(folder: Path, cid: str, sql: str = "SELECT 'x' AS resource, 'y' AS reason", meta: str | None = None) -> None:
    (folder / "access_patterns").mkdir(parents=True, exist_ok=True)
    (folder / "access_patterns" / f"{cid}.yaml").write_text(meta if meta is not None else GOOD_META.format(id=cid))
    if sql is not None:
        (folder / "access_patterns" / f"{cid}.sql").write_text(sql)


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda f: make(f, "AP-90", meta=GOOD_META.format(id="AP-91")), "id AP-91 does not match the file name"),
        (lambda f: make(f, "AP-90", meta=GOOD_META.format(id="AP-90").replace("high", "urgent")), "severity"),
        (lambda f: make(f, "AP-90", meta=GOOD_META.format(id="AP-90").replace("entity: [client_ip]\n", "")), "entity"),
        (lambda f: make(f, "AP-90", meta="id: [unclosed\n"), "AP-90.yaml"),
        (lambda f: make(f, "AP-90", sql=None), "AP-90.sql is missing"),
        (lambda f: (make(f, "AP-90"), (f / "access_patterns" / "AP-92.sql").write_text("SELECT 1")), "without metadata"),
        (lambda f: make(f, "AP-90", meta=GOOD_META.format(id="AP-90").replace("access_patterns", "failed_auth")), "does not match its folder"),
    ],
)
def test_a_bad_control_file_stops_loading_with_its_name(tmp_path, setup, message):
    setup(tmp_path)
    with pytest.raises(ConfigError, match=message):
        load_controls(tmp_path)


def test_a_failing_sql_is_status_error_and_the_others_still_run(tmp_path):
    import duckdb

    make(tmp_path, "AP-90", sql="SELECT nope FROM http_requests")
    make(tmp_path, "AP-91", sql="SELECT 1 AS one")  # evidence without resource, reason
    make(tmp_path, "AP-92", sql="SELECT client_ip AS resource, 'found' AS reason, client_ip FROM http_requests")
    con = duckdb.connect()
    given_tables(con, http=[{"client_ip": "203.0.113.1", "ts": "2026-11-17T00:00:00Z"}])
    results = {r.control.id: r for r in run_controls(con, load_controls(tmp_path), Policy(), DEFAULT_PERIOD)}
    assert results["AP-90"].status == "error" and "nope" in results["AP-90"].error
    assert results["AP-91"].status == "error" and "resource, reason" in results["AP-91"].error
    assert results["AP-92"].status == "fail" and results["AP-92"].findings[0]["client_ip"] == "203.0.113.1"


def test_waivers_apply_until_they_expire(tmp_path):
    import duckdb

    make(tmp_path, "AP-92", sql="SELECT client_ip AS resource, 'found' AS reason, client_ip FROM http_requests")
    con = duckdb.connect()
    given_tables(con, http=[{"client_ip": ip, "ts": "2026-11-17T00:00:00Z"} for ip in ("203.0.113.1", "203.0.113.2")])
    waiver = {"control": "AP-92", "entity": {"client_ip": "203.0.113.1"}, "owner": "o", "reason": "r"}
    live = Policy.model_validate({"waivers": [{**waiver, "expires": "2026-11-22"}]})  # the period's last day
    (result,) = run_controls(con, load_controls(tmp_path), live, DEFAULT_PERIOD)
    assert [f["client_ip"] for f in result.findings] == ["203.0.113.2"] and len(result.waived) == 1
    dead = Policy.model_validate({"waivers": [{**waiver, "expires": "2026-11-21"}]})
    (result,) = run_controls(con, load_controls(tmp_path), dead, DEFAULT_PERIOD)
    assert len(result.findings) == 2 and not result.waived


def test_run_exits_3_when_input_is_unreadable_even_if_controls_fail(capsys, monkeypatch, tmp_path):
    day = tmp_path / "a" / "2026" / "11" / "17"
    day.mkdir(parents=True)
    burst = [nginx_line(i).replace('"GET /item/', '"POST /login?x=').replace('" 200 ', '" 401 ') for i in range(30)]
    burst = [l.replace(l.split(" ", 1)[0], "203.0.113.9", 1) for l in burst]
    (day / "access.log").write_text("\n".join(burst) + "\n")
    (day / "broken.log.gz").write_bytes(b"\x1f\x8b\x08\x00 not really gzip")
    out = tmp_path / "out"
    result = run_cli(capsys, monkeypatch, "--quiet", "run", "--source", str(tmp_path / "a"), "--from", "2026-11-16",
                     "--to", "2026-11-23", "--cache-dir", str(tmp_path / "c"), "--out", str(out))
    findings = json.loads((out / "findings.json").read_text())
    assert result.code == 3
    assert findings["coverage"]["complete"] is False and "broken.log.gz" in findings["coverage"]["errors"][0]["object"]
    assert "FA-01" in findings["summary"]["failing_at_or_above_fail_on"]
    assert "INCOMPLETE" in result.out
