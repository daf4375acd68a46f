"""The report's charts: matplotlib figures rendered to inline SVG.

Why these settings:
- text stays text (`svg.fonttype: none`), so the PDF is searchable and the charts small;
- labels come from logs (client addresses, hosts), so matplotlib must not read `$…$` as
  mathtext (`text.parse_math: False`); the SVG writer escapes XML itself;
- the same data gives the same bytes (fixed `svg.hashsalt`, no date in the metadata), so
  report.html is reproducible.
"""

from __future__ import annotations

import io
from datetime import datetime, timedelta

import matplotlib

matplotlib.use("Agg")  # no display in a CronJob; set before pyplot is imported

import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

# Okabe-Ito: distinguishable by colour-blind readers and in greyscale print.
PALETTE = {
    "2xx": "#009E73", "3xx": "#56B4E9", "4xx": "#E69F00", "5xx": "#D55E00", "other": "#999999",
    "ingress 401": "#E69F00", "ingress 403": "#F0E442", "API 401": "#D55E00", "API 403": "#CC79A7",
    "ingress rules": "#0072B2", "secrets": "#D55E00", "RBAC": "#CC79A7", "network policy": "#009E73",
}
_FALLBACK = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#999999"]

_STYLE = {
    "svg.fonttype": "none",
    "svg.hashsalt": "ingress-audit",
    "text.parse_math": False,
    "font.family": "DejaVu Sans",
    "font.size": 8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "axes.grid.axis": "y",
    "grid.color": "#dddddd",
    "grid.linewidth": 0.6,
    "legend.frameon": False,
}
WIDTH_IN, HEIGHT_IN = 6.8, 2.3


def stacked_over_time(
    rows: list[dict],
    *,
    time_key: str,
    group_key: str,
    value_key: str,
    start: datetime,
    end: datetime,
    step: timedelta,
    ylabel: str,
    order: list[str] | None = None,
) -> str | None:
    """Stacked bars per time bucket (hour or day) across the whole period; None without data.

    Buckets with no rows are drawn as zero, so a silent hour shows as a gap, not as nothing.
    """
    if not rows:
        return None
    buckets = _buckets(start, end, step)
    index = {b: i for i, b in enumerate(buckets)}
    groups = _group_order(rows, group_key, order)
    series = {g: [0] * len(buckets) for g in groups}
    for r in rows:
        i = index.get(as_datetime(r[time_key]))
        if i is not None:
            series[r[group_key]][i] += r[value_key]
    with plt.rc_context(_STYLE):
        fig, ax = plt.subplots(figsize=(WIDTH_IN, HEIGHT_IN))
        bottom = [0] * len(buckets)
        width = step / timedelta(days=1) * 0.9
        for n, g in enumerate(groups):
            ax.bar(buckets, series[g], width=width, bottom=bottom, align="edge", label=g,
                   color=PALETTE.get(g, _FALLBACK[n % len(_FALLBACK)]), linewidth=0)
            bottom = [a + b for a, b in zip(bottom, series[g])]
        ax.set_xlim(buckets[0], buckets[-1] + step)
        ax.xaxis.set_major_locator(mdates.DayLocator())
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%a %d %b"))
        ax.yaxis.set_major_locator(MaxNLocator(nbins=5, integer=True))
        ax.set_ylabel(ylabel)
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=7)
        return _svg(fig)


def horizontal_bars(labels: list[str], values: list[int], *, xlabel: str, color: str = "#0072B2") -> str | None:
    """Ranked bars (top clients); long labels are shortened here and shown whole in the table."""
    if not labels:
        return None
    shown = [label if len(label) <= 40 else label[:39] + "…" for label in labels]
    with plt.rc_context({**_STYLE, "axes.grid.axis": "x"}):
        height = max(1.2, 0.22 * len(labels) + 0.5)
        fig, ax = plt.subplots(figsize=(WIDTH_IN, height))
        positions = list(range(len(labels)))[::-1]  # the largest on top
        ax.barh(positions, values, color=color, height=0.7)
        ax.set_yticks(positions, shown)
        ax.xaxis.set_major_locator(MaxNLocator(nbins=6, integer=True))
        ax.set_xlabel(xlabel)
        return _svg(fig)


def _svg(fig) -> str:
    buf = io.StringIO()
    fig.tight_layout()
    fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    plt.close(fig)
    text = buf.getvalue()
    # inline in HTML: drop the XML prolog and DOCTYPE, keep the <svg> element
    return text[text.index("<svg"):]


def _buckets(start: datetime, end: datetime, step: timedelta) -> list[datetime]:
    first = start.replace(minute=0, second=0, microsecond=0)
    if step >= timedelta(days=1):
        first = first.replace(hour=0)
    out, t = [], first
    while t < end:
        out.append(t)
        t += step
    return out


def as_datetime(value) -> datetime:
    """A row's timestamp: already a datetime, or ISO 8601 text as findings.json writes it."""
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def _group_order(rows: list[dict], key: str, order: list[str] | None) -> list[str]:
    present = {r[key] for r in rows}
    known = [g for g in (order or []) if g in present]
    return known + sorted(present - set(known))
