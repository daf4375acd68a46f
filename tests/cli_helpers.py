"""Run the real entry point in-process, as a shell would, and capture what it prints."""

from __future__ import annotations

import sys
from dataclasses import dataclass

import pytest

from ingress_audit.cli import main


@dataclass
class Result:
    code: int
    out: str
    err: str


def run_cli(capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch, *args: str) -> Result:
    monkeypatch.setattr(sys, "argv", ["ingress-audit", *args])
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        main()
    captured = capsys.readouterr()
    code = exit_info.value.code
    return Result(code if isinstance(code, int) else (0 if code is None else 1), captured.out, captured.err)
