"""Wire the stages: sources -> stage -> tables (and, for `run`, controls -> report -> publish)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import duckdb

from . import db, formats
from .period import Period
from .policy import Policy
from .sources import list_objects, make_s3_client, fetch_objects, parse_source
from .stage import Candidate, StagedPeriod, stage_objects
from .tables import open_tables

log = logging.getLogger(__name__)


def default_cache_dir() -> Path:
    env = os.environ.get("INGRESS_AUDIT_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ingress-audit"


def candidates_for(policy: Policy) -> list[Candidate]:
    """Formats from the policy first (they win ties when sniffing), then the built-in ones."""
    from .logformat import compile_nginx_log_format, nginx_json_format

    custom = [
        Candidate(compile_nginx_log_format(f.log_format), f.match) for f in policy.formats.nginx_log_formats
    ] + [Candidate(nginx_json_format(f.fields), f.match) for f in policy.formats.nginx_json]
    return custom + [Candidate(formats.builtin(kind)) for kind in formats.builtin_kinds()]


def stage_period(
    sources: list[str],
    period: Period,
    policy: Policy,
    cache_dir: Path,
    *,
    progress: bool = True,
) -> StagedPeriod:
    """List, fetch and stage every source's objects for the period."""
    specs = [parse_source(s) for s in sources]  # all URLs checked before any I/O
    candidates = candidates_for(policy)
    client = make_s3_client() if any(s.scheme == "s3" for s in specs) else None
    refs, seen = [], set()
    for spec in specs:
        for ref in list_objects(spec, period, s3_client=client):
            if ref.url not in seen:  # overlapping sources must not count an object twice
                seen.add(ref.url)
                refs.append(ref)
    fetched = fetch_objects(refs, cache_dir / "objects", s3_client=client, progress=progress)
    staged = stage_objects(fetched, period, candidates, cache_dir, progress=progress)
    for o in staged.errors:
        log.warning("unreadable: %s: %s", o.object, o.error)
    return staged


def open_period(staged: StagedPeriod, cache_dir: Path) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with the period's tables, for controls and ad-hoc SQL."""
    con = db.connect(cache_dir / "tmp" / "duckdb")
    con.execute("SET preserve_insertion_order = false")  # only staging needs file order
    open_tables(con, staged)
    return con


def run_audit(
    sources: list[str],
    period: Period,
    policy: Policy,
    cache_dir: Path,
    out_dir: Path,
    *,
    progress: bool = True,
) -> dict:
    """Stage the period, run every control, write findings.json; returns the findings document."""
    import json

    from .controls import expired_waivers, load_controls, run_controls
    from .findings import build_findings

    controls = load_controls()  # a bad control file stops the run before any download
    staged = stage_period(sources, period, policy, cache_dir, progress=progress)
    con = open_period(staged, cache_dir)
    results = run_controls(con, controls, policy, period)
    findings = build_findings(staged, results, policy, expired_waivers(policy, period))
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = out_dir / ".findings.json.tmp"
    tmp.write_text(json.dumps(findings, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(out_dir / "findings.json")
    return findings
