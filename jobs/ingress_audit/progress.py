"""Progress for long stages: a rich bar for a person at a terminal, log lines for a CronJob.

    with Progress("staged", total=len(objects), unit="objects") as p:
        for obj in objects:
            ...
            p.advance(1, bytes=obj.size)

Without a TTY on stderr (a pod's log, CI) a bar would print control codes into the log, so it
logs "staged 12/40 objects, 31.2 MB" at most every `log_every` seconds, and once at the end.
"""

from __future__ import annotations

import logging
import sys
import threading
import time

log = logging.getLogger(__name__)


def human_bytes(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    raise AssertionError("unreachable")


class Progress:
    def __init__(
        self,
        label: str,
        total: int | None = None,
        unit: str = "objects",
        *,
        enabled: bool = True,
        log_every: float = 5.0,
        tty: bool | None = None,
    ):
        self.label = label
        self.total = total
        self.unit = unit
        self.done = 0
        self.bytes = 0
        self.enabled = enabled
        self.log_every = log_every
        self._tty = sys.stderr.isatty() if tty is None else tty
        self._lock = threading.Lock()  # staging may advance from worker threads
        self._last_log = 0.0
        self._bar = None
        self._task = None

    def __enter__(self) -> Progress:
        if self.enabled and self._tty:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )
            from rich.progress import Progress as RichProgress

            self._bar = RichProgress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[unit]}, {task.fields[size]}"),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=Console(stderr=True),
            )
            self._bar.start()
            self._task = self._bar.add_task(self.label, total=self.total, unit=self.unit, size=human_bytes(0))
        self._last_log = time.monotonic()
        return self

    def advance(self, n: int = 1, *, bytes: int = 0) -> None:  # noqa: A002 - reads best at call sites
        with self._lock:
            self.done += n
            self.bytes += bytes
            if not self.enabled:
                return
            if self._bar is not None:
                self._bar.update(self._task, advance=n, size=human_bytes(self.bytes))
            elif time.monotonic() - self._last_log >= self.log_every:
                self._log_line()

    def line(self) -> str:
        of = f"/{self.total}" if self.total is not None else ""
        return f"{self.label} {self.done}{of} {self.unit}, {human_bytes(self.bytes)}"

    def _log_line(self) -> None:
        log.info("%s", self.line())
        self._last_log = time.monotonic()

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.stop()  # the finished bar stays on screen as the summary
        elif self.enabled:
            with self._lock:
                self._log_line()
