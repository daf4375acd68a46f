"""report.html and report.pdf from one Jinja2 template set (report_templates/).

The renderer receives data only (findings, the report queries' rows, the evidence lists) and
runs no SQL. Every value that came from a log is attacker-controlled: the environment
autoescapes everything, and nothing is marked safe except the SVG that matplotlib wrote (it
escapes its own text). The output depends on its inputs only (no clock), so the same inputs,
policy and version give the same report.html.
"""

from __future__ import annotations

import base64
import json
import os
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import jinja2
from markupsafe import Markup, escape

from . import charts
from .charts import as_datetime
from .frameworks import load_frameworks
from .resources import templates_dir

CATEGORIES = {
    "access_patterns": ("Access patterns", "Who came in, from where, and how the front door was used."),
    "failed_auth": ("Failed authentication", "Who tried to come in and was refused: at the ingress and at the API server."),
    "certificates": ("Certificates", "TLS certificates: which changed, which expire, which hosts serve without TLS."),
    "policy_drift": ("Policy drift", "Who changed the door: ingress rules, RBAC, and changes made outside the approved path."),
    "coverage": ("Coverage", "Whether the evidence is complete: missing logs, unreadable objects, rejected records."),
}
SEVERITIES = ("critical", "high", "medium", "low", "info")
HEADLINE_FIGURES = ("requests", "clients", "hosts", "denied_requests", "server_errors", "audit_events",
                    "denied_api_requests", "api_changes")  # queries/report/headline.sql's columns
EVIDENCE_ROWS_SHOWN = 20  # per failing control; findings.json keeps up to 500, the count is exact
CELL_CHARS = 300  # a longer value is cut in the report (whole in findings.json)


@dataclass
class ReportInput:
    """Everything the report shows besides findings.json itself."""

    findings: dict
    series: dict[str, list[dict]]  # queries/report/<name>.sql rows
    inputs: list[dict]  # url, cluster, size, sha256, source_kind, records_*, error
    queries: list[dict]  # path, id, sha256
    policy: dict  # path, sha256, effective_sha256
    signer: dict  # subject, fingerprint_sha256, development
    sources: list[str]  # as given on the command line, credentials never included
    previous: dict | None = None  # last period's findings.json, when available
    extra: dict = field(default_factory=dict)


def render_html(data: ReportInput) -> str:
    env = _environment()
    return env.get_template("report.html.j2").render(**context(data))


def write_pdf(html: str, out: Path, attachments: list[tuple[str, Path, str, str]], *, document_date: datetime) -> None:
    """Render the HTML as PDF/A-3b with the given files attached (name, path, relationship, description).

    WeasyPrint is imported here: only this step needs Pango, and `verify` never renders.
    The document and attachment dates are `document_date`, not the clock, and the PDF's
    identifier is derived from the HTML, so the unsigned PDF is reproducible too.
    """
    import hashlib

    import weasyprint

    naive = document_date.astimezone(timezone.utc).replace(tzinfo=None)
    files = [
        weasyprint.Attachment(filename=str(path), name=name, description=description,
                              created=naive, modified=naive, relationship=relationship)
        for name, path, relationship, description in attachments
    ]
    document = weasyprint.HTML(string=html, base_url=str(templates_dir())).render()
    # fontTools stamps each embedded font subset with the current time unless SOURCE_DATE_EPOCH
    # (the reproducible-builds convention) says otherwise
    saved = os.environ.get("SOURCE_DATE_EPOCH")
    os.environ["SOURCE_DATE_EPOCH"] = str(int(document_date.timestamp()))
    try:
        document.write_pdf(
            out,
            pdf_variant="pdf/a-3b",
            attachments=files,
            pdf_identifier=hashlib.sha256(html.encode("utf-8")).hexdigest()[:32].encode(),
            finisher=_leave_producer_to_the_signer,
        )
    finally:
        if saved is None:
            del os.environ["SOURCE_DATE_EPOCH"]
        else:
            os.environ["SOURCE_DATE_EPOCH"] = saved


def _leave_producer_to_the_signer(document, pdf) -> None:
    """PDF/A requires the Info dictionary and the XMP packet to agree. Signing rewrites the XMP
    producer to pyHanko's alone but appends to an existing Info /Producer, so they would differ;
    without an Info /Producer both end up the same."""
    pdf.info.pop("Producer", None)


# --- context --------------------------------------------------------------------------------


def context(data: ReportInput) -> dict:
    f = data.findings
    start, end = as_datetime(f["period"]["start"]), as_datetime(f["period"]["end"])
    controls = f["controls"]
    by_category = {cat: [c for c in controls if c["category"] == cat] for cat in CATEGORIES}
    return {
        "f": f,
        "title": f"Kubernetes ingress audit — {_period_text(start, end)}",
        "period_text": _period_text(start, end),
        "start": start,
        "end": end,
        "document_date": end,
        "signer": data.signer,
        "sources": data.sources,
        "clusters": sorted({i.get("cluster") or "default" for i in data.inputs}),
        "categories": [
            {"id": cat, "title": title, "intro": intro, "controls": by_category[cat],
             "failing": [c for c in by_category[cat] if c["status"] in ("fail", "error")],
             "charts": _charts_for(cat, data.series, start, end)}
            for cat, (title, intro) in CATEGORIES.items()
        ],
        "failing": sorted((c for c in controls if c["status"] in ("fail", "error")),
                          key=lambda c: (SEVERITIES.index(c["severity"]), c["id"])),
        "frameworks": _frameworks(),
        "matrix": _matrix(controls),
        "failing_by_severity": _failing_by_severity(controls),
        # a report query that failed leaves its figures unknown (shown as —), not the report unwritten
        "headline": {**dict.fromkeys(HEADLINE_FIGURES), **(data.series.get("headline") or [{}])[0]},
        "top_clients": data.series.get("top_clients", []),
        "by_cluster": data.series.get("by_cluster", []),
        "findings_by_cluster": findings_by_cluster(controls, data.inputs),
        "wow": week_over_week(f, data.previous),
        "gaps": next((c for c in controls if c["id"] == "CV-01"), None),
        "inputs": data.inputs,
        "queries": data.queries,
        "policy": data.policy,
        "by_kind": _by_kind(data.inputs),
        "evidence_rows_shown": EVIDENCE_ROWS_SHOWN,
    }


def findings_by_cluster(controls: list[dict], inputs: list[dict]) -> dict | None:
    """Failing controls × clusters: each control's finding count per cluster (findings.json's
    `finding_count_by_cluster`, over every finding, not only the rows shown). None when the run
    has one cluster: the evidence tables already say it all."""
    clusters = sorted({i.get("cluster") or "default" for i in inputs}
                      | {k for c in controls for k in (c.get("finding_count_by_cluster") or {})})
    if len(clusters) < 2:
        return None
    failing = sorted((c for c in controls if c["status"] == "fail"),
                     key=lambda c: (SEVERITIES.index(c["severity"]), c["id"]))
    rows = [{"id": c["id"], "title": c["title"], "severity": c["severity"], "total": c["finding_count"],
             "named": bool(c.get("finding_count_by_cluster")),
             "counts": [(c.get("finding_count_by_cluster") or {}).get(k, 0) for k in clusters]}
            for c in failing]
    return {"clusters": clusters, "rows": rows}


def week_over_week(current: dict, previous: dict | None) -> dict | None:
    """Per control: last period's status and count beside this one's; None without a previous report."""
    if not previous:
        return None
    before = {c["id"]: c for c in previous.get("controls", [])}
    rows = []
    for c in current["controls"]:
        p = before.get(c["id"])
        rows.append({
            "id": c["id"], "title": c["title"], "severity": c["severity"],
            "status": c["status"], "count": c["finding_count"],
            "prev_status": p["status"] if p else None, "prev_count": p["finding_count"] if p else None,
            "change": _change(c, p),
        })
    prev_summary = previous.get("summary", {})
    return {
        "period": previous.get("period", {}),
        "summary": {k: (current["summary"].get(k, 0), prev_summary.get(k)) for k in ("fail", "pass", "info", "error")},
        "records": (current["coverage"]["records_read"], previous.get("coverage", {}).get("records_read")),
        "rows": rows,
        "new_failures": [r for r in rows if r["change"] == "new failure"],
        "resolved": [r for r in rows if r["change"] == "resolved"],
    }


def _change(c: dict, p: dict | None) -> str:
    if p is None:
        return "new control"
    if c["status"] == "fail" and p["status"] != "fail":
        return "new failure"
    if c["status"] != "fail" and p["status"] == "fail":
        return "resolved"
    if c["status"] == "fail" and c["finding_count"] != p["finding_count"]:
        return "more" if c["finding_count"] > p["finding_count"] else "fewer"
    return "same"


def _matrix(controls: list[dict]) -> list[dict]:
    rows = []
    for cat, (title, _) in CATEGORIES.items():
        mine = [c for c in controls if c["category"] == cat]
        rows.append({"id": cat, "title": title, **{s: sum(1 for c in mine if c["status"] == s)
                                                   for s in ("fail", "pass", "info", "error")}})
    rows.append({"id": "total", "title": "All controls",
                 **{s: sum(r[s] for r in rows) for s in ("fail", "pass", "info", "error")}})
    return rows


def _failing_by_severity(controls: list[dict]) -> list[tuple[str, int]]:
    return [(s, sum(1 for c in controls if c["status"] == "fail" and c["severity"] == s)) for s in SEVERITIES]


def _frameworks() -> list[tuple[str, list]]:
    out: dict[str, list] = {}
    for req in load_frameworks():
        out.setdefault(req.framework, []).append(req)
    return list(out.items())


def _by_kind(inputs: list[dict]) -> list[dict]:
    kinds: dict[str, dict] = {}
    for i in inputs:
        k = kinds.setdefault(i.get("source_kind") or "unreadable",
                             {"kind": i.get("source_kind") or "unreadable", "objects": 0, "bytes": 0,
                              "read": 0, "parsed": 0, "rejected": 0})
        k["objects"] += 1
        k["bytes"] += i.get("size") or 0
        k["read"] += i.get("records_read", 0)
        k["parsed"] += i.get("records_parsed", 0)
        k["rejected"] += i.get("records_rejected", 0)
    return sorted(kinds.values(), key=lambda k: k["kind"])


def _charts_for(category: str, series: dict, start: datetime, end: datetime) -> list[dict]:
    hour, day = timedelta(hours=1), timedelta(days=1)
    out = []
    if category == "access_patterns":
        out.append({"title": "Requests per hour by status class",
                    "svg": charts.stacked_over_time(series.get("requests_by_hour", []), time_key="hour",
                                                    group_key="status_class", value_key="requests", start=start,
                                                    end=end, step=hour, ylabel="requests",
                                                    order=["2xx", "3xx", "4xx", "5xx", "other"])})
        top = series.get("top_clients", [])
        out.append({"title": "Top clients by requests",
                    "svg": charts.horizontal_bars([r["client"] or "(none)" for r in top],
                                                  [r["requests"] for r in top], xlabel="requests")})
    elif category == "failed_auth":
        out.append({"title": "Refused requests per hour (HTTP and API 401/403)",
                    "svg": charts.stacked_over_time(series.get("failed_auth_by_hour", []), time_key="hour",
                                                    group_key="kind", value_key="requests", start=start, end=end,
                                                    step=hour, ylabel="refused")})
    elif category == "policy_drift":
        out.append({"title": "Changes per day: ingress rules, secrets, RBAC, network policy",
                    "svg": charts.stacked_over_time(series.get("changes_by_day", []), time_key="day",
                                                    group_key="kind", value_key="changes", start=start, end=end,
                                                    step=day, ylabel="changes",
                                                    order=["ingress rules", "secrets", "RBAC", "network policy"])})
    for chart in out:
        chart["src"] = _data_uri(chart.pop("svg"))
    return out


def _data_uri(svg: str | None) -> str | None:
    """An SVG as a data: URI for <img>: the page stays one file, and WeasyPrint draws it as an
    image instead of laying out thousands of inline SVG elements as HTML (seconds per report).
    Scripts in an SVG loaded as an image never run, whatever its text holds."""
    if svg is None:
        return None
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8")).decode("ascii")


# --- Jinja2 -----------------------------------------------------------------------------


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir())),
        autoescape=True,  # every template, whatever its name: log values are hostile
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(prose=prose, cell=cell, num=num, bytes=human_bytes, when=when, short=short, sev=lambda s: s.upper())
    env.globals["inline"] = _inline_file
    return env


def _inline_file(name: str) -> Markup:
    """Our own stylesheet, inlined so report.html needs no other file."""
    return Markup((templates_dir() / name).read_text(encoding="utf-8"))


def prose(text: str) -> Markup:
    """Our controls' metadata text: escaped first, then `backticked` names set as code."""
    escaped = str(escape(text))
    return Markup(re.sub(r"`([^`]+)`", r"<code>\1</code>", escaped))


def cell(value) -> str:
    """A finding value as text for a table cell: lists and objects as JSON, long text cut."""
    if value is None:
        return "—"
    if isinstance(value, (dict, list)):
        value = json.dumps(value, ensure_ascii=False, sort_keys=True)
    text = str(value)
    # control characters would be invisible or break the layout; show them as escapes
    text = "".join(ch if ch.isprintable() or ch == " " else f"\\x{ord(ch):02x}" for ch in text)
    return text if len(text) <= CELL_CHARS else text[: CELL_CHARS - 1] + "…"


def num(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.2f}"
    return f"{int(value):,}"


def human_bytes(n) -> str:
    n = float(n or 0)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    return ""


def when(value) -> str:
    if not value:
        return "—"
    return as_datetime(value).strftime("%Y-%m-%d %H:%M UTC")


def short(value: str, n: int = 16) -> str:
    return value[:n] + "…" if value and len(value) > n else (value or "—")


def _period_text(start: datetime, end: datetime) -> str:
    last = end - timedelta(microseconds=1)
    if start.time() == end.time() == datetime.min.time():
        iso = start.isocalendar()
        if start.weekday() == 0 and end - start == timedelta(days=7):
            return f"week {iso.week} of {iso.year} ({start:%d %b} – {last:%d %b %Y})"
        return f"{start:%d %b %Y} – {last:%d %b %Y}"
    return f"{start:%Y-%m-%d %H:%M} – {end:%Y-%m-%d %H:%M} UTC"
