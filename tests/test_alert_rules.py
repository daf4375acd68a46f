"""The alert rules: one source (prometheus-rules.yaml), its plain copy, and promtool's unit tests."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from ingress_audit.metrics import METRIC_NAMES

ROOT = Path(__file__).resolve().parents[1]
RULE = ROOT / "prometheus-rules.yaml"
PLAIN = ROOT / "alert-rules.yml"
PROMTOOL_TESTS = sorted((ROOT / "tests" / "promtool").glob("*.yaml"))


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.skip("promtool is not installed (apt-get install prometheus)")
    return path


def rules(groups: list[dict]) -> list[dict]:
    return [r for g in groups for r in g["rules"]]


def test_the_plain_rules_file_is_the_prometheusrules_groups():
    doc = yaml.safe_load(RULE.read_text())
    assert (doc["apiVersion"], doc["kind"]) == ("monitoring.coreos.com/v1", "PrometheusRule")
    assert yaml.safe_load(PLAIN.read_text()) == {"groups": doc["spec"]["groups"]}, "run `make alert-rules`"


def test_the_rules_alert_on_what_the_issue_asks_and_use_only_pushed_metrics():
    found = rules(yaml.safe_load(PLAIN.read_text())["groups"])
    assert {r["alert"] for r in found} >= {"IngressAuditNoRecentSuccess", "IngressAuditSuccessMetricAbsent",
                                           "IngressAuditReportIncomplete", "IngressAuditCriticalControlFailed",
                                           "IngressAuditHighControlFailed", "IngressAuditRejectRatioHigh"}
    for r in found:
        names = set(re.findall(r"\bingress_audit_[a-z_]+", r["expr"]))
        assert names and names <= set(METRIC_NAMES), (r["alert"], names - set(METRIC_NAMES))
        assert r["labels"]["severity"] in ("critical", "warning")
        assert r["annotations"]["summary"] and r["annotations"]["description"]


def test_promtool_checks_the_rules():
    result = subprocess.run([promtool(), "check", "rules", str(PLAIN)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("test_file", PROMTOOL_TESTS, ids=lambda p: p.name)
def test_promtool_unit_tests_pass(test_file):
    result = subprocess.run([promtool(), "test", "rules", str(test_file)], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_promtool_tests_catch_a_changed_threshold(tmp_path):
    # proof the unit tests can fail: the same tests over rules with a 10% reject threshold
    mutated = PLAIN.read_text().replace("> 0.01", "> 0.1")
    assert mutated != PLAIN.read_text()
    (tmp_path / "rules.yml").write_text(mutated)
    for test_file in PROMTOOL_TESTS:
        doc = yaml.safe_load(test_file.read_text())
        doc["rule_files"] = ["rules.yml"]
        (tmp_path / test_file.name).write_text(yaml.safe_dump(doc))
    result = subprocess.run([promtool(), "test", "rules", *(str(tmp_path / p.name) for p in PROMTOOL_TESTS)],
                            capture_output=True, text=True)
    assert result.returncode != 0 and "IngressAuditRejectRatioHigh" in result.stdout + result.stderr
