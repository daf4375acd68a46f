"""The ingress-nginx default format against Elastic's golden parse of real controller logs."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from ingress_audit import formats

from .real_samples import golden, sample

NGINX = formats.builtin("ingress-nginx")


@pytest.fixture(scope="module")
def parsed():
    lines = sample("ingress-nginx/test-ingest-raw.log").read_text().splitlines()
    return formats.parse_lines(NGINX, lines), golden("ingress-nginx/test-ingest-raw.log-expected.json")


def _ts(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_every_line_parses(parsed):
    rows, expected = parsed
    assert len(rows) == len(expected) == 24
    assert [r["reject_reason"] for r in rows] == [None] * 24


def test_fields_match_golden(parsed):
    rows, expected = parsed
    for row, exp in zip(rows, expected):
        access = exp["nginx_ingress_controller"]["access"]
        upstream = access["upstream"]
        url = exp["url"]["original"]
        path, _, query = url.partition("?")
        ctx = f"line {row['line']}"
        assert row["client_ip"] == exp["source"]["address"], ctx
        assert row["remote_user"] == exp.get("user", {}).get("name"), ctx
        assert row["method"] == exp["http"]["request"]["method"], ctx
        assert row["path"] == path, ctx
        assert row["query"] == (query or None), ctx
        assert row["protocol"] == "HTTP/" + exp["http"]["version"], ctx
        assert row["status"] == exp["http"]["response"]["status_code"], ctx
        assert row["bytes_sent"] == exp["http"]["response"]["body"]["bytes"], ctx
        assert row["referer"] == exp["http"]["request"].get("referrer"), ctx
        assert row["user_agent"] == exp.get("user_agent", {}).get("original"), ctx
        assert row["ts"] == _ts(exp["@timestamp"]), ctx
        assert row["request_length"] == access["http"]["request"]["length"], ctx
        assert row["duration_s"] == pytest.approx(access["http"]["request"]["time"]), ctx
        assert row["request_id"] == exp["http"]["request"]["id"], ctx
        assert row["upstream"] == (upstream["name"] or None), ctx
        assert row["upstream_addr"] == (", ".join(upstream["ip_port_list"]) if "ip_port_list" in upstream else None), ctx
        statuses = upstream.get("response", {}).get("status_code")
        expected_status = ", ".join(map(str, statuses)) if isinstance(statuses, list) else (str(statuses) if statuses else None)
        assert row["upstream_status"] == expected_status, ctx


def test_retry_lists_and_ipv6(parsed):
    rows, _ = parsed
    last = rows[-1]
    assert last["client_ip"] == "2a02:cf40::4e36"
    assert last["upstream_addr"] == "[2a02:cf40::7]:5000, [2a02:cf40::4e36]:5000"
    assert last["upstream_status"] == "502, 403"
    assert last["protocol"] == "HTTP/2.0"


LINE = ('10.0.0.1 - - [16/Nov/2026:10:00:00 +0100] "GET /a?b=1 HTTP/1.1" 200 5 "-" "curl/8" '
        '80 0.002 [shop-web-8080] [] 10.2.0.5:8080 5 0.002 200 abc123')


def test_offsets_become_utc():
    (row,) = formats.parse_lines(NGINX, [LINE])
    assert row["ts"] == datetime(2026, 11, 16, 9, 0, tzinfo=timezone.utc)
    assert (row["path"], row["query"]) == ("/a", "b=1")


def test_internal_redirect_groups_fold_like_retries():
    line = LINE.replace("10.2.0.5:8080 5 0.002 200", "10.2.0.5:8080 : 10.2.0.6:8080 5 : 7 0.002 : 0.001 404 : 200")
    (row,) = formats.parse_lines(NGINX, [line])
    assert row["reject_reason"] is None
    assert row["upstream_addr"] == "10.2.0.5:8080, 10.2.0.6:8080"
    assert row["upstream_status"] == "404, 200"


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ('I1116 10:02:03.123456       7 controller.go:190] "Configuration changes detected"', "klog"),
        ('2026/11/16 10:02:03 [error] 32#32: *1 upstream timed out, client: 10.0.0.1, request: "GET / HTTP/1.1"', "nginx error-log"),
        (LINE[:60], "not in ingress-nginx log-format-upstream"),
        (LINE + " extra-field", "not in ingress-nginx log-format-upstream"),
        (LINE.replace("16/Nov/2026:10:00:00", "16/Nov/2026:25:61:00"), "unreadable $time_local"),
        (LINE.replace('" 200 5 "', '" OK 5 "'), "unreadable $status"),
        ("hello", "not in ingress-nginx log-format-upstream"),
    ],
)
def test_rejects_have_reasons(line, reason):
    (row,) = formats.parse_lines(NGINX, [line])
    assert row["reject_reason"] is not None and reason in row["reject_reason"]
    assert row["text"] == line


def test_escaped_quotes_and_empty_request():
    # nginx writes a quote inside a field as \x22; a 400 for an empty request logs ""
    ua = LINE.replace('"curl/8"', '"evil \\x22 agent"')
    empty = LINE.replace('"GET /a?b=1 HTTP/1.1" 200', '"" 400')
    rows = formats.parse_lines(NGINX, [ua, empty])
    assert rows[0]["user_agent"] == "evil \\x22 agent"
    assert rows[1]["reject_reason"] is None and rows[1]["method"] is None and rows[1]["status"] == 400
