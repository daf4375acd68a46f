"""The whole run on the sample week: findings.json in the contract's shape, and the golden verdicts.

The golden file holds, per control, its status, finding count and the `resource` of every
finding. After a deliberate change to a control or to the sample, regenerate it with
    python -m tests.golden.update
and review the diff like code: every changed line is a changed verdict.
"""

from __future__ import annotations

import json

import pytest

from ingress_audit.period import resolve_period
from ingress_audit.pipeline import audit_period
from ingress_audit.policy import load_policy

from .cli_helpers import run_cli
from .golden.update import GOLDEN, SAMPLE, summarize

WEEK = ["--from", "2026-11-16", "--to", "2026-11-23"]


@pytest.fixture(scope="module")
def findings(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    return audit_period([str(SAMPLE / "archive")], resolve_period(*WEEK[1::2], None),
                        load_policy(SAMPLE / "policy.yaml"), out / "cache", progress=False).findings


@pytest.mark.slow
def test_findings_json_has_the_contract_shape(findings):
    assert findings["schema"] == "ingress-audit/findings/v1"
    assert findings["period"] == {"start": "2026-11-16T00:00:00Z", "end": "2026-11-23T00:00:00Z"}
    cov = findings["coverage"]
    assert {"objects", "records_read", "records_parsed", "records_rejected", "errors", "complete"} <= set(cov)
    assert cov["records_read"] == cov["records_parsed"] + cov["records_rejected"]
    assert cov["complete"] is True and cov["errors"] == []
    for c in findings["controls"]:
        assert {"id", "title", "category", "severity", "status", "frameworks", "finding_count", "findings"} <= set(c)
        assert c["category"] in {"access_patterns", "failed_auth", "certificates", "policy_drift", "coverage"}
        assert c["status"] in {"pass", "fail", "info", "error"}
        assert c["status"] != "error", (c["id"], c.get("error"))
        assert c["frameworks"], c["id"]
        assert c["finding_count"] >= len(c["findings"])
        for row in c["findings"]:
            assert list(row)[:2] == ["resource", "reason"], c["id"]


@pytest.mark.slow
def test_golden_verdicts(findings):
    expected = json.loads(GOLDEN.read_text())
    assert summarize(findings) == expected


@pytest.mark.slow
def test_expired_waiver_is_reported_and_not_applied(findings):
    expired = findings["waivers"]["expired"]
    assert [(w["control"], w["expires"]) for w in expired] == [("FA-02", "2026-10-31")]


def test_run_exit_code_is_1_when_high_controls_fail(capsys, monkeypatch, tmp_path):
    result = run_cli(capsys, monkeypatch, "--quiet", "run", "--source", str(SAMPLE / "archive"), *WEEK,
                     "--policy", str(SAMPLE / "policy.yaml"), "--cache-dir", str(tmp_path / "c"),
                     "--out", str(tmp_path / "out"), "--fail-on", "critical")
    data = json.loads((tmp_path / "out" / "findings.json").read_text())
    failing_critical = [c["id"] for c in data["controls"] if c["status"] == "fail" and c["severity"] == "critical"]
    assert result.code == (1 if failing_critical else 0)
    assert "FAIL" in result.out and "findings.json" in result.out
