"""DuckDB connections with the limits a pod needs: bounded memory, a spill folder, all cores."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import duckdb

log = logging.getLogger(__name__)

# When neither INGRESS_AUDIT_MEMORY_LIMIT nor the container says otherwise (a laptop, CI): what
# the controls over a busy cluster's week were measured with (README, "Performance").
DEFAULT_MEMORY_LIMIT = "2GB"

# DuckDB's share of the container's memory limit. memory_limit bounds DuckDB's buffer manager,
# not the process; the other 40% is for what it does not count: Python and its imports, staging's
# inflate buffers and 64 MiB chunks, Parquet row groups, DuckDB's untracked allocations, and
# WeasyPrint laying out the report. Over the container's limit is an OOM kill (exit 137, no
# report); under it only means DuckDB spills sooner. Measured (README, "Performance"): the
# controls' RSS is memory_limit + 0.1-0.2 GB, staging's whole peak 0.6 GB. The spill folder must
# be on disk: a memory-backed emptyDir counts against the same limit.
CONTAINER_MEMORY_FRACTION = 0.6
CONTAINER_MEMORY_ENV = "INGRESS_AUDIT_CONTAINER_MEMORY_BYTES"  # the downward API's limits.memory
CGROUP_MEMORY_FILES = (
    Path("/sys/fs/cgroup/memory.max"),  # cgroup v2: a byte count, or "max"
    Path("/sys/fs/cgroup/memory/memory.limit_in_bytes"),  # cgroup v1: a huge number when unlimited
)
_UNLIMITED = 1 << 60  # cgroup v1 writes "no limit" as about 2**63 rounded down to a page


def container_memory_bytes(
    environ: Mapping[str, str] | None = None,
    cgroup_files: Sequence[Path] = CGROUP_MEMORY_FILES,
) -> int | None:
    """The container's memory limit in bytes, or None when there is none or it cannot be told.

    The smallest of what the downward API says (the pod spec's limit) and what the cgroup
    enforces (which can be lower, e.g. a pod-level limit): going over either is fatal.
    """
    env = os.environ if environ is None else environ
    found: list[int] = []
    raw = (env.get(CONTAINER_MEMORY_ENV) or "").strip()
    if raw.isdigit() and 0 < int(raw) < _UNLIMITED:
        found.append(int(raw))
    for path in cgroup_files:
        try:
            text = path.read_text().strip()
        except OSError:  # not in a container, or not this cgroup version
            continue
        if text.isdigit() and 0 < int(text) < _UNLIMITED:
            found.append(int(text))
        break  # the first file that exists is the cgroup version in use
    return min(found) if found else None


def memory_limit_for(container_bytes: int) -> str:
    """DuckDB's memory_limit for a container limited to this many bytes (whole MiB, rounded down)."""
    return f"{int(container_bytes * CONTAINER_MEMORY_FRACTION) >> 20}MiB"


def default_memory_limit(
    environ: Mapping[str, str] | None = None,
    cgroup_files: Sequence[Path] = CGROUP_MEMORY_FILES,
) -> str:
    """INGRESS_AUDIT_MEMORY_LIMIT, else a share of the container's limit, else DEFAULT_MEMORY_LIMIT."""
    env = os.environ if environ is None else environ
    explicit = (env.get("INGRESS_AUDIT_MEMORY_LIMIT") or "").strip()
    if explicit:
        return explicit
    container = container_memory_bytes(env, cgroup_files)
    return memory_limit_for(container) if container else DEFAULT_MEMORY_LIMIT


def connect(spill_dir: Path, *, memory_limit: str | None = None, threads: int | None = None) -> duckdb.DuckDBPyConnection:
    spill_dir.mkdir(parents=True, exist_ok=True)
    memory_limit = memory_limit or default_memory_limit()
    log.debug("DuckDB memory_limit %s, spilling to %s", memory_limit, spill_dir)
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
