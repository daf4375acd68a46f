"""Wire the stages: sources -> stage -> tables (and, for `run`, controls -> report -> publish)."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import duckdb

from . import db, formats, logs
from .period import Period
from .policy import Policy
from .publish import PublishResult
from .resources import queries_dir
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
    with logs.stage("fetch") as counts:
        for spec in specs:
            for ref in list_objects(spec, period, s3_client=client):
                if ref.url not in seen:  # overlapping sources must not count an object twice
                    seen.add(ref.url)
                    refs.append(ref)
        fetched = fetch_objects(refs, cache_dir / "objects", s3_client=client, progress=progress)
        counts.update(objects=len(fetched), downloaded=sum(1 for f in fetched if not f.cached and not f.error),
                      bytes=sum(f.ref.size for f in fetched), errors=sum(1 for f in fetched if f.error))
    with logs.stage("parse") as counts:
        staged = stage_objects(fetched, period, candidates, cache_dir, progress=progress)
        counts.update(staged.totals(), reused=sum(1 for o in staged.objects if o.reused), unreadable=len(staged.errors))
    for o in staged.errors:
        log.warning("unreadable: %s: %s", o.object, o.error)
    return staged


def load_period(
    sources: list[str],
    period: Period,
    policy: Policy,
    cache_dir: Path,
    *,
    staged_url: str | None = None,
    progress: bool = True,
) -> StagedPeriod:
    """The period's tables' inputs: staged from the sources, or read from days staged to
    `staged_url` by `stage --out` (staged_read.py)."""
    if staged_url is None:
        return stage_period(sources, period, policy, cache_dir, progress=progress)
    from .staged_read import load_staged

    with logs.stage("staged") as counts:
        staged = load_staged(staged_url, period, cache_dir, progress=progress)
        counts.update(staged.totals(), files=len(staged.files), days_missing=len(staged.missing_days))
    for o in staged.errors:
        log.warning("unreadable: %s: %s", o.object, o.error)
    return staged


def open_period(staged: StagedPeriod, cache_dir: Path) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with the period's tables, for controls and ad-hoc SQL."""
    from .staged_read import StagedDays, open_staged_tables

    con = db.connect(cache_dir / "tmp" / "duckdb")
    con.execute("SET preserve_insertion_order = false")  # only staging needs file order
    if isinstance(staged, StagedDays):
        open_staged_tables(con, staged)
    else:
        open_tables(con, staged)
    return con


@dataclass
class RunState:
    """How far a run got, filled in as it goes: what is pushed as metrics and sent to webhooks
    when it fails half way (coverage known, report not written) as well as when it succeeds."""

    staged: StagedPeriod | None = None
    findings: dict | None = None
    result: RunResult | None = None


@dataclass
class Audit:
    staged: StagedPeriod
    findings: dict  # findings.json's document
    series: dict[str, list[dict]]  # the report queries' rows


def audit_period(
    sources: list[str],
    period: Period,
    policy: Policy,
    cache_dir: Path,
    *,
    controls=None,
    staged_url: str | None = None,
    progress: bool = True,
    state: RunState | None = None,
) -> Audit:
    """Stage the period (or read its staged days) and run every control and report query:
    everything but the outputs."""
    from .controls import expired_waivers, load_controls, run_controls
    from .findings import build_findings
    from .redact import mask_row
    from .report_data import collect

    controls = controls if controls is not None else load_controls()
    staged = load_period(sources, period, policy, cache_dir, staged_url=staged_url, progress=progress)
    if state is not None:
        state.staged = staged
    con = open_period(staged, cache_dir)
    try:
        with logs.stage("controls") as counts:
            results = run_controls(con, controls, policy, period)
            series = collect(con)
            if policy.report.mask_client_ips:  # the top-clients table and chart; waivers were matched raw
                series = {name: [mask_row(r) for r in rows] for name, rows in series.items()}
            counts.update({s: sum(1 for r in results if r.status == s) for s in ("pass", "fail", "info", "error")})
    finally:
        con.close()
    return Audit(staged, build_findings(staged, results, policy, expired_waivers(policy, period)), series)


@dataclass
class RunOptions:
    """Where `run` writes and how it signs (the CLI's flags, checked before any work)."""

    out: str  # a folder, or s3://bucket/prefix (the period's folder is added)
    policy_path: Path | None = None
    sign_key: str | None = None  # a path or PEM text; neither key nor cert: a development key
    sign_cert: str | None = None
    tsa_url: str | None = None  # RFC 3161 timestamp authority: PAdES B-T instead of B-B
    retain_days: int | None = None  # S3 Object Lock COMPLIANCE retention of the published report
    previous: Path | None = None  # last period's report folder, when not found by itself
    staged: str | None = None  # s3://… written by `stage --out`: read the period's days instead of the sources


@dataclass
class RunResult:
    findings: dict
    out_dir: Path  # where the outputs were written locally
    paths: dict[str, Path]
    published: PublishResult | None = None
    already_published: str | None = None  # the URL, when an identical report was there

    def location(self) -> str:
        """Where the report is: the published folder, else the local one."""
        if self.published is not None:
            return self.published.url
        return self.already_published or str(self.out_dir)


def run_audit(
    sources: list[str],
    period: Period,
    policy: Policy,
    cache_dir: Path,
    options: RunOptions,
    *,
    progress: bool = True,
    state: RunState | None = None,
) -> RunResult:
    """Stage the period, run every control, write and sign the report, publish it when asked."""
    from .controls import load_controls
    from .evidence.keys import load_identity
    from .evidence.manifest import sha256_file
    from .output_target import OutputTarget
    from .outputs import ALL_OUTPUTS, MANIFEST, collect_evidence, write_outputs
    from .report import ReportInput

    # everything that can be wrong with the configuration is found before any download
    controls = load_controls()
    identity = load_identity(options.sign_key, options.sign_cert, dev_dir=cache_dir / "dev-signing")
    target = OutputTarget.resolve(options.out, period, cache_dir, options.retain_days)

    audit = audit_period(sources, period, policy, cache_dir, controls=controls, staged_url=options.staged,
                         progress=progress, state=state)
    staged, findings, series = audit.staged, audit.findings, audit.series
    if state is not None:
        state.findings = findings

    previous = target.previous(options.previous, period, cache_dir)
    evidence = collect_evidence(staged, _query_files(controls), queries_dir(), options.policy_path, policy)
    report = ReportInput(
        findings=findings, series=series, inputs=evidence.inputs, queries=evidence.queries,
        policy=evidence.policy, signer=identity.signer_block(), sources=_report_sources(sources, audit.staged),
        previous=_read_json(previous.get("findings.json")),
    )
    previous_manifest = previous.get(MANIFEST)
    with logs.stage("report", signer=identity.subject, development_key=identity.development) as counts:
        paths = write_outputs(
            target.local_dir, findings, report, evidence, identity, duckdb_version=duckdb.__version__,
            previous_manifest_sha256=sha256_file(previous_manifest) if previous_manifest else None,
            tsa_url=options.tsa_url,
        )
        counts.update(folder=str(target.local_dir), compared_with_previous=report.previous is not None)
    result = RunResult(findings, target.local_dir, paths)
    if state is not None:  # written: a failed publish below still leaves a local report to point at
        state.result = result
    if target.s3 is not None:
        with logs.stage("publish") as counts:
            result.published, result.already_published = target.publish(paths, ALL_OUTPUTS, options.retain_days)
            counts.update(url=result.location(),
                          uploaded=len(result.published.uploaded) if result.published else 0,
                          already_published=result.already_published is not None)
    return result


def _report_sources(sources: list[str], staged: StagedPeriod) -> list[str]:
    """The sources the report names: as given, or those the staged days were staged from."""
    url = getattr(staged, "url", None)  # a StagedDays
    return list(sources) if url is None else [*staged.sources, f"(staged: {url})"]


def _query_files(controls) -> list[tuple[str | None, Path]]:
    """Every SQL file that shapes the results: normalization, shared views, controls, report series."""
    root = queries_dir()
    by_path = {c.path.resolve(): c.id for c in controls}
    return [(by_path.get(p.resolve()), p) for p in sorted(root.rglob("*.sql"))]


def _read_json(path: Path | None) -> dict | None:
    if path is None:
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        log.warning("%s: cannot read the previous findings, so there is no comparison: %s", path, exc)
        return None
