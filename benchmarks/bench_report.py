"""Report benchmark: rendering and signing a week with ten failing controls, seconds and peak RSS.

    python benchmarks/bench_report.py [--failing 10] [--rows 500]

The week is the bundled sample week (staged once into bench-data/cache-report). Its findings
are then shaped into the case the issue names: `--failing` controls fail (the most severe
first; the others pass), each with `--rows` evidence rows (the most findings.json keeps) and
ten times as many counted. The child process renders report.html, writes findings.json,
the manifest and its signature, renders the PDF/A-3b and signs it: the steps of `run` after
the controls. A measurement, not a test: it prints figures and asserts nothing.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from common import measure

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, sys, time
from pathlib import Path
from ingress_audit import pipeline
from ingress_audit.evidence.keys import load_identity
from ingress_audit.outputs import collect_evidence, write_outputs
from ingress_audit.period import resolve_period
from ingress_audit.policy import load_policy
from ingress_audit.report import ReportInput, render_html, SEVERITIES
from ingress_audit.resources import queries_dir
import duckdb

root, work, failing, rows = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
period = resolve_period("2026-11-16", "2026-11-23", None)
policy = load_policy(root / "sample_data" / "policy.yaml")
audit = pipeline.audit_period([str(root / "sample_data" / "archive")], period, policy, work / "cache", progress=False)
f = audit.findings
ranked = sorted((c for c in f["controls"] if c["status"] == "fail"), key=lambda c: SEVERITIES.index(c["severity"]))
keep = {c["id"] for c in ranked[:failing]}
for c in f["controls"]:
    if c["status"] == "fail" and c["id"] not in keep:
        c.update(status="pass", findings=[], finding_count=0)
    elif c["id"] in keep:
        base = c["findings"]
        c["findings"] = [dict(base[i % len(base)]) for i in range(rows)]
        c["finding_count"] = rows * 10
f["summary"]["fail"] = len(keep)
identity = load_identity(None, None, dev_dir=work / "dev-signing")
evidence = collect_evidence(audit.staged, pipeline._query_files([]), queries_dir(), root / "sample_data" / "policy.yaml",
                            policy)
report = ReportInput(f, audit.series, evidence.inputs, evidence.queries, evidence.policy, identity.signer_block(),
                     ["sample_data/archive"])
t0 = time.perf_counter(); html = render_html(report); t_html = time.perf_counter() - t0
out = work / "out"
t0 = time.perf_counter()
write_outputs(out, f, report, evidence, identity, duckdb_version=duckdb.__version__)
t_all = time.perf_counter() - t0
print(json.dumps({"failing": len(keep), "rows": rows, "html_seconds": t_html, "outputs_seconds": t_all,
                  "html_bytes": (out / "report.html").stat().st_size, "pdf_bytes": (out / "report.pdf").stat().st_size}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--failing", type=int, default=10)
    parser.add_argument("--rows", type=int, default=500)
    parser.add_argument("--workdir", type=Path, default=Path("bench-data") / "report")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    r = measure(CHILD, str(ROOT), str(args.workdir), str(args.failing), str(args.rows))
    print(f"{r['failing']} failing controls, {r['rows']} evidence rows each (20 shown per control in the report)")
    print(f"report.html alone:                                   {r['html_seconds']:6.1f} s")
    print(f"all outputs (findings, HTML, manifest+sig, PDF/A, PAdES): {r['outputs_seconds']:6.1f} s")
    print(f"report.html {r['html_bytes'] / 1e6:.1f} MB, report.pdf {r['pdf_bytes'] / 1e6:.1f} MB")
    print(f"peak RSS of the whole child (including staging and controls): {r['peak_rss_mb']:.0f} MB")


if __name__ == "__main__":
    main()
