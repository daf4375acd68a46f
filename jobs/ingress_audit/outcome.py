"""What a finished `run` tells the outside world: metrics (metrics.py) and webhooks (notify.py).

Built from how far the run got (pipeline.RunState), its exit code and timing, so the same
description goes out whether the report was written or the run stopped half way. The push and
the webhooks happen after the report is written and never change the exit code.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from .errors import EXIT_FINDINGS, EXIT_INCOMPLETE, EXIT_OK
from .period import Period
from .pipeline import RunState

log = logging.getLogger(__name__)

# Exit codes after which the report was written and published: the run did its job (its
# findings and the input's completeness are reported by their own metrics and alerts).
SUCCESS_CODES = (EXIT_OK, EXIT_FINDINGS, EXIT_INCOMPLETE)


@dataclass
class RunOutcome:
    period: Period
    clusters: list[str]  # the --source labels (unlabelled: default)
    exit_code: int
    started: float  # Unix time
    finished: float
    state: RunState
    stages: list[tuple[str, float]] = field(default_factory=list)  # (stage, seconds), in order
    error: str | None = None  # one line, when the run stopped

    @property
    def success(self) -> bool:
        return self.exit_code in SUCCESS_CODES and self.state.result is not None

    @property
    def findings(self) -> dict | None:
        return self.state.findings

    @property
    def complete(self) -> bool | None:
        """Whether every input was read; None when the run stopped before staging."""
        staged = self.state.staged
        return None if staged is None else staged.complete

    @property
    def location(self) -> str | None:
        """Where the signed report is: its published URL, else the local folder."""
        return self.state.result.location() if self.state.result is not None else None

    def failing_controls(self) -> list[dict]:
        if not self.findings:
            return []
        return [c for c in self.findings["controls"] if c["status"] == "fail"]


def cluster_labels(sources: list[str], staged_url: str | None) -> list[str]:
    """The clusters a run audits, from its --source labels: what names it in metrics and messages.

    A `--staged` run reads days staged from sources it was not given; it is named `staged`.
    """
    from .sources import parse_source

    if staged_url is not None and not sources:
        return ["staged"]
    return sorted({parse_source(s).cluster for s in sources})


def announce(outcome: RunOutcome, pushgateway: str | None, webhooks: list) -> None:
    """Push the metrics and send the webhooks; whatever goes wrong is logged, never raised."""
    from . import delivery, metrics, notify
    from .errors import EXIT_TERMINATED

    # a SIGTERM'd pod has its grace period (30 s by default) to say so before SIGKILL
    budget = delivery.Budget(seconds=5.0, timeout_seconds=2.0) if outcome.exit_code == EXIT_TERMINATED else None
    if pushgateway:
        try:
            metrics.push(pushgateway, outcome, budget)
        except Exception as exc:  # a bug here must not cost a written report its exit code
            log.warning("metrics not pushed: %s", type(exc).__name__)
    if webhooks:
        try:
            notify.send(webhooks, outcome, budget)
        except Exception as exc:
            log.warning("webhooks not sent: %s", type(exc).__name__)
