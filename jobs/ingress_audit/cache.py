"""The local download cache: where an object's bytes live, and the sidecar that vouches for them.

Layout, readable by a person poking around the cache folder:

    cache_dir/s3/<bucket>/<key segments…>/%o-<etag or version>        the bytes as stored
    cache_dir/s3/<bucket>/<key segments…>/%o-<etag or version>.json   sha256, size, etag, version_id
    cache_dir/local/<sha256 of the file's path>.json                  a local file's hash

Names starting with '%' are ours: key segments are encoded so that they never produce one
(see `_segment`), so a key `a/b` and a key `a/b/%o-x` cannot collide.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import threading
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import NamedTuple

CHUNK = 1 << 20  # 1 MiB: large enough for throughput, small enough to never hold an object

# Temp files being written by download threads. On SIGTERM the process exits without waiting for
# those threads (a stalled download would outlast Kubernetes' grace period), so the CLI removes
# what they leave: see discard_live_temps.
_live_temps: set[str] = set()
_live_lock = threading.Lock()


class Outcome(NamedTuple):
    """What a backend reports for one object; `sources` turns it into a FetchedObject."""

    local_path: Path | None
    sha256: str | None
    cached: bool
    error: str | None
    version_id: str | None = None


class UnsafeKey(ValueError):
    """A key that could escape the cache folder when used as a path."""


def unsafe_key_reason(key: str) -> str | None:
    if key.startswith("/"):
        return "absolute key"
    if "\\" in key or "\x00" in key:
        return "backslash or NUL in key"
    if ".." in key.split("/"):
        return "'..' segment in key"
    return None


def _segment(seg: str) -> str:
    # '%' is escaped first so the only '%' names we produce are the reserved ones below.
    if seg == "":
        return "%"  # "a//b" must not collapse into "a/b"
    if seg == ".":
        return "%2E"
    enc = seg.replace("%", "%25")
    if len(enc.encode()) > 200:  # filesystems cap a name at 255 bytes; S3 keys may not
        enc = "%L" + hashlib.sha256(seg.encode()).hexdigest()
    return enc


def _tag(text: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9_-]", "_", text)
    if safe != text or len(safe) > 100:  # keep distinct tags distinct after sanitizing
        safe = safe[:60] + "_" + hashlib.sha256(text.encode()).hexdigest()[:16]
    return safe


def s3_entry(
    cache_dir: Path,
    bucket: str,
    key: str,
    *,
    etag: str | None,
    version_id: str | None,
    size: int,
    last_modified: datetime,
) -> tuple[Path, Path]:
    """The data file and sidecar for one object version; raises UnsafeKey."""
    reason = unsafe_key_reason(key)
    if reason:
        raise UnsafeKey(f"unsafe key refused: {reason}: {key!r}")
    if version_id:
        tag = "v-" + _tag(version_id)
    elif etag:
        tag = "e-" + _tag(etag)
    else:  # some S3-compatible stores list no ETag: size + mtime is the best identity left
        tag = f"m-{int(last_modified.timestamp() * 1e6)}-{size}"
    root = cache_dir / "s3" / _segment(bucket)
    folder = root.joinpath(*(_segment(s) for s in key.split("/")))
    data = folder / f"%o-{tag}"
    # Belt and braces: whatever the checks above missed, nothing is written outside the cache.
    if not data.resolve().is_relative_to(cache_dir.resolve()):
        raise UnsafeKey(f"unsafe key refused: resolves outside the cache: {key!r}")
    return data, folder / f"%o-{tag}.json"


def read_json(path: Path) -> dict | None:
    try:
        meta = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) else None


def read_sidecar(data: Path, sidecar: Path, size: int) -> dict | None:
    """The sidecar's facts when the cached bytes are complete, else None (download again)."""
    meta = read_json(sidecar)
    try:
        if meta and meta["size"] == size and meta["sha256"] and data.stat().st_size == size:
            return meta
    except (OSError, KeyError):
        pass
    return None


def write_json_atomic(path: Path, payload: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix="%t-")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(payload, f, sort_keys=True)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def stream_to_temp(chunks: Iterable[bytes], folder: Path) -> tuple[Path, str, int]:
    """Write chunks to a temp file in `folder`, hashing as they pass: (temp path, sha256, bytes).

    The temp file sits beside its final name so the later os.replace is atomic; on any
    failure it is removed, so a partial download never looks like a cached one.
    """
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix="%t-")
    with _live_lock:
        _live_temps.add(tmp)
    digest = hashlib.sha256()
    n = 0
    try:
        with os.fdopen(fd, "wb") as f:
            for chunk in chunks:
                digest.update(chunk)
                f.write(chunk)
                n += len(chunk)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    finally:
        with _live_lock:
            _live_temps.discard(tmp)
    return Path(tmp), digest.hexdigest(), n


def discard_live_temps() -> None:
    """Remove the temp files of downloads still in progress (the process is about to exit).

    Harmless even if a download finishes meanwhile: its bytes count only once its sidecar is
    written (read_sidecar), and a data file without one is downloaded again.
    """
    with _live_lock:
        names = list(_live_temps)
    for name in names:
        Path(name).unlink(missing_ok=True)


def hash_file(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    n = 0
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
            n += len(chunk)
    return digest.hexdigest(), n


def local_hash_entry(cache_dir: Path, path: Path) -> Path:
    name = hashlib.sha256(str(path.resolve()).encode()).hexdigest()
    return cache_dir / "local" / f"{name}.json"
