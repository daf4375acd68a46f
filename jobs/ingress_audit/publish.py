"""Publish a run's outputs to S3: one folder per period, verified, never overwritten, optionally locked.

Layout: `s3://bucket/<prefix>/<period label>/<name>`, e.g. `s3://audit/reports/2026-W47/report.pdf`.

The publishing identity needs s3:ListBucket (without it S3 answers 403, not 404, for a missing
key), s3:GetObject and s3:GetObjectVersion (to compare with and read back the version just
stored: Object Lock buckets are versioned) and s3:PutObject; with `--retain-days` also
s3:GetBucketObjectLockConfiguration, s3:PutObjectRetention and s3:GetObjectRetention (without
it S3 leaves the lock headers out of the read-back, and the check of the retention fails).
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path, PurePosixPath

from botocore.exceptions import BotoCoreError, ClientError, FlexibleChecksumError

from .cache import CHUNK, hash_file, stream_to_temp
from .errors import EXIT_PUBLISH, ConfigError, IngressAuditError
from .sources_s3 import describe_error, error_code, iter_entries, listing_error

__all__ = [
    "EXIT_PUBLISH",
    "MANIFEST",
    "MAX_RETAIN_DAYS",
    "Destination",
    "PublishError",
    "PublishResult",
    "PublishedObject",
    "check_destination",
    "content_type",
    "fetch_previous",
    "parse_out_url",
    "period_folder",
    "publish",
    "upload_order",
]

log = logging.getLogger(__name__)


MANIFEST = "manifest.json"
MAX_RETAIN_DAYS = 3653  # ten years: COMPLIANCE retention cannot be shortened, even by the account root

_CONTENT_TYPES = {
    ".pdf": "application/pdf",
    ".html": "text/html; charset=utf-8",
    ".json": "application/json",
    ".sig": "application/octet-stream",
}

# The rule --source applies (lenient on legacy names), so any bucket one can read, one can write.
_BUCKET_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_")
_OUT_USAGE = "use s3://bucket or s3://bucket/prefix"


class PublishError(IngressAuditError):
    """Publishing failed after the local outputs were written: a conflict with an earlier report,
    a failed upload, or an upload that does not read back as the local file. Exit 4."""

    exit_code = EXIT_PUBLISH


@dataclass(frozen=True)
class Destination:
    """Where a period's report goes, and what is already published there."""

    bucket: str
    folder: str  # the period's key prefix, ending in '/': 'reports/2026-W47/'
    existing: dict[str, int]  # name below the folder -> size, for objects already there
    manifest_sha256: str | None  # of the published manifest.json (read back), None when absent

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.folder}"

    @property
    def complete(self) -> bool:
        """A manifest and its signature are there: an earlier run published the whole set."""
        return MANIFEST in self.existing and any(_is_signature(n) for n in self.existing)


@dataclass(frozen=True)
class PublishedObject:
    name: str  # as given, relative to the output folder
    key: str
    url: str  # s3://bucket/key
    size: int
    sha256: str  # hex, of the local file and (verified) of the stored object
    version_id: str | None  # None on an unversioned bucket
    skipped: bool  # already published with identical content; nothing was written
    lock_mode: str | None  # as the store reports it: 'COMPLIANCE', 'GOVERNANCE' or None
    retain_until: datetime | None


@dataclass(frozen=True)
class PublishResult:
    bucket: str
    folder: str
    objects: tuple[PublishedObject, ...]  # in upload order

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.folder}"

    @property
    def urls(self) -> list[str]:
        return [o.url for o in self.objects]

    @property
    def uploaded(self) -> list[str]:
        return [o.name for o in self.objects if not o.skipped]

    @property
    def skipped(self) -> list[str]:
        return [o.name for o in self.objects if o.skipped]

    @property
    def version_ids(self) -> dict[str, str | None]:
        return {o.name: o.version_id for o in self.objects}


# --- names -------------------------------------------------------------------------------------


def parse_out_url(url: str) -> tuple[str, str]:
    """`s3://bucket[/prefix]` -> (bucket, prefix without a trailing '/'); ConfigError if unusable."""
    text = (url or "").strip()
    if text[:5].lower() != "s3://":
        raise ConfigError(f"--out {url!r} is not an s3:// URL ({_OUT_USAGE})")
    # Split by hand, not urlparse: '?' and '#' are legal in keys.
    bucket, _, prefix = text[5:].partition("/")
    if not bucket:
        raise ConfigError(f"--out {url!r} names no bucket ({_OUT_USAGE})")
    if (
        not set(bucket) <= _BUCKET_CHARS
        or not bucket[0].isalnum()
        or not bucket[-1].isalnum()
        or ".." in bucket
        or len(bucket) > 255
    ):
        raise ConfigError(f"--out {url!r}: {bucket!r} is not a valid bucket name")
    prefix = prefix.rstrip("/")
    reason = _unsafe_path(prefix) if prefix else None
    if reason:
        raise ConfigError(f"--out {url!r}: the prefix {reason} ({_OUT_USAGE})")
    return bucket, prefix


def period_folder(prefix: str, label: str) -> str:
    """The key prefix of a period's report: 'reports/2026-W47/', or '2026-W47/' without a prefix."""
    if not label or "/" in label or _unsafe_path(label):
        raise ValueError(f"not a period label: {label!r}")
    prefix = prefix.rstrip("/")
    return f"{prefix}/{label}/" if prefix else f"{label}/"


def content_type(name: str) -> str:
    return _CONTENT_TYPES.get(PurePosixPath(name).suffix.lower(), "application/octet-stream")


def upload_order(names: list[str]) -> list[str]:
    """Every other file first (in the order given), then manifest.json, then its signature.

    The manifest lists every other output's hash and the signature covers the manifest, so a
    reader (or the next week's run) that finds the signature knows the whole set was already
    in place when it was written; a run that dies halfway leaves a folder without a signature,
    which reads as incomplete rather than as a report with files missing.
    """
    return sorted(names, key=lambda n: 2 if _is_signature(n) else 1 if n == MANIFEST else 0)


def _is_signature(name: str) -> bool:
    return name.startswith(MANIFEST + ".")  # manifest.json.sig, and any other detached form


def _unsafe_path(path: str) -> str | None:
    if path.startswith("/"):
        return "starts with '/'"
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in path):
        return "contains a control character"
    for segment in path.split("/"):
        if segment == "":
            return "has an empty segment ('//')"
        if segment in (".", ".."):
            return f"has a {segment!r} segment"
    return None


def _check_names(names: list[str]) -> None:
    if len(set(names)) != len(names):
        raise ValueError(f"file names repeat: {names!r}")
    for name in names:
        reason = _unsafe_path(name) if name else "is empty"
        if reason:
            raise ValueError(f"output name {name!r} {reason}")


def _check_retain_days(days: object) -> int:
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_RETAIN_DAYS:
        raise ConfigError(f"--retain-days must be a whole number of days from 1 to {MAX_RETAIN_DAYS}, not {days!r}")
    return days


# --- before the run ----------------------------------------------------------------------------


def check_destination(client, bucket: str, prefix: str, label: str, *, retain_days: int | None) -> Destination:
    """Check the destination before any work, and say what is already published for the period.

    A missing bucket, refused access, bad credentials or an unreachable endpoint, and
    `retain_days` on a bucket without Object Lock, are ConfigErrors (exit 2, nothing written).
    """
    folder = period_folder(prefix, label)
    url = f"s3://{bucket}/{folder}"
    if retain_days is not None:
        _check_retain_days(retain_days)
    existing = {e.key[len(folder):]: e.size for e in iter_entries(client, bucket, folder)}
    if retain_days is not None:
        _require_object_lock(client, bucket, url)
    manifest_sha256 = None
    if MANIFEST in existing:
        try:
            manifest_sha256 = _read_back(client, bucket, folder + MANIFEST).sha256
        except (ClientError, BotoCoreError) as e:
            raise ConfigError(f"{url}{MANIFEST}: cannot read the published manifest: {describe_error(e)}") from None
        if manifest_sha256 is None:
            raise ConfigError(f"{url}{MANIFEST}: the published manifest fails the store's own checksum")
    return Destination(bucket, folder, existing, manifest_sha256)


def _require_object_lock(client, bucket: str, url: str) -> None:
    try:
        config = client.get_object_lock_configuration(Bucket=bucket).get("ObjectLockConfiguration", {})
    except ClientError as e:
        if error_code(e) == "ObjectLockConfigurationNotFoundError":
            config = {}
        elif error_code(e) in ("AccessDenied", "403"):
            raise ConfigError(
                f"{url}: access denied reading the bucket's Object Lock configuration "
                "(the identity needs s3:GetBucketObjectLockConfiguration)"
            ) from None
        else:
            raise listing_error(e, url, client.meta.endpoint_url) from None
    except BotoCoreError as e:
        raise listing_error(e, url, client.meta.endpoint_url) from None
    if config.get("ObjectLockEnabled") != "Enabled":
        raise ConfigError(
            f"{url}: --retain-days needs Object Lock, and bucket {bucket!r} does not have it enabled "
            "(enable Object Lock on the bucket, or publish without --retain-days)"
        )


# --- publishing --------------------------------------------------------------------------------


def publish(
    client,
    out_dir: Path,
    bucket: str,
    prefix: str,
    label: str,
    files: list[str],
    *,
    retain_days: int | None,
    now: datetime | None = None,
) -> PublishResult:
    """Upload `files` (names relative to `out_dir`) under the period's folder; see `upload_order`.

    An object already at a key with the same bytes is skipped, so rerunning a period is
    idempotent; one with other bytes is a PublishError, raised before anything is written.
    Every upload is read back and hashed; with `retain_days` it is locked in COMPLIANCE mode.
    """
    names = upload_order(list(files))
    _check_names(names)
    folder = period_folder(prefix, label)
    retain_until = None
    if retain_days is not None:
        now = now or datetime.now(timezone.utc)
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        # Whole seconds: the date travels in an HTTP header at that precision.
        days = timedelta(days=_check_retain_days(retain_days))
        retain_until = now.astimezone(timezone.utc).replace(microsecond=0) + days

    local: dict[str, tuple[Path, str, int]] = {}
    for name in names:
        path = Path(out_dir) / name
        try:
            sha, size = hash_file(path)
        except OSError as e:
            raise PublishError(f"cannot read the output {str(path)!r}: {e.strerror or e}") from None
        local[name] = (path, sha, size)

    # Compare everything already there before writing anything: a conflict leaves the bucket as it was.
    done: dict[str, PublishedObject] = {}
    for name in names:
        _path, sha, size = local[name]
        found = _existing(client, bucket, name, folder + name, sha, size)
        if found is not None:
            done[name] = found

    for name in names:
        if name not in done:
            path, sha, size = local[name]
            done[name] = _upload(client, bucket, name, folder + name, path, sha, size, retain_until)

    if retain_until is not None:
        for obj in done.values():
            if obj.skipped and (obj.lock_mode != "COMPLIANCE" or not obj.retain_until):
                log.warning("s3://%s/%s was published earlier without COMPLIANCE retention", bucket, obj.key)
    return PublishResult(bucket, folder, tuple(done[n] for n in names))


def _existing(client, bucket: str, name: str, key: str, sha: str, size: int) -> PublishedObject | None:
    """The object at `key` when it has the local file's bytes; None when there is none.

    An object with other bytes is a PublishError: an earlier report is never overwritten.
    """
    url = f"s3://{bucket}/{key}"
    try:
        head = client.head_object(Bucket=bucket, Key=key)
    except ClientError as e:
        if error_code(e) in ("404", "NoSuchKey"):
            return None
        raise PublishError(f"{url}: cannot check for an earlier report: {describe_error(e)}") from None
    except BotoCoreError as e:
        raise PublishError(f"{url}: cannot check for an earlier report: {describe_error(e)}") from None
    if head["ContentLength"] == size:
        try:
            stored = _read_back(client, bucket, key, head.get("VersionId"))
        except (ClientError, BotoCoreError) as e:
            raise PublishError(f"{url}: cannot read the earlier report to compare: {describe_error(e)}") from None
        if stored.sha256 == sha:
            log.info("%s: already published with identical content (%d bytes, sha256 %s)", url, size, sha[:12])
            return PublishedObject(
                name, key, url, size, sha, stored.version_id, True, stored.lock_mode, stored.retain_until
            )
        theirs = _digest_text(stored.sha256)
    else:
        theirs = f"{head['ContentLength']} bytes"
    raise PublishError(
        f"{url} already holds a different {name} ({theirs}; this run's: {size} bytes, sha256 {sha[:12]}): "
        "an earlier report is never overwritten; publish this run under another --out prefix"
    )


def _upload(
    client, bucket: str, name: str, key: str, path: Path, sha: str, size: int, retain_until: datetime | None
) -> PublishedObject:
    url = f"s3://{bucket}/{key}"
    request = {
        "Bucket": bucket,
        "Key": key,
        "ContentType": content_type(name),
        # The SHA-256 of the file as hashed above (the hash the manifest records): S3 rejects a body
        # that does not match it, and it satisfies Object Lock's demand for an integrity header.
        "ChecksumAlgorithm": "SHA256",
        "ChecksumSHA256": base64.b64encode(bytes.fromhex(sha)).decode("ascii"),
        # Only if nothing is there: closes the race between the check in `publish` and this write.
        "IfNoneMatch": "*",
    }
    if retain_until is not None:
        request["ObjectLockMode"] = "COMPLIANCE"
        request["ObjectLockRetainUntilDate"] = retain_until
    try:
        with open(path, "rb") as body:
            response = client.put_object(Body=body, **request)
    except ClientError as e:
        if error_code(e) in ("PreconditionFailed", "412"):
            # Another writer (or an earlier attempt of this very request, retried by botocore
            # after a lost response) got there first: the same rule as for an earlier report.
            found = _existing(client, bucket, name, key, sha, size)
            if found is not None:
                return found
        if error_code(e) in ("NotImplemented", "501"):
            raise PublishError(f"{url}: the store does not support conditional writes (If-None-Match)") from None
        raise PublishError(f"{url}: upload failed: {describe_error(e)}") from None
    except BotoCoreError as e:
        raise PublishError(f"{url}: upload failed: {describe_error(e)}") from None
    except OSError as e:
        raise PublishError(f"cannot read the output {str(path)!r}: {e.strerror or e}") from None

    version_id = _version(response.get("VersionId"))
    # Read back every byte rather than trust the checksum the store reports: some S3-compatible
    # stores (moto among them) echo the client's checksum without checking the body against it.
    try:
        stored = _read_back(client, bucket, key, version_id)
    except (ClientError, BotoCoreError) as e:
        raise PublishError(f"{url}: uploaded, but reading it back to verify failed: {describe_error(e)}") from None
    if stored.sha256 != sha or stored.size != size:
        raise PublishError(
            f"{url}: the uploaded object does not match the local file (stored: {stored.size} bytes, "
            f"{_digest_text(stored.sha256)}; local: {size} bytes, sha256 {sha[:12]}); "
            "publishing stopped, so this period's set is incomplete"
        )
    if retain_until is not None and (
        stored.lock_mode != "COMPLIANCE" or stored.retain_until is None or stored.retain_until < retain_until
    ):
        raise PublishError(
            f"{url}: uploaded, but the store reports retention {stored.lock_mode} until {stored.retain_until}, "
            f"not COMPLIANCE until {retain_until:%Y-%m-%dT%H:%M:%SZ}"
        )
    log.info("%s: published (%d bytes, sha256 %s)", url, size, sha[:12])
    return PublishedObject(
        name, key, url, size, sha, version_id or stored.version_id, False, stored.lock_mode, stored.retain_until
    )


@dataclass(frozen=True)
class _Stored:
    sha256: str | None  # None: the bytes fail the checksum the store holds for them
    size: int
    version_id: str | None
    lock_mode: str | None
    retain_until: datetime | None


def _read_back(client, bucket: str, key: str, version_id: str | None = None) -> _Stored:
    request = {"Bucket": bucket, "Key": key, "ChecksumMode": "ENABLED"}
    if version_id:
        request["VersionId"] = version_id
    response = client.get_object(**request)
    digest = hashlib.sha256()
    size = 0
    body = response["Body"]
    try:
        for chunk in body.iter_chunks(CHUNK):
            digest.update(chunk)
            size += len(chunk)
        sha = digest.hexdigest()
    except FlexibleChecksumError:  # botocore compared the bytes with the store's checksum
        sha = None
    finally:
        body.close()
    return _Stored(
        sha,
        size,
        _version(response.get("VersionId")),
        response.get("ObjectLockMode"),
        response.get("ObjectLockRetainUntilDate"),
    )


# --- the previous period -----------------------------------------------------------------------


def fetch_previous(
    client,
    bucket: str,
    prefix: str,
    label: str,
    dest: Path,
    names: tuple[str, ...] = ("findings.json", MANIFEST),
) -> dict[str, Path]:
    """Download the previous period's published files that exist, for comparison and the manifest chain.

    `dest` must be a folder of its own, not the run's output folder: the names are the same.
    Absent files are simply left out; any other failure is a warning and an empty result, since
    the report still renders, only without the comparison.
    """
    _check_names(list(names))
    folder = period_folder(prefix, label)
    dest = Path(dest)
    got: dict[str, Path] = {}
    try:
        for name in names:
            path = _download(client, bucket, folder + name, dest / name)
            if path is not None:
                got[name] = path
    except (ClientError, BotoCoreError, OSError) as e:
        log.warning("s3://%s/%s: cannot read the previous report, so there is no comparison with it: %s",
                    bucket, folder, describe_error(e))
        for path in got.values():
            path.unlink(missing_ok=True)
        return {}
    log.info("s3://%s/%s: previous report: %s", bucket, folder, ", ".join(got) or "none published")
    return got


def _download(client, bucket: str, key: str, path: Path) -> Path | None:
    try:
        response = client.get_object(Bucket=bucket, Key=key)
    except ClientError as e:
        if error_code(e) in ("NoSuchKey", "404"):
            return None
        raise
    body = response["Body"]
    try:
        tmp, _sha, _n = stream_to_temp(body.iter_chunks(CHUNK), path.parent)
    finally:
        body.close()
    os.replace(tmp, path)
    return path


# --- helpers -----------------------------------------------------------------------------------


def _version(version_id: str | None) -> str | None:
    return None if version_id in (None, "null") else version_id  # "null": written while unversioned


def _digest_text(sha: str | None) -> str:
    return f"sha256 {sha[:12]}" if sha else "bytes that fail the store's own checksum"
