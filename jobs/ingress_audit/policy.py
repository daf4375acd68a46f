"""The policy file: YAML, validated when loaded; a bad file stops the run with a clear message.

Precedence for every setting: command line > environment > policy file > default.
- `--fail-on` > `INGRESS_AUDIT_FAIL_ON` > `fail_on:`
- `--set thresholds.NAME=VALUE` > `INGRESS_AUDIT_THRESHOLD_<NAME>` > `thresholds: {NAME: …}`
- `INGRESS_AUDIT_MASK_CLIENT_IPS` > `report: {mask_client_ips: …}`
- `--pushgateway` > `INGRESS_AUDIT_PUSHGATEWAY` > `pushgateway:` (webhook URLs are secrets: never here)
`sample_data/policy.yaml` is the commented example of every key.
"""

from __future__ import annotations

import ipaddress
import os
from datetime import date
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .errors import ConfigError

Severity = Literal["info", "low", "medium", "high", "critical"]
SEVERITY_ORDER: dict[str, int] = {"info": 0, "low": 1, "medium": 2, "high": 3, "critical": 4}


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


class Thresholds(_Strict):
    """Every count or rate a control compares against; the defaults suit a mid-size cluster."""

    brute_force_failures: int = Field(20, ge=1, description="failed logins from one client within the window")
    brute_force_window_minutes: int = Field(5, ge=1)
    stuffing_clients: int = Field(20, ge=2, description="distinct clients failing on one login path within the window")
    stuffing_window_minutes: int = Field(60, ge=1)
    success_after_failures: int = Field(10, ge=1, description="failures before a success that counts as a burst")
    request_rate_per_minute: int = Field(600, ge=1, description="requests from one client in any one minute")
    rate_window_minutes: int = Field(1, ge=1)
    scanning_distinct_404: int = Field(50, ge=1, description="distinct 404 paths from one client in the period")
    error_rate_percent: float = Field(20.0, gt=0, le=100, description="4xx/5xx share of an upstream's or host's hour")
    error_min_requests: int = Field(50, ge=1, description="requests an hour needs before its error rate counts")
    api_unauthorized_per_source: int = Field(20, ge=1, description="API server 401s from one source IP")
    rbac_denials_per_user: int = Field(10, ge=1, description="403 forbid decisions for one user")
    cert_expiry_days: int = Field(21, ge=1, description="certificates expiring within this many days of the period end")
    gap_minutes: int = Field(60, ge=1, description="a source silent this long is a coverage gap")
    gap_busy_records: int = Field(
        10, ge=1, description="records a source must log in the gap_minutes before and after a silence for it to be a gap"
    )
    clock_skew_seconds: int = Field(300, ge=1)


class Waiver(_Strict):
    control: str = Field(description="the control id, e.g. AP-03")
    entity: dict[str, str] = Field(description="finding columns that must all match, e.g. {client_ip: 10.0.5.10}")
    owner: str
    reason: str
    expires: date = Field(
        description="the last day the waiver applies, compared with the period's last day; after it, it is reported as expired"
    )

    @field_validator("entity")
    @classmethod
    def _not_empty(cls, value: dict[str, str]) -> dict[str, str]:
        if not value:
            raise ValueError("a waiver must name at least one entity column")
        return value


class Baseline(_Strict):
    ingress_manifests: Path | None = Field(None, description="folder of the Ingress manifests the GitOps repository holds")


class ReportPolicy(_Strict):
    mask_client_ips: bool = Field(
        False, description="mask client addresses in findings and the report (IPv4 /24, IPv6 /48), for sharing outside security"
    )


class Policy(_Strict):
    trusted_networks: list[str] = Field(default_factory=list, description="CIDRs (v4 and v6) of trusted clients")
    trusted_proxies: list[str] = Field(default_factory=list, description="CIDRs whose X-Forwarded-For is believed")
    restricted_hosts: list[str] = Field(default_factory=list, description="host globs only trusted networks may reach")
    restricted_paths: list[str] = Field(default_factory=list, description="path globs only trusted networks may reach")
    restricted_upstreams: list[str] = Field(
        default_factory=list,
        description="upstream globs only trusted networks may reach (for formats that do not log the host)",
    )
    plaintext_allowed_hosts: list[str] = Field(
        default_factory=list, description="host globs that may serve content over plain http"
    )
    login_paths: list[str] = Field(
        default_factory=lambda: ["/login", "*/login", "/signin", "*/signin", "*/auth/*", "/oauth/token", "*/oauth/token"],
        description="path globs where a 401/403 is a failed login",
    )
    approved_actors: list[str] = Field(
        default_factory=list, description="identity globs allowed to change ingresses, TLS secrets and RBAC"
    )
    controller_namespaces: list[str] = Field(
        default_factory=lambda: ["ingress-nginx", "traefik", "kube-system"],
        description="namespaces of the ingress controllers, whose ConfigMaps are the door's configuration",
    )
    fail_on: Severity = Field("high", description="exit 1 when a failing control is at least this severe")
    thresholds: Thresholds = Field(default_factory=Thresholds)
    waivers: list[Waiver] = Field(default_factory=list)
    baseline: Baseline = Field(default_factory=Baseline)
    formats: FormatsPolicy = Field(default_factory=FormatsPolicy)
    report: ReportPolicy = Field(default_factory=ReportPolicy)
    pushgateway: str | None = Field(
        None, description="Prometheus Pushgateway URL for the run's metrics (--pushgateway and INGRESS_AUDIT_PUSHGATEWAY win)"
    )

    @field_validator("trusted_networks", "trusted_proxies")
    @classmethod
    def _cidrs(cls, values: list[str]) -> list[str]:
        for value in values:
            try:
                ipaddress.ip_network(value, strict=False)
            except ValueError:
                raise ValueError(f"{value!r} is not a CIDR (e.g. 10.0.0.0/8 or 2001:db8::/32)") from None
        return values


def load_policy(
    path: Path | None,
    *,
    fail_on: str | None = None,
    overrides: list[str] | None = None,
    environ: dict[str, str] | None = None,
) -> Policy:
    """Read, merge (CLI > env > file) and validate; every problem is one ConfigError line."""
    env = os.environ if environ is None else environ
    data = _read_yaml(path) if path is not None else {}
    thresholds = data.get("thresholds") or {}
    if isinstance(thresholds, dict):  # anything else is reported by validation below
        thresholds = dict(thresholds)
        for name in Thresholds.model_fields:
            value = env.get(f"INGRESS_AUDIT_THRESHOLD_{name.upper()}")
            if value is not None:
                thresholds[name] = value
        for item in overrides or []:
            key, sep, value = item.partition("=")
            if not sep or not key.startswith("thresholds."):
                raise ConfigError(f"--set {item!r}: use --set thresholds.NAME=VALUE")
            thresholds[key.removeprefix("thresholds.")] = value
        data["thresholds"] = thresholds
    mask = env.get("INGRESS_AUDIT_MASK_CLIENT_IPS")
    if mask:
        report = data.get("report")
        data["report"] = {**(report if isinstance(report, dict) else {}), "mask_client_ips": mask}
    if env.get("INGRESS_AUDIT_FAIL_ON"):
        data["fail_on"] = env["INGRESS_AUDIT_FAIL_ON"]
    if fail_on:
        data["fail_on"] = fail_on
    try:
        policy = Policy.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise ConfigError(f"{_name(path)}: {key}: {first['msg']}") from None
    if policy.baseline.ingress_manifests is not None:
        folder = policy.baseline.ingress_manifests
        if not folder.is_absolute() and path is not None:
            folder = (path.parent / folder).resolve()
        if not folder.is_dir():
            raise ConfigError(f"{_name(path)}: baseline.ingress_manifests: folder {folder} does not exist")
        policy = policy.model_copy(update={"baseline": Baseline(ingress_manifests=folder)})
    return policy


def _name(path: Path | None) -> str:
    return f"policy file {path}" if path is not None else "policy"


def _read_yaml(path: Path) -> dict:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"policy file {path} does not exist") from None
    except IsADirectoryError:
        raise ConfigError(f"policy file {path} is a folder") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"policy file {path} cannot be read: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"policy file {path} is not valid YAML{where}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"policy file {path} must be a YAML mapping of keys")
    return data
