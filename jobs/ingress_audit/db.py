"""DuckDB connections with the limits a pod needs: bounded memory, a spill folder, all cores."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb

DEFAULT_MEMORY_LIMIT = os.environ.get("INGRESS_AUDIT_MEMORY_LIMIT", "2GB")


def connect(spill_dir: Path, *, memory_limit: str = DEFAULT_MEMORY_LIMIT, threads: int | None = None) -> duckdb.DuckDBPyConnection:
    spill_dir.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(
        ":memory:",
        config={
            "memory_limit": memory_limit,
            "temp_directory": str(spill_dir),
            "threads": threads or os.cpu_count() or 2,
            # No extension may be fetched at run time: the pod has no internet.
            "autoinstall_known_extensions": False,
            "autoload_known_extensions": False,
        },
    )
    quiet(con)
    return con


def quiet(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """Per-connection settings every connection and cursor needs.

    The progress bar is DuckDB's own, printed on stdout during long queries: it would corrupt
    CSV/JSON output and CronJob logs, and its callbacks contend for the GIL.
    """
    con.execute("SET enable_progress_bar = false")
    con.execute("SET TimeZone = 'UTC'")
    return con


def sql_string(value: str) -> str:
    """A SQL string literal (for paths and names inside generated SQL)."""
    return "'" + value.replace("'", "''") + "'"
