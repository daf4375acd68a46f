"""Secrets and client addresses out of finding rows (findings.json and the report).

Pure functions, applied once where finding rows are made (controls.py) and to the report
queries' rows (pipeline.py); the normalized tables engineers query keep the raw values.

- `redact_secrets`: the value of a sensitive query parameter (`token`, `code`, `sig`,
  `X-Amz-Signature` …) becomes `REDACTED`, wherever a URL's query appears in a value: the
  `query` column (a bare query string), request paths and URIs, referers, the Kubernetes
  audit `request_uri`, sample path lists and raw log lines (`?name=` or `&name=`).
- `mask_ips`: every IPv4 address keeps its /24 (`203.0.113.x`), every IPv6 address its /48
  (`2001:db8:1::x`); the masked forms are not addresses, so masking twice changes nothing.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import unquote

REDACTED = "REDACTED"
SENSITIVE_PARAMS = frozenset(p.lower() for p in (
    "token", "access_token", "id_token", "refresh_token", "code", "password", "passwd", "secret",
    "client_secret", "api_key", "apikey", "key", "sig", "signature", "X-Amz-Signature",
    "X-Amz-Credential", "X-Goog-Signature", "auth", "session",
))
QUERY_COLUMNS = frozenset({"query"})  # columns holding a bare query string (no `?`)

# name=value after ? or & (or ; as some servers split on it); the value ends where a URL's
# query does in a log line: &, #, whitespace, a quote or an angle bracket
_PARAM = re.compile(r"(?P<pre>[?&;])(?P<name>[^=&#?;\s\"'<>]+)=(?P<value>[^&#;\s\"'<>]*)")
_IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?!\w|\.\d)")
_IPV6 = re.compile(r"(?<![\w:.])(?=[0-9A-Fa-f]*:[0-9A-Fa-f]*:)[0-9A-Fa-f:]+(?![\w:]|\.\d)")


def redact_query_params(text: str) -> str:
    """`text` with the values of sensitive query parameters replaced by REDACTED."""
    if "=" not in text:
        return text
    return _PARAM.sub(_redact_match, text)


def _redact_match(m: re.Match) -> str:
    if not m["value"] or unquote(m["name"]).lower() not in SENSITIVE_PARAMS:
        return m[0]
    return f"{m['pre']}{m['name']}={REDACTED}"


def redact_secrets(row: dict) -> dict:
    """A finding row with every sensitive query parameter's value redacted (a new dict)."""
    return {k: _redact_value(v, bare_query=k in QUERY_COLUMNS) for k, v in row.items()}


def _redact_value(value, bare_query: bool = False):
    if isinstance(value, str):
        if bare_query:
            return redact_query_params("?" + value)[1:]
        return redact_query_params(value)
    if isinstance(value, list):
        return [_redact_value(v, bare_query) for v in value]
    if isinstance(value, dict):
        return {k: _redact_value(v, k in QUERY_COLUMNS) for k, v in value.items()}
    return value


def mask_ip(address: str) -> str:
    """One address masked (203.0.113.7 -> 203.0.113.x, 2001:db8:1:2::7 -> 2001:db8:1::x);
    anything that is not an address is returned as it is."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if ip.version == 4:
        return address.rsplit(".", 1)[0] + ".x"
    if ip.ipv4_mapped is not None:
        return "::ffff:" + mask_ip(str(ip.ipv4_mapped))
    network = ipaddress.ip_network(f"{ip}/48", strict=False).network_address.compressed
    return network + ("x" if network.endswith("::") else "::x")


def mask_ips(text: str) -> str:
    """Every IPv4 and IPv6 address in `text` masked (a lone address, a list, free text)."""
    if "." in text:
        text = _IPV4.sub(lambda m: mask_ip(m[0]), text)
    if ":" in text:
        text = _IPV6.sub(lambda m: mask_ip(m[0]), text)
    return text


def mask_row(row: dict) -> dict:
    """A row with the addresses in every text value masked: client_ip, client, source_ip(s),
    real_ip, forwarded_for, and those named in resource, reason or a raw log line."""
    return {k: _mask_value(v) for k, v in row.items()}


def _mask_value(value):
    if isinstance(value, str):
        return mask_ips(value)
    if isinstance(value, list):
        return [_mask_value(v) for v in value]
    if isinstance(value, dict):
        return {k: _mask_value(v) for k, v in value.items()}
    return value
