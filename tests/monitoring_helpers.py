"""Real endpoints for the monitoring tests: the Pushgateway binary, and a webhook receiver.

The Pushgateway is the real program (Debian: prometheus-pushgateway) on 127.0.0.1 and a free
port; a test that needs it skips, saying so, when it is not installed. The receiver is an
http.server in a thread that answers from a script of statuses, or never answers at all.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from prometheus_client.parser import text_string_to_metric_families

PUSHGATEWAY_NAMES = ("prometheus-pushgateway", "pushgateway")


def pushgateway_binary() -> str | None:
    return next((p for p in map(shutil.which, PUSHGATEWAY_NAMES) if p), None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Pushgateway:
    """A started Pushgateway: its URL, and its /metrics parsed."""

    def __init__(self) -> None:
        binary = pushgateway_binary()
        if binary is None:
            pytest.skip("the Pushgateway is not installed (apt-get install prometheus-pushgateway)")
        self.url = f"http://127.0.0.1:{free_port()}"
        # Debian's build persists to /var/lib/prometheus by default: in memory only, per test
        self.proc = subprocess.Popen([binary, f"--web.listen-address={self.url.removeprefix('http://')}",
                                      "--persistence.file="],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 15
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"the Pushgateway did not start: {self.proc.stderr.read().decode(errors='replace')[-500:]}")
            time.sleep(0.05)

    def samples(self, prefix: str = "ingress_audit_") -> list:
        with urllib.request.urlopen(f"{self.url}/metrics", timeout=5) as r:
            text = r.read().decode()
        return [s for fam in text_string_to_metric_families(text) for s in fam.samples if s.name.startswith(prefix)]

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()


class Receiver:
    """A webhook endpoint on 127.0.0.1: answers each POST with the next status of `statuses`
    (then 200), or, with `hang`, never answers. `requests` holds (path, body) of every POST."""

    def __init__(self, statuses: tuple[int, ...] = (), hang: bool = False) -> None:
        self.statuses, self.hang = list(statuses), hang
        self.requests: list[tuple[str, bytes]] = []
        self.release = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.requests.append((self.path, body))
                if receiver.hang:
                    receiver.release.wait(60)
                    return
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):  # keep the test output to the test's own lines
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
