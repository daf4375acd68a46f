"""HTTP deliveries that must never cost the run: bounded retries with backoff, errors as one line.

The Pushgateway push (metrics.py) and the webhooks (notify.py) go through here. A delivery is
retried on connection errors, timeouts, 429 and 5xx, with exponential backoff and jitter, until
it succeeds, the attempts run out or the time budget is spent; each attempt's timeout is cut to
what is left of the budget, so a receiver that never answers costs at most the budget. Other
statuses (400, 404 …) are not retried: the request itself is wrong.

Messages name the host only: a webhook URL's path is its secret (Slack's are), and urllib3's
own error text quotes the whole URL, so it is never passed on.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import urllib3
from tenacity import Retrying, retry_if_exception, stop_after_attempt, stop_before_delay, wait_random_exponential

from .errors import ConfigError


@dataclass(frozen=True)
class Budget:
    attempts: int = 4
    seconds: float = 30.0  # all attempts and the waits between them
    timeout_seconds: float = 10.0  # one attempt: connecting and reading the answer
    backoff_seconds: float = 0.5  # the first wait; doubled each time (with jitter), at most 8 s


DEFAULT_BUDGET = Budget()


class DeliveryError(Exception):
    """One attempt failed; `retryable` says whether another might succeed."""

    def __init__(self, reason: str, retryable: bool):
        super().__init__(reason)
        self.retryable = retryable


@dataclass
class Outcome:
    ok: bool
    attempts: int
    reason: str = ""  # why it failed, without the URL


def check_url(url: str, what: str) -> str:
    """An http(s) URL with a host, else a ConfigError that does not repeat it (it may be a secret)."""
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise ConfigError(f"{what} is not a valid URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{what} must be an http:// or https:// URL with a host")
    return url.strip()


def host_of(url: str) -> str:
    try:
        return urlsplit(url).hostname or "?"
    except ValueError:
        return "?"


_pool = urllib3.PoolManager(retries=False)


def request(method: str, url: str, body: bytes, headers: dict[str, str], timeout: float) -> int:
    """One attempt; the status, or DeliveryError."""
    try:
        response = _pool.request(method, url, body=body, headers=headers, redirect=False,
                                 timeout=urllib3.Timeout(connect=timeout, read=timeout), preload_content=True)
    except urllib3.exceptions.NewConnectionError:  # before TimeoutError: urllib3 makes it a subclass
        raise DeliveryError("connection failed (refused or unreachable)", retryable=True) from None
    except urllib3.exceptions.TimeoutError:
        raise DeliveryError(f"no answer within {timeout:.1f}s", retryable=True) from None
    except urllib3.exceptions.HTTPError as exc:
        # e.g. NewConnectionError, ProtocolError: the class says what happened, its text has the URL
        raise DeliveryError(f"connection failed ({type(exc).__name__})", retryable=True) from None
    if response.status == 429 or response.status >= 500:
        raise DeliveryError(f"HTTP {response.status}", retryable=True)
    if not 200 <= response.status < 300:
        raise DeliveryError(f"HTTP {response.status}", retryable=False)
    return response.status


def deliver(attempt: Callable[[float], object], budget: Budget | None = None) -> Outcome:
    """Call `attempt(timeout)` until it returns, with retries as the module docstring says."""
    budget = budget or DEFAULT_BUDGET
    deadline = time.monotonic() + budget.seconds
    count = 0

    def once() -> None:
        nonlocal count
        count += 1
        left = deadline - time.monotonic()
        if left <= 0:
            raise DeliveryError("time budget spent", retryable=False)
        attempt(min(budget.timeout_seconds, left))

    retrying = Retrying(
        stop=stop_after_attempt(budget.attempts) | stop_before_delay(budget.seconds),
        wait=wait_random_exponential(multiplier=budget.backoff_seconds, max=8),
        retry=retry_if_exception(lambda e: isinstance(e, DeliveryError) and e.retryable),
        reraise=True,
    )
    try:
        retrying(once)
    except DeliveryError as exc:
        return Outcome(False, count, str(exc))
    return Outcome(True, count)


def post_json(url: str, body: bytes, budget: Budget | None = None) -> Outcome:
    headers = {"Content-Type": "application/json", "User-Agent": "ingress-audit"}
    return deliver(lambda timeout: request("POST", url, body, headers, timeout), budget)
