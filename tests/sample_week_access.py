"""The sample week run once through the whole pipeline, for the access, auth and coverage controls.

    from .sample_week_access import sample_week  # noqa: F401  (the fixture)

    def test_x(sample_week):
        rows = sample_week.findings("AP-02")

`audit_period` stages sample_data/archive with sample_data/policy.yaml and runs every control into
a temporary folder; the result is computed once per test process (staging takes 10-30 s) and
handed to each module through a module-scoped fixture. The planted incidents and look-alikes
come from sample_data/expected_incidents.yaml and expected_lookalikes.yaml, so the tests name
entities from there rather than repeating them.
"""

from __future__ import annotations

import functools
import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from ingress_audit.period import resolve_period
from ingress_audit.pipeline import audit_period
from ingress_audit.policy import load_policy

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data"
PERIOD = resolve_period("2026-11-16", "2026-11-23", None)


@dataclass(frozen=True)
class SampleWeek:
    document: dict  # findings.json
    incidents: dict[str, dict]  # expected_incidents.yaml by id
    lookalikes: dict[str, dict]  # expected_lookalikes.yaml by id

    def control(self, control_id: str) -> dict:
        (found,) = [c for c in self.document["controls"] if c["id"] == control_id]
        assert found["status"] != "error", found.get("error")
        return found

    def findings(self, control_id: str) -> list[dict]:
        control = self.control(control_id)
        assert control["finding_count"] == len(control["findings"]), "more findings than findings.json keeps"
        return control["findings"]

    def waived(self, control_id: str) -> list[dict]:
        return [w["row"] for w in self.document["waivers"]["applied"] if w["control"] == control_id]


@functools.cache
def _run_once() -> SampleWeek:
    work = Path(tempfile.mkdtemp(prefix="sample-week-access-"))
    try:
        policy = load_policy(SAMPLE / "policy.yaml")
        document = audit_period([str(SAMPLE / "archive")], PERIOD, policy, work / "cache", progress=False).findings
        # findings.json is the contract: what the report and a reader get is the document as JSON
        written = json.loads(json.dumps(document, ensure_ascii=False))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return SampleWeek(written, _by_id("expected_incidents.yaml"), _by_id("expected_lookalikes.yaml"))


def _by_id(name: str) -> dict[str, dict]:
    return {entry["id"]: entry for entry in yaml.safe_load((SAMPLE / name).read_text(encoding="utf-8"))}


@pytest.fixture(scope="module")
def sample_week() -> SampleWeek:
    return _run_once()
