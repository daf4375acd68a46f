"""Log output: text lines for a person at a terminal, one JSON object per line for a pod.

A CronJob's log is read by machines (Loki, CloudWatch, Stackdriver) before people: with
`--log-format json` every line is a JSON object, each pipeline stage logs one `"event":
"stage"` line with its counts and duration, and `run` ends with one `"event": "summary"` line.
In text mode the same records print as ordinary log lines.
"""

from __future__ import annotations

import logging
import sys
import time
from contextlib import contextmanager
from contextvars import ContextVar

from pythonjsonlogger.json import JsonFormatter

log = logging.getLogger("ingress_audit")

FORMATS = ("text", "json")


def configure(level: int, fmt: str = "text") -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            datefmt="%Y-%m-%dT%H:%M:%S%z",
        ))
    else:
        handler.setFormatter(TextFormatter("%(asctime)s %(levelname)s %(message)s"))
    logging.basicConfig(level=level, handlers=[handler], force=True)
    # boto's own INFO lines (credential lookups) are noise in a CronJob's log
    for noisy in ("botocore", "boto3", "urllib3", "s3transfer", "fontTools", "weasyprint", "matplotlib"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


# every character str.splitlines() breaks on: a log reader may split on any of them
_LINE_BREAKS = {ord(c): f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}"
                for c in "\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"} | {ord("\n"): "\\n", ord("\r"): "\\r"}


class TextFormatter(logging.Formatter):
    """One record, one line: a message carries log-derived text (object keys, errors), so a CR or
    LF in it is escaped rather than allowed to start a forged line. A traceback, which is ours,
    still follows on its own lines."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        return super().formatMessage(record).translate(_LINE_BREAKS)


# The stages timed so far, while a caller records them (metrics.py pushes their durations).
_recorded: ContextVar[list | None] = ContextVar("ingress_audit_stages", default=None)


@contextmanager
def record_stages():
    """Collect `(name, seconds)` of every stage that completes inside the block."""
    stages: list[tuple[str, float]] = []
    token = _recorded.set(stages)
    try:
        yield stages
    finally:
        _recorded.reset(token)


@contextmanager
def stage(name: str, **fields):
    """Time a pipeline stage and log one line for it; the body adds counts to the yielded dict."""
    counts: dict = dict(fields)
    started = time.perf_counter()
    yield counts
    seconds = round(time.perf_counter() - started, 3)
    recorded = _recorded.get()
    if recorded is not None:
        recorded.append((name, seconds))
    detail = ", ".join(f"{k} {v}" for k, v in counts.items())
    log.info("stage %s done in %.1fs%s", name, seconds, f": {detail}" if detail else "",
             extra={"event": "stage", "stage": name, "seconds": seconds, **counts})


_summary_log = logging.getLogger("ingress_audit.summary")
_summary_log.setLevel(logging.INFO)  # printed even with --quiet: it is the one line that must be there


def summary(message: str, **fields) -> None:
    """The run's last line: what a scheduler or an alert needs without reading the rest."""
    _summary_log.info("summary: %s", message, extra={"event": "summary", **fields})
