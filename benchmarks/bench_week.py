"""The whole weekly job at a busy cluster's volume, against the targets it is held to.

    python benchmarks/bench_week.py                       # 20 M requests + 2 M audit events
    python benchmarks/bench_week.py --requests 2000000 --audit-events 200000 --scaling 500000,1000000,2000000

Prints one table, each target beside its measurement (see README "Performance"):
1. GoAccess (Debian's package; installed with apt-get here when missing) and `ingress-audit stage`
   on the same generated gz ingress-nginx archive (--goaccess-lines), lines/s and the ratio, the
   medians of --repeat alternating runs; GoAccess's failed-line count shows its log-format parsed
   the file. The tokenizers' kernels are built first, as the container image ships them;
2. a scaling curve: staging gz ingress-nginx archives of each --scaling size, cold cache;
3. staging the audit events alone (gz JSON lines), cold cache;
4. the full job, cold: `ingress-audit run` (stage, controls, HTML, PDF, signatures) over the
   --requests / --audit-events week, wall time and peak RSS, and each stage's seconds from its
   JSON log;
5. the same run again, warm: nothing downloaded, nothing parsed;
6. ad-hoc SQL over the staged week, in process (the query alone) and through the CLI.

Each measurement runs in its own child process, so each peak RSS is that run's alone. A
measurement, not a test: it asserts nothing. The machine is shared and noisy: compare figures
from one run (../shared/PERFORMANCE.md).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

from common import START, archive_for, measure, measure_command

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

# GoAccess reads ingress-nginx's default log-format-upstream with this format (PERFORMANCE.md):
# the fields it does not know are skipped with %^.
GOACCESS_FORMAT = '%h - %e [%d:%t %^] "%r" %s %b "%R" "%u" %^ %T [%v] [%^] %^'

STAGE_CHILD = r"""
import json, sys, time
from pathlib import Path
from ingress_audit import pipeline
from ingress_audit.period import resolve_period
from ingress_audit.policy import Policy
source, cache, start, end = sys.argv[1:5]
t0 = time.perf_counter()
staged = pipeline.stage_period([source], resolve_period(start, end, None), Policy(), Path(cache), progress=False)
print(json.dumps({"seconds": time.perf_counter() - t0, **staged.totals(), "errors": len(staged.errors)}))
"""

# The five aggregations an engineer runs first, over the open staged week, timed in process
ADHOC_CHILD = r"""
import json, sys, time
from pathlib import Path
from ingress_audit import pipeline
from ingress_audit.period import resolve_period
from ingress_audit.policy import Policy
source, cache, start, end = sys.argv[1:5]
staged = pipeline.stage_period(source.split(","), resolve_period(start, end, None), Policy(), Path(cache), progress=False)
con = pipeline.open_period(staged, Path(cache))
queries = {
    "requests by status class": "SELECT status // 100 AS class, count(*) FROM http_requests GROUP BY ALL",
    "top 10 clients": "SELECT client_ip, count(*) AS n FROM http_requests GROUP BY ALL ORDER BY n DESC LIMIT 10",
    "401/403 by day and host": "SELECT CAST(ts AS DATE) AS day, upstream, count(*) FROM http_requests WHERE status IN (401, 403) GROUP BY ALL",
    "p99 latency by upstream": "SELECT upstream, quantile_cont(duration_s, 0.99) FROM http_requests GROUP BY ALL",
    "audit writes by user": "SELECT \"user\", count(*) FROM audit_events WHERE verb IN ('create','update','patch','delete') GROUP BY ALL",
}
seconds = {}
for name, sql in queries.items():
    t0 = time.perf_counter()
    con.execute(sql).fetchall()
    seconds[name] = time.perf_counter() - t0
print(json.dumps({"seconds": seconds}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=20_000_000, help="ingress-nginx lines in the full week")
    parser.add_argument("--audit-events", type=int, default=2_000_000, help="audit events in the full week")
    parser.add_argument("--scaling", default="1000000,5000000,20000000", help="ingress-nginx lines per scaling point")
    parser.add_argument("--goaccess-lines", type=int, default=1_000_000, help="lines GoAccess and staging both read")
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs of GoAccess and of staging its lines, alternating; the medians count")
    parser.add_argument("--files-per-day", type=int, default=4)
    parser.add_argument("--workdir", type=Path, default=ROOT / "bench-data")
    parser.add_argument("--container-memory", default="2GiB",
                        help="the full run sees this container memory limit, as a pod's downward API gives it "
                             "(DuckDB then takes its share: db.py); '' for none")
    args = parser.parse_args()
    period = (START.isoformat(), date.fromordinal(START.toordinal() + 7).isoformat())
    rows: list[tuple[str, str, str, str]] = []  # what, target, measured, verdict

    def archive(nginx: int, audit: int) -> Path:
        ns = argparse.Namespace(nginx_lines=nginx, audit_events=audit, days=7,
                                files_per_day=args.files_per_day, workdir=args.workdir)
        return archive_for(ns)[0]

    def stage(source: Path, label: str) -> dict:
        cache = args.workdir / f"cache-week-{label}"
        shutil.rmtree(cache, ignore_errors=True)
        r = measure(STAGE_CHILD, str(source), str(cache), *period)
        shutil.rmtree(cache, ignore_errors=True)
        r["per_s"] = r["records_read"] / r["seconds"]
        print(f"  staged {label}: {r['records_read']:,} records in {r['seconds']:.1f}s "
              f"({r['per_s']:,.0f}/s, peak {r['peak_rss_mb']:.0f} MB)", flush=True)
        return r

    # The tokenizers' kernels built ahead of time into the package, as the container image ships
    # them (tokenizer_aot); where that fails (no C compiler), compiled by numba beforehand: a
    # measurement that compiled them would time numba's compiler (~17 s), not staging.
    built = subprocess.run([sys.executable, "-m", "ingress_audit.tokenizer_aot"], capture_output=True, text=True)
    if built.returncode == 0:
        kernels = "built ahead of time, as in the image (tokenizer_aot)"
    else:
        kernels = f"numba JIT: building them failed ({(built.stderr.strip().splitlines() or ['?'])[-1]})"
        subprocess.run([sys.executable, "-c", "from ingress_audit import tokenizer_cache; tokenizer_cache.compile_tokenizers()"],
                       check=True)
    print(f"  tokenizer kernels: {kernels}", flush=True)
    rows.append(("tokenizer kernels", "-", kernels, "-"))

    # 1. GoAccess and staging, the same file set, alternating, --repeat times each: the medians
    small = archive(args.goaccess_lines, 0) / "ingress-nginx"
    plain = goaccess_input(small, args.workdir)
    runs_ours, runs_theirs = [], []
    for _ in range(args.repeat):
        runs_ours.append(stage(small, f"goaccess-{args.goaccess_lines}"))
        if plain is not None:
            runs_theirs.append(run_goaccess(plain, args.workdir))
            print(f"  goaccess: {runs_theirs[-1]['per_s']:,.0f} lines/s", flush=True)
    if plain is not None:
        plain.unlink()
    ours = _median(runs_ours)
    if runs_theirs:
        theirs = _median(runs_theirs)
        ratio = ours["per_s"] / theirs["per_s"]
        rows.append((f"GoAccess 1.7, same lines (median of {args.repeat})", "-",
                     f"{theirs['per_s']:,.0f} lines/s, {theirs['failed']:,} failed lines, {theirs['seconds']:.0f}s, "
                     f"{theirs['peak_rss_mb']:.0f} MB; runs {_spread(runs_theirs)}", "-"))
        rows.append((f"staging vs GoAccess ({args.goaccess_lines:,} lines, medians)", ">= 35x", f"{ratio:.1f}x",
                     _verdict(ratio >= 35)))
    else:
        rows.append(("GoAccess", ">= 35x", "not installed (apt-get install goaccess failed)", "not measured"))

    # 2. the scaling curve (the full week's archive serves its own size)
    week = archive(args.requests, args.audit_events)
    curve = []
    for n in [int(x) for x in args.scaling.split(",") if x]:
        if n == args.goaccess_lines:
            r = ours
        else:
            r = stage((week if n == args.requests else archive(n, 0)) / "ingress-nginx", f"nginx-{n}")
        curve.append((n, r))
        rows.append((f"stage gz ingress-nginx, {n:,} lines", ">= 800k lines/s",
                     f"{r['per_s']:,.0f} lines/s, {r['seconds']:.1f}s, {r['peak_rss_mb']:.0f} MB", _verdict(r["per_s"] >= 800_000)))
    if len(curve) > 1:
        first, last = curve[0], curve[-1]
        scale = (last[1]["seconds"] / first[1]["seconds"]) / (last[0] / first[0])
        rows.append(("scaling: time ratio / size ratio", "<= 1.05 (linear; 5% noise)", f"{scale:.2f}", _verdict(scale <= 1.05)))

    # 3. audit events alone
    r = stage(week / "kube-apiserver", f"audit-{args.audit_events}")
    rows.append((f"stage gz audit events, {args.audit_events:,}", ">= 350k events/s",
                 f"{r['per_s']:,.0f} events/s, {r['seconds']:.1f}s, {r['peak_rss_mb']:.0f} MB", _verdict(r["per_s"] >= 350_000)))

    # 4-5. the full job, cold then warm
    cache, out = args.workdir / "cache-week-run", args.workdir / "out-week"
    shutil.rmtree(cache, ignore_errors=True)
    if args.container_memory:
        from ingress_audit.chunks import parse_size

        os.environ["INGRESS_AUDIT_CONTAINER_MEMORY_BYTES"] = str(parse_size(args.container_memory))
    for phase in ("cold", "warm"):
        shutil.rmtree(out, ignore_errors=True)
        r = measure_command([str(BIN / "ingress-audit"), "--log-format", "json", "run", "--source", str(week),
                             "--from", period[0], "--to", period[1], "--cache-dir", str(cache), "--out", str(out)])
        stages = _stage_lines(r["stderr"])
        detail = ", ".join(f"{s['stage']} {s['seconds']:.0f}s" for s in stages)
        parse = next((s for s in stages if s["stage"] == "parse"), {})
        fetch = next((s for s in stages if s["stage"] == "fetch"), {})
        print(f"  run {phase}: exit {r['returncode']}, {r['seconds']:.1f}s, peak {r['peak_rss_mb']:.0f} MB: {detail}", flush=True)
        if r["returncode"] not in (0, 1):
            rows.append((f"full run, {phase}", "exit 0", f"exit {r['returncode']}: {r['stderr'][-300:]}", "FAILED"))
            continue
        what = f"{args.requests / 1e6:g} M requests + {args.audit_events / 1e6:g} M audit events"
        if phase == "cold":
            ok = r["seconds"] <= 180 and r["peak_rss_mb"] <= 2048
            where = f" in a {args.container_memory} container" if args.container_memory else ""
            rows.append((f"full run, cold: {what}{where}", "<= 180 s, <= 2048 MB",
                         f"{r['seconds']:.0f}s, {r['peak_rss_mb']:.0f} MB ({detail})", _verdict(ok)))
        else:
            nothing = fetch.get("downloaded", -1) == 0 and parse.get("reused") == parse.get("objects")
            rows.append(("full run, warm rerun", "downloads and parses nothing",
                         f"{r['seconds']:.0f}s; downloaded {fetch.get('downloaded')}, reused {parse.get('reused')} "
                         f"of {parse.get('objects')} objects", _verdict(nothing)))

    # 6. ad-hoc SQL over the staged week
    r = measure(ADHOC_CHILD, str(week), str(cache), *period)
    slowest = max(r["seconds"].values())
    rows.append(("ad-hoc aggregations, in process (slowest of 5)", "< 1 s",
                 ", ".join(f"{k} {v:.2f}s" for k, v in r["seconds"].items()), _verdict(slowest < 1)))
    t0 = time.perf_counter()
    cli = subprocess.run([str(BIN / "ingress-audit"), "query", "--source", str(week), "--from", period[0], "--to", period[1],
                          "--cache-dir", str(cache), "SELECT status, count(*) FROM http_requests GROUP BY ALL"],
                         capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    rows.append(("ad-hoc query through the CLI (start, list, load, query)", "-",
                 f"{seconds:.2f}s, exit {cli.returncode}", "-"))
    shutil.rmtree(cache, ignore_errors=True)

    width = max(len(r[0]) for r in rows)
    print(f"\n{'what':<{width}}  {'target':<30}{'verdict':<14}measured")
    for what, target, measured, verdict in rows:
        print(f"{what:<{width}}  {target:<30}{verdict:<14}{measured}")
    print(f"\ncpu: {os.cpu_count()} cores; python {sys.version.split()[0]}")


def goaccess_input(source: Path, workdir: Path) -> Path | None:
    """The gz files decompressed into one file for GoAccess (its time is then its parsing alone),
    or None when GoAccess is absent (installed with apt-get first where it can be)."""
    if shutil.which("goaccess") is None and shutil.which("apt-get"):
        subprocess.run("apt-get update -qq && apt-get install -y -qq goaccess", shell=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if shutil.which("goaccess") is None:
        return None
    plain = workdir / "goaccess-input.log"
    with plain.open("wb") as f:
        subprocess.run(["zcat", *sorted(str(p) for p in source.rglob("*.gz"))], stdout=f, check=True)
    return plain


def run_goaccess(plain: Path, workdir: Path) -> dict:
    """GoAccess's HTML report over the decompressed lines: seconds, lines/s, failed lines, peak RSS."""
    lines = sum(1 for _ in plain.open("rb"))
    report = workdir / "goaccess-report.html"
    r = measure_command(["goaccess", str(plain), f"--log-format={GOACCESS_FORMAT}", "--date-format=%d/%b/%Y",
                         "--time-format=%H:%M:%S", "--no-progress", "--no-global-config", "-o", str(report)])
    failed = _goaccess_failed(report)
    return {"seconds": r["seconds"], "per_s": lines / r["seconds"], "failed": failed, "peak_rss_mb": r["peak_rss_mb"]}


def _median(runs: list[dict]) -> dict:
    """The run of median seconds (an odd count picks the middle one)."""
    return sorted(runs, key=lambda r: r["seconds"])[(len(runs) - 1) // 2]


def _spread(runs: list[dict]) -> str:
    return ", ".join(f"{r['per_s'] / 1000:,.0f}k" for r in runs)


def _goaccess_failed(report: Path) -> int:
    """The failed-request count GoAccess writes into its HTML report's JSON (-1: not found)."""
    found = re.search(r'"failed_requests":\s*(\d+)', report.read_text(errors="replace"))
    return int(found[1]) if found else -1


def _stage_lines(stderr: str) -> list[dict]:
    out = []
    for line in stderr.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and record.get("event") == "stage":
            out.append(record)
    return out


def _verdict(ok: bool) -> str:
    return "met" if ok else "NOT MET"


if __name__ == "__main__":
    main()
