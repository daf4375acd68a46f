"""Issue 7: secrets in URLs redacted and client addresses masked in finding rows; CR/LF in text logs."""

from __future__ import annotations

import logging
import string
from pathlib import Path

import duckdb
from hypothesis import given
from hypothesis import strategies as st

from ingress_audit.controls import Control, ControlMeta, _run_one
from ingress_audit.logs import TextFormatter
from ingress_audit.policy import Waiver
from ingress_audit.redact import REDACTED, SENSITIVE_PARAMS, mask_ip, mask_ips, mask_row, redact_query_params, redact_secrets

SECRET = "s3cr3t-VALUE"


def test_sensitive_parameters_are_redacted_wherever_a_query_appears():
    row = redact_secrets({
        "resource": "GET /cb", "reason": "x",
        "query": f"code={SECRET}&state=ok",
        "path": f"/cb?Access_Token={SECRET}&page=2#frag",
        "request_uri": f"/api/v1/namespaces/a/pods?watch=1&token={SECRET}",
        "referer": f"https://idp.example/auth?client_secret={SECRET};sig={SECRET}",
        "sample_paths": [f"/s3?X-Amz-Signature={SECRET}&X-Amz-Credential={SECRET}", "/plain"],
        "example_line": f'1.2.3.4 - - "GET /x?password={SECRET} HTTP/1.1" 200 "ref?api%5Fkey={SECRET}"',
        "requests": 3,
    })
    assert SECRET not in repr(row)
    assert row["query"] == f"code={REDACTED}&state=ok"
    assert row["path"] == f"/cb?Access_Token={REDACTED}&page=2#frag"
    assert row["request_uri"] == f"/api/v1/namespaces/a/pods?watch=1&token={REDACTED}"
    assert row["sample_paths"][1] == "/plain" and row["requests"] == 3


def test_other_parameters_and_look_alikes_stay():
    for text in ["/search?q=token&monkey=1", "/a?keys=1&tokens=2", "/a?token=", "token=abc", "/path/token=abc"]:
        assert redact_query_params(text) == text
    assert redact_secrets({"query": "page=2&key=k"}) == {"query": f"page=2&key={REDACTED}"}


_name = st.sampled_from(sorted(SENSITIVE_PARAMS)).map(lambda n: "".join(
    c.upper() if i % 2 else c for i, c in enumerate(n)))
_value = st.text(alphabet=string.ascii_letters + string.digits + "-_.~%+/", min_size=1, max_size=30)
_other = st.text(alphabet=string.ascii_lowercase, min_size=1, max_size=8).filter(lambda n: n not in SENSITIVE_PARAMS)


@given(st.lists(st.tuples(st.one_of(_name, _other), _value), min_size=1, max_size=6), st.booleans())
def test_property_no_sensitive_value_survives_and_others_do(params, bare):
    query = "&".join(f"{n}={v}" for n, v in params)
    out = redact_secrets({"query" if bare else "path": query if bare else f"/p?{query}"})
    got = (out["query"] if bare else out["path"].removeprefix("/p?")).split("&")
    assert len(got) == len(params)
    for (name, value), pair in zip(params, got):
        expected = REDACTED if name.lower() in SENSITIVE_PARAMS else value
        assert pair == f"{name}={expected}"


@given(st.text())
def test_property_redaction_is_idempotent(text):
    once = redact_query_params(text)
    assert redact_query_params(once) == once


def test_addresses_are_masked_to_the_24_and_the_48():
    assert mask_ip("203.0.113.7") == "203.0.113.x"
    assert mask_ip("2001:db8:1:2::7") == "2001:db8:1::x"
    assert mask_ip("not-an-ip") == "not-an-ip"
    text = "42 failures from 203.0.113.7 via [2001:db8:abcd:12::1]:443, ::ffff:10.0.0.9; at 10:00:00, v1.2.3.4.5"
    assert mask_ips(text) == ("42 failures from 203.0.113.x via [2001:db8:abcd::x]:443, ::ffff:10.0.0.x; "
                              "at 10:00:00, v1.2.3.4.5")
    row = mask_row({"client_ip": "198.51.100.23", "forwarded_for": "203.0.113.5, 10.0.0.1",
                    "source_ips": ["2001:db8::1", "192.0.2.1"], "requests": 600})
    assert row == {"client_ip": "198.51.100.x", "forwarded_for": "203.0.113.x, 10.0.0.x",
                   "source_ips": ["2001:db8::x", "192.0.2.x"], "requests": 600}


@given(st.ip_addresses())
def test_property_masking_hides_the_host_part_and_is_idempotent(ip):
    masked = mask_ips(f"from {ip}.")
    assert masked == f"from {mask_ip(str(ip))}."
    assert mask_ips(masked) == masked
    if ip.version == 4:
        assert masked.endswith(".x.") and str(ip) not in masked


def _control(sql: str) -> Control:
    meta = ControlMeta(id="AP-99", title="a test control", category="access_patterns", severity="high",
                       description="a control made for this test only", rationale="a control made for this test only",
                       remediation="nothing to do", entity=["client_ip"])
    return Control(meta, sql, Path("AP-99.sql"))


def test_finding_rows_are_redacted_and_masked_after_waivers_match_the_raw_values():
    con = duckdb.connect()
    sql = f"""SELECT * FROM (VALUES
        ('client 203.0.113.7', 'token in ' || '/a?token={SECRET}', '203.0.113.7', '/a?token={SECRET}'),
        ('client 198.51.100.10', 'waived', '198.51.100.10', '/b')) AS t(resource, reason, client_ip, path)"""
    waiver = Waiver(control="AP-99", entity={"client_ip": "198.51.100.10"}, owner="o", reason="r", expires="2030-01-01")
    result = _run_one(con, _control(sql), [waiver], mask_client_ips=True)
    assert result.status == "fail" and result.finding_count == 1
    assert result.findings == [{"resource": "client 203.0.113.x", "reason": f"token in /a?token={REDACTED}",
                                "client_ip": "203.0.113.x", "path": f"/a?token={REDACTED}"}]
    assert result.waived[0]["row"]["client_ip"] == "198.51.100.x"
    plain = _run_one(con, _control(sql), [], mask_client_ips=False)
    assert plain.findings[1]["client_ip"] == "198.51.100.10" and SECRET not in repr(plain.findings)


def test_text_log_lines_cannot_be_forged_by_crlf():
    record = logging.LogRecord("ingress_audit", logging.WARNING, __file__, 1, "unreadable: %s: %s",
                               ("day/evil\n2026-11-16 INFO forged.log", "bad\r\nline\u2028x"), None)
    line = TextFormatter("%(levelname)s %(message)s").format(record)
    assert line == "WARNING unreadable: day/evil\\n2026-11-16 INFO forged.log: bad\\r\\nline\\u2028x"
    assert len(line.splitlines()) == 1


def test_a_masked_run_masks_findings_and_the_report_series(tmp_path):
    import json
    import re

    from ingress_audit.period import resolve_period
    from ingress_audit.pipeline import audit_period
    from ingress_audit.policy import load_policy

    from .test_stage import nginx_line

    day = tmp_path / "archive" / "2026" / "11" / "16"
    day.mkdir(parents=True)
    # one client hammering a path with a token in its query: AP-04's request-rate finding
    lines = [nginx_line(i).replace("10.1.", "203.0.").replace(f"?q={i} ", f"?q={i}&token={SECRET} ") for i in range(700)]
    (day / "access.log").write_text("\n".join(lines) + "\n")
    period = resolve_period("2026-11-16", "2026-11-23", None)
    policy = load_policy(None, overrides=["thresholds.request_rate_per_minute=5", "thresholds.scanning_distinct_404=1"],
                         environ={"INGRESS_AUDIT_MASK_CLIENT_IPS": "1"})
    audit = audit_period([str(tmp_path / "archive")], period, policy, tmp_path / "cache", progress=False)
    assert audit.findings["masked_client_ips"] is True
    assert any(c["findings"] for c in audit.findings["controls"])
    text = json.dumps([audit.findings["controls"], audit.findings["waivers"], audit.series])
    assert "203.0.0.x" in text and SECRET not in text
    assert not re.search(r"203\.0\.\d+\.\d+", text)
    assert [r["client"] for r in audit.series["top_clients"]][:1] == ["203.0.0.x"]
