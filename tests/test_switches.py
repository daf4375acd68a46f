"""On/off settings from the environment: one spelling for all, and a typo is refused, not read as off."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ingress_audit.errors import ConfigError
from ingress_audit.sources_s3 import make_s3_client
from ingress_audit.switches import env_switch

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(("value", "default", "expected"), [
    (None, True, True), (None, False, False), ("", True, True), ("  ", False, False),
    ("1", False, True), ("TRUE", False, True), (" yes ", False, True), ("On", False, True),
    ("0", True, False), ("false", True, False), ("NO", True, False), ("off", True, False),
])
def test_the_spellings_of_on_and_off(monkeypatch, value, default, expected):
    if value is None:
        monkeypatch.delenv("INGRESS_AUDIT_X", raising=False)
    else:
        monkeypatch.setenv("INGRESS_AUDIT_X", value)
    assert env_switch("INGRESS_AUDIT_X", default) is expected


@pytest.mark.parametrize("value", ["maybe", "2", "enabled", "of"])
def test_any_other_value_is_refused_naming_the_setting(monkeypatch, value):
    monkeypatch.setenv("INGRESS_AUDIT_X", value)
    with pytest.raises(ConfigError, match=f"INGRESS_AUDIT_X='{value}' is neither on nor off"):
        env_switch("INGRESS_AUDIT_X", True)


@pytest.mark.parametrize("name", ["INGRESS_AUDIT_S3_PATH_STYLE", "INGRESS_AUDIT_S3_ETAG_MD5"])
def test_a_bad_s3_switch_stops_the_run_before_any_download(monkeypatch, name):
    monkeypatch.setenv(name, "sometimes")
    with pytest.raises(ConfigError, match=name):
        make_s3_client()


@pytest.mark.parametrize("name", ["INGRESS_AUDIT_TOKENIZER", "INGRESS_AUDIT_TOKENIZER_AOT"])
def test_a_bad_tokenizer_switch_is_one_line_and_exit_2(tmp_path, name):
    """Read when staging is imported: still the CLI's one line and exit code 2, nothing written."""
    proc = subprocess.run(
        [sys.executable, "-m", "ingress_audit", "stage", "--source", str(ROOT / "sample_data" / "archive"),
         "--from", "2026-11-16", "--to", "2026-11-23", "--cache-dir", str(tmp_path / "cache")],
        env={**os.environ, name: "fast"}, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert proc.stderr.strip() == (f"ingress-audit: error: {name}='fast' is neither on nor off "
                                   "(1/0, true/false, yes/no, on/off)")
    assert not (tmp_path / "cache" / "staged").exists()
