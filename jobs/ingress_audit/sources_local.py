"""Local folder sources: list files under a root, hash them in place (nothing is copied)."""

from __future__ import annotations

import errno
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import NamedTuple

from .cache import Outcome, hash_file, local_hash_entry, read_json, write_json_atomic


class LocalEntry(NamedTuple):
    key: str  # posix path relative to the root
    size: int
    last_modified: datetime


def list_files(root: Path) -> list[LocalEntry]:
    """Every regular file under root, sorted by key; symlinked folders are not followed (loops)."""
    found = []
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        for name in files:
            path = Path(folder, name)
            try:
                st = path.stat()
            except OSError:  # a dangling symlink, or removed while we walk
                continue
            if not path.is_file():
                continue
            key = path.relative_to(root).as_posix()
            found.append(LocalEntry(key, st.st_size, datetime.fromtimestamp(st.st_mtime, timezone.utc)))
    return sorted(found, key=lambda e: e.key)


def hash_local(path: Path, listed_size: int, cache_dir: Path) -> Outcome:
    """Hash a local file by streaming it, reusing a stored hash while size and mtime are unchanged."""
    try:
        st = path.stat()
        if st.st_size != listed_size:
            return Outcome(None, None, True, f"size mismatch: listed {listed_size}, got {st.st_size}")
        entry = local_hash_entry(cache_dir, path)
        meta = read_json(entry)
        if meta and meta.get("sha256") and (meta.get("size"), meta.get("mtime_ns")) == (
            st.st_size,
            st.st_mtime_ns,
        ):
            return Outcome(path, meta["sha256"], True, None)
        sha, n = hash_file(path)
    except OSError as e:
        return Outcome(None, None, True, _os_error(e))
    if n != listed_size:  # written to while we read it
        return Outcome(None, None, True, f"size mismatch: listed {listed_size}, got {n}")
    try:
        record = {"path": str(path.resolve()), "size": n, "mtime_ns": st.st_mtime_ns, "sha256": sha}
        write_json_atomic(entry, record)
    except OSError:
        pass  # the stored hash only saves time; an unwritable cache must not fail the object
    return Outcome(path, sha, True, None)


def _os_error(e: OSError) -> str:
    if e.errno == errno.ENOENT:
        return "file vanished since listing"
    if e.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    return f"read failed: {e.strerror or e}"
