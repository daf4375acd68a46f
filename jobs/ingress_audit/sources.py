"""The sources stage: parse `--source` values, list the period's objects, fetch and hash each once.

S3 specifics live in `sources_s3`, local folders in `sources_local`, the download cache in
`cache`; this module is the API the rest of the job uses.
"""

from __future__ import annotations

import logging
import re
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from pathlib import Path
from urllib.parse import unquote

from . import sources_local, sources_s3
from .cache import Outcome
from .errors import ConfigError
from .period import Period
from .progress import Progress
from .sources_s3 import make_s3_client

__all__ = [
    "FetchedObject",
    "ObjectRef",
    "SourceSpec",
    "fetch_objects",
    "key_date",
    "list_objects",
    "make_s3_client",
    "parse_source",
    "selected",
]

log = logging.getLogger(__name__)

_LABEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")
# Lenient on legacy names (uppercase, '_' in us-east-1) but never a path separator or '..'.
_BUCKET = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,253}[A-Za-z0-9])?")
_USAGE = "use s3://bucket/prefix, file:///path or a folder path, optionally labelled: prod-eu=s3://…"


@dataclass(frozen=True)
class SourceSpec:
    cluster: str  # the label: "prod-eu=s3://b/p" -> "prod-eu"; unlabelled -> "default"
    url: str  # as given, without the label
    scheme: str  # "s3" | "file"
    bucket: str | None  # s3 only
    prefix: str  # s3 key prefix, taken literally ("" allowed); "" for files
    root: Path | None  # file only: an existing folder


@dataclass(frozen=True)
class ObjectRef:
    source: SourceSpec
    key: str  # s3 key, or path relative to root (posix)
    url: str  # "s3://bucket/key", or str(root / key) with the root as the user gave it
    size: int
    last_modified: datetime  # UTC
    etag: str | None
    version_id: str | None


@dataclass
class FetchedObject:
    ref: ObjectRef
    local_path: Path | None  # the cache file (s3) or the file itself (file sources)
    sha256: str | None  # of the bytes as stored (gz or not)
    cached: bool  # True when no download happened
    error: str | None  # one line, e.g. "access denied", "size mismatch: listed 10, got 7"


# --- parsing -----------------------------------------------------------------------------------


def parse_source(text: str) -> SourceSpec:
    """`[label=]s3://bucket/prefix`, `[label=]file:///path` or `[label=]path`; ConfigError if unusable."""
    if not text or not text.strip():
        raise ConfigError(f"empty --source ({_USAGE})")
    cluster, url = _split_label(text.strip())
    scheme_match = _SCHEME.match(url)
    if scheme_match is None:
        return _file_spec(cluster, url, Path(url).expanduser())
    scheme = scheme_match.group(1).lower()
    rest = url[scheme_match.end():]
    if scheme == "s3":
        # Parsed by hand, not urlparse: '?' and '#' are legal in keys and must stay in the prefix.
        bucket, _, prefix = rest.partition("/")
        if not bucket:
            raise ConfigError(f"--source {url!r} names no bucket ({_USAGE})")
        if not _BUCKET.fullmatch(bucket) or ".." in bucket:
            raise ConfigError(f"--source {url!r}: {bucket!r} is not a valid bucket name")
        return SourceSpec(cluster, url, "s3", bucket, prefix, None)
    if scheme == "file":
        host, slash, path = rest.partition("/")
        if host not in ("", "localhost") or not slash:
            raise ConfigError(f"--source {url!r}: a file URL needs an absolute path (file:///path)")
        return _file_spec(cluster, url, Path("/" + unquote(path)))
    raise ConfigError(f"--source {url!r}: unsupported scheme {scheme!r} ({_USAGE})")


def _split_label(text: str) -> tuple[str, str]:
    head, sep, rest = text.partition("=")
    # '=' also appears in paths and keys (dt=2026-11-16): only a head without '/' or ':' can be
    # a label, and an existing relative path wins over a label reading of it.
    if not sep or "/" in head or ":" in head or Path(text).exists():
        return "default", text
    if not _LABEL.fullmatch(head):
        raise ConfigError(
            f"--source {text!r}: label {head!r} must be letters, digits, '.', '_' or '-' "
            f"(at most 63, starting with a letter or digit), e.g. prod-eu=s3://bucket/prefix"
        )
    if not rest:
        raise ConfigError(f"--source {text!r}: nothing after the label ({_USAGE})")
    return head, rest


def _file_spec(cluster: str, url: str, root: Path) -> SourceSpec:
    if not root.exists():
        raise ConfigError(f"--source {url!r}: folder {str(root)!r} does not exist")
    if not root.is_dir():
        raise ConfigError(f"--source {url!r}: {str(root)!r} is not a folder")
    return SourceSpec(cluster, url, "file", None, "", root)


# --- period selection --------------------------------------------------------------------------

# A date in a key: 2026/11/16, 2026-11-16 or dt=2026-11-16 (the last is the hive form of the
# second). Digit guards keep the pattern from biting into longer digit runs such as account ids.
_KEY_DATE = re.compile(r"(?<!\d)(\d{4})([/-])(\d{2})\2(\d{2})(?!\d)")


def key_date(key: str) -> date | None:
    """The date a key is filed under, or None. The last real date wins: it is nearest the name."""
    found = None
    for m in _KEY_DATE.finditer(key):
        year, month, day = int(m.group(1)), int(m.group(3)), int(m.group(4))
        if not 1970 <= year <= 2199:  # a digit group, not a log date
            continue
        try:
            found = date(year, month, day)
        except ValueError:  # 2026/13/45
            continue
    return found


def selected(key: str, last_modified: datetime, period: Period, margin: timedelta) -> bool:
    """Whether an object may hold records of the period; records are filtered by time later.

    The margin covers logs rotated or shipped after midnight and clocks that disagree.
    """
    filed = key_date(key)
    if filed is not None:
        last_day = (period.end - timedelta(microseconds=1)).date()
        return period.start.date() - margin <= filed <= last_day + margin
    return period.start <= last_modified < period.end + margin


def _skipped(key: str, size: int) -> bool:
    # Console-made "folders" and Hadoop's `_$folder$` markers hold no log; anything else (a
    # README, a stray file) is listed so that it is reported as unclassified, not lost silently.
    return key.endswith("/") or (size == 0 and key.endswith("_$folder$"))


# --- listing -----------------------------------------------------------------------------------


def list_objects(
    spec: SourceSpec,
    period: Period,
    *,
    margin: timedelta = timedelta(days=1),
    s3_client=None,
    page_size: int | None = None,
) -> list[ObjectRef]:
    """The source's objects that may hold records of the period, in key order.

    Dates are read from the whole S3 key (prefix included) but, for a folder, only from the
    path below the root: a date in the folder's own name says nothing about the files in it.
    """
    refs: list[ObjectRef] = []
    total = 0
    if spec.scheme == "s3":
        client = s3_client or make_s3_client()
        for e in sources_s3.iter_entries(client, spec.bucket, spec.prefix, page_size=page_size):
            total += 1
            if not _skipped(e.key, e.size) and selected(e.key, e.last_modified, period, margin):
                url = f"s3://{spec.bucket}/{e.key}"
                refs.append(ObjectRef(spec, e.key, url, e.size, e.last_modified, e.etag, None))
    else:
        for e in sources_local.list_files(spec.root):
            total += 1
            if selected(e.key, e.last_modified, period, margin):
                url = str(spec.root / e.key)
                refs.append(ObjectRef(spec, e.key, url, e.size, e.last_modified, None, None))
    log.info("%s: %d objects listed, %d in the period", spec.url, total, len(refs))
    return refs


# --- fetching ----------------------------------------------------------------------------------


def fetch_objects(
    refs: list[ObjectRef],
    cache_dir: Path,
    *,
    s3_client=None,
    workers: int = 4,
    progress: bool = True,
) -> list[FetchedObject]:
    """Download (s3) or hash (file) every object once; results in the order of `refs`.

    A failure of one object is recorded in its `error` and the others go on.
    """
    cache_dir = Path(cache_dir)
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"cannot create the cache folder {str(cache_dir)!r}: {e.strerror or e}") from None
    client = s3_client
    if client is None and any(r.source.scheme == "s3" for r in refs):
        client = make_s3_client()

    def one(ref: ObjectRef) -> FetchedObject:
        if ref.source.scheme == "s3":
            out = sources_s3.fetch(client, ref, cache_dir)
        else:
            out = sources_local.hash_local(ref.source.root / ref.key, ref.size, cache_dir)
        return _fetched(ref, out)

    results: list[FetchedObject | None] = [None] * len(refs)
    with Progress("fetched", total=len(refs), unit="objects", enabled=progress) as bar:
        # A small pool overlaps network waits and hashing (hashlib releases the GIL).
        # Not a `with` block: its exit joins the threads, and on SIGTERM a download stalled on a
        # slow store would hold the process past Kubernetes' grace period (the CLI exits without them).
        pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="fetch")
        futures = {pool.submit(one, ref): i for i, ref in enumerate(refs)}
        try:
            for future in as_completed(futures):
                fetched = future.result()
                results[futures[future]] = fetched
                if fetched.error:
                    log.warning("%s: %s", fetched.ref.url, fetched.error)
                bar.advance(1, bytes=0 if fetched.error else fetched.ref.size)
        except BaseException:  # SIGTERM, Ctrl-C or a bug: do not start the queued downloads
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown(wait=True)
    failed = sum(1 for f in results if f.error)
    downloaded = sum(1 for f in results if not f.cached and not f.error)
    log.info("%d objects: %d downloaded, %d from cache or disk, %d failed",
             len(results), downloaded, len(results) - downloaded - failed, failed)
    return results  # type: ignore[return-value]  # every slot is filled above


def _fetched(ref: ObjectRef, out: Outcome) -> FetchedObject:
    if out.version_id and out.version_id != ref.version_id:
        ref = replace(ref, version_id=out.version_id)
    return FetchedObject(ref, out.local_path, out.sha256, out.cached, out.error)
