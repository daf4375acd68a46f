"""nginx log_format compiler and the ingress-nginx JSON format.

The compiled default format must parse real controller lines exactly as the built-in parser;
property tests render random formats and values the way nginx writes them and check that every
value comes back; bad formats are configuration errors.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingress_audit import formats, schema
from ingress_audit.errors import ConfigError
from ingress_audit.logformat import compile_nginx_log_format, nginx_json_format

from .real_samples import sample

# ingress-nginx's default log-format-upstream (internal/ingress/controller/config/config.go)
DEFAULT = (
    '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" '
    '"$http_user_agent" $request_length $request_time [$proxy_upstream_name] [$proxy_alternative_upstream_name] '
    "$upstream_addr $upstream_response_length $upstream_response_time $upstream_status $req_id"
)
NO_MATCH = "does not match the configured log_format"


def _one(fmt, line):
    [row] = formats.parse_lines(fmt, [line])
    return row


def test_default_format_compiles_to_the_builtin_parse_of_real_lines():
    lines = sample("ingress-nginx/test-ingest-raw.log").read_text().splitlines()
    compiled = formats.parse_lines(compile_nginx_log_format(DEFAULT), lines)
    builtin = formats.parse_lines(formats.builtin("ingress-nginx"), lines)
    assert len(compiled) == len(builtin) == 24
    assert all(r["reject_reason"] is None for r in compiled + builtin)
    for c, b in zip(compiled, builtin):
        assert c == b
    # the retry line really exercised the list patterns
    assert any(r["upstream_addr"] and ", " in r["upstream_addr"] for r in compiled)


def test_default_format_compiled_kind_and_rejects():
    fmt = compile_nginx_log_format(DEFAULT + "\n")  # a trailing line break (YAML) is dropped
    assert (fmt.kind, fmt.table) == ("nginx-custom", "http_requests")
    assert compile_nginx_log_format(DEFAULT, kind="my-nginx").kind == "my-nginx"
    good = ('10.0.0.1 - - [04/Mar/2024:10:00:00 +0000] "GET / HTTP/1.1" 200 5 "-" "curl" 80 0.002 [a-b-80] [] '
            "10.1.0.1:80 5 0.002 200 abc")
    rows = formats.parse_lines(fmt, [good, "", "garbage", good.replace("[04/Mar/2024:10:00:00 +0000]", "[yesterday]"), good[:60]])
    assert [(r["line"], r["reject_reason"]) for r in rows] == [
        (1, None), (3, NO_MATCH), (4, "unreadable $time_local"), (5, NO_MATCH)
    ]


def test_custom_format_with_host_scheme_forwarded_for_and_ssl_protocol():
    fmt = compile_nginx_log_format(DEFAULT + ' $host $scheme "$http_x_forwarded_for" $ssl_protocol')
    base = ('2001:db8::5 - alice [04/Mar/2024:10:00:00 +0100] "GET /a/b?c=d&e HTTP/2.0" 401 12 "https://r/" '
            '"Mozilla/5.0 (X11) \\x22q\\x22" 300 1.250 [ns-svc-443] [] 10.1.0.1:443, 10.1.0.2:443 0, 12 1.000, 0.250 '
            "502, 401 0123abcd")
    row = _one(fmt, base + ' shop.example.com https "203.0.113.9, 10.0.0.1" TLSv1.3')
    assert row["reject_reason"] is None
    assert row["ts"] == datetime(2024, 3, 4, 9, 0, tzinfo=timezone.utc)
    assert (row["client_ip"], row["remote_user"]) == ("2001:db8::5", "alice")
    assert (row["method"], row["path"], row["query"], row["protocol"]) == ("GET", "/a/b", "c=d&e", "HTTP/2.0")
    assert (row["status"], row["bytes_sent"], row["request_length"], row["duration_s"]) == (401, 12, 300, 1.25)
    assert (row["referer"], row["user_agent"]) == ("https://r/", "Mozilla/5.0 (X11) \\x22q\\x22")
    assert (row["upstream"], row["upstream_addr"], row["upstream_status"]) == ("ns-svc-443", "10.1.0.1:443, 10.1.0.2:443", "502, 401")
    assert (row["request_id"], row["host"], row["tls"], row["forwarded_for"]) == ("0123abcd", "shop.example.com", True, "203.0.113.9, 10.0.0.1")

    plain = _one(fmt, base + ' shop.example.com http "-" -')
    assert (plain["tls"], plain["forwarded_for"]) == (False, None)


def test_ssl_protocol_alone_tells_tls_and_https_variable():
    only_ssl = compile_nginx_log_format("[$time_local] $status $ssl_protocol")
    assert _one(only_ssl, "[04/Mar/2024:10:00:00 +0000] 200 TLSv1.2")["tls"] is True
    assert _one(only_ssl, "[04/Mar/2024:10:00:00 +0000] 200 -")["tls"] is False
    https = compile_nginx_log_format('[$time_local] $status "$https"')
    assert _one(https, '[04/Mar/2024:10:00:00 +0000] 200 "on"')["tls"] is True
    assert _one(https, '[04/Mar/2024:10:00:00 +0000] 200 ""')["tls"] is False
    none = compile_nginx_log_format("[$time_local] $status")
    assert _one(none, "[04/Mar/2024:10:00:00 +0000] 200")["tls"] is None


@pytest.mark.parametrize(
    ("log_format", "line", "expected"),
    [
        ("$time_iso8601 $status", "2024-03-04T15:30:00+05:30 200", datetime(2024, 3, 4, 10, 0, tzinfo=timezone.utc)),
        ("$time_iso8601 $status", "2024-03-03T19:00:00-05:00 200", datetime(2024, 3, 4, 0, 0, tzinfo=timezone.utc)),
        ("$msec $status", "1709546400.123 200", datetime(2024, 3, 4, 10, 0, 0, 123000, tzinfo=timezone.utc)),
        ("[$time_local] $status", "[04/Mar/2024:03:00:00 -0700] 200", datetime(2024, 3, 4, 10, 0, tzinfo=timezone.utc)),
        # $msec wins when several time variables are logged: it has milliseconds
        ('$time_iso8601 $msec "$time_local" $status', "2024-03-04T12:00:00+02:00 1709546400.007 \"04/Mar/2024:11:00:00 +0100\" 200",
         datetime(2024, 3, 4, 10, 0, 0, 7000, tzinfo=timezone.utc)),
    ],
)
def test_time_variables_with_offsets_become_utc(log_format, line, expected):
    row = _one(compile_nginx_log_format(log_format), line)
    assert row["reject_reason"] is None
    assert row["ts"] == expected
    assert row["ts"].utcoffset() == timedelta(0)


def test_request_parts_when_request_is_absent():
    fmt = compile_nginx_log_format('$msec $status $request_method $scheme://${host}${request_uri} $server_protocol')
    row = _one(fmt, "1709546400.000 204 DELETE https://api.example.com/v1/x?y=2 HTTP/1.1")
    assert (row["method"], row["host"], row["path"], row["query"], row["protocol"], row["tls"]) == (
        "DELETE", "api.example.com", "/v1/x", "y=2", "HTTP/1.1", True)
    fmt = compile_nginx_log_format('$msec $status "$uri" $args $http_host')
    row = _one(fmt, '1709546400.000 200 "/a b" x=1 example.com:8443')
    assert (row["path"], row["query"], row["host"]) == ("/a b", "x=1", "example.com")
    row = _one(fmt, '1709546400.000 200 "/" - [::1]:8443')
    assert (row["path"], row["query"], row["host"]) == ("/", None, "::1")
    row = _one(fmt, '1709546400.000 200 "/" - 2001:db8::7')  # a bare IPv6 address has no port to strip
    assert row["host"] == "2001:db8::7"


def test_unknown_variables_are_matched_and_ignored():
    fmt = compile_nginx_log_format('$remote_addr [$time_local] $status $connection "$http_x_custom" $geoip_country_name|$pipe')
    row = _one(fmt, '10.0.0.1 [04/Mar/2024:10:00:00 +0000] 200 1234 "a b c" United States|p')
    assert row["reject_reason"] is None
    assert (row["client_ip"], row["status"]) == ("10.0.0.1", 200)


@pytest.mark.parametrize(
    ("log_format", "message"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("$remote_addr [$time_local]", "no $status"),
        ("$remote_addr $status $request", "no time variable"),
        ("[$time_local] $status ${host", "unbalanced"),
        ("[$time_local] $status ${}", "invalid variable name"),
        ("[$time_local] $status ${bad-name}", "invalid variable name"),
        ("[$time_local] $status $ $host", "not followed by a variable name"),
        ("[$time_local] $status cost: 5$", "not followed by a variable name"),
        ("[$time_local] $status\n$request\n", "line break"),
    ],
)
def test_bad_formats_raise_config_error(log_format, message):
    with pytest.raises(ConfigError, match=message.replace("$", r"\$")) as exc:
        compile_nginx_log_format(log_format)
    assert "\n" not in str(exc.value)


# --- property: random formats, values as nginx writes them, everything round-trips -----------

_BASE = datetime(2020, 1, 1, tzinfo=timezone.utc)
_token = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._~-", min_size=1, max_size=12)
# A free-text value as nginx writes it: printable ASCII, '"' and '\' escaped as \xHH.
_free = st.lists(
    st.one_of(st.characters(min_codepoint=32, max_codepoint=126, exclude_characters='"\\'), st.sampled_from(["\\x22", "\\x5C"])),
    max_size=40,
).map("".join).filter(lambda s: s not in ("", "-"))
_ipv4 = st.tuples(*[st.integers(0, 255)] * 4).map(lambda t: ".".join(map(str, t)))
_ipv6 = st.lists(st.integers(0, 0xFFFF), min_size=2, max_size=4).map(lambda xs: "2001:db8::" + ":".join(f"{x:x}" for x in xs))
_ip = st.one_of(_ipv4, _ipv6)
_addr = st.tuples(_ip, st.integers(1, 65535)).map(lambda t: f"[{t[0]}]:{t[1]}" if ":" in t[0] else f"{t[0]}:{t[1]}")
_hostname = st.lists(st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=8), min_size=1, max_size=3).map(".".join)
_path = st.lists(_token, max_size=3).map(lambda xs: "/" + "/".join(xs))
_query = st.one_of(st.none(), st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789=&%+-_.", max_size=15))
_method = st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "PROPFIND"])
_proto = st.sampled_from(["HTTP/1.0", "HTTP/1.1", "HTTP/2.0"])


def _list_of(item):
    """An $upstream_* value: one item, retries 'a, b', internal redirects 'a : b', or '-'."""
    return st.one_of(
        st.just("-"),
        st.lists(item, min_size=1, max_size=3).flatmap(
            lambda xs: st.lists(st.sampled_from([", ", " : "]), min_size=len(xs) - 1, max_size=len(xs) - 1).map(
                lambda seps: xs[0] + "".join(s + x for s, x in zip(seps, xs[1:]))
            )
        ),
    )


# variable -> (strategy for its value, how it is written in a format: token, free, bracket)
_VARIABLES = {
    "remote_addr": (_ip, "token"),
    "remote_user": (st.one_of(st.just("-"), _token), "token"),
    "remote_port": (st.integers(1, 65535).map(str), "token"),
    "request": (st.tuples(_method, _path, _query, _proto), "free"),
    "request_method": (_method, "token"),
    "request_uri": (st.tuples(_path, _query), "token"),
    "uri": (_path, "token"),
    "args": (st.one_of(st.just("-"), st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789=&%+", min_size=1, max_size=15)), "token"),
    "server_protocol": (_proto, "token"),
    "status": (st.integers(100, 599).map(str), "token"),
    "body_bytes_sent": (st.integers(0, 10**10).map(str), "token"),
    "bytes_sent": (st.integers(0, 10**10).map(str), "token"),
    "request_length": (st.integers(0, 10**6).map(str), "token"),
    "request_time": (st.integers(0, 10**6).map(lambda ms: f"{ms / 1000:.3f}"), "token"),
    "http_referer": (st.one_of(st.just("-"), _free), "free"),
    "http_user_agent": (st.one_of(st.just("-"), _free), "free"),
    "http_x_forwarded_for": (st.one_of(st.just("-"), st.lists(_ip, min_size=1, max_size=3).map(", ".join)), "free"),
    "host": (_hostname, "token"),
    "http_host": (st.tuples(_hostname, st.one_of(st.none(), st.integers(1, 65535))), "token"),
    "server_name": (_hostname, "token"),
    "scheme": (st.sampled_from(["http", "https"]), "token"),
    "https": (st.sampled_from(["on", ""]), "free"),
    "ssl_protocol": (st.sampled_from(["-", "TLSv1.2", "TLSv1.3"]), "token"),
    "proxy_upstream_name": (st.one_of(st.just("-"), st.tuples(_token, _token, st.integers(1, 65535)).map(lambda t: f"{t[0]}-{t[1]}-{t[2]}")), "bracket"),
    "upstream_addr": (_list_of(_addr), "token"),
    "upstream_status": (_list_of(st.integers(100, 599).map(str)), "token"),
    "upstream_response_time": (_list_of(st.integers(0, 9999).map(lambda ms: f"{ms / 1000:.3f}")), "token"),
    "req_id": (st.binary(min_size=16, max_size=16).map(bytes.hex), "token"),
    "request_id": (st.binary(min_size=16, max_size=16).map(bytes.hex), "token"),
    "connection": (st.integers(1, 10**6).map(str), "token"),
    "sent_http_content_type": (st.one_of(st.just("-"), _free), "free"),
    "cookie_session": (st.one_of(st.just("-"), _token), "token"),
}
_TIMES = ["time_local", "time_iso8601", "msec"]
_SEPARATORS = [" ", " ", " - ", " | ", "\t", " :: "]


def _render_time(var: str, instant: datetime, offset_minutes: int) -> str:
    local = instant.astimezone(timezone(timedelta(minutes=offset_minutes)))
    sign = "+" if offset_minutes >= 0 else "-"
    hh, mm = divmod(abs(offset_minutes), 60)
    if var == "time_local":
        return local.strftime("%d/%b/%Y:%H:%M:%S ") + f"{sign}{hh:02d}{mm:02d}"
    if var == "time_iso8601":
        return local.strftime("%Y-%m-%dT%H:%M:%S") + f"{sign}{hh:02d}:{mm:02d}"
    return f"{int(instant.timestamp())}.{instant.microsecond // 1000:03d}"


@st.composite
def _format_and_records(draw):
    others = draw(st.lists(st.sampled_from(sorted(set(_VARIABLES) - {"status"})), unique=True, max_size=12))
    times = draw(st.lists(st.sampled_from(_TIMES), unique=True, min_size=1, max_size=3))
    variables = draw(st.permutations(["status", *times, *others]))
    elements = []
    for var in variables:
        kind = "bracket" if var == "time_local" else _VARIABLES[var][1] if var in _VARIABLES else "token"
        if kind == "token" and draw(st.integers(0, 4)) == 0:
            kind = draw(st.sampled_from(["free", "bracket"]))  # tokens may be quoted or bracketed too
        if kind == "free" or (var == "time_local" and draw(st.booleans())):
            elements.append(f'"${var}"')
        elif kind == "bracket":
            elements.append(f"[${var}]" if draw(st.booleans()) else f"[${{{var}}}]")
        else:
            elements.append(f"${var}" if draw(st.booleans()) else f"${{{var}}}")
    seps = [draw(st.sampled_from(_SEPARATORS)) for _ in elements[1:]]
    log_format = elements[0] + "".join(s + e for s, e in zip(seps, elements[1:]))
    records = []
    for _ in range(draw(st.integers(1, 4))):
        instant = _BASE + timedelta(milliseconds=draw(st.integers(0, 10 * 365 * 86400 * 1000)))
        offset = draw(st.sampled_from([0, 60, -300, 330, 345, -720, 840]))
        values = {}
        for var in variables:
            values[var] = _render_time(var, instant, offset) if var in _TIMES else draw(_VARIABLES[var][0])
        records.append((instant, values))
    return log_format, variables, records


def _as_written(var, value):
    if var == "request":
        method, path, query, proto = value
        return f"{method} {path}{'' if query is None else '?' + query} {proto}"
    if var == "request_uri":
        path, query = value
        return f"{path}{'' if query is None else '?' + query}"
    if var == "http_host":
        host, port = value
        return host if port is None else f"{host}:{port}"
    return value


def _expected(variables, instant, values):
    v = values
    none_dash = lambda x: None if x in ("-", "") else x  # noqa: E731
    has = set(variables)
    exp = {"status": int(v["status"])}
    exp["ts"] = instant if "msec" in has else instant.replace(microsecond=0)
    exp["client_ip"] = v.get("remote_addr")
    exp["remote_user"] = none_dash(v["remote_user"]) if "remote_user" in has else None
    if "request" in has:
        method, path, query, proto = v["request"]
        exp.update(method=method, path=path, query=query, protocol=proto)
    else:
        exp["method"] = v.get("request_method")
        exp["protocol"] = v.get("server_protocol")
        if "request_uri" in has:
            exp["path"], exp["query"] = v["request_uri"]
        else:
            exp["path"] = v.get("uri")
            exp["query"] = none_dash(v["args"]) if "args" in has else None
    exp["bytes_sent"] = int(v["body_bytes_sent"]) if "body_bytes_sent" in has else int(v["bytes_sent"]) if "bytes_sent" in has else None
    exp["request_length"] = int(v["request_length"]) if "request_length" in has else None
    exp["duration_s"] = float(v["request_time"]) if "request_time" in has else None
    exp["referer"] = none_dash(v["http_referer"]) if "http_referer" in has else None
    exp["user_agent"] = none_dash(v["http_user_agent"]) if "http_user_agent" in has else None
    exp["forwarded_for"] = none_dash(v["http_x_forwarded_for"]) if "http_x_forwarded_for" in has else None
    exp["host"] = v["host"] if "host" in has else v["http_host"][0] if "http_host" in has else v.get("server_name")
    exp["upstream"] = none_dash(v["proxy_upstream_name"]) if "proxy_upstream_name" in has else None
    for col in ("upstream_addr", "upstream_status"):
        exp[col] = none_dash(v[col].replace(" : ", ", ")) if col in has else None
    exp["request_id"] = v["req_id"] if "req_id" in has else v.get("request_id")
    if "scheme" in has:
        exp["tls"] = v["scheme"] == "https"
    elif "https" in has:
        exp["tls"] = v["https"] == "on"
    elif "ssl_protocol" in has:
        exp["tls"] = v["ssl_protocol"] != "-"
    else:
        exp["tls"] = None
    return exp


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_format_and_records())
def test_random_formats_round_trip(case):
    log_format, variables, records = case
    fmt = compile_nginx_log_format(log_format)
    lines = [_render(log_format, values) for _, values in records]
    rows = formats.parse_lines(fmt, lines)
    assert len(rows) == len(lines)
    for row, (instant, values) in zip(rows, records):
        assert row["reject_reason"] is None, (log_format, row["text"], fmt.sql)
        expected = _expected(variables, instant, values)
        got = {k: row[k] for k in expected}
        assert got == expected, (log_format, row["text"])


def _render(log_format: str, values: dict) -> str:
    """Write a line as nginx would: each $var / ${var} replaced by its value, in one pass."""
    return re.sub(
        r"\$\{(\w+)\}|\$(\w+)",
        lambda m: _as_written(m.group(1) or m.group(2), values[m.group(1) or m.group(2)]),
        log_format,
    )


@settings(max_examples=40, deadline=None)
@given(_format_and_records(), st.sampled_from(["garbage", "#", "x y z", "{}", "I0304 10:15:02.123456 7 main.go:1] hi"]))
def test_random_formats_reject_lines_that_do_not_fit(case, junk):
    log_format, _, records = case
    fmt = compile_nginx_log_format(log_format)
    values = dict(records[0][1], status="abc")
    rows = formats.parse_lines(fmt, [junk, _render(log_format, values)])
    # (an unquoted free-text variable may swallow almost anything, so only "rejected" is certain)
    assert rows[0]["reject_reason"] is not None
    assert rows[1]["reject_reason"] in (NO_MATCH, "unreadable $status")


# --- ingress-nginx with a JSON log-format-upstream -------------------------------------------

# The JSON example of ingress-nginx's log-format documentation, with nginx's escape=json output.
DOCS_JSON = (
    '{{"time": "{time}", "remote_addr": "{addr}", "x_forwarded_for": "{xff}", "request_id": "{rid}", '
    '"remote_user": "{user}", "bytes_sent": {bytes}, "request_time": {rt}, "status": {status}, "vhost": "{host}", '
    '"request_proto": "HTTP/2.0", "path": "{path}", "request_query": "{query}", "request_length": {rl}, '
    '"duration": {rt}, "method": "GET", "http_referrer": "{ref}", "http_user_agent": "{ua}"}}'
)


def test_nginx_json_default_mapping_of_the_documented_example():
    line = DOCS_JSON.format(time="2024-03-04T11:00:00+01:00", addr="203.0.113.7", xff="203.0.113.7, 10.0.0.1", rid="f00d",
                            user="-", bytes=512, rt=0.25, status=403, host="shop.example.com", path="/admin", query="a=1",
                            rl=321, ref="", ua='curl \\"8\\"')
    row = _one(nginx_json_format({}), line)
    assert row["reject_reason"] is None
    assert row["ts"] == datetime(2024, 3, 4, 10, 0, tzinfo=timezone.utc)
    assert (row["client_ip"], row["forwarded_for"], row["request_id"], row["remote_user"]) == (
        "203.0.113.7", "203.0.113.7, 10.0.0.1", "f00d", None)
    assert (row["bytes_sent"], row["duration_s"], row["status"], row["host"], row["protocol"]) == (512, 0.25, 403, "shop.example.com", "HTTP/2.0")
    assert (row["method"], row["path"], row["query"], row["request_length"]) == ("GET", "/admin", "a=1", 321)
    assert (row["referer"], row["user_agent"]) == (None, 'curl "8"')
    assert nginx_json_format({}).kind == "nginx-json"


def test_nginx_json_custom_keys_strings_numbers_and_dashes():
    fmt = nginx_json_format({"ts": "@t", "client_ip": "client", "status": "code", "request": "req", "host": "h",
                             "bytes_sent": "size", "duration_s": "took", "tls": "proto_tls", "upstream_addr": "ups"},
                            kind="edge-json")
    assert fmt.kind == "edge-json"
    lines = [
        '{"@t": "1709546400.250", "client": "::1", "code": "200", "req": "POST /x?y=1 HTTP/1.1", "h": "Example.com:443",'
        ' "size": "-", "took": "", "proto_tls": "TLSv1.3", "ups": "10.0.0.1:80 : 10.0.0.2:80"}',
        '{"@t": 1709546400.25, "client": "10.0.0.1", "code": 200, "req": "GET / HTTP/1.1", "size": 42, "took": 0.5, "proto_tls": "-"}',
        '{"@t": "04/Mar/2024:10:00:00 +0000", "code": 500, "status": "ignored: not the configured key"}',
    ]
    a, b, c = formats.parse_lines(fmt, lines)
    assert a["reject_reason"] is None and b["reject_reason"] is None and c["reject_reason"] is None
    assert a["ts"] == b["ts"] == datetime(2024, 3, 4, 10, 0, 0, 250000, tzinfo=timezone.utc)
    assert (a["client_ip"], a["status"], a["method"], a["path"], a["query"], a["protocol"]) == ("::1", 200, "POST", "/x", "y=1", "HTTP/1.1")
    assert (a["host"], a["bytes_sent"], a["duration_s"], a["tls"], a["upstream_addr"]) == ("Example.com", None, None, True, "10.0.0.1:80, 10.0.0.2:80")
    assert (b["status"], b["bytes_sent"], b["duration_s"], b["tls"], b["query"]) == (200, 42, 0.5, False, None)
    assert (c["ts"], c["status"], c["client_ip"]) == (datetime(2024, 3, 4, 10, 0, tzinfo=timezone.utc), 500, None)


def test_nginx_json_rejects_with_reasons():
    fmt = nginx_json_format({})
    lines = [
        '{"time": "2024-03-04T10:00:00+00:00", "status": 200, "http_user_agent": "a \\x22b\\x22"}',  # escape=default
        "plain text",
        '{"time": "2024-03-04T10:00:00+00:00"}',
        '{"status": 200}',
        '{"time": "soon", "status": 200}',
        '{"time": "2024-03-04T10:00:00+00:00", "status": "OK"}',
        "",
        '{"time": "2024-03-04T10:00:00+00:00", "status": 200}',
    ]
    rows = formats.parse_lines(fmt, lines)
    reasons = [r["reject_reason"] for r in rows]
    assert [r["line"] for r in rows] == [1, 2, 3, 4, 5, 6, 8]
    assert "log-format-escape-json" in reasons[0]
    assert reasons[1] == "not a JSON line: nginx JSON access log expected"
    assert reasons[2].startswith("JSON without the status key")
    assert reasons[3].startswith("JSON without the time key")
    assert reasons[4] == "unreadable time: soon"
    assert reasons[5] == "unreadable status: OK"
    assert reasons[6] is None


@pytest.mark.parametrize("fields", [{"timestamp": "t"}, {"status": ""}, {"status": 3}])
def test_nginx_json_bad_mapping_is_config_error(fields):
    with pytest.raises(ConfigError):
        nginx_json_format(fields)


def test_nginx_json_keys_with_odd_characters():
    fmt = nginx_json_format({"ts": "time's", "status": 'st"at', "user_agent": "user-agent.raw"})
    row = _one(fmt, json.dumps({"time's": "2024-03-04T10:00:00Z", 'st"at': 201, "user-agent.raw": "ua"}))
    assert (row["reject_reason"], row["status"], row["user_agent"]) == (None, 201, "ua")


@pytest.mark.parametrize(
    "fmt",
    [
        compile_nginx_log_format(DEFAULT + ' $host $scheme "$http_x_forwarded_for" $ssl_protocol $msec $time_iso8601'),
        compile_nginx_log_format("$msec $status $request_method $request_uri $server_protocol $https"),
        nginx_json_format({}),
    ],
    ids=["compiled-full", "compiled-parts", "json"],
)
def test_output_columns_and_types_follow_the_schema(fmt):
    con = duckdb.connect()
    con.execute("CREATE TEMP TABLE raw (line BIGINT, text VARCHAR)")
    described = {name: typ for name, typ, *_ in con.execute(f"DESCRIBE SELECT * FROM ({fmt.sql})").fetchall()}
    aliases = {"TIMESTAMPTZ": "TIMESTAMP WITH TIME ZONE"}
    expected = {c.name: aliases.get(c.type, c.type) for c in schema.HTTP_REQUESTS.columns if c.name in fmt.fields}
    assert list(described) == ["line", "text", "reject_reason", *fmt.fields]
    assert {k: described[k] for k in expected} == expected
