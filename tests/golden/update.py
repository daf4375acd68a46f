"""Regenerate the goldens from runs over the sample week: the verdicts
(tests/golden/sample_week_findings.json) and the report (tests/golden/sample_week_report.html).

    python -m tests.golden.update
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "sample_data"
GOLDEN = Path(__file__).with_name("sample_week_findings.json")


def summarize(findings: dict) -> dict:
    """What must not change silently: each control's verdict and the entities it names."""
    return {
        c["id"]: {
            "status": c["status"],
            "finding_count": c["finding_count"],
            # object paths are wherever the checkout is: name the archive root instead
            "resources": sorted(str(f["resource"]).replace(str(SAMPLE / "archive"), "<archive>") for f in c["findings"]),
        }
        for c in findings["controls"]
    }


def main() -> None:
    from ingress_audit.period import resolve_period
    from ingress_audit.pipeline import audit_period
    from ingress_audit.policy import load_policy

    with tempfile.TemporaryDirectory() as tmp:
        findings = audit_period([str(SAMPLE / "archive")], resolve_period("2026-11-16", "2026-11-23", None),
                                load_policy(SAMPLE / "policy.yaml"), Path(tmp) / "cache", progress=False).findings
    GOLDEN.write_text(json.dumps(summarize(findings), indent=1, sort_keys=True) + "\n")
    print(f"wrote {GOLDEN}")
    from tests.sample_week_report import update_golden

    print(f"wrote {update_golden()}")


if __name__ == "__main__":
    main()
