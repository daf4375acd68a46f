"""The `ingress-audit` command: parse flags, call the library, map errors to exit codes.

Exit codes (DESIGN.md): 0 done; 1 failing controls at or above --fail-on; 2 usage or
configuration error (one line, nothing written); 3 done, but some input could not be read.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
from datetime import date
from pathlib import Path
from typing import Annotated, Optional

import typer

from . import __version__, schema
from .errors import EXIT_INCOMPLETE, EXIT_INTERNAL, EXIT_OK, EXIT_TERMINATED, IngressAuditError

app = typer.Typer(
    name="ingress-audit",
    help="Audit Kubernetes ingress access logs and API audit logs archived in object storage.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
log = logging.getLogger("ingress_audit")

SourceOpt = Annotated[
    list[str],
    typer.Option(
        "--source",
        "-s",
        help="s3://bucket/prefix, file:///path or a folder; repeat for several; label with the cluster: prod-eu=s3://…",
        envvar="INGRESS_AUDIT_SOURCE",
        show_default=False,
    ),
]
FromOpt = Annotated[Optional[str], typer.Option("--from", help="period start, inclusive: YYYY-MM-DD (UTC midnight) or ISO 8601 [stage, query: default last week]")]
ToOpt = Annotated[Optional[str], typer.Option("--to", help="period end, exclusive")]
PeriodOpt = Annotated[Optional[str], typer.Option("--period", help="a named period instead of --from/--to: last-week (the last complete ISO week, Monday to Monday UTC)")]
AsOfOpt = Annotated[Optional[str], typer.Option("--as-of", help="with --period: the clock to compute it from, for reruns and backfills (YYYY-MM-DD or ISO 8601)", envvar="INGRESS_AUDIT_AS_OF")]
PolicyOpt = Annotated[
    Optional[Path],
    typer.Option("--policy", "-p", help="policy YAML (formats, networks, thresholds …)", envvar="INGRESS_AUDIT_POLICY"),
]
CacheOpt = Annotated[
    Optional[Path],
    typer.Option("--cache-dir", help="downloads and staged Parquet [default: $INGRESS_AUDIT_CACHE or ~/.cache/ingress-audit]"),
]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"ingress-audit {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="log debug detail")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="log warnings and errors only")] = False,
    log_format: Annotated[str, typer.Option("--log-format", help="text, or json: one JSON object per line (for a pod's log)", envvar="INGRESS_AUDIT_LOG_FORMAT")] = "text",
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="print the version")] = False,
) -> None:
    from . import logs
    from .errors import ConfigError

    if log_format not in logs.FORMATS:
        raise ConfigError(f"--log-format {log_format!r} is not one of {', '.join(logs.FORMATS)}")
    level = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    logs.configure(level, log_format)


def _settings(sources, start, end, period_name, policy_path, cache_dir, as_of=None, staged=None, **policy_overrides):
    """Everything a command needs, checked before anything is read or written."""
    from .errors import ConfigError
    from .period import resolve_period
    from .pipeline import default_cache_dir
    from .policy import load_policy

    if not sources and not staged:
        raise ConfigError("no --source given (or set INGRESS_AUDIT_SOURCE)")
    period = resolve_period(start, end, period_name, as_of=as_of)
    policy = load_policy(policy_path, **policy_overrides)
    return period, policy, cache_dir or default_cache_dir()


def _stage(sources, start, end, period_name, policy_path, cache_dir, as_of=None, staged=None):
    from .pipeline import load_period

    if not (start or end or period_name):
        # for a look at the archive the last complete week is the natural default; `run`, whose
        # report names its period, still requires one explicitly
        period_name = "last-week"
    period, policy, cache = _settings(sources, start, end, period_name, policy_path, cache_dir, as_of, staged=staged)
    return load_period(sources, period, policy, cache, staged_url=staged, progress=True), cache


StagedOpt = Annotated[
    Optional[str],
    typer.Option("--staged", help="s3://bucket/prefix written by `stage --out`: read the period's staged days instead of --source"),
]


def _not_on_command_line(ctx: typer.Context, name: str) -> bool:
    # by name: typer may vendor its own click, whose ParameterSource is another enum
    return getattr(ctx.get_parameter_source(name), "name", None) in ("ENVIRONMENT", "DEFAULT", None)


def _sources_or_staged(ctx: typer.Context, sources: list[str], staged: str | None) -> list[str]:
    """--staged replaces --source: both on the command line is an error; INGRESS_AUDIT_SOURCE is ignored."""
    from .errors import ConfigError
    from .staged_read import parse_staged_url

    if staged is None:
        return sources
    parse_staged_url(staged)  # a bad URL is exit 2 before any work
    if sources and not _not_on_command_line(ctx, "source"):
        raise ConfigError("give either --source or --staged, not both (--staged reads what `stage --out` staged from the sources)")
    return []


@app.command()
def stage(
    ctx: typer.Context,
    source: SourceOpt = [],  # noqa: B006 - typer needs a literal default
    start: FromOpt = None,
    end: ToOpt = None,
    period: PeriodOpt = None,
    as_of: AsOfOpt = None,
    policy: PolicyOpt = None,
    cache_dir: CacheOpt = None,
    out: Annotated[Optional[str], typer.Option("--out", help="s3://bucket/prefix: write UTC days of normalized Parquet there, hive-partitioned by day and source kind, each committed atomically (one --day, the period's --day-index, else every day of the period)")] = None,
    day: Annotated[Optional[str], typer.Option("--day", help="with --out: the UTC day to stage (YYYY-MM-DD)")] = None,
    day_index: Annotated[Optional[int], typer.Option("--day-index", help="with --out: stage the period's day N (0 = its first day); an Indexed Job's pods set it", envvar="JOB_COMPLETION_INDEX")] = None,
) -> None:
    """Fetch and normalize a period's archives into the Parquet cache, and say what was read.

    With --out s3://…, stage UTC days into object storage instead (Scale out in README.md);
    `run --staged s3://…` then reads them.

    Example: ingress-audit stage --source sample_data/archive --from 2026-11-16 --to 2026-11-23

    Example: ingress-audit stage --source s3://logs/ --period last-week --day-index 2 --out s3://audit/staged
    """
    from .summary import print_staging_summary

    if day_index is not None and _not_on_command_line(ctx, "day_index") and (out is None or day is not None):
        day_index = None  # JOB_COMPLETION_INDEX is the pod's, not a request: --day, or no --out, wins
    if out is not None:
        _stage_out(source, start, end, period, as_of, policy, cache_dir, out, day, day_index)
    if day is not None or day_index is not None:
        from .errors import ConfigError

        raise ConfigError("--day and --day-index stage a day into object storage: give --out s3://bucket/prefix")
    staged, _ = _stage(source, start, end, period, policy, cache_dir, as_of)
    print_staging_summary(staged, sys.stdout)
    raise typer.Exit(EXIT_OK if staged.complete else EXIT_INCOMPLETE)


def _stage_out(source, start, end, period_name, as_of, policy_path, cache_dir, out, day, day_index) -> None:
    """`stage --out`: the days to stage and their staging period, checked before any work."""
    from .errors import ConfigError
    from .period import Period
    from .staged_layout import iso_week, whole_days
    from .staged_write import print_day_summary, stage_days_out

    if day is not None and day_index is not None:
        raise ConfigError("give either --day or --day-index (JOB_COMPLETION_INDEX), not both")
    explicit = bool(start or end or period_name)
    if day is not None:
        try:
            the_day = date.fromisoformat(day)
        except ValueError:
            raise ConfigError(f"--day {day!r} is not a date (YYYY-MM-DD)") from None
    if day is not None and not explicit:
        # a bare day is staged for its ISO week: the period a weekly `run --period last-week` reads
        week = iso_week(the_day)
        start, end = week.iso()
    elif not explicit:
        period_name = "last-week"
    period_, policy_, cache = _settings(source, start, end, period_name, policy_path, cache_dir, as_of)
    window: Period = whole_days(period_)
    days = period_.days()
    if day is not None:
        if the_day not in days:
            raise ConfigError(f"--day {day} is not in the period {' .. '.join(period_.iso())}")
        days = [the_day]
    elif day_index is not None:
        if not 0 <= day_index < len(days):
            raise ConfigError(f"--day-index {day_index} is outside the period {' .. '.join(period_.iso())} "
                              f"({len(days)} days: 0 to {len(days) - 1})")
        days = [days[day_index]]
    results = stage_days_out(source, days, window, policy_, cache, out, progress=True)
    for r in results:
        print_day_summary(r, sys.stdout)
    raise typer.Exit(EXIT_OK if all(not r.errors for r in results) else EXIT_INCOMPLETE)


@app.command()
def run(
    ctx: typer.Context,
    source: SourceOpt = [],  # noqa: B006
    start: FromOpt = None,
    end: ToOpt = None,
    period: PeriodOpt = None,
    as_of: AsOfOpt = None,
    policy: PolicyOpt = None,
    out: Annotated[Optional[str], typer.Option("--out", "-o", help="a folder, or s3://bucket/prefix (the period's folder, e.g. 2026-W47/, is added)", envvar="INGRESS_AUDIT_OUT")] = None,
    fail_on: Annotated[
        Optional[str],
        typer.Option("--fail-on", help="exit 1 when a failing control is at least this severe: info, low, medium, high, critical [default: policy fail_on, else high]", envvar="INGRESS_AUDIT_FAIL_ON"),
    ] = None,
    set_: Annotated[list[str], typer.Option("--set", help="override a threshold: --set thresholds.brute_force_failures=30")] = [],  # noqa: B006
    sign_key: Annotated[Optional[str], typer.Option("--sign-key", help="signing key (PEM file, or PEM text from the env) [default: a development key]", envvar="INGRESS_AUDIT_SIGN_KEY", show_envvar=False)] = None,
    sign_cert: Annotated[Optional[str], typer.Option("--sign-cert", help="the key's certificate (PEM, chain after it)", envvar="INGRESS_AUDIT_SIGN_CERT", show_envvar=False)] = None,
    tsa_url: Annotated[Optional[str], typer.Option("--tsa-url", help="RFC 3161 timestamp authority: PAdES B-T instead of B-B", envvar="INGRESS_AUDIT_TSA_URL")] = None,
    retain_days: Annotated[Optional[int], typer.Option("--retain-days", help="with --out s3://: S3 Object Lock COMPLIANCE retention in days", envvar="INGRESS_AUDIT_RETAIN_DAYS")] = None,
    previous: Annotated[Optional[Path], typer.Option("--previous", help="last period's report folder, for week-over-week and the manifest chain [default: found beside --out or in S3]", exists=True, file_okay=False)] = None,
    cache_dir: CacheOpt = None,
    staged: StagedOpt = None,
    pushgateway: Annotated[Optional[str], typer.Option("--pushgateway", help="Prometheus Pushgateway URL: push the run's metrics there when it ends [default: policy key pushgateway, else off]", envvar="INGRESS_AUDIT_PUSHGATEWAY")] = None,
) -> None:
    """Stage the period, run every control, write the signed report and publish it.

    Writes report.html, report.pdf, findings.json, manifest.json and manifest.json.sig.
    Exit codes: 0 done; 1 controls failed at or above --fail-on; 2 bad usage or configuration
    (nothing written); 3 some input could not be read (the report says so); 4 the report was
    written but could not be published.

    Example: ingress-audit run -s sample_data/archive --from 2026-11-16 --to 2026-11-23
    --policy sample_data/policy.yaml --out out/2026-W47

    Metrics and webhooks (README: Alerts and dashboards): --pushgateway URL; webhook URLs only
    from the environment (INGRESS_AUDIT_SLACK_WEBHOOK_URL, INGRESS_AUDIT_WEBHOOK_URL, or their
    _FILE variants). Neither can fail the run.
    """
    from . import logs
    from .delivery import check_url
    from .errors import EXIT_FINDINGS, ConfigError
    from .notify import webhooks_from_env
    from .outcome import RunOutcome, announce, cluster_labels
    from .pipeline import RunOptions, RunState, run_audit
    from .summary import print_run_summary

    if not out:
        raise ConfigError("--out is required (a folder or s3://bucket/prefix)")
    source = _sources_or_staged(ctx, source, staged)
    period_, policy_, cache = _settings(source, start, end, period, policy, cache_dir, as_of, staged=staged,
                                        fail_on=fail_on, overrides=set_)
    pushgateway = pushgateway or policy_.pushgateway
    if pushgateway:
        pushgateway = check_url(pushgateway, "--pushgateway (or INGRESS_AUDIT_PUSHGATEWAY, or the policy's pushgateway)")
    webhooks = webhooks_from_env()
    options = RunOptions(out=out, policy_path=policy, sign_key=sign_key, sign_cert=sign_cert, tsa_url=tsa_url,
                         retain_days=retain_days, previous=previous, staged=staged)
    started, wall_started = time.perf_counter(), time.time()
    state = RunState()
    outcome = RunOutcome(period_, cluster_labels(source, staged), EXIT_INTERNAL, wall_started, wall_started, state)
    try:
        with logs.record_stages() as outcome.stages:
            result = run_audit(source, period_, policy_, cache, options, state=state)
    except BaseException as exc:
        # the run stopped: say so (metrics: last run failed; webhooks: why), then stop as before
        outcome.exit_code, outcome.error = _stopped(exc)
        outcome.finished = time.time()
        announce(outcome, pushgateway, webhooks)
        raise
    print_run_summary(result, sys.stdout)
    f = result.findings
    complete, blocking = f["coverage"]["complete"], f["summary"]["failing_at_or_above_fail_on"]
    code = EXIT_INCOMPLETE if not complete else EXIT_FINDINGS if blocking else EXIT_OK
    logs.summary(
        f"{period_.label()}: {f['summary']['fail']} controls failing ({len(blocking)} at or above {f['summary']['fail_on']}), "
        f"{'complete' if complete else 'INCOMPLETE'} input, report at {result.location()}",
        period=period_.label(), exit_code=code, complete=complete, report=result.location(),
        seconds=round(time.perf_counter() - started, 3), records_read=f["coverage"]["records_read"],
        unreadable_objects=len(f["coverage"]["errors"]),
        controls={s: f["summary"][s] for s in ("pass", "fail", "info", "error")}, failing_at_or_above_fail_on=blocking,
    )
    outcome.exit_code, outcome.finished = code, time.time()
    announce(outcome, pushgateway, webhooks)
    raise typer.Exit(code)


def _stopped(exc: BaseException) -> tuple[int, str]:
    """The exit code main() will give for an exception out of run_audit, and one line for it."""
    if _terminated:  # SIGTERM inside a DuckDB query arrives as "Query interrupted"
        return EXIT_TERMINATED, "stopped by SIGTERM"
    if isinstance(exc, IngressAuditError):
        return exc.exit_code, str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if isinstance(exc, SystemExit) and isinstance(exc.code, int):
        return exc.code, "stopped by SIGTERM" if exc.code == EXIT_TERMINATED else f"exit {exc.code}"
    if isinstance(exc, KeyboardInterrupt):
        return 130, "interrupted"
    return EXIT_INTERNAL, f"internal error: {type(exc).__name__}"


@app.command()
def query(
    ctx: typer.Context,
    sql: Annotated[str, typer.Argument(help="the SQL; tables: http_requests, audit_events, rejects, objects")],
    source: SourceOpt = [],  # noqa: B006
    start: FromOpt = None,
    end: ToOpt = None,
    period: PeriodOpt = None,
    as_of: AsOfOpt = None,
    policy: PolicyOpt = None,
    cache_dir: CacheOpt = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="table, csv, json (one array of objects) or parquet")] = "table",
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="write the result here (parquet)")] = None,
    staged: StagedOpt = None,
) -> None:
    """Answer ad-hoc SQL over the period's normalized tables.

    Example: ingress-audit query -s sample_data/archive --from 2026-11-16 --to 2026-11-23
    "SELECT host, count(*) AS n FROM http_requests GROUP BY ALL ORDER BY n DESC"
    """
    from .errors import ConfigError
    from .pipeline import open_period
    from .query import FORMATS, run_query

    if fmt not in FORMATS:  # checked before any download
        raise ConfigError(f"--format {fmt!r} is not one of {', '.join(FORMATS)}")
    source = _sources_or_staged(ctx, source, staged)
    staged_, cache = _stage(source, start, end, period, policy, cache_dir, as_of, staged)
    con = open_period(staged_, cache)
    run_query(con, sql, fmt, sys.stdout, output)
    if not staged_.complete:
        for o in staged_.errors:
            typer.echo(f"unreadable: {o.object}: {o.error}", err=True)
        raise typer.Exit(EXIT_INCOMPLETE)


@app.command("schema")
def schema_cmd(
    fmt: Annotated[str, typer.Option("--format", "-f", help="text or json")] = "text",
) -> None:
    """List the tables, their columns and types, and what each column means.

    Example: ingress-audit schema --format json
    """
    from .summary import print_schema

    print_schema(schema.TABLES, fmt, sys.stdout)


@app.command()
def sample(
    out: Annotated[Path, typer.Option("--out", "-o", help="folder to write the archive into")],
    start: Annotated[str, typer.Option("--from", help="first day of the week")] = "2026-11-16",
    nginx_lines: Annotated[int, typer.Option(help="benchmark mode: ingress-nginx lines to write (0: the sample week)")] = 0,
    audit_events: Annotated[int, typer.Option(help="benchmark mode: audit events to write")] = 0,
) -> None:
    """Write the sample week (with its planted incidents), or large archives for benchmarks.

    Example: ingress-audit sample --out /tmp/week --nginx-lines 10000000 --audit-events 1000000
    """
    from .errors import ConfigError
    from .samplegen import generate_bench_archive, generate_sample_week

    try:
        first = date.fromisoformat(start)
    except ValueError:
        raise ConfigError(f"--from {start!r} is not a date (YYYY-MM-DD)") from None
    if nginx_lines or audit_events:
        info = generate_bench_archive(out, first, nginx_lines=nginx_lines, audit_events=audit_events)
        typer.echo(", ".join(f"{k}: {v}" for k, v in info.items()))
    else:
        files = generate_sample_week(out, first)
        typer.echo(f"wrote {len(files)} objects under {out}")


@app.command()
def verify(
    target: Annotated[Path, typer.Argument(help="a report folder, or a report.pdf on its own")],
    cert: Annotated[Optional[Path], typer.Option("--cert", help="require this signer: its certificate (PEM or DER)")] = None,
    inputs: Annotated[bool, typer.Option("--inputs", help="also re-hash inputs that are local files")] = False,
) -> None:
    """Check a report's signatures and hashes, and say who signed it.

    Exit 0 when every check holds (with --cert: only if the signer is that certificate),
    1 when any fails (each failure is named), 2 when TARGET is not a report.

    Example: ingress-audit verify out/2026-W47 --cert prod-signer.pem
    """
    from .errors import EXIT_VERIFY_FAILED
    from .evidence.verify import report_lines
    from .evidence.verify import verify as verify_report

    result = verify_report(target, cert, check_inputs=inputs)
    for line in report_lines(result):
        typer.echo(line)
    if not result.ok:
        raise typer.Exit(EXIT_VERIFY_FAILED)


_terminated = False


def _on_sigterm(signum, frame) -> None:
    # As PID 1 in a container Python would ignore SIGTERM and wait to be killed; exiting through
    # SystemExit runs the cleanup (temporary files are renamed into place only when complete).
    # Raised inside a DuckDB query it comes back as "Query interrupted": the flag keeps the exit 143.
    global _terminated
    _terminated = True
    raise SystemExit(EXIT_TERMINATED)


def _exit_terminated() -> None:
    """Exit 143 now. The main thread has unwound (its cleanup ran: finally blocks, atomic renames);
    download threads may still be blocked on a stalled socket, and a normal exit would join them,
    past Kubernetes' grace period and into a SIGKILL. Their partial temp files are removed first."""
    from .cache import discard_live_temps

    typer.echo("ingress-audit: stopped by SIGTERM", err=True)
    discard_live_temps()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(EXIT_TERMINATED)


def main() -> None:
    """Entry point: domain errors become one line on stderr and their exit code, never a traceback."""
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        code = app(standalone_mode=False)
    except SystemExit:
        if _terminated:
            _exit_terminated()
        raise
    except IngressAuditError as exc:
        typer.echo(f"ingress-audit: error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        typer.echo("aborted", err=True)
        sys.exit(130)
    except Exception as exc:
        if _terminated:
            _exit_terminated()
        # Click's usage errors (bad flags) arrive here in non-standalone mode; typer vendors
        # click, so they are recognised by their interface rather than by class.
        if callable(getattr(exc, "show", None)) and isinstance(getattr(exc, "exit_code", None), int):
            exc.show()
            sys.exit(exc.exit_code)
        log.exception("internal error (a bug; please report it with this traceback)")
        typer.echo(f"ingress-audit: internal error: {type(exc).__name__}: {exc}", err=True)
        sys.exit(EXIT_INTERNAL)
    sys.exit(code or EXIT_OK)
