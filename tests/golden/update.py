"""Regenerate tests/golden/sample_week_findings.json from a run over the sample week.

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
    from ingress_audit.pipeline import run_audit
    from ingress_audit.policy import load_policy

    with tempfile.TemporaryDirectory() as tmp:
        findings = run_audit([str(SAMPLE / "archive")], resolve_period("2026-11-16", "2026-11-23", None),
                             load_policy(SAMPLE / "policy.yaml"), Path(tmp) / "cache", Path(tmp) / "out",
                             progress=False)
    GOLDEN.write_text(json.dumps(summarize(findings), indent=1, sort_keys=True) + "\n")
    print(f"wrote {GOLDEN}")


if __name__ == "__main__":
    main()
