"""A fault-injecting HTTP proxy in front of moto's S3 server, for tests and benchmarks/hostile_scenarios.py.

The job reaches S3 through it as through any endpoint (AWS_ENDPOINT_URL): every request is
forwarded to moto unchanged, except that a rule matching the request's method and a substring
of its (URL-decoded) path answers for moto, `times` times, then lets requests through again.
This is real HTTP on 127.0.0.1: botocore's retries, timeouts and body checks meet the faults the
way they would meet a flaky S3, load balancer or proxy.

Faults (Rule.kind):
  "500"       HTTP 500 InternalError (S3's XML error body); botocore retries it
  "503"       HTTP 503 SlowDown (S3's throttling answer); botocore retries it
  "reset"     the real response's headers and half its body, then a TCP reset (RST)
  "truncate"  the real headers (Content-Length of the whole body), half the body, then a clean close
  "slow"      waits `delay` seconds before the response (past the client's read timeout: a timeout);
              with where="body" sends the headers and the first bytes, then waits, then the rest
  "etag"      the real response with a wrong ETag header (as if another version of the object answered)
  "corrupt"   the real response with one body byte flipped (same length, same headers)
"""

from __future__ import annotations

import http.client
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

KINDS = ("500", "503", "reset", "truncate", "slow", "etag", "corrupt")
WRONG_ETAG = '"00000000000000000000000000000000"'

_ERRORS = {
    "500": (500, "InternalError", "We encountered an internal error. Please try again."),
    "503": (503, "SlowDown", "Please reduce your request rate."),
}
# hop-by-hop headers are the proxy's own business; Content-Length is recomputed from the body
_DROP = {"connection", "keep-alive", "transfer-encoding", "content-length", "proxy-connection"}


@dataclass
class Rule:
    kind: str
    key: str = ""  # substring of the URL-decoded request path ("" matches every request)
    method: str = "GET"
    times: int = 1  # then pass through; a large number makes the fault persistent
    delay: float = 0.0  # "slow": seconds
    where: str = "headers"  # "slow": before the "headers", or in the middle of the "body"
    hits: int = 0  # how many requests it answered

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown fault {self.kind!r}: one of {', '.join(KINDS)}")


@dataclass
class FaultProxy:
    """Start with `with FaultProxy(upstream) as proxy:`; proxy.url is the endpoint to give the job."""

    upstream: str  # http://127.0.0.1:port of the moto server
    rules: list[Rule] = field(default_factory=list)
    requests: list[tuple[str, str, str]] = field(default_factory=list)  # (method, path, fault or "pass")

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def add(self, *rules: Rule) -> FaultProxy:
        with self._lock:
            self.rules.extend(rules)
        return self

    def clear(self) -> None:
        with self._lock:
            self.rules.clear()
            self.requests.clear()

    def count(self, method: str, key: str) -> int:
        """Requests seen (faulted or not) with this method whose path holds `key`."""
        with self._lock:
            return sum(1 for m, p, _ in self.requests if m == method and key in p)

    def _match(self, method: str, path: str) -> Rule | None:
        with self._lock:
            for rule in self.rules:
                if rule.method == method and rule.key in path and rule.hits < rule.times:
                    rule.hits += 1
                    self.requests.append((method, path, rule.kind))
                    return rule
            self.requests.append((method, path, "pass"))
            return None

    def __enter__(self) -> FaultProxy:
        target = urlsplit(self.upstream)
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, like S3: botocore pools connections

            def log_message(self, *args):  # quiet: the tests' own output matters
                pass

            def _any(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                rule = proxy._match(self.command, unquote(urlsplit(self.path).path))
                if rule and rule.kind in _ERRORS:
                    return self._error(*_ERRORS[rule.kind])
                if rule and rule.kind == "slow" and rule.where == "headers":
                    time.sleep(rule.delay)
                status, reason, headers, payload = self._forward(body)
                if rule is None or rule.kind == "slow" and rule.where == "headers":
                    return self._send(status, reason, headers, payload)
                if rule.kind == "etag":
                    headers = [(k, WRONG_ETAG if k.lower() == "etag" else v) for k, v in headers]
                    return self._send(status, reason, headers, payload)
                if rule.kind == "corrupt":
                    flipped = bytes([payload[len(payload) // 2] ^ 0x20]) if payload else b""
                    payload = payload[: len(payload) // 2] + flipped + payload[len(payload) // 2 + 1:]
                    return self._send(status, reason, headers, payload)
                half = len(payload) // 2
                self._head(status, reason, headers, len(payload))
                self.wfile.write(payload[:half])
                self.wfile.flush()
                if rule.kind == "slow":  # where == "body"
                    time.sleep(rule.delay)
                    self.wfile.write(payload[half:])
                    self.wfile.flush()
                    return None
                if rule.kind == "reset":  # SO_LINGER 0: close() sends RST, not FIN
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.close_connection = True
                return None

            do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _any

            def _forward(self, body: bytes):
                conn = http.client.HTTPConnection(target.hostname, target.port, timeout=60)
                try:
                    # Host as the client sent it (and signed it); moto does not check signatures
                    conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
                    for k, v in self.headers.items():
                        if k.lower() not in _DROP:
                            conn.putheader(k, v)
                    conn.putheader("Content-Length", str(len(body)))
                    conn.endheaders(body)
                    resp = conn.getresponse()
                    payload = resp.read()
                    keep = _DROP - ({"content-length"} if self.command == "HEAD" else set())
                    headers = [(k, v) for k, v in resp.getheaders() if k.lower() not in keep]
                    return resp.status, resp.reason, headers, payload
                finally:
                    conn.close()

            def _head(self, status, reason, headers, length):
                self.send_response(status, reason)
                for k, v in headers:
                    if k.lower() not in ("server", "date"):  # send_response wrote its own
                        self.send_header(k, v)
                if self.command != "HEAD":  # a HEAD's Content-Length is the object's, passed on
                    self.send_header("Content-Length", str(length))
                self.end_headers()

            def _send(self, status, reason, headers, payload):
                self._head(status, reason, headers, len(payload))
                if self.command != "HEAD":
                    self.wfile.write(payload)

            def _error(self, status, code, message):
                xml = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
                       f"<Message>{message}</Message><RequestId>fault-proxy</RequestId></Error>").encode()
                self._send(status, code, [("Content-Type", "application/xml")], xml)

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address):
                pass  # a client that gave up (timeout, reset) mid-answer is the point, not news

        server = Server(("127.0.0.1", 0), Handler)
        self._server = server
        threading.Thread(target=server.serve_forever, name="fault-proxy", daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
