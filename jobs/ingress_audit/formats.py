"""Log formats: each is a SQL SELECT over `raw(line, text)` that yields one table's columns.

The contract every format's SQL follows (tests and staging rely on it):
- input: a relation named `raw` with `line BIGINT` (1-based line number in the object) and
  `text VARCHAR` (the line, never blank);
- output: `line`, `text`, `reject_reason` (NULL when the record parsed) and the columns of its
  table in schema.py except cluster, source_kind, object and line (staging adds those);
  a rejected row keeps its line and text and may leave every other column NULL;
- one output row per input line, except batch formats (a Kubernetes EventList line yields one
  row per event, all with the batch's line number);
- vectorized: string functions over the whole relation, never a Python loop per line.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import cache

import duckdb

from . import schema
from .db import sql_string
from .resources import queries_dir

# Columns a format yields for each table (schema order, minus what staging adds).
_ADDED_BY_STAGING = {"cluster", "source_kind", "object", "line"}
HTTP_FIELDS = [c for c in schema.HTTP_REQUESTS.column_names() if c not in _ADDED_BY_STAGING]
AUDIT_FIELDS = [c for c in schema.AUDIT_EVENTS.column_names() if c not in _ADDED_BY_STAGING]


@dataclass(frozen=True)
class Format:
    kind: str  # the source_kind value, e.g. "ingress-nginx"
    table: str  # "http_requests" or "audit_events"
    sql: str = field(repr=False)
    # Optional: a faster parse straight from a chunk file, valid only for a chunk it can vouch
    # for entirely (see fast_chunk_sql); staging falls back to `sql` for any other chunk.
    fast_sql: str | None = field(default=None, repr=False)
    # Optional, for JSON formats: quoted keys of which every line the format parses names at
    # least one (the fields its timestamp comes from). Sniffing skips the format, a query of
    # ~12 ms, for a head where no line names any: it would score 0 there. (A key spelled
    # with \u escapes would be missed; no known writer does that.)
    sniff_keys: tuple[str, ...] = field(default=(), repr=False)
    # Optional: a compiled tokenizer staging runs before `sql`, which then parses only the lines
    # the tokenizer hands back (see nginx_tokenizer.py). Its name and version, as "module:version".
    tokenizer: str | None = field(default=None, repr=False)

    @property
    def fingerprint(self) -> str:
        """Changes whenever the parser changes, so cached Parquet is never stale."""
        text = f"{self.kind}\0{self.table}\0{self.sql}\0{self.fast_sql or ''}\0{self.tokenizer or ''}"
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def fast_chunk_sql(self, path: str, first_line: int, line_limit: int) -> str:
        """The fast parse of one chunk file: the output contract of `sql`, read from the file.

        Its rows may be kept only when the query succeeds, rejects nothing and yields as many
        rows as the chunk has lines (then every line was one record, numbered in order).
        """
        assert self.fast_sql is not None
        return (self.fast_sql.replace(":chunk_path", sql_string(path))
                .replace(":first_line", str(int(first_line))).replace(":line_limit", str(int(line_limit))))

    @property
    def json_lines(self) -> bool:
        """One JSON document per line (sniffing tries these only on lines starting with '{')."""
        return self.kind in _JSON_KINDS

    @property
    def table_schema(self) -> schema.Table:
        return schema.HTTP_REQUESTS if self.table == "http_requests" else schema.AUDIT_EVENTS

    @property
    def fields(self) -> list[str]:
        return HTTP_FIELDS if self.table == "http_requests" else AUDIT_FIELDS


@cache
def _normalize_sql(name: str) -> str:
    """A parser's SQL, with each `-- include: <file>` line replaced by that file of queries/normalize/
    (the audit parsers share their tail that way)."""
    folder = queries_dir() / "normalize"
    lines = (folder / f"{name}.sql").read_text(encoding="utf-8").splitlines(keepends=True)
    return "".join(
        (folder / line.removeprefix(_INCLUDE).strip()).read_text(encoding="utf-8") if line.startswith(_INCLUDE) else line
        for line in lines
    )


_INCLUDE = "-- include: "


def builtin(kind: str) -> Format:
    """A built-in format by its source_kind."""
    table, file = _BUILTINS[kind]
    fast = _FAST.get(kind)
    return Format(kind=kind, table=table, sql=_normalize_sql(file), fast_sql=fast and _normalize_sql(fast),
                  sniff_keys=_SNIFF_KEYS.get(kind, ()), tokenizer=_TOKENIZERS.get(kind))


# source_kind -> (table, queries/normalize/<file>.sql)
_BUILTINS: dict[str, tuple[str, str]] = {
    "ingress-nginx": ("http_requests", "ingress_nginx"),
    "traefik-json": ("http_requests", "traefik_json"),
    "traefik-clf": ("http_requests", "traefik_clf"),
    "aws-alb": ("http_requests", "aws_alb"),
    "k8s-audit": ("audit_events", "k8s_audit"),
}


# source_kind -> queries/normalize/<file>.sql of its fast chunk parser, where it has one
_FAST: dict[str, str] = {"k8s-audit": "k8s_audit_fast"}

# source_kind -> its compiled tokenizer, "module:version". Raise the version whenever the module
# accepts other lines or outputs other values: objects staged with the old one are parsed again.
_TOKENIZERS: dict[str, str] = {"ingress-nginx": "nginx_tokenizer:2", "k8s-audit": "audit_tokenizer:1"}

# source_kind -> Format.sniff_keys: where the SQL takes the timestamp from
_SNIFF_KEYS: dict[str, tuple[str, ...]] = {
    "traefik-json": ('"StartUTC"', '"StartLocal"', '"time"'),
    "k8s-audit": ('"requestReceivedTimestamp"', '"timestamp"', '"items"'),
}

_JSON_KINDS = {"traefik-json", "k8s-audit", "nginx-json"}


def builtin_kinds() -> list[str]:
    return list(_BUILTINS)


def _load_raw(con: duckdb.DuckDBPyConnection, lines: list[str]) -> bool:
    rows = [(i + 1, text) for i, text in enumerate(lines) if text is not None and text.strip()]
    if not rows:
        return False
    # one statement with two list parameters: executemany costs a round trip per row
    con.execute(
        "CREATE OR REPLACE TEMP TABLE raw AS SELECT unnest(?::BIGINT[]) AS line, unnest(?::VARCHAR[]) AS text",
        [[r[0] for r in rows], [r[1] for r in rows]],
    )
    return True


def count_parsed(fmt: Format, lines: list[str], con: duckdb.DuckDBPyConnection) -> int:
    """How many of the lines the format parses: the score when sniffing an object's format."""
    if fmt.sniff_keys and not any(key in line for line in lines for key in fmt.sniff_keys):
        return 0  # no line names a field the format needs: it cannot parse any of them
    if not _load_raw(con, lines):
        return 0
    return con.execute(f"SELECT count(DISTINCT line) FILTER (WHERE reject_reason IS NULL AND ts IS NOT NULL) FROM ({fmt.sql})").fetchone()[0]


def parse_lines(fmt: Format, lines: list[str], con: duckdb.DuckDBPyConnection | None = None) -> list[dict]:
    """Run a format's SQL over a few lines in memory: for sniffing and for tests.

    Blank lines are skipped (they are not records) but still count for line numbers.
    """
    con = con or duckdb.connect()
    if not _load_raw(con, lines):
        return []
    cols = ", ".join(["line", "text", "reject_reason", *fmt.fields])
    cur = con.execute(f"SELECT {cols} FROM ({fmt.sql}) ORDER BY line")
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r)) for r in cur.fetchall()]
