"""The policy file: YAML, validated when loaded; a bad file stops the run with a clear message."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import ConfigError


class _Strict(BaseModel):
    # A misspelt key must be an error, not a silently ignored setting.
    model_config = ConfigDict(extra="forbid", frozen=True)


class NginxLogFormat(_Strict):
    name: str = Field(description="a name for the controller that logs this way")
    log_format: str = Field(description="the nginx log_format / log-format-upstream string")
    match: str | None = Field(None, description="glob on the object key; matching objects use this format without sniffing")


class NginxJsonFormat(_Strict):
    name: str
    fields: dict[str, str] = Field(default_factory=dict, description="column name -> JSON key")
    match: str | None = None


class FormatsPolicy(_Strict):
    nginx_log_formats: list[NginxLogFormat] = Field(default_factory=list)
    nginx_json: list[NginxJsonFormat] = Field(default_factory=list)


class Policy(_Strict):
    formats: FormatsPolicy = Field(default_factory=FormatsPolicy)


def load_policy(path: Path | None) -> Policy:
    if path is None:
        return Policy()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"policy file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"policy file {path} cannot be read: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"policy file {path} is not valid YAML{where}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"policy file {path} must be a YAML mapping of keys")
    try:
        return Policy.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise ConfigError(f"policy file {path}: {where}: {first['msg']}") from None
