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

import os
import shutil
import sys

from common import archive_for, arguments, measure

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
    parser = arguments(__doc__)
    parser.add_argument("--keep-cache", action="store_true", help="keep the staged Parquet afterwards")
    args = parser.parse_args()
    archive, start, end = archive_for(args)
    sources = {"ingress-nginx": archive / "ingress-nginx", "k8s-audit": archive / "kube-apiserver"}
    rows = []
    for kind, source in sources.items():
        gz_bytes = sum(p.stat().st_size for p in source.rglob("*") if p.is_file())
        cache = args.workdir / f"cache-{kind}"
        shutil.rmtree(cache, ignore_errors=True)
        for phase in ("cold", "warm"):
            r = measure(CHILD, str(source), str(cache), start.isoformat(), end.isoformat())
            rows.append((kind, phase, r, gz_bytes))
        if not args.keep_cache:
            shutil.rmtree(cache, ignore_errors=True)
    print(f"\n{'source':<14}{'phase':<6}{'records':>12}{'seconds':>9}{'records/s':>12}{'peak RSS':>10}{'gz MB':>8}")
    for kind, phase, r, gz in rows:
        print(f"{kind:<14}{phase:<6}{r['records_read']:>12,}{r['seconds']:>9.2f}"
              f"{r['records_read'] / r['seconds']:>12,.0f}{r['peak_rss_mb']:>8.0f}MB{gz / 1e6:>8.1f}")
    print(f"\ncpu: {os.cpu_count()} cores; python {sys.version.split()[0]}")


if __name__ == "__main__":
    main()
