"""Controls: one SQL file and its metadata per id, loaded, validated and run over the tables.

Layout: queries/controls/<category>/<ID>.sql with <ID>.yaml beside it. The id in the YAML must
equal the file name (a test enforces it, and loading refuses a mismatch). Every control's SQL
returns its evidence in one shape: `resource` (the entity, in a few words) and `reason` (one
line) first, then columns named after the table columns they hold (client_ip, host, user,
namespace, name …) and any measures. A detection control's rows are its findings (none: pass);
an `info` control's rows are a change log or summary. A control whose SQL fails is `error` and
the run goes on.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Literal

import duckdb
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import ConfigError
from .frameworks import framework_ids_by_control
from .period import Period
from .policy import Policy, Severity, Waiver
from .policy_sql import install_policy
from .redact import mask_row, redact_secrets
from .resources import queries_dir

log = logging.getLogger(__name__)

Category = Literal["access_patterns", "failed_auth", "certificates", "policy_drift", "coverage"]
EVIDENCE_LEADING = ("resource", "reason")
MAX_FINDINGS_KEPT = 500  # per control in findings.json and the report; the count stays exact


class ControlMeta(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[A-Z]{2}-\d{2}$")
    title: str = Field(min_length=5)
    category: Category
    severity: Severity
    kind: Literal["detection", "info"] = "detection"
    description: str = Field(min_length=20)
    # why it matters, for the compliance officer reading the report: the risk, in plain words
    rationale: str = Field(min_length=20)
    remediation: str = Field(min_length=10)
    policy_keys: list[str] = Field(default_factory=list)
    entity: list[str] = Field(min_length=1, description="finding columns that identify what a waiver names")


@dataclass(frozen=True)
class Control:
    meta: ControlMeta
    sql: str
    path: Path
    frameworks: tuple[str, ...] = ()

    @property
    def id(self) -> str:
        return self.meta.id


@dataclass
class ControlResult:
    control: Control
    status: Literal["pass", "fail", "info", "error"]
    findings: list[dict] = field(default_factory=list)
    finding_count: int = 0
    # cluster -> rows naming it, over every kept row (not only the ones shown); {} when the
    # control's evidence has no `cluster` column
    finding_count_by_cluster: dict[str, int] = field(default_factory=dict)
    waived: list[dict] = field(default_factory=list)  # {"waiver": Waiver, "row": {...}}
    error: str | None = None
    seconds: float = 0.0


def controls_dir() -> Path:
    return queries_dir() / "controls"


def load_controls(folder: Path | None = None) -> list[Control]:
    """Every control, validated; a bad file is a ConfigError naming it."""
    folder = folder or controls_dir()
    mapping = framework_ids_by_control()
    controls = []
    for meta_path in sorted(folder.rglob("*.yaml")):
        sql_path = meta_path.with_suffix(".sql")
        try:
            data = yaml.safe_load(meta_path.read_text(encoding="utf-8"))
            meta = ControlMeta.model_validate(data)
        except (yaml.YAMLError, ValidationError) as exc:
            first = exc.errors()[0] if isinstance(exc, ValidationError) else {"loc": (), "msg": str(exc).splitlines()[0]}
            key = ".".join(str(p) for p in first["loc"])
            raise ConfigError(f"control {meta_path}: {key + ': ' if key else ''}{first['msg']}") from None
        if meta.id != meta_path.stem:
            raise ConfigError(f"control {meta_path}: id {meta.id} does not match the file name")
        if meta.category != meta_path.parent.name:
            raise ConfigError(f"control {meta_path}: category {meta.category} does not match its folder")
        if not sql_path.is_file():
            raise ConfigError(f"control {meta_path}: {sql_path.name} is missing beside it")
        controls.append(Control(meta, sql_path.read_text(encoding="utf-8"), sql_path, tuple(mapping.get(meta.id, ()))))
    orphans = {p.stem for p in folder.rglob("*.sql")} - {c.id for c in controls}
    if orphans:
        raise ConfigError(f"controls without metadata in {folder}: {', '.join(sorted(orphans))}")
    ids = [c.id for c in controls]
    if len(ids) != len(set(ids)):
        raise ConfigError(f"duplicate control ids in {folder}")
    return controls


def run_controls(
    con: duckdb.DuckDBPyConnection,
    controls: list[Control],
    policy: Policy,
    period: Period,
    today: date | None = None,
) -> list[ControlResult]:
    """Run every control; a failing SQL becomes status `error`, never a stopped run.

    A waiver applies when it has not expired on the period's last day (`today` overrides):
    rerunning an old period later gives the same verdicts.
    """
    install_policy(con, policy, period)
    today = today or last_day(period)
    active = [w for w in policy.waivers if w.expires >= today]
    results = []
    for control in controls:
        started = time.perf_counter()
        result = _run_one(con, control, [w for w in active if w.control == control.id],
                          mask_client_ips=policy.report.mask_client_ips)
        result.seconds = time.perf_counter() - started
        log.info("%s %s (%d findings, %.2fs)", control.id, result.status, result.finding_count, result.seconds)
        results.append(result)
    return results


def last_day(period: Period) -> date:
    return (period.end - timedelta(microseconds=1)).date()


def expired_waivers(policy: Policy, period: Period) -> list[Waiver]:
    return [w for w in policy.waivers if w.expires < last_day(period)]


def _run_one(
    con: duckdb.DuckDBPyConnection, control: Control, waivers: list[Waiver], *, mask_client_ips: bool = False
) -> ControlResult:
    try:
        # the connection itself, not a cursor: the policy's variables are per connection
        cur = con.execute(control.sql)
        names = [d[0] for d in cur.description or []]
        if tuple(names[:2]) != EVIDENCE_LEADING:
            raise ValueError(f"evidence must start with columns resource, reason (got {', '.join(names[:2]) or 'none'})")
        rows = [dict(zip(names, (plain_value(v) for v in r))) for r in cur.fetchall()]
    except (duckdb.Error, ValueError) as exc:
        message = str(exc).strip().splitlines()[0]
        log.warning("%s: SQL failed: %s", control.id, message)
        return ControlResult(control, "error", error=message)
    kept, waived = [], []
    for row in rows:
        # waivers match the raw values; what is kept is redacted (and masked) evidence
        waiver = next((w for w in waivers if _matches(w, row)), None)
        if waiver is None:
            kept.append(row)
        else:
            waived.append({"waiver": waiver, "row": evidence_row(row, mask_client_ips)})
    if control.meta.kind == "info":
        status = "info"
    else:
        status = "fail" if kept else "pass"
    shown = [evidence_row(row, mask_client_ips) for row in kept[:MAX_FINDINGS_KEPT]]
    by_cluster = count_by_cluster(kept) if "cluster" in names else {}
    return ControlResult(control, status, shown, len(kept), by_cluster, waived)


def count_by_cluster(rows: list[dict]) -> dict[str, int]:
    """Rows per cluster they name, sorted by cluster; a row naming none (NULL, '') counts under
    none. Every built-in control judges each cluster apart and names at most one cluster per
    row, so its counts add up to the rows that name one. The split on commas is kept for a control added to
    queries/controls that lists several in one cell ("eu, us", as string_agg makes it; labels
    hold no comma or space): such a row counts once under each, and the counts may then add up
    to more than the rows."""
    counts: dict[str, int] = {}
    for row in rows:
        value = row.get("cluster")
        names = value if isinstance(value, list) else str(value or "").split(",")
        for name in sorted({str(n).strip() for n in names} - {""}):
            counts[name] = counts.get(name, 0) + 1
    return dict(sorted(counts.items()))


def evidence_row(row: dict, mask_client_ips: bool = False) -> dict:
    """A row as findings.json and the report show it: secrets in URLs redacted and, when the
    policy asks (`report.mask_client_ips`), client addresses masked (redact.py)."""
    row = redact_secrets(row)
    return mask_row(row) if mask_client_ips else row


def _matches(waiver: Waiver, row: dict) -> bool:
    return all(str(row.get(k)) == v for k, v in waiver.entity.items())


def plain_value(value):
    """JSON-ready values: timestamps as UTC ISO strings, decimals as floats."""
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, list):
        return [plain_value(v) for v in value]
    if isinstance(value, dict):
        return {k: plain_value(v) for k, v in value.items()}
    return value
