"""The run's metrics, pushed to a Prometheus Pushgateway at the end of `run`.

A weekly batch job is not scraped: it pushes once, and Prometheus scrapes the Pushgateway
(`honor_labels: true`). Following the Pushgateway's advice for batch jobs:
- every metric is a gauge describing the last run (a counter would reset with each process);
- the group is `job="ingress_audit"` plus `clusters` (the run's sorted --source labels), one
  group per CronJob: two CronJobs auditing different clusters never overwrite each other's
  last success. The period is not in the grouping key, or every week would leave a new group
  behind and a stale last success would never be noticed; it is pushed as two timestamps;
- pushes use POST, which replaces only the metric names pushed: a failed run pushes no
  `ingress_audit_last_success_timestamp_seconds`, so the last success's time survives it (and
  what the run did not get to, e.g. controls, keeps the last run's values).
Labels are small, bounded sets (cluster, source kind, stage, control id, category, severity,
status): never client addresses, users, hosts or paths.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Gauge
from prometheus_client.exposition import pushadd_to_gateway

from . import delivery
from .outcome import RunOutcome

log = logging.getLogger(__name__)

JOB = "ingress_audit"


@dataclass(frozen=True)
class Metric:
    name: str
    help: str
    labels: tuple[str, ...] = ()


_SOURCE = ("cluster", "source_kind")
_CONTROL = ("control_id", "category", "severity")

# Every metric the job pushes; the dashboard and alert tests check their expressions against it.
METRICS = (
    Metric("ingress_audit_last_run_timestamp_seconds", "When the last run ended (Unix time)"),
    Metric("ingress_audit_last_run_success", "1 when the last run wrote and published its report (exit 0, 1 or 3), else 0"),
    Metric("ingress_audit_last_success_timestamp_seconds", "When the last successful run ended (Unix time); pushed only by a successful run"),
    Metric("ingress_audit_last_run_exit_code", "The last run's exit code (README: exit codes)"),
    Metric("ingress_audit_last_run_duration_seconds", "Wall time of the last run"),
    Metric("ingress_audit_stage_duration_seconds", "Wall time of each pipeline stage the last run completed", ("stage",)),
    Metric("ingress_audit_period_start_timestamp_seconds", "Start of the audited period (inclusive, Unix time)"),
    Metric("ingress_audit_period_end_timestamp_seconds", "End of the audited period (exclusive, Unix time)"),
    Metric("ingress_audit_objects", "Archive objects in the period, per cluster and source kind", _SOURCE),
    Metric("ingress_audit_records_read", "Records read (parsed + rejected), per cluster and source kind", _SOURCE),
    Metric("ingress_audit_records_parsed", "Records parsed into the tables, per cluster and source kind", _SOURCE),
    Metric("ingress_audit_records_rejected", "Records read but not parsed (the rejects table), per cluster and source kind", _SOURCE),
    Metric("ingress_audit_unreadable_objects", "Objects that could not be read or classified, per cluster", ("cluster",)),
    Metric("ingress_audit_report_incomplete", "1 when some input could not be read (the report says so on its first page)"),
    Metric("ingress_audit_controls", "Controls per status: pass, fail, info, error", ("status",)),
    Metric("ingress_audit_failing_controls", "Failing controls per category and severity", ("category", "severity")),
    Metric("ingress_audit_control_failing", "1 when the control failed in the last run", _CONTROL),
    Metric("ingress_audit_control_findings", "The control's finding count (evidence rows after waivers; info controls: rows)", _CONTROL),
    Metric("ingress_audit_cluster_findings",
           "The control's finding count per cluster the findings name (findings.json finding_count_by_cluster)",
           ("cluster", "control_id")),
)
METRIC_NAMES = tuple(m.name for m in METRICS)


def build_registry(outcome: RunOutcome) -> CollectorRegistry:
    """The metrics of one run: what the run knows, and nothing it did not get to."""
    registry = CollectorRegistry()
    g = {m.name.removeprefix("ingress_audit_"): Gauge(m.name, m.help, m.labels, registry=registry) for m in METRICS}
    g["last_run_timestamp_seconds"].set(outcome.finished)
    g["last_run_success"].set(1 if outcome.success else 0)
    g["last_run_exit_code"].set(outcome.exit_code)
    g["last_run_duration_seconds"].set(round(outcome.finished - outcome.started, 3))
    g["period_start_timestamp_seconds"].set(outcome.period.start.timestamp())
    g["period_end_timestamp_seconds"].set(outcome.period.end.timestamp())
    if outcome.success:
        g["last_success_timestamp_seconds"].set(outcome.finished)
    else:
        registry.unregister(g["last_success_timestamp_seconds"])  # keeps the last success's time (POST)
    for stage, seconds in _stage_seconds(outcome.stages).items():
        g["stage_duration_seconds"].labels(stage).set(seconds)

    staged = outcome.state.staged
    coverage = ("objects", "records_read", "records_parsed", "records_rejected", "unreadable_objects", "report_incomplete")
    if staged is None:
        for name in coverage:
            registry.unregister(g[name])
    else:
        per_source: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
        unreadable: dict[str, int] = defaultdict(int)
        for o in staged.objects:
            row = per_source[(o.cluster or "default", o.source_kind or "unknown")]
            row[0] += 1
            row[1] += o.records_read
            row[2] += o.records_parsed
            row[3] += o.records_rejected
            unreadable[o.cluster or "default"] += 1 if o.error else 0
        for labels, (objects, read, parsed, rejected) in sorted(per_source.items()):
            g["objects"].labels(*labels).set(objects)
            g["records_read"].labels(*labels).set(read)
            g["records_parsed"].labels(*labels).set(parsed)
            g["records_rejected"].labels(*labels).set(rejected)
        for cluster in sorted(set(outcome.clusters) | set(unreadable)):
            g["unreadable_objects"].labels(cluster).set(unreadable.get(cluster, 0))
        g["report_incomplete"].set(0 if staged.complete else 1)

    findings = outcome.findings
    control_metrics = ("controls", "failing_controls", "control_failing", "control_findings", "cluster_findings")
    if findings is None:
        for name in control_metrics:
            registry.unregister(g[name])
    else:
        for status in ("pass", "fail", "info", "error"):
            g["controls"].labels(status).set(findings["summary"][status])
        failing: dict[tuple[str, str], int] = {}
        for c in findings["controls"]:
            key = (c["category"], c["severity"])
            failing[key] = failing.get(key, 0) + (c["status"] == "fail")
            labels = (c["id"], c["category"], c["severity"])
            g["control_failing"].labels(*labels).set(1 if c["status"] == "fail" else 0)
            g["control_findings"].labels(*labels).set(c["finding_count"])
            for cluster, n in (c.get("finding_count_by_cluster") or {}).items():
                g["cluster_findings"].labels(cluster, c["id"]).set(n)
        for (category, severity), n in sorted(failing.items()):
            g["failing_controls"].labels(category, severity).set(n)
    return registry


def _stage_seconds(stages: list[tuple[str, float]]) -> dict[str, float]:
    out: dict[str, float] = {}
    for name, seconds in stages:  # a stage that ran twice (none does today) counts its total
        out[name] = round(out.get(name, 0.0) + seconds, 3)
    return out


def grouping_key(outcome: RunOutcome) -> dict[str, str]:
    return {"clusters": ",".join(outcome.clusters) or "default"}


def push(url: str, outcome: RunOutcome, budget: delivery.Budget | None = None) -> delivery.Outcome:
    """POST the run's metrics; a failure is logged in one line and returned, never raised."""
    registry = build_registry(outcome)

    def attempt(timeout: float) -> None:
        pushadd_to_gateway(url, JOB, registry, grouping_key=grouping_key(outcome), timeout=timeout, handler=_handler)

    result = delivery.deliver(attempt, budget)
    where = delivery.host_of(url)
    if result.ok:
        log.info("metrics pushed to the Pushgateway at %s (%d attempt%s)", where, result.attempts,
                 "" if result.attempts == 1 else "s")
    else:
        log.warning("metrics not pushed to the Pushgateway at %s after %d attempt%s: %s", where, result.attempts,
                    "" if result.attempts == 1 else "s", result.reason)
    return result


def _handler(url, method, timeout, headers, data):
    # prometheus_client's own handler raises with the URL in the message and retries nothing
    return lambda: delivery.request(method, url, data, dict(headers), timeout)
