"""Kubernetes audit events (log backend lines and webhook EventList batches) from real servers."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from ingress_audit import formats

from .real_samples import REAL_SAMPLES, sample

AUDIT = formats.builtin("k8s-audit")


def _falco_files():
    sample("k8s-audit/falco-trace-files/EXPECTED_RULES.tsv")
    return sorted((REAL_SAMPLES / "k8s-audit" / "falco-trace-files").glob("*.json"))


def _expected(event: dict) -> dict:
    """What the normalized row must hold, read straight from the event's JSON."""
    ref = event.get("objectRef", {})
    user = event.get("impersonatedUser") or event["user"]
    ann = event.get("annotations", {})
    ts = event.get("requestReceivedTimestamp") or event.get("timestamp")
    return {
        "verb": event["verb"],
        "user": user["username"],
        "groups": user.get("groups"),
        "source_ip": event["sourceIPs"][0],
        "resource": ref.get("resource"),
        "subresource": ref.get("subresource"),
        "namespace": ref.get("namespace"),
        "name": ref.get("name"),
        "response_code": event.get("responseStatus", {}).get("code"),
        "decision": ann.get("authorization.k8s.io/decision"),
        "audit_id": event["auditID"],
        "stage": event["stage"],
        "ts": datetime.fromisoformat(ts.replace("Z", "+00:00")),
    }


def test_falco_trace_files_field_by_field():
    files = _falco_files()
    assert len(files) >= 30
    for path in files:
        lines = path.read_text().splitlines()
        events = [json.loads(l) for l in lines if l.strip()]
        rows = formats.parse_lines(AUDIT, lines)
        assert len(rows) == len(events), path.name
        for row, event in zip(rows, events):
            assert row["reject_reason"] is None, (path.name, row["reject_reason"])
            got = {k: row[k] for k in _expected(event)}
            assert got == _expected(event), path.name
            if "requestObject" in event:
                assert json.loads(row["request_object"]) == event["requestObject"]


def test_audit2rbac_impersonation_and_legacy_timestamps():
    lines = sample("k8s-audit/audit2rbac/demo.lines1-25.log").read_text().splitlines()
    rows = formats.parse_lines(AUDIT, lines)
    assert len(rows) == 25 and all(r["reject_reason"] is None for r in rows)
    first = rows[0]
    assert first["user"] == "bob" and first["impersonated_by"] == "system:admin"
    assert first["response_code"] == 403 and first["reason"] == "Forbidden"
    assert first["ts"] == datetime(2017, 9, 11, 19, 55, 5, tzinfo=timezone.utc)


def test_exec_into_pod_is_a_subresource():
    (path,) = [p for p in _falco_files() if p.name == "exec_pod.json"]
    (row,) = formats.parse_lines(AUDIT, path.read_text().splitlines())
    assert (row["verb"], row["resource"], row["subresource"], row["response_code"]) == ("create", "pods", "exec", 101)


def test_eventlist_batches_yield_one_row_per_event_with_the_batch_line():
    events = [json.loads(p.read_text().splitlines()[0]) for p in _falco_files()[:3]]
    batch = json.dumps({"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "metadata": {}, "items": events})
    rows = formats.parse_lines(AUDIT, ["", batch])
    assert [r["line"] for r in rows] == [2, 2, 2]
    assert sorted(r["audit_id"] for r in rows) == sorted(e["auditID"] for e in events)


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("not json at all", "not JSON"),
        ('{"kind": "Pod", "apiVersion": "v1"}', "not a Kubernetes audit Event"),
        ('{"kind": "Event", "apiVersion": "v1", "auditID": "x", "verb": "get", "requestReceivedTimestamp": "2026-11-16T00:00:00Z"}', "unsupported apiVersion"),
        ('{"kind": "Event", "apiVersion": "audit.k8s.io/v1", "auditID": "x", "verb": "get"}', "no readable requestReceivedTimestamp"),
        ('{"kind": "Event", "apiVersion": "audit.k8s.io/v1", "auditID": "x", "verb": "get", "requestReceivedTimestamp": "yesterday"}', "no readable"),
        ('{"kind": "Event", "apiVersion": "audit.k8s.io/v1", "auditID": "x", "verb": "get", "requestReceivedTimestamp": "2026-11-16T00:0', "not JSON"),
    ],
)
def test_rejects_have_reasons(line, reason):
    (row,) = formats.parse_lines(AUDIT, [line])
    assert row["reject_reason"] is not None and reason in row["reject_reason"]


def test_a_bad_event_inside_a_batch_is_rejected_alone():
    good = {"kind": "Event", "apiVersion": "audit.k8s.io/v1", "auditID": "a", "verb": "get", "stage": "ResponseComplete",
            "user": {"username": "u"}, "sourceIPs": ["10.0.0.1"], "requestReceivedTimestamp": "2026-11-16T10:00:00.5Z"}
    bad = {"kind": "Event", "auditID": "b", "verb": "get"}
    batch = json.dumps({"kind": "EventList", "items": [good, bad]})
    rows = sorted(formats.parse_lines(AUDIT, [batch]), key=lambda r: r["audit_id"])
    assert rows[0]["reject_reason"] is None
    assert "timestamp" in rows[1]["reject_reason"] and json.loads(rows[1]["text"])["auditID"] == "b"
