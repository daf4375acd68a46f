"""Staging benchmark: lines/s and peak RSS for gz ingress-nginx and audit archives, cold and warm.

    python benchmarks/bench_stage.py --nginx-lines 10000000 --audit-events 1000000

Generates a multi-file gz week with the sample generator (reused when already there), then
stages it in a child process per measurement, so each peak RSS is that run's alone:
- cold: an empty cache, every object inflated, parsed and written as Parquet;
- warm: the same again, served from the Parquet cache.
A measurement, not a test: it prints figures and asserts nothing. Compare ratios measured in
one run; the machine is shared and noisy (see ../shared/PERFORMANCE.md).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

CHILD = r"""
import json, sys, time
from pathlib import Path
from ingress_audit import pipeline
from ingress_audit.period import resolve_period
from ingress_audit.policy import Policy
source, cache, start, end = sys.argv[1:5]
t0 = time.perf_counter()
staged = pipeline.stage_period([source], resolve_period(start, end, None), Policy(), Path(cache), progress=False)
seconds = time.perf_counter() - t0
print(json.dumps({"seconds": seconds, **staged.totals(), "errors": len(staged.errors),
                  "reused": sum(o.reused for o in staged.objects)}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nginx-lines", type=int, default=2_000_000)
    parser.add_argument("--audit-events", type=int, default=200_000)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--files-per-day", type=int, default=4)
    parser.add_argument("--workdir", type=Path, default=Path("bench-data"))
    parser.add_argument("--keep-cache", action="store_true", help="keep the staged Parquet afterwards")
    args = parser.parse_args()

    from ingress_audit.samplegen import generate_bench_archive

    start = date(2026, 11, 16)
    end = date.fromordinal(start.toordinal() + args.days)
    archive = args.workdir / f"archive-{args.nginx_lines}-{args.audit_events}-{args.days}x{args.files_per_day}"
    if not archive.is_dir():
        t0 = time.perf_counter()
        info = generate_bench_archive(archive, start, nginx_lines=args.nginx_lines, audit_events=args.audit_events,
                                      days=args.days, files_per_day=args.files_per_day)
        print(f"generated {archive} in {time.perf_counter() - t0:.1f}s: {info}")
    sources = {"ingress-nginx": archive / "ingress-nginx", "k8s-audit": archive / "kube-apiserver"}
    rows = []
    for kind, source in sources.items():
        gz_bytes = sum(p.stat().st_size for p in source.rglob("*") if p.is_file())
        cache = args.workdir / f"cache-{kind}"
        shutil.rmtree(cache, ignore_errors=True)
        for phase in ("cold", "warm"):
            # a fresh interpreter per measurement: its peak RSS is its own
            r = measure(source, cache, start, end)
            rows.append((kind, phase, r, gz_bytes))
        if not args.keep_cache:
            shutil.rmtree(cache, ignore_errors=True)
    print(f"\n{'source':<14}{'phase':<6}{'records':>12}{'seconds':>9}{'records/s':>12}{'peak RSS':>10}{'gz MB':>8}")
    for kind, phase, r, gz in rows:
        print(f"{kind:<14}{phase:<6}{r['records_read']:>12,}{r['seconds']:>9.2f}"
              f"{r['records_read'] / r['seconds']:>12,.0f}{r['peak_rss_mb']:>8.0f}MB{gz / 1e6:>8.1f}")
    print(f"\ncpu: {os.cpu_count()} cores; python {sys.version.split()[0]}")


def measure(source: Path, cache: Path, start: date, end: date) -> dict:
    """Run the child under a throwaway parent so RUSAGE_CHILDREN is this child's alone."""
    wrapper = (
        "import json, resource, subprocess, sys\n"
        "p = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
        "sys.stderr.write(p.stderr)\n"
        "if p.returncode: sys.exit(p.returncode)\n"
        "r = json.loads(p.stdout.strip().splitlines()[-1])\n"
        "r['peak_rss_mb'] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024\n"
        "print(json.dumps(r))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", wrapper, sys.executable, "-c", CHILD, str(source), str(cache), start.isoformat(), end.isoformat()],
        capture_output=True, text=True,
    )
    if out.returncode:
        raise SystemExit(f"staging {source} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    main()
