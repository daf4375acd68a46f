"""Controls benchmark: every control over a staged week, seconds per control and peak RSS.

    python benchmarks/bench_controls.py --nginx-lines 10000000 --audit-events 1000000

Stages the benchmark archive (generated as in bench_stage.py, reused when there; its Parquet
cache is reused too), then runs all controls with the sample week's policy in a child process
and prints the time of each control, the total, and the child's peak RSS. A measurement, not a
test. The benchmark archive is uniform background traffic: most detections pass on it; the
point is what the SQL costs at this volume.
"""

from __future__ import annotations

from pathlib import Path

from common import archive_for, arguments, measure

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, sys, time
from pathlib import Path
from ingress_audit import pipeline
from ingress_audit.controls import load_controls, run_controls
from ingress_audit.period import resolve_period
from ingress_audit.policy import load_policy
archive, cache, start, end, policy_path = sys.argv[1:6]
period = resolve_period(start, end, None)
policy = load_policy(Path(policy_path))
policy = policy.model_copy(update={"formats": type(policy.formats)()})  # the archive is default-format only
t0 = time.perf_counter()
staged = pipeline.stage_period([archive], period, policy, Path(cache), progress=False)
t_stage = time.perf_counter() - t0
con = pipeline.open_period(staged, Path(cache))
t1 = time.perf_counter()
results = run_controls(con, load_controls(), policy, period)
t_controls = time.perf_counter() - t1
counts = con.execute("SELECT (SELECT count(*) FROM http_requests), (SELECT count(*) FROM audit_events)").fetchone()
print(json.dumps({"stage_seconds": t_stage, "controls_seconds": t_controls, "requests": counts[0], "events": counts[1],
                  "controls": [[r.control.id, r.status, r.finding_count, r.seconds, r.error] for r in results]}))
"""


def main() -> None:
    args = arguments(__doc__).parse_args()
    archive, start, end = archive_for(args)
    cache = args.workdir / "cache-controls"
    r = measure(CHILD, str(archive), str(cache), start.isoformat(), end.isoformat(),
                str(ROOT / "sample_data" / "policy.yaml"))
    print(f"{'control':<8}{'status':<7}{'findings':>9}{'seconds':>9}")
    for cid, status, n, seconds, error in r["controls"]:
        print(f"{cid:<8}{status:<7}{n:>9}{seconds:>9.2f}" + (f"  {error}" if error else ""))
    print(f"\n{r['requests']:,} requests, {r['events']:,} audit events")
    print(f"staging (cached after the first run): {r['stage_seconds']:.1f}s")
    print(f"all controls: {r['controls_seconds']:.1f}s; peak RSS of the run: {r['peak_rss_mb']:.0f} MB")


if __name__ == "__main__":
    main()
