"""User-defined nginx access-log formats, compiled into a Format's SQL (see formats.py).

- `compile_nginx_log_format(log_format)`: any nginx `log_format` string (ingress-nginx users set
  it as `log-format-upstream`) becomes one anchored RE2 pattern with a capture group per
  variable, applied with ONE `regexp_extract(text, pattern, [names])` per line (a STRUCT), then
  mapped onto the http_requests columns.
- `nginx_json_format(fields)`: ingress-nginx with a JSON `log-format-upstream`; each line is
  parsed once with `from_json` into a STRUCT of the JSON keys the user chose.

What nginx writes, and so what the patterns rely on: a variable that is not set (or not found)
is written as `-`; with the default `escape=default`, `"`, `\\` and control or non-ASCII bytes
are written as `\\xHH`, so a value never contains a raw `"`; values are otherwise not escaped,
so headers, `$remote_user` and `$uri` (decoded) may contain spaces; `$upstream_*` variables
are lists: `a, b` for retries and `a : b` across internal redirects.

Both functions raise ConfigError (a one-line message) for a format that cannot produce a
usable record; lines that do not fit go to rejects with a reason, as for every format.
"""

from __future__ import annotations

import json
import re
import string
from dataclasses import dataclass

from .errors import ConfigError
from .formats import Format

TIME_VARIABLES = ("msec", "time_iso8601", "time_local")

# Variables whose value never contains whitespace.
_TOKEN_VARIABLES = frozenset(
    {
        "remote_addr", "realip_remote_addr", "proxy_protocol_addr", "remote_port",
        "realip_remote_port", "proxy_protocol_port", "binary_remote_addr", "status",
        "body_bytes_sent", "bytes_sent", "request_length", "request_time", "msec",
        "time_iso8601", "scheme", "https", "host", "http_host", "server_name", "server_addr",
        "server_port", "server_protocol", "request_method", "request_uri", "args",
        "query_string", "is_args", "req_id", "request_id", "ssl_protocol",
        "ssl_cipher", "ssl_session_reused", "ssl_server_name", "connection",
        "connection_requests", "pipe", "proxy_upstream_name", "proxy_alternative_upstream_name",
        "namespace", "ingress_name", "service_name", "service_port", "pid", "hostname",
        "nginx_version", "content_length", "request_completion",
    }
)
# Host-like variables never contain '/': lets `$host$request_uri` split where the path starts.
_HOST_VARIABLES = frozenset({"host", "http_host", "server_name", "ssl_server_name", "remote_addr"})


def _is_list_variable(name: str) -> bool:
    # $upstream_addr, $upstream_status, $upstream_response_time … but not $upstream_http_<h>
    # (a response header of the last upstream: free text).
    return name.startswith("upstream_") and not name.startswith(("upstream_http_", "upstream_cookie_", "upstream_trailer_"))


@dataclass(frozen=True)
class _Token:
    literal: str | None = None  # a literal run of text, or
    variable: str | None = None  # a variable name (without $ and braces)


_NAME = re.compile(r"[A-Za-z0-9_]+")


def _tokenize(log_format: str) -> list[_Token]:
    tokens: list[_Token] = []
    literal: list[str] = []
    i, n = 0, len(log_format)
    while i < n:
        c = log_format[i]
        if c != "$":
            literal.append(c)
            i += 1
            continue
        if log_format.startswith("${", i):
            end = log_format.find("}", i + 2)
            if end < 0:
                raise ConfigError(f"nginx log_format: unbalanced '${{' at character {i + 1}: {log_format[i:i + 30]!r}")
            name = log_format[i + 2 : end]
            if not _NAME.fullmatch(name):
                raise ConfigError(f"nginx log_format: invalid variable name '${{{name}}}' at character {i + 1}")
            i = end + 1
        else:
            m = _NAME.match(log_format, i + 1)
            if not m:
                raise ConfigError(f"nginx log_format: '$' not followed by a variable name at character {i + 1}: {log_format[i:i + 20]!r}")
            name = m.group(0)
            i = m.end()
        if literal:
            tokens.append(_Token(literal="".join(literal)))
            literal = []
        tokens.append(_Token(variable=name))
    if literal:
        tokens.append(_Token(literal="".join(literal)))
    return tokens


def _re_literal(text: str) -> str:
    """RE2-escape a literal: a backslash before every ASCII punctuation character (RE2 reads
    those as themselves); letters, digits, spaces, tabs and non-ASCII stay as they are."""
    return "".join("\\" + c if c in string.punctuation else c for c in text)


def _sql_string(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def _comment(s: str) -> str:
    """Text safe inside a SQL `--` comment: one line."""
    return " ".join(str(s).split())


def _sql_ident(s: str) -> str:
    return '"' + s.replace('"', '""') + '"'


def _variable_pattern(name: str, quoted: bool, next_char: str | None, next_is_variable: bool) -> str:
    """The RE2 sub-pattern for one variable, from what can (not) appear in its value."""
    if name == "status":
        # Never empty: a match implies a non-empty status group (the "did it match" flag).
        return '[^"]+' if quoted else r"\S+"
    if quoted:
        return '[^"]*'  # nginx writes '"' inside a value as \x22
    if name == "time_local":  # "07/Feb/2020:11:48:51 +0000": one space inside
        return r"[^\]]*" if next_char == "]" else r"\S+ [+-]\d{4}"
    if _is_list_variable(name):
        return r"[^ ,]*(?:(?:, | : )[^ ,]*)*"
    if name in _HOST_VARIABLES and next_is_variable:
        return r"[^\s/]*"
    if name in _TOKEN_VARIABLES:
        return r"\S*"
    # Headers, cookies, $remote_user, $uri, $request and unknown variables may hold spaces:
    # take the shortest run that lets the rest of the (anchored) line match.
    return ".*?"


@dataclass(frozen=True)
class _Compiled:
    pattern: str
    groups: list[str]  # struct field name per capture group, in order
    first: dict[str, str]  # variable -> struct field of its first occurrence


def _compile_pattern(tokens: list[_Token]) -> _Compiled:
    parts = ["^"]
    groups: list[str] = []
    first: dict[str, str] = {}
    in_quotes = False
    for k, tok in enumerate(tokens):
        if tok.literal is not None:
            parts.append(_re_literal(tok.literal))
            in_quotes ^= tok.literal.count('"') % 2 == 1
            continue
        name = tok.variable.lower()
        nxt = tokens[k + 1] if k + 1 < len(tokens) else None
        next_char = nxt.literal[0] if nxt is not None and nxt.literal else None
        pattern = _variable_pattern(name, in_quotes, next_char, nxt is not None and nxt.variable is not None)
        field = f"v{len(groups)}_{name}"
        groups.append(field)
        first.setdefault(name, field)
        parts.append(f"({pattern})")
    parts.append("$")
    return _Compiled("".join(parts), groups, first)


def _strip_port(expr: str) -> str:
    """SQL: a host or host:port (IPv6 in brackets) without the port; '-' and '' -> NULL."""
    return (
        f"CASE WHEN {expr} IN ('-', '') THEN NULL "
        f"WHEN {expr}[1] = '[' THEN {expr}[2 : strpos({expr}, ']') - 1] "
        f"WHEN {expr} LIKE '%:%:%' THEN {expr} "
        f"ELSE split_part({expr}, ':', 1) END"
    )


def _dash_null(expr: str) -> str:
    return f"CASE WHEN {expr} NOT IN ('-', '') THEN {expr} END"


def _list_value(expr: str) -> str:
    # Retries are "a, b"; internal redirects "a : b": both become one comma-separated list.
    return f"CASE WHEN {expr} NOT IN ('-', '') THEN replace({expr}, ' : ', ', ') END"


_TIME_SQL = {
    # $msec: seconds with milliseconds since the epoch ("1581076131.123"); to_timestamp rounds
    # the double to the exact millisecond (checked over 2 M values).
    "msec": "to_timestamp(try_cast({v} AS DOUBLE))",
    # $time_iso8601: "2020-02-07T12:48:51+01:00"; the offset is honoured, the result is UTC.
    "time_iso8601": "try_cast({v} AS TIMESTAMPTZ)",
    "time_local": "try_strptime({v}, '%d/%b/%Y:%H:%M:%S %z')",
}


def _tls_sql(scheme: str | None, https: str | None, ssl_protocol: str | None) -> str:
    options = []
    if scheme:
        options.append(f"CASE {scheme} WHEN 'https' THEN true WHEN 'http' THEN false END")
    if https:
        options.append(f"CASE {https} WHEN 'on' THEN true WHEN '' THEN false END")
    if ssl_protocol:
        if options:  # the others tell; $ssl_protocol only confirms TLS
            options.append(f"CASE WHEN {ssl_protocol} NOT IN ('-', '') THEN true END")
        else:
            options.append(f"{ssl_protocol} NOT IN ('-', '')")
    if not options:
        return "NULL::BOOLEAN"
    return options[0] if len(options) == 1 else f"coalesce({', '.join(options)})"


def _request_columns(request: str | None, method: str | None, target: str | None,
                     uri: str | None, args: str | None, protocol: str | None) -> dict[str, str]:
    """SQL for method, path, query, protocol from $request or its parts.

    With $request, the same expressions as queries/normalize/ingress_nginx.sql (a line compiled
    from the default format parses to the same rows as the built-in parser).
    """
    if request:
        return {
            "method": "nullif(req[1], '')",
            "path": "nullif(split_part(req[2], '?', 1), '')",
            "query": "CASE WHEN strpos(req[2], '?') > 0 THEN req[2][strpos(req[2], '?') + 1 :] END",
            "protocol": "req[3]",
        }
    cols = {
        "method": _dash_null(method) if method else "NULL::VARCHAR",
        "protocol": _dash_null(protocol) if protocol else "NULL::VARCHAR",
    }
    if target:  # $request_uri: the original target, path and query
        cols["path"] = f"CASE WHEN {target} <> '-' THEN nullif(split_part({target}, '?', 1), '') END"
        cols["query"] = f"CASE WHEN strpos({target}, '?') > 0 THEN {target}[strpos({target}, '?') + 1 :] END"
    else:
        cols["path"] = _dash_null(uri) if uri else "NULL::VARCHAR"
        cols["query"] = _dash_null(args) if args else "NULL::VARCHAR"
    return cols


def compile_nginx_log_format(log_format: str, kind: str = "nginx-custom") -> Format:
    """A Format for lines written by nginx with this `log_format` (default escaping)."""
    if not isinstance(log_format, str) or not log_format.strip():
        raise ConfigError("nginx log_format is empty")
    log_format = log_format.rstrip("\r\n")
    if "\n" in log_format or "\r" in log_format:
        raise ConfigError("nginx log_format contains a line break (a YAML '|' block?): use '>-' or one line, as nginx writes one line per request")
    tokens = _tokenize(log_format)
    names = {t.variable.lower() for t in tokens if t.variable}
    if not names & set(TIME_VARIABLES):
        raise ConfigError("nginx log_format has no time variable ($time_local, $time_iso8601 or $msec): records could not be placed in the period")
    if "status" not in names:
        raise ConfigError("nginx log_format has no $status: records would be useless to the controls")
    compiled = _compile_pattern(tokens)

    def v(name: str) -> str | None:
        field = compiled.first.get(name)
        return f"v.{_sql_ident(field)}" if field else None

    time_exprs = [_TIME_SQL[t].format(v=v(t)) for t in TIME_VARIABLES if v(t)]
    time_names = ", ".join(f"${t}" for t in TIME_VARIABLES if v(t))
    request = v("request")
    req = _request_columns(request, v("request_method"), v("request_uri"), v("uri") or v("document_uri"),
                           v("args") or v("query_string"), v("server_protocol"))
    host = next((v(h) for h in ("host", "http_host", "server_name") if v(h)), None)
    bytes_sent = v("body_bytes_sent") or v("bytes_sent")
    request_id = v("req_id") or v("request_id")

    def col(expr: str | None, sql: str, null_type: str = "VARCHAR") -> str:
        return sql.format(x=expr) if expr else f"NULL::{null_type}"

    columns = {
        "ts": time_exprs[0] if len(time_exprs) == 1 else f"coalesce({', '.join(time_exprs)})",
        "client_ip": col(v("remote_addr"), "{x}"),
        "remote_user": col(v("remote_user"), _dash_null("{x}")),
        "method": req["method"],
        "host": _strip_port(host) if host else "NULL::VARCHAR",
        "path": req["path"],
        "query": req["query"],
        "protocol": req["protocol"],
        "status": f"try_cast({v('status')} AS INTEGER)",
        "bytes_sent": col(bytes_sent, "try_cast({x} AS BIGINT)", "BIGINT"),
        "request_length": col(v("request_length"), "try_cast({x} AS BIGINT)", "BIGINT"),
        "duration_s": col(v("request_time"), "try_cast({x} AS DOUBLE)", "DOUBLE"),
        "referer": col(v("http_referer"), "nullif({x}, '-')"),
        "user_agent": col(v("http_user_agent"), "nullif({x}, '-')"),
        "upstream": col(v("proxy_upstream_name"), _dash_null("{x}")),
        "upstream_addr": col(v("upstream_addr"), _list_value("{x}")),
        "upstream_status": col(v("upstream_status"), _list_value("{x}")),
        "request_id": col(request_id, _dash_null("{x}")),
        "tls": _tls_sql(v("scheme"), v("https"), v("ssl_protocol")),
        "forwarded_for": col(v("http_x_forwarded_for"), _dash_null("{x}")),
    }
    names_sql = ", ".join(_sql_string(g) for g in compiled.groups)
    select_cols = ",\n        ".join(f"{expr} AS {name}" for name, expr in columns.items())
    sql = f"""-- Compiled from the nginx log_format (source_kind {_comment(kind)}):
--   {_comment(log_format)}
-- One anchored RE2 pattern, one capture group per variable, applied once per line.
WITH extracted AS (
    SELECT
        line,
        text,
        regexp_extract(text, {_sql_string(compiled.pattern)}, [{names_sql}]) AS v
    FROM raw
),
requested AS (
    SELECT
        *,
        {"string_split(" + request + ", ' ')" if request else "NULL::VARCHAR[]"} AS req
    FROM extracted
),
fields AS (
    SELECT
        line,
        text,
        -- $status matches at least one character: empty means the line did not match.
        {v('status')} <> '' AS matched,
        {select_cols}
    FROM requested
)
SELECT
    line,
    text,
    CASE
        WHEN NOT matched THEN 'does not match the configured log_format'
        WHEN ts IS NULL THEN {_sql_string('unreadable ' + time_names)}
        WHEN status IS NULL THEN 'unreadable $status'
    END AS reject_reason,
    {", ".join(columns)}
FROM fields
"""
    return Format(kind=kind, table="http_requests", sql=sql)


# --- ingress-nginx with a JSON log-format-upstream -------------------------------------------

# Our column (or a part of the request) -> the JSON keys tried when the user names none: the
# nginx variable names, and the keys of the JSON example in ingress-nginx's documentation.
_JSON_DEFAULT_KEYS: dict[str, tuple[str, ...]] = {
    "ts": ("time_iso8601", "time", "timestamp", "@timestamp", "time_local", "msec"),
    "client_ip": ("remote_addr", "client_ip", "proxy_protocol_addr"),
    "remote_user": ("remote_user",),
    "request": ("request",),
    "method": ("request_method", "method"),
    "path": ("request_uri", "uri", "path"),
    "query": ("args", "query_string", "request_query"),
    "protocol": ("server_protocol", "request_proto", "protocol"),
    "status": ("status",),
    "bytes_sent": ("body_bytes_sent", "bytes_sent"),
    "request_length": ("request_length",),
    "duration_s": ("request_time", "duration"),
    "referer": ("http_referer", "http_referrer", "referer"),
    "user_agent": ("http_user_agent", "user_agent"),
    "host": ("host", "http_host", "vhost", "server_name"),
    "upstream": ("proxy_upstream_name", "upstream_name"),
    "upstream_addr": ("upstream_addr",),
    "upstream_status": ("upstream_status",),
    "request_id": ("req_id", "request_id"),
    "tls": ("scheme", "https", "ssl_protocol"),
    "forwarded_for": ("http_x_forwarded_for", "x_forwarded_for", "proxy_add_x_forwarded_for"),
}
JSON_FIELD_NAMES = tuple(_JSON_DEFAULT_KEYS)


def nginx_json_format(fields: dict[str, str] | None = None, kind: str = "nginx-json") -> Format:
    """A Format for ingress-nginx JSON access logs.

    `fields` maps our names (the http_requests columns, plus `request` for the whole request
    line; `path` may name `$request_uri` or `$uri`, the query is split off) to the JSON keys of
    the user's log-format-upstream. Columns not named fall back to the keys nginx's variable
    names suggest (`_JSON_DEFAULT_KEYS`). Numbers may be JSON numbers or strings; '-' and ''
    mean NULL. `ts` may hold an ISO 8601 time, a $time_local or a $msec value.
    """
    fields = dict(fields or {})
    unknown = sorted(set(fields) - set(_JSON_DEFAULT_KEYS))
    if unknown:
        raise ConfigError(f"nginx JSON log format: unknown field(s) {', '.join(unknown)} (known: {', '.join(JSON_FIELD_NAMES)})")
    for name, key in fields.items():
        if not isinstance(key, str) or not key:
            raise ConfigError(f"nginx JSON log format: the JSON key for {name} must be a non-empty string")
    keys_for = {name: ((fields[name],) if name in fields else defaults) for name, defaults in _JSON_DEFAULT_KEYS.items()}

    all_keys: list[str] = []
    for keys in keys_for.values():
        all_keys.extend(k for k in keys if k not in all_keys)
    struct_type = json.dumps({k: "VARCHAR" for k in all_keys})

    def val(name: str) -> str:
        """First non-empty, non-'-' value among the keys for this name (SQL)."""
        exprs = [f"CASE WHEN j.{_sql_ident(k)} NOT IN ('-', '') THEN j.{_sql_ident(k)} END" for k in keys_for[name]]
        return exprs[0] if len(exprs) == 1 else f"coalesce({', '.join(exprs)})"

    def raw(name: str) -> str:
        """The first of the keys present, as logged ('-' and '' kept: they mean something for tls)."""
        exprs = [f"j.{_sql_ident(k)}" for k in keys_for[name]]
        return exprs[0] if len(exprs) == 1 else f"coalesce({', '.join(exprs)})"

    status_keys = " or ".join(json.dumps(k) for k in keys_for["status"])
    time_keys = " or ".join(json.dumps(k) for k in keys_for["ts"])
    sql = f"""-- ingress-nginx with a JSON log-format-upstream (source_kind {_comment(kind)}).
-- Each line is parsed once into a STRUCT with from_json (keys case-sensitive, missing keys
-- NULL, numbers come back as their text); json_valid first, so that a line that is not JSON
-- gets a reason rather than failing the query.
WITH checked AS (
    SELECT
        line,
        text,
        json_valid(text) AS is_json
    FROM raw
),
parsed_json AS (
    SELECT
        line,
        text,
        is_json,
        CASE WHEN is_json THEN from_json(text, {_sql_string(struct_type)}) END AS j
    FROM checked
),
fields AS (
    SELECT
        line,
        text,
        is_json,
        {val('ts')} AS ts_text,
        {val('status')} AS status_text,
        {val('request')} AS request,
        {val('method')} AS method_value,
        {val('path')} AS target,
        {val('query')} AS query_value,
        {val('protocol')} AS protocol_value,
        {val('client_ip')} AS client_ip,
        {val('remote_user')} AS remote_user,
        {val('host')} AS host_value,
        {val('bytes_sent')} AS bytes_sent_text,
        {val('request_length')} AS request_length_text,
        {val('duration_s')} AS duration_text,
        {val('referer')} AS referer,
        {val('user_agent')} AS user_agent,
        {val('upstream')} AS upstream,
        {val('upstream_addr')} AS upstream_addr,
        {val('upstream_status')} AS upstream_status,
        {val('request_id')} AS request_id,
        lower({raw('tls')}) AS tls_value,
        {val('forwarded_for')} AS forwarded_for
    FROM parsed_json
),
parsed AS (
    SELECT
        *,
        string_split(request, ' ') AS req,
        -- ISO 8601 ($time_iso8601), else $time_local, else seconds since the epoch ($msec).
        coalesce(try_cast(ts_text AS TIMESTAMPTZ), try_strptime(ts_text, '%d/%b/%Y:%H:%M:%S %z'),
                 to_timestamp(try_cast(ts_text AS DOUBLE))) AS ts,
        try_cast(status_text AS INTEGER) AS status
    FROM fields
),
request_parts AS (
    SELECT
        *,
        coalesce(target, CASE WHEN len(req) >= 2 THEN req[2] END) AS uri
    FROM parsed
)
SELECT
    line,
    text,
    CASE
        WHEN NOT is_json AND text[1] = '{{' THEN 'not valid JSON (with a JSON log-format-upstream, set log-format-escape-json: "true")'
        WHEN NOT is_json THEN 'not a JSON line: nginx JSON access log expected'
        WHEN status_text IS NULL AND ts_text IS NULL THEN {_sql_string(f'JSON without the status and time keys ({status_keys}; {time_keys})')}
        WHEN status_text IS NULL THEN {_sql_string(f'JSON without the status key ({status_keys})')}
        WHEN ts_text IS NULL THEN {_sql_string(f'JSON without the time key ({time_keys})')}
        WHEN ts IS NULL THEN 'unreadable time: ' || ts_text
        WHEN status IS NULL THEN 'unreadable status: ' || status_text
    END AS reject_reason,
    ts,
    client_ip,
    remote_user,
    coalesce(method_value, nullif(req[1], '-')) AS method,
    CASE
        WHEN host_value[1] = '[' THEN host_value[2 : strpos(host_value, ']') - 1]
        WHEN host_value LIKE '%:%:%' THEN host_value
        ELSE split_part(host_value, ':', 1)
    END AS host,
    nullif(split_part(uri, '?', 1), '') AS path,
    coalesce(query_value, CASE WHEN strpos(uri, '?') > 0 THEN uri[strpos(uri, '?') + 1 :] END) AS query,
    coalesce(protocol_value, CASE WHEN len(req) >= 3 THEN req[3] END) AS protocol,
    status,
    try_cast(bytes_sent_text AS BIGINT) AS bytes_sent,
    try_cast(request_length_text AS BIGINT) AS request_length,
    try_cast(duration_text AS DOUBLE) AS duration_s,
    referer,
    user_agent,
    upstream,
    replace(upstream_addr, ' : ', ', ') AS upstream_addr,
    replace(upstream_status, ' : ', ', ') AS upstream_status,
    request_id,
    -- $scheme (https/http), $https (on/''), or $ssl_protocol (TLSv1.3/-), whichever is mapped.
    CASE
        WHEN tls_value IN ('https', 'on', 'wss') OR tls_value LIKE 'tls%' OR tls_value LIKE 'ssl%' THEN true
        WHEN tls_value IN ('http', 'ws', 'off', '', '-') THEN false
    END AS tls,
    forwarded_for
FROM request_parts
"""
    return Format(kind=kind, table="http_requests", sql=sql)
