"""Compliance frameworks as data: each file lists requirements and the control ids that evidence them.

queries/frameworks/<name>.yaml:
    framework: SOC 2 (2017 Trust Services Criteria, 2022 points of focus)
    prefix: SOC2
    requirements:
      CC6.1:
        title: Logical access security
        controls: [AP-02, FA-01]
Controls never copy SQL or name frameworks themselves; a test proves every mapped id exists
and every control is mapped at least once.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from .errors import ConfigError
from .resources import queries_dir


class _Requirement(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str
    controls: list[str] = []


class _FrameworkFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    framework: str
    prefix: str
    requirements: dict[str, _Requirement]


@dataclass(frozen=True)
class Requirement:
    framework: str  # the framework's display name
    ref: str  # "SOC2:CC6.1"
    title: str
    controls: tuple[str, ...]


@cache
def load_frameworks(folder: Path | None = None) -> tuple[Requirement, ...]:
    folder = folder or queries_dir() / "frameworks"
    out = []
    for path in sorted(folder.glob("*.yaml")):
        try:
            data = _FrameworkFile.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
        except (yaml.YAMLError, ValidationError) as exc:
            raise ConfigError(f"framework mapping {path} is invalid: {str(exc).splitlines()[0]}") from None
        for key, req in data.requirements.items():
            out.append(Requirement(data.framework, f"{data.prefix}:{key}", req.title, tuple(req.controls)))
    return tuple(out)


def framework_ids_by_control() -> dict[str, list[str]]:
    by_control: dict[str, list[str]] = {}
    for req in load_frameworks():
        for control_id in req.controls:
            by_control.setdefault(control_id, []).append(req.ref)
    return by_control
