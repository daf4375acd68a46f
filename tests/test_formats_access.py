"""Traefik (JSON, common) and AWS ALB access logs: real samples against Elastic's golden parse,
AWS's documented fields, rejects with reasons, IPv6 clients, and formats refusing each other."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import duckdb
import pytest

from ingress_audit import formats, schema
from ingress_audit.logformat import nginx_json_format

from .real_samples import golden, sample

TRAEFIK_JSON = formats.builtin("traefik-json")
TRAEFIK_CLF = formats.builtin("traefik-clf")
ALB = formats.builtin("aws-alb")
NGINX = formats.builtin("ingress-nginx")

CLF_SAMPLE = "traefik/test-format-common.lines1-5.log"
JSON_SAMPLE = "traefik/test-format-json.lines1-4.log"
ALB_SAMPLE = "aws-alb/test-alb.line1.log"

KLOG = 'I0304 10:15:02.123456       7 controller.go:190] "Configuration changes detected, backend reload required"'


def _ts(text: str) -> datetime:
    """An ECS @timestamp (RFC 3339, up to nanoseconds) to a datetime (microseconds, truncated)."""
    text = text.replace("Z", "+00:00")
    if "." in text:
        head, rest = text.split(".", 1)
        digits = rest[: len(rest) - 6]
        text = f"{head}.{(digits + '000000')[:6]}{rest[-6:]}"
    return datetime.fromisoformat(text)


def _lines(relative: str) -> list[str]:
    return sample(relative).read_text().splitlines()


def _one(fmt: formats.Format, line: str) -> dict:
    [row] = formats.parse_lines(fmt, [line])
    return row


# --- Traefik common log format ---------------------------------------------------------------


def test_traefik_clf_sample_matches_golden():
    rows = formats.parse_lines(TRAEFIK_CLF, _lines(CLF_SAMPLE))
    expected = golden(CLF_SAMPLE + "-expected.json")
    assert len(rows) == len(expected) == 5
    for row, exp in zip(rows, expected):
        ctx = f"line {row['line']}"
        access = exp["traefik"]["access"]
        path, sep, query = exp["url"]["original"].partition("?")
        assert row["reject_reason"] is None, ctx
        assert row["client_ip"] == exp["source"]["ip"], ctx
        assert row["remote_user"] is None and exp["user"]["name"] == "-", ctx
        assert row["method"] == exp["http"]["request"]["method"], ctx
        assert row["path"] == path, ctx
        assert row["query"] == (query if sep else None), ctx
        assert row["protocol"] == "HTTP/" + exp["http"]["version"], ctx
        assert row["status"] == exp["http"]["response"]["status_code"], ctx
        assert row["bytes_sent"] == exp["http"]["response"]["body"]["bytes"], ctx
        # ECS keeps a quoted "-" as the referrer; we say NULL for '-' (schema), bare or quoted.
        referrer = exp["http"]["request"].get("referrer")
        assert row["referer"] == (None if referrer in (None, "-") else referrer), ctx
        assert row["user_agent"] == exp["user_agent"]["original"], ctx
        assert row["ts"] == _ts(exp["@timestamp"]), ctx
        assert row["upstream"] == access["router"]["name"], ctx
        assert row["upstream_addr"] == access["service"]["address"], ctx
        assert row["duration_s"] * 1e9 == pytest.approx(exp["event"]["duration"]), ctx
        assert row["host"] is None and row["tls"] is None and row["request_length"] is None, ctx


def test_traefik_clf_bare_and_quoted_referer_and_quotes_in_user_agent():
    base = '10.0.0.1 - alice [04/Mar/2024:10:00:00 +0100] "GET /a?b=1 HTTP/1.1" 200 5 {ref} "{ua}" 7 "web@docker" "http://10.0.0.9:80" 12ms'
    quoted = _one(TRAEFIK_CLF, base.format(ref='"https://r.example/"', ua='Mozilla "quoted" thing'))
    bare = _one(TRAEFIK_CLF, base.format(ref="-", ua='Mozilla "quoted" thing'))
    for row in (quoted, bare):
        assert row["reject_reason"] is None
        assert row["user_agent"] == 'Mozilla "quoted" thing'  # Traefik does not escape quotes
        assert row["remote_user"] == "alice"
        assert row["ts"] == datetime(2024, 3, 4, 9, 0, tzinfo=timezone.utc)
        assert (row["path"], row["query"], row["status"], row["bytes_sent"]) == ("/a", "b=1", 200, 5)
        assert (row["upstream"], row["upstream_addr"], row["duration_s"]) == ("web@docker", "http://10.0.0.9:80", 0.012)
    assert quoted["referer"] == "https://r.example/"
    assert bare["referer"] is None


# --- Traefik JSON ----------------------------------------------------------------------------


def test_traefik_json_sample_matches_golden():
    rows = formats.parse_lines(TRAEFIK_JSON, _lines(JSON_SAMPLE))
    expected = golden(JSON_SAMPLE + "-expected.json")
    assert len(rows) == len(expected) == 4
    for row, exp in zip(rows, expected):
        ctx = f"line {row['line']}"
        http = exp["http"]
        access = exp["traefik"]["access"]
        assert row["reject_reason"] is None, ctx
        # source.ip when Elastic split ClientHost out; else source.address is ClientAddr (ip:port)
        assert row["client_ip"] == exp["source"].get("ip", exp["source"]["address"].rsplit(":", 1)[0]), ctx
        assert row["remote_user"] is None, ctx  # "-" or absent
        assert row["method"] == http["request"]["method"], ctx
        assert row["host"] == exp["url"]["domain"], ctx
        assert row["path"] == exp["url"]["path"], ctx
        assert row["query"] is None, ctx
        assert row["protocol"] == "HTTP/" + http["version"], ctx
        assert row["status"] == http["response"]["status_code"], ctx
        assert row["bytes_sent"] == http["response"]["body"]["bytes"], ctx
        assert row["request_length"] == http["request"]["body"]["bytes"], ctx
        assert row["referer"] is None and http["request"].get("referrer") is None, ctx
        assert row["user_agent"] == exp.get("user_agent", {}).get("original"), ctx
        assert row["duration_s"] * 1e9 == pytest.approx(exp["event"]["duration"]), ctx
        # The service (v2/v3) or backend (v1) is what Elastic calls the egress interface.
        assert row["upstream"] == exp["observer"].get("egress", {}).get("interface", {}).get("name"), ctx
        dest = exp.get("destination")
        assert row["upstream_addr"] == (f"{dest['ip']}:{dest['port']}" if dest else None), ctx
        assert row["upstream_status"] == str(access["origin"]["status_code"]), ctx
        scheme = exp["url"].get("scheme")
        assert row["tls"] == (None if scheme is None else scheme == "https"), ctx
        # StartUTC (else StartLocal) is the request's start; Elastic fell back to `time` (whole
        # seconds, written at the end) where StartUTC is missing: they agree within a second.
        golden_ts = _ts(exp["@timestamp"])
        if "." in exp["@timestamp"]:
            assert row["ts"] == golden_ts, ctx
        else:
            assert timedelta(0) <= row["ts"] - golden_ts < timedelta(seconds=1), ctx


def test_traefik_json_v1_and_v2_names_and_fallbacks():
    v1 = ('{"BackendName":"b1","BackendURL":{"Host":"10.0.0.7:80"},"FrontendName":"f1","ClientAddr":"[2001:db8::9]:4431",'
          '"ClientUsername":"bob","DownstreamContentSize":3,"DownstreamStatus":"201","Duration":1500000000,'
          '"OriginStatus":0,"RequestMethod":"POST","RequestPath":"/x?y=1&z","RequestProtocol":"HTTP/2.0",'
          '"StartLocal":"2024-03-04T11:00:00.5+01:00","request_Referer":"https://ref/","request_X-Forwarded-For":"1.2.3.4, 5.6.7.8",'
          '"request_X-Request-Id":"abc","time":"2024-03-04T11:00:02+01:00"}')
    row = _one(TRAEFIK_JSON, v1)
    assert row["reject_reason"] is None
    assert row["client_ip"] == "2001:db8::9"  # from ClientAddr, brackets and port removed
    assert row["ts"] == datetime(2024, 3, 4, 10, 0, 0, 500000, tzinfo=timezone.utc)  # StartLocal's offset honoured
    assert (row["remote_user"], row["method"], row["path"], row["query"]) == ("bob", "POST", "/x", "y=1&z")
    assert (row["status"], row["bytes_sent"], row["duration_s"]) == (201, 3, 1.5)  # status as a JSON string too
    assert (row["upstream"], row["upstream_addr"], row["upstream_status"]) == ("b1", "10.0.0.7:80", None)
    assert (row["referer"], row["forwarded_for"], row["request_id"]) == ("https://ref/", "1.2.3.4, 5.6.7.8", "abc")
    assert row["tls"] is None  # v1 has no RequestScheme
    v3 = ('{"ClientAddr":"10.1.1.1:5000","DownstreamStatus":200,"RequestMethod":"GET","RequestPath":"/",'
          '"RequestScheme":"https","RouterName":"r@k8s","ServiceName":"s@k8s","ServiceURL":{"Host":"10.2.2.2:8080"},'
          '"time":"2024-03-04T10:00:00Z"}')
    row = _one(TRAEFIK_JSON, v3)
    assert row["reject_reason"] is None
    assert (row["client_ip"], row["tls"], row["upstream"], row["upstream_addr"]) == ("10.1.1.1", True, "s@k8s", "10.2.2.2:8080")
    assert row["ts"] == datetime(2024, 3, 4, 10, 0, tzinfo=timezone.utc)  # only `time`


def test_traefik_json_rejects_json_that_is_not_an_access_record():
    lines = [
        '{"level":"info","msg":"Configuration loaded from flags.","time":"2024-03-04T10:00:00Z"}',
        '{"kind":"Event","apiVersion":"audit.k8s.io/v1","verb":"get"}',
        '[1, 2]',
        '{"DownstreamStatus":200,"RequestMethod":"GET"}',
        '{"DownstreamStatus":"OK","RequestMethod":"GET","StartUTC":"2024-03-04T10:00:00Z"}',
        '{"DownstreamStatus":200,"RequestMethod":"GET","StartUTC":"yesterday"}',
    ]
    rows = formats.parse_lines(TRAEFIK_JSON, lines)
    reasons = [r["reject_reason"] for r in rows]
    assert all(reasons), reasons
    assert "application log line" in reasons[0]
    assert "without Traefik access-log fields" in reasons[1] and "without Traefik access-log fields" in reasons[2]
    assert reasons[3] == "no StartUTC, StartLocal or time field"
    assert reasons[4] == "unreadable DownstreamStatus"
    assert reasons[5].startswith("unreadable StartUTC")


# --- AWS ALB ---------------------------------------------------------------------------------


def test_alb_sample_matches_aws_documented_fields():
    [line] = _lines(ALB_SAMPLE)
    row = _one(ALB, line)
    # type=http, time, elb, client:port=192.168.131.39:2817, target:port=10.0.0.1:80,
    # processing times 0.000 0.001 0.000, elb_status_code 200, target_status_code 200,
    # received_bytes 34, sent_bytes 366, request, user_agent, ssl_cipher -, ssl_protocol -,
    # target_group_arn, trace_id, domain_name -, chosen_cert_arn -, … (fewer fields than today's list)
    assert row["reject_reason"] is None
    assert row["ts"] == datetime(2018, 7, 2, 22, 23, 0, 186641, tzinfo=timezone.utc)
    assert row["client_ip"] == "192.168.131.39"
    assert row["remote_user"] is None
    assert (row["method"], row["host"], row["path"], row["query"], row["protocol"]) == ("GET", "www.example.com", "/", None, "HTTP/1.1")
    assert (row["status"], row["upstream_status"]) == (200, "200")
    assert (row["request_length"], row["bytes_sent"]) == (34, 366)
    assert row["duration_s"] == pytest.approx(0.001)
    assert row["user_agent"] == "curl/7.46.0"
    assert row["referer"] is None
    assert row["upstream"] == "arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/my-targets/73e2d6bc24d8a067"
    assert row["upstream_addr"] == "10.0.0.1:80"
    assert row["request_id"] == "Root=1-58337262-36d228ad5d99923122bbe354"
    assert row["tls"] is False  # type http


_ALB_H2 = (
    'h2 2024-03-04T10:00:01.000001Z app/my-lb/50dc6c495c0c9188 2001:db8:1::7:51234 10.0.0.5:8443 0.002 0.250 0.001 '
    '503 503 120 2048 "POST https://[2001:db8::80]:443/api/v1/items?page=2&x=%22 HTTP/2.0" "grpc-go/1.60.1" '
    'ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2 arn:aws:elasticloadbalancing:eu-west-1:1:targetgroup/t/1 '
    '"Root=1-65e59b81-0123456789abcdef01234567" "api.example.com" "arn:aws:acm:eu-west-1:1:certificate/c" 10 '
    '2024-03-04T10:00:00.748000Z "waf,forward" "-" "-" "10.0.0.5:8443" "503" "-" "-" TID_1234 "-" "-" "-" newfield'
)
_ALB_NOT_SENT = (
    'https 2024-03-04T10:00:02.000000Z app/my-lb/50dc6c495c0c9188 192.0.2.9:40000 - -1 -1 -1 '
    '460 - 0 0 "- - - " "-" ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2 - '
    '"-" "-" "arn:aws:acm:eu-west-1:1:certificate/c" 0 2024-03-04T10:00:02.000000Z "-" "-" "-" "-" "-" "-" "-"'
)


def test_alb_https_h2_ipv6_and_trailing_fields():
    row = _one(ALB, _ALB_H2)
    assert row["reject_reason"] is None
    assert row["client_ip"] == "2001:db8:1::7"  # logged without brackets: only the last :port goes
    assert row["host"] == "2001:db8::80"
    assert (row["method"], row["path"], row["query"], row["protocol"]) == ("POST", "/api/v1/items", "page=2&x=%22", "HTTP/2.0")
    assert row["duration_s"] == pytest.approx(0.253)
    assert (row["status"], row["upstream_status"], row["tls"]) == (503, "503", True)
    assert row["request_id"] == "Root=1-65e59b81-0123456789abcdef01234567"


def test_alb_request_never_sent_to_a_target():
    row = _one(ALB, _ALB_NOT_SENT)
    assert row["reject_reason"] is None
    assert row["duration_s"] is None  # all three processing times are -1
    assert (row["upstream_addr"], row["upstream_status"], row["upstream"]) == (None, None, None)
    assert (row["method"], row["path"], row["protocol"], row["user_agent"]) == (None, None, None, None)
    assert (row["status"], row["tls"], row["client_ip"]) == (460, True, "192.0.2.9")


def test_alb_minus_one_counts_as_zero_when_another_time_is_known():
    line = _ALB_NOT_SENT.replace(" -1 -1 -1 ", " 0.004 -1 -1 ")
    assert _one(ALB, line)["duration_s"] == pytest.approx(0.004)


# --- rejects, line numbers, and formats refusing each other ----------------------------------

_VALID = {
    "traefik-clf": '10.0.0.1 - - [04/Mar/2024:10:00:00 +0000] "GET / HTTP/1.1" 200 5 "-" "curl/8" 1 "r@docker" "http://10.0.0.9:80" 3ms',
    "traefik-json": '{"ClientHost":"10.0.0.1","DownstreamStatus":200,"RequestMethod":"GET","RequestPath":"/","StartUTC":"2024-03-04T10:00:00Z","request_User-Agent":"curl/8"}',
    "aws-alb": _ALB_H2,
}


@pytest.mark.parametrize("kind", sorted(_VALID))
def test_garbage_truncated_and_klog_lines_are_rejected_with_reason_and_line(kind):
    fmt = formats.builtin(kind)
    valid = _VALID[kind]
    lines = [valid, "", "garbage that is no log line at all", valid[: len(valid) * 2 // 3], KLOG, "   ", valid]
    rows = formats.parse_lines(fmt, lines)
    assert [r["line"] for r in rows] == [1, 3, 4, 5, 7]  # blank lines are not records, numbers kept
    assert rows[0]["reject_reason"] is None and rows[-1]["reject_reason"] is None
    for row in rows[1:4]:
        assert row["reject_reason"], row
        assert row["text"] == lines[row["line"] - 1]
    assert rows[3]["reject_reason"] == "controller log line (klog), not an access record"


def test_truncated_alb_line_says_so():
    row = _one(ALB, _ALB_H2[: _ALB_H2.index('"10.0.0.5:8443"') + 5])
    assert "truncated" in row["reject_reason"]


def test_ipv6_clients():
    clf = _one(TRAEFIK_CLF, _VALID["traefik-clf"].replace("10.0.0.1 ", "2001:db8::1 ", 1))
    assert clf["client_ip"] == "2001:db8::1"
    tj = _one(TRAEFIK_JSON, _VALID["traefik-json"].replace('"ClientHost":"10.0.0.1"', '"ClientAddr":"[::1]:123"'))
    assert tj["client_ip"] == "::1"
    alb = _one(ALB, _ALB_NOT_SENT.replace("192.0.2.9:40000", "::ffff:192.0.2.9:40000"))
    assert alb["client_ip"] == "::ffff:192.0.2.9"


_NGINX_LINE = (
    '192.168.64.1 - - [07/Feb/2020:11:48:51 +0000] "POST /products HTTP/1.1" 200 59 "-" "curl/7.54.0" 89 0.001 '
    "[default-web-8080] [] 172.17.0.5:8080 59 0.000 200 529a007902362a5f51385a5fa7049884"
)
_NGINX_JSON_LINE = '{"time": "2020-02-07T11:48:51+00:00", "remote_addr": "1.2.3.4", "status": 200, "request": "GET / HTTP/1.1"}'
_ALL_LINES = {
    "ingress-nginx": _NGINX_LINE,
    "nginx-json": _NGINX_JSON_LINE,
    **_VALID,
    "aws-alb-no-target": _ALB_NOT_SENT,
}
_PARSERS = {
    "ingress-nginx": NGINX,
    "nginx-json": nginx_json_format({}),
    "traefik-clf": TRAEFIK_CLF,
    "traefik-json": TRAEFIK_JSON,
    "aws-alb": ALB,
}


@pytest.mark.parametrize("parser", sorted(_PARSERS))
def test_formats_reject_each_others_lines(parser):
    fmt = _PARSERS[parser]
    own = [line for kind, line in _ALL_LINES.items() if kind.startswith(parser)]
    others = [line for kind, line in _ALL_LINES.items() if not kind.startswith(parser)]
    rows = formats.parse_lines(fmt, own + others)
    assert [r["reject_reason"] for r in rows[: len(own)]] == [None] * len(own)
    for row in rows[len(own):]:
        assert row["reject_reason"], f"{parser} accepted: {row['text']}"


def test_real_samples_rejected_by_the_other_formats():
    samples = {
        "traefik-clf": _lines(CLF_SAMPLE),
        "traefik-json": _lines(JSON_SAMPLE),
        "aws-alb": _lines(ALB_SAMPLE),
        "ingress-nginx": _lines("ingress-nginx/test-ingest-raw.log"),
    }
    for parser, fmt in _PARSERS.items():
        for kind, lines in samples.items():
            rows = formats.parse_lines(fmt, lines)
            ok = [r["line"] for r in rows if r["reject_reason"] is None]
            if kind == parser:
                assert len(ok) == len(lines), (parser, kind)
            else:
                assert ok == [], (parser, kind)


@pytest.mark.parametrize("kind", ["traefik-json", "traefik-clf", "aws-alb"])
def test_output_columns_and_types_follow_the_schema(kind):
    fmt = formats.builtin(kind)
    con = duckdb.connect()
    con.execute("CREATE TEMP TABLE raw (line BIGINT, text VARCHAR)")
    described = {name: typ for name, typ, *_ in con.execute(f"DESCRIBE SELECT * FROM ({fmt.sql})").fetchall()}
    aliases = {"TIMESTAMPTZ": "TIMESTAMP WITH TIME ZONE"}
    expected = {c.name: aliases.get(c.type, c.type) for c in schema.HTTP_REQUESTS.columns if c.name in fmt.fields}
    assert list(described) == ["line", "text", "reject_reason", *fmt.fields]
    assert {k: described[k] for k in expected} == expected
