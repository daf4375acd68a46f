"""Where the real public log samples live (../shared/real_samples), or a skip when absent."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

# ../shared/real_samples beside the checkout (CI has it); INGRESS_AUDIT_REAL_SAMPLES overrides
REAL_SAMPLES = Path(os.environ.get("INGRESS_AUDIT_REAL_SAMPLES") or Path(__file__).resolve().parents[2] / "shared" / "real_samples")


def sample(relative: str) -> Path:
    path = REAL_SAMPLES / relative
    if not path.exists():
        pytest.skip(f"real samples not present at {REAL_SAMPLES} (they live beside the checkout in ../shared)")
    return path


def golden(relative: str) -> list[dict]:
    return json.loads(sample(relative).read_text())["expected"]
