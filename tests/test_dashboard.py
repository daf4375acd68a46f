"""grafana-dashboard.json: loads, and every query is over metrics the job actually pushes."""

from __future__ import annotations

import json
import re
from pathlib import Path

from ingress_audit.metrics import METRIC_NAMES

DASHBOARD = Path(__file__).resolve().parents[1] / "grafana-dashboard.json"
METRIC = re.compile(r"\bingress_audit_[a-z_]+")


def panels(items: list[dict]):
    for p in items:
        yield p
        yield from panels(p.get("panels", []))  # a collapsed row holds its panels


def test_every_panel_queries_only_metrics_the_job_pushes():
    dash = json.loads(DASHBOARD.read_text())
    used = set()
    for p in panels(dash["panels"]):
        if p["type"] == "row":
            continue
        assert p.get("targets"), f"panel {p['title']!r} has no query"
        for t in p["targets"]:
            names = set(METRIC.findall(t["expr"]))
            assert names, (p["title"], t["expr"])
            assert names <= set(METRIC_NAMES), (p["title"], names - set(METRIC_NAMES))
            used |= names
    for var in dash["templating"]["list"]:
        if var["type"] == "query":
            assert set(METRIC.findall(var["definition"])) <= set(METRIC_NAMES), var["name"]
    # what the issue asks the dashboard to show
    assert {"ingress_audit_failing_controls", "ingress_audit_records_read", "ingress_audit_records_rejected",
            "ingress_audit_unreadable_objects", "ingress_audit_stage_duration_seconds",
            "ingress_audit_last_success_timestamp_seconds"} <= used


def test_panels_have_unique_ids_and_fit_the_grid():
    ps = list(panels(json.loads(DASHBOARD.read_text())["panels"]))
    assert len({p["id"] for p in ps}) == len(ps)
    assert all(0 <= p["gridPos"]["x"] and p["gridPos"]["x"] + p["gridPos"]["w"] <= 24 for p in ps)


def test_every_query_is_valid_promql(tmp_path):
    # promtool has no expression checker, but it parses recording rules: one per panel query
    import shutil
    import subprocess

    import pytest
    import yaml

    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (apt-get install prometheus)")
    exprs = [t["expr"].replace("$clusters", ".*").replace("$control", ".*")
             for p in panels(json.loads(DASHBOARD.read_text())["panels"]) for t in p.get("targets", [])]
    rules = {"groups": [{"name": "dashboard", "rules": [{"record": f"dashboard:query{i}", "expr": e} for i, e in enumerate(exprs)]}]}
    (tmp_path / "rules.yml").write_text(yaml.safe_dump(rules))
    result = subprocess.run([promtool, "check", "rules", str(tmp_path / "rules.yml")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
