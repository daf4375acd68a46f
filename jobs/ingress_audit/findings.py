"""findings.json (`ingress-audit/findings/v1`): the run's result in the contract's shape."""

from __future__ import annotations

from datetime import date

from . import __version__
from .controls import ControlResult
from .policy import SEVERITY_ORDER, Policy, Waiver
from .stage import StagedPeriod

SCHEMA = "ingress-audit/findings/v1"


def build_findings(
    staged: StagedPeriod,
    results: list[ControlResult],
    policy: Policy,
    expired: list[Waiver],
) -> dict:
    """The findings document. Nothing in it depends on the clock or on timing, so the same inputs,
    policy and version give the same bytes (when a run happened is attested by the signatures)."""
    start, end = staged.period.iso()
    totals = staged.totals()
    return {
        "schema": SCHEMA,
        "tool": {"name": "ingress-audit", "version": __version__},
        "period": {"start": start, "end": end},
        "masked_client_ips": policy.report.mask_client_ips,
        "coverage": {
            **totals,
            "errors": [{"object": o.object, "error": o.error} for o in staged.errors],
            "complete": staged.complete,
            "by_source_kind": _by_kind(staged),
        },
        "summary": summarize(results, policy.fail_on),
        "waivers": {
            "applied": [
                {**_waiver(w["waiver"]), "control": r.control.id, "row": w["row"]} for r in results for w in r.waived
            ],
            "expired": [_waiver(w) for w in expired],
        },
        "controls": [_control(r) for r in results],
    }


def summarize(results: list[ControlResult], fail_on: str) -> dict:
    counts = {s: sum(1 for r in results if r.status == s) for s in ("pass", "fail", "info", "error")}
    gate = SEVERITY_ORDER[fail_on]
    blocking = [r.control.id for r in results if r.status == "fail" and SEVERITY_ORDER[r.control.meta.severity] >= gate]
    return {**counts, "fail_on": fail_on, "failing_at_or_above_fail_on": blocking}


def _control(r: ControlResult) -> dict:
    m = r.control.meta
    out = {
        "id": m.id,
        "title": m.title,
        "category": m.category,
        "severity": m.severity,
        "status": r.status,
        "frameworks": list(r.control.frameworks),
        "finding_count": r.finding_count,
        # an addition to the v1 contract (README, findings.json): rows per cluster they name
        "finding_count_by_cluster": r.finding_count_by_cluster,
        "findings": r.findings,
        "description": m.description.strip(),
        "rationale": m.rationale.strip(),
        "remediation": m.remediation.strip(),
        "policy_keys": m.policy_keys,
        "waived_count": len(r.waived),
    }
    if r.error:
        out["error"] = r.error
    return out


def _waiver(w: Waiver) -> dict:
    return {"control": w.control, "entity": w.entity, "owner": w.owner, "reason": w.reason,
            "expires": w.expires.isoformat() if isinstance(w.expires, date) else str(w.expires)}


def _by_kind(staged: StagedPeriod) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for o in staged.objects:
        kind = o.source_kind or "unreadable"
        entry = out.setdefault(kind, {"objects": 0, "records_parsed": 0, "records_rejected": 0})
        entry["objects"] += 1
        entry["records_parsed"] += o.records_parsed
        entry["records_rejected"] += o.records_rejected
    return out
