"""The figures and series the report draws, computed by SQL over the period's tables.

Kept apart from rendering (DESIGN.md: rendering runs no SQL of its own): the pipeline calls
`collect` after the controls, when the policy's views (`requests`, trusted proxies) exist, and
the renderer receives plain rows.
"""

from __future__ import annotations

import logging

import duckdb

from .controls import plain_value
from .resources import queries_dir

log = logging.getLogger(__name__)


def collect(con: duckdb.DuckDBPyConnection) -> dict[str, list[dict]]:
    """Every `queries/report/<name>.sql` as `{name: rows}`; a failing query yields no rows.

    A chart that cannot be drawn must not cost the week's report, so a failure is logged and
    the section says there is no data, rather than the run stopping.
    """
    out: dict[str, list[dict]] = {}
    for path in sorted((queries_dir() / "report").glob("*.sql")):
        try:
            cur = con.execute(path.read_text(encoding="utf-8"))
            names = [d[0] for d in cur.description or []]
            out[path.stem] = [dict(zip(names, (plain_value(v) for v in row))) for row in cur.fetchall()]
        except duckdb.Error as exc:
            log.warning("report query %s failed: %s", path.name, str(exc).strip().splitlines()[0])
            out[path.stem] = []
    return out
