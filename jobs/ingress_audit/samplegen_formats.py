"""Byte-exact renderers for the log formats the sample week is written in.

Each function turns one `Request` into the line the real software would write: ingress-nginx's
default `log-format-upstream`, the internal controller's custom `log_format`, Traefik's JSON
access log, and the AWS ALB access log. Timestamps are integer microseconds since the epoch (UTC).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import lru_cache

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

NGINX_DEFAULT_FORMAT = (
    '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" '
    '"$http_user_agent" $request_length $request_time [$proxy_upstream_name] '
    "[$proxy_alternative_upstream_name] $upstream_addr $upstream_response_length "
    "$upstream_response_time $upstream_status $req_id"
)
# The internal controller's log_format (the policy file carries the same string).
NGINX_INTERNAL_FORMAT = (
    NGINX_DEFAULT_FORMAT + ' $host $scheme "$http_x_forwarded_for" $ssl_protocol'
)
# That controller's clock is Europe/Berlin; the sample week lies in winter time.
INTERNAL_UTC_OFFSET_H = 1


@dataclass(frozen=True)
class Attempt:
    """One try at an upstream; nginx logs a list of these when it retries."""

    addr: str
    status: int
    length: int
    time_ms: int


@dataclass(slots=True)
class Request:
    end_us: int  # when the response finished: the time every controller logs
    client_ip: str
    method: str
    host: str
    uri: str  # path and query, as sent
    status: int
    bytes_sent: int
    request_length: int
    duration_ms: int
    user_agent: str = "-"
    referer: str = "-"
    protocol: str = "HTTP/1.1"
    remote_user: str = "-"
    upstream: str = ""  # namespace-service-port; empty when nginx answered before routing
    alt_upstream: str = ""  # set when a canary served the request
    attempts: tuple[Attempt, ...] = ()
    scheme: str = "https"
    tls_protocol: str = "TLSv1.3"
    forwarded_for: str = "-"
    req_id: str = ""
    raw_request: str | None = None  # a malformed request line, logged as received
    client_port: int = 0
    extra: dict | None = None  # per-format details (Traefik router and service, ALB trace ids)

    @property
    def start_us(self) -> int:
        return self.end_us - self.duration_ms * 1000


# --- time ------------------------------------------------------------------------------------

def utc(us: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(microseconds=us)


@lru_cache(maxsize=64)
def _nginx_date(epoch_day: int) -> str:
    t = utc(epoch_day * 86_400_000_000)
    return f"{t.day:02d}/{_MONTHS[t.month - 1]}/{t.year}:"


def nginx_time(us: int, offset_h: int = 0) -> str:
    """$time_local: `16/Nov/2026:10:02:03 +0000` in the controller's own offset."""
    epoch_day, second = divmod(us // 1_000_000 + offset_h * 3600, 86_400)
    hour, rest = divmod(second, 3600)
    sign = "+" if offset_h >= 0 else "-"
    return f"{_nginx_date(epoch_day)}{hour:02d}:{rest // 60:02d}:{rest % 60:02d} {sign}{abs(offset_h):02d}00"


@lru_cache(maxsize=4096)
def _rfc3339_second(second: int) -> str:
    return f"{utc(second * 1_000_000):%Y-%m-%dT%H:%M:%S}"


def rfc3339_micro(us: int) -> str:
    """Kubernetes MicroTime: always six fractional digits."""
    second, micro = divmod(us, 1_000_000)
    return f"{_rfc3339_second(second)}.{micro:06d}Z"


def rfc3339_seconds(us: int) -> str:
    return f"{_rfc3339_second(us // 1_000_000)}Z"


def go_rfc3339_nano(us: int, ns: int = 0) -> str:
    """Go's time.RFC3339Nano, which drops trailing zeros of the fraction (and a bare dot)."""
    second, micro = divmod(us, 1_000_000)
    frac = f"{micro:06d}{ns:03d}".rstrip("0")
    return f"{_rfc3339_second(second)}{'.' + frac if frac else ''}Z"


def uuid4(rng: random.Random) -> str:
    """A version-4 UUID from a seeded generator (uuid.uuid4 would not be reproducible)."""
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) % 4]}{h[17:20]}-{h[20:]}"


def go_json(obj: object) -> str:
    """encoding/json output: compact, UTF-8, and <, >, & escaped as Go's HTML-safe encoder does."""
    text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


# --- ingress-nginx -----------------------------------------------------------------------------

def nginx_escape(value: str) -> str:
    """nginx's default log escaping: `"`, `\\` and non-printable bytes become \\xHH."""
    if value.isascii() and value.isprintable() and '"' not in value and "\\" not in value:
        return value or "-"
    out = []
    for byte in value.encode("utf-8", "surrogateescape"):
        ch = chr(byte)
        out.append(f"\\x{byte:02X}" if byte < 0x20 or byte > 0x7E or ch in '"\\' else ch)
    return "".join(out)


def _upstream_fields(r: Request) -> str:
    if not r.attempts:
        return "- - - -"
    return " ".join((
        ", ".join(a.addr for a in r.attempts),
        ", ".join(str(a.length) for a in r.attempts),
        ", ".join(f"{a.time_ms / 1000:.3f}" for a in r.attempts),
        ", ".join(str(a.status) for a in r.attempts),
    ))


def nginx_default(r: Request, offset_h: int = 0) -> str:
    request = r.raw_request if r.raw_request is not None else f"{r.method} {r.uri} {r.protocol}"
    return (
        f"{r.client_ip} - {r.remote_user} [{nginx_time(r.end_us, offset_h)}] "
        f'"{nginx_escape(request)}" {r.status} {r.bytes_sent} "{nginx_escape(r.referer)}" '
        f'"{nginx_escape(r.user_agent)}" {r.request_length} {r.duration_ms / 1000:.3f} '
        f"[{r.upstream}] [{r.alt_upstream}] {_upstream_fields(r)} {r.req_id}"
    )


def nginx_internal(r: Request) -> str:
    tls = r.tls_protocol if r.scheme == "https" else "-"
    return (f"{nginx_default(r, INTERNAL_UTC_OFFSET_H)} {r.host} {r.scheme} "
            f'"{nginx_escape(r.forwarded_for)}" {tls}')


# --- Traefik -------------------------------------------------------------------------------------

_STATUS_TEXT = {200: "OK", 201: "Created", 204: "No Content", 301: "Moved Permanently",
                302: "Found", 304: "Not Modified", 308: "Permanent Redirect", 400: "Bad Request",
                401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 429: "Too Many Requests",
                500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable",
                504: "Gateway Timeout"}


def _service_url(host: str) -> dict:
    # Go's url.URL marshals its fields in struct order, so this dict is not sorted.
    return {"Scheme": "http", "Opaque": "", "User": None, "Host": host, "Path": "", "RawPath": "",
            "OmitHost": False, "ForceQuery": False, "RawQuery": "", "Fragment": "", "RawFragment": ""}


def traefik_json(r: Request, request_count: int) -> str:
    """Traefik v2/v3 JSON access log: logrus sorts the top-level keys."""
    t = r.extra
    duration_ns = r.duration_ms * 1_000_000 + t["overhead_ns"]
    client = f"[{r.client_ip}]" if ":" in r.client_ip else r.client_ip
    rec = {
        "ClientAddr": f"{client}:{r.client_port}", "ClientHost": r.client_ip,
        "ClientPort": str(r.client_port), "ClientUsername": r.remote_user,
        "DownstreamContentSize": r.bytes_sent, "DownstreamStatus": r.status,
        "Duration": duration_ns, "OriginContentSize": r.bytes_sent,
        "OriginDuration": r.duration_ms * 1_000_000, "OriginStatus": r.status,
        "Overhead": t["overhead_ns"], "RequestAddr": r.host,
        "RequestContentSize": t["body_size"], "RequestCount": request_count,
        "RequestHost": r.host, "RequestMethod": r.method, "RequestPath": r.uri,
        "RequestPort": "-", "RequestProtocol": r.protocol, "RequestScheme": r.scheme,
        "RetryAttempts": 0, "RouterName": t["router"], "ServiceAddr": t["service_addr"],
        "ServiceName": t["service"], "ServiceURL": _service_url(t["service_addr"]),
        "StartLocal": go_rfc3339_nano(r.start_us, t["start_ns"]),
        "StartUTC": go_rfc3339_nano(r.start_us, t["start_ns"]),
        "entryPointName": "websecure" if r.scheme == "https" else "web",
        "level": "info", "msg": "", "request_User-Agent": r.user_agent,
        "request_X-Request-Id": r.req_id, "time": rfc3339_seconds(r.end_us),
    }
    if r.scheme == "https":
        rec["TLSCipher"] = "TLS_AES_128_GCM_SHA256" if r.tls_protocol == "TLSv1.3" else \
            "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"
        rec["TLSVersion"] = r.tls_protocol.removeprefix("TLSv")
    if r.referer != "-":
        rec["request_Referer"] = r.referer
    if r.forwarded_for != "-":
        rec["request_X-Forwarded-For"] = r.forwarded_for
    return go_json(dict(sorted(rec.items())))


# --- AWS ALB -------------------------------------------------------------------------------------

ALB_ACCOUNT = "123456789012"
ALB_REGION = "eu-west-1"
ALB_NAME = "app/k8s-shop-web-0123456789/abcdef0123456789"
_ALB_TG = f"arn:aws:elasticloadbalancing:{ALB_REGION}:{ALB_ACCOUNT}:targetgroup/k8s-shop-web-5d1c2b7a9e/4f6a8c2e1b3d5f70"
_ALB_CERT = f"arn:aws:acm:{ALB_REGION}:{ALB_ACCOUNT}:certificate/6f1d2c3b-8a9e-4b7c-9d0e-1f2a3b4c5d6e"


def alb_line(r: Request) -> str:
    """One ALB access-log entry: https requests are forwarded, http ones redirected to https."""
    x = r.extra
    port = 443 if r.scheme == "https" else 80
    request = f"{r.method} {r.scheme}://{r.host}:{port}{r.uri} {r.protocol}"
    if r.scheme == "https":
        a = r.attempts[0]
        target, times = a.addr, f"0.000 {a.time_ms / 1000:.3f} 0.000"
        ssl = "TLS_AES_128_GCM_SHA256 TLSv1.3" if r.tls_protocol == "TLSv1.3" else \
            "ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2"
        tail = (f'{_ALB_TG} "{x["trace_id"]}" "{r.host}" "{_ALB_CERT}" 1 {rfc3339_micro(r.start_us)} '
                f'"forward" "-" "-" "{a.addr}" "{a.status}" "-" "-"')
        target_status = str(a.status)
    else:
        # a redirect is answered by the load balancer itself: no target, no timings
        target, times, ssl, target_status = "-", "-1 -1 -1", "- -", "-"
        tail = (f'- "{x["trace_id"]}" "-" "-" 0 {rfc3339_micro(r.start_us)} "redirect" '
                f'"https://{r.host}:443{r.uri}" "-" "-" "-" "-" "-"')
    return (f"{r.scheme} {rfc3339_micro(r.end_us)} {ALB_NAME} {r.client_ip}:{r.client_port} {target} "
            f"{times} {r.status} {target_status} {r.request_length} {r.bytes_sent} "
            f'"{request}" "{r.user_agent}" {ssl} {tail} {x["conn_trace_id"]}')
