"""Plain-text summaries for a person at a terminal or reading a CronJob's log."""

from __future__ import annotations

import json
from collections import Counter
from typing import IO

from .schema import Table
from .stage import StagedPeriod


def print_staging_summary(staged: StagedPeriod, out: IO[str]) -> None:
    start, end = staged.period.iso()
    t = staged.totals()
    reused = sum(1 for o in staged.objects if o.reused)
    out.write(f"period        {start} .. {end} (end exclusive)\n")
    out.write(f"objects       {t['objects']} ({reused} from the Parquet cache, {len(staged.errors)} unreadable)\n")
    out.write(f"records read  {t['records_read']:,} = {t['records_parsed']:,} parsed + {t['records_rejected']:,} rejected\n")
    kinds: Counter[str] = Counter()
    rows: Counter[str] = Counter()
    for o in staged.objects:
        if o.source_kind:
            kinds[o.source_kind] += 1
            rows[o.source_kind] += o.records_parsed
    for kind in sorted(kinds):
        out.write(f"  {kind:<16} {kinds[kind]:>4} objects {rows[kind]:>12,} records\n")
    replaced = [o for o in staged.objects if o.replaced_utf8]
    if replaced:
        out.write(f"note          {len(replaced)} objects held invalid UTF-8, replaced with U+FFFD\n")
    if staged.errors:
        out.write("INCOMPLETE    these objects could not be read (or classified):\n")
        for o in staged.errors:
            out.write(f"  {o.object}: {o.error}\n")


def print_schema(tables: tuple[Table, ...], fmt: str, out: IO[str]) -> None:
    if fmt == "json":
        data = [
            {"table": t.name, "meaning": t.meaning,
             "columns": [{"name": c.name, "type": c.type, "meaning": c.meaning} for c in t.columns]}
            for t in tables
        ]
        out.write(json.dumps(data, indent=2) + "\n")
        return
    for t in tables:
        out.write(f"{t.name}: {t.meaning}\n")
        for c in t.columns:
            out.write(f"  {c.name:<24} {c.type:<12} {c.meaning}\n")
        out.write("\n")


_MARK = {"pass": "PASS", "fail": "FAIL", "info": "INFO", "error": "ERROR"}


def print_run_summary(result, out: IO[str]) -> None:
    """What a person reading the CronJob's log needs: coverage, every control's status, where the report is."""
    findings = result.findings
    cov = findings["coverage"]
    out.write(f"period    {findings['period']['start']} .. {findings['period']['end']}\n")
    out.write(f"coverage  {cov['objects']} objects, {cov['records_read']:,} records read = "
              f"{cov['records_parsed']:,} parsed + {cov['records_rejected']:,} rejected\n")
    if not cov["complete"]:
        out.write(f"INCOMPLETE: {len(cov['errors'])} objects could not be read:\n")
        for e in cov["errors"]:
            out.write(f"  {e['object']}: {e['error']}\n")
    for c in findings["controls"]:
        n = c["finding_count"]
        noun = "row" if c["status"] == "info" else "finding"
        parts = [f"{n} {noun}{'' if n == 1 else 's'}"] if n else []
        if c["waived_count"]:
            parts.append(f"{c['waived_count']} waived")
        if c.get("error"):
            parts = [c["error"]]
        extra = f" ({', '.join(parts)})" if parts else ""
        out.write(f"{_MARK[c['status']]:<6} {c['id']:<6} {c['severity']:<8} {c['title']}{extra}\n")
    s = findings["summary"]
    out.write(f"controls  {s['fail']} fail, {s['pass']} pass, {s['info']} info, {s['error']} error\n")
    for w in findings["waivers"]["expired"]:
        out.write(f"expired waiver: {w['control']} {w['entity']} (owner {w['owner']}, expired {w['expires']})\n")
    if s["failing_at_or_above_fail_on"]:
        out.write(f"failing at or above {s['fail_on']}: {', '.join(s['failing_at_or_above_fail_on'])}\n")
    out.write(f"wrote     {', '.join(str(p) for p in result.paths.values())}\n")
    if result.published is not None:
        out.write(f"published {result.published.url} ({len(result.published.uploaded)} uploaded, "
                  f"{len(result.published.skipped)} already there)\n")
    elif result.already_published:
        out.write(f"published {result.already_published} already holds this report (identical manifest)\n")
