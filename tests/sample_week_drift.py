"""The sample week, staged once and run through every control, for the certificates and
policy_drift tests (tests/test_controls_certificates.py, tests/test_controls_drift.py).

    from .sample_week_drift import week  # the fixture: control id -> its findings.json entry

Staging the week takes 10-30 s. The fixture is imported into two test modules, and pytest makes
an imported fixture one fixture per module whatever its scope; so the first run of
`ingress_audit.pipeline.audit_period` (into a temporary folder of the session) is kept here and
the second module reuses it: the week is staged once per session.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ingress_audit.period import resolve_period
from ingress_audit.pipeline import audit_period
from ingress_audit.policy import load_policy

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data"


_RUN: dict[str, dict] = {}  # the findings.json of the one run, once made


@pytest.fixture(scope="module")
def week(tmp_path_factory) -> dict[str, dict]:
    """findings.json's control entries of the sample week, by control id."""
    if "doc" not in _RUN:
        tmp = tmp_path_factory.mktemp("sample-week-drift")
        policy = load_policy(SAMPLE / "policy.yaml")
        period = resolve_period("2026-11-16", "2026-11-23", None)
        _RUN["doc"] = audit_period([str(SAMPLE / "archive")], period, policy, tmp / "cache", progress=False).findings
    return {c["id"]: c for c in _RUN["doc"]["controls"]}


def rows(week: dict[str, dict], control_id: str) -> list[dict]:
    control = week[control_id]
    assert control["status"] != "error", control.get("error")
    return control["findings"]
