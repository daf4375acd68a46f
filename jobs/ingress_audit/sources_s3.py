"""S3 and S3-compatible sources through boto3: the client, paginated listing, cached download."""

from __future__ import annotations

import hashlib
import os
import re
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectionError as BotoConnectionError,
    FlexibleChecksumError,
    IncompleteReadError,
    NoCredentialsError,
    PartialCredentialsError,
    ReadTimeoutError,
    ResponseStreamingError,
)

from .cache import CHUNK, Outcome, UnsafeKey, read_sidecar, s3_entry, stream_to_temp, write_json_atomic
from .errors import ConfigError
from .switches import env_switch

if TYPE_CHECKING:
    from .sources import ObjectRef

# botocore retries the request; these happen while reading the body, which it does not retry.
# A body that fails the store's own checksum (x-amz-checksum-*) was damaged on the way: worth another try.
_STREAM_ERRORS = (ResponseStreamingError, IncompleteReadError, ReadTimeoutError, ConnectionClosedError,
                  FlexibleChecksumError)
_STREAM_ATTEMPTS = 3

# Listing failures that make a whole source unusable, in words a person can act on.
_LISTING_MESSAGES = {
    "NoSuchBucket": "the bucket does not exist",
    "AccessDenied": "access denied listing the bucket (the identity needs s3:ListBucket)",
    "AllAccessDisabled": "all access to the bucket is disabled",
    "InvalidAccessKeyId": "the access key id is not known to the endpoint (check the credentials)",
    "SignatureDoesNotMatch": "the secret key does not match the access key (check the credentials)",
    "ExpiredToken": "the session token has expired (refresh the credentials)",
    "InvalidToken": "the session token is malformed or invalid (refresh the credentials)",
    "TokenRefreshRequired": "the session token has expired (refresh the credentials)",
    "PermanentRedirect": "the bucket is in another region (set AWS_REGION to the bucket's region)",
    "AuthorizationHeaderMalformed": "wrong region for the bucket (set AWS_REGION to the bucket's region)",
}

_OBJECT_MESSAGES = {
    "AccessDenied": "access denied",
    "NoSuchKey": "no such key (deleted since listing?)",
    "404": "no such key (deleted since listing?)",
    "NoSuchVersion": "the listed version no longer exists",
    "PreconditionFailed": "changed since listing (ETag no longer matches)",
    "InvalidObjectState": "archived in a cold storage class; restore it first",
}


class S3Entry(NamedTuple):
    key: str
    size: int
    last_modified: datetime
    etag: str | None


def _seconds(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 < value < 86400:
        raise ConfigError(f"{name}={raw!r} is not a number of seconds (0 < s < 86400)")
    return value


def make_s3_client(
    *,
    path_style: bool | None = None,
    max_attempts: int | None = None,
    connect_timeout: float | None = None,
    read_timeout: float | None = None,
):
    """A boto3 S3 client on the standard credential chain; AWS_ENDPOINT_URL(_S3) is honoured by boto3.

    Explicit Config values beat environment variables in botocore, so the env overrides we
    promise (AWS_RETRY_MODE, AWS_MAX_ATTEMPTS) are read here and folded in. The timeouts
    (INGRESS_AUDIT_S3_CONNECT_TIMEOUT, default 10 s; INGRESS_AUDIT_S3_READ_TIMEOUT, default 60 s,
    the longest silence tolerated within a response) are knobs because a stalled store must
    cost a bounded time: attempts x read timeout per object.
    """
    if connect_timeout is None:
        connect_timeout = _seconds("INGRESS_AUDIT_S3_CONNECT_TIMEOUT", 10.0)
    if read_timeout is None:
        read_timeout = _seconds("INGRESS_AUDIT_S3_READ_TIMEOUT", 60.0)
    if path_style is None:
        path_style = env_switch("INGRESS_AUDIT_S3_PATH_STYLE", False)
    env_switch(ETAG_MD5_ENV, True)  # read per object later: a bad value stops the run here, before any download
    retries: dict = {"mode": os.environ.get("AWS_RETRY_MODE") or "adaptive"}
    env_attempts = os.environ.get("AWS_MAX_ATTEMPTS")
    try:
        if max_attempts is not None:
            retries["total_max_attempts"] = max_attempts
        elif env_attempts:
            retries["total_max_attempts"] = int(env_attempts)
        else:
            retries["max_attempts"] = 10
    except ValueError:
        raise ConfigError(f"AWS_MAX_ATTEMPTS={env_attempts!r} is not a whole number") from None
    try:
        config = Config(
            retries=retries,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            tcp_keepalive=True,
            max_pool_connections=32,  # above any sensible fetch pool, so connections are reused
            s3={"addressing_style": "path"} if path_style else None,
        )
        return boto3.session.Session().client("s3", config=config)
    except (ValueError, BotoCoreError) as e:  # "Invalid endpoint: …", unknown profile, bad retry mode
        endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
        where = f" (AWS_ENDPOINT_URL={endpoint})" if endpoint else ""
        raise ConfigError(f"cannot set up the S3 client{where}: {_one_line(e)}") from None


def iter_entries(client, bucket: str, prefix: str, *, page_size: int | None = None) -> Iterator[S3Entry]:
    """Every object under the prefix, page by page; a failure here is a ConfigError."""
    paginate: dict = {"Bucket": bucket, "Prefix": prefix}
    if page_size:
        paginate["PaginationConfig"] = {"PageSize": page_size}
    try:
        for page in client.get_paginator("list_objects_v2").paginate(**paginate):
            for obj in page.get("Contents", ()):
                yield S3Entry(
                    obj["Key"],
                    obj["Size"],
                    obj["LastModified"].astimezone(timezone.utc),
                    _etag(obj.get("ETag")),
                )
    except (ClientError, BotoCoreError) as e:
        raise listing_error(e, f"s3://{bucket}/{prefix}", client.meta.endpoint_url) from None


def listing_error(exc: Exception, where: str, endpoint: str | None) -> ConfigError:
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        code = err.get("Code", "")
        detail = _LISTING_MESSAGES.get(code) or f"{code}: {err.get('Message', '')}".strip(": ")
        return ConfigError(f"{where}: {_one_line(detail)}")
    if isinstance(exc, (NoCredentialsError, PartialCredentialsError)):
        return ConfigError(
            f"{where}: no usable AWS credentials (environment, profile, IRSA or instance role): {_one_line(exc)}"
        )
    if isinstance(exc, (BotoConnectionError, ReadTimeoutError)):
        return ConfigError(f"{where}: cannot reach the S3 endpoint {endpoint}: {_one_line(exc)}")
    return ConfigError(f"{where}: listing failed: {_one_line(exc)}")


def fetch(client, ref: ObjectRef, cache_dir: Path) -> Outcome:
    """Download one object into the cache once; later calls answer from the sidecar."""
    try:
        data, sidecar = s3_entry(
            cache_dir,
            ref.source.bucket,
            ref.key,
            etag=ref.etag,
            version_id=ref.version_id,
            size=ref.size,
            last_modified=ref.last_modified,
        )
    except UnsafeKey as e:
        return Outcome(None, None, False, str(e))
    meta = read_sidecar(data, sidecar, ref.size)
    if meta:
        return Outcome(data, meta["sha256"], True, None, meta.get("version_id") or ref.version_id)
    try:
        tmp, sha, n, version_id = _download(client, ref, data.parent)
    except ClientError as e:
        return Outcome(None, None, False, _object_error(e))
    except IntegrityError as e:
        return Outcome(None, None, False, f"download failed: {e}")
    except BotoCoreError as e:
        return Outcome(None, None, False, f"download failed: {_one_line(e)}")
    except OSError as e:
        return Outcome(None, None, False, f"cache write failed: {_one_line(e)}")
    if n != ref.size:
        tmp.unlink(missing_ok=True)
        return Outcome(None, None, False, f"size mismatch: listed {ref.size}, got {n}")
    version_id = version_id or ref.version_id
    try:
        os.replace(tmp, data)
        # Written after the bytes: a sidecar's presence means the data file is complete.
        write_json_atomic(
            sidecar,
            {"sha256": sha, "size": n, "etag": ref.etag, "version_id": version_id, "url": ref.url},
        )
    except OSError as e:
        tmp.unlink(missing_ok=True)
        return Outcome(None, None, False, f"cache write failed: {_one_line(e)}")
    return Outcome(data, sha, False, None, version_id)


class IntegrityError(Exception):
    """The response's bytes are not the object we listed: a wrong ETag, or a body whose MD5 differs."""


# A single-part upload's ETag is the MD5 of its bytes (unless encrypted with KMS or a customer key);
# multipart ETags carry "-<parts>" and say nothing checkable about the bytes.
_MD5_ETAG = re.compile(r"[0-9a-f]{32}")


def _download(client, ref: ObjectRef, folder: Path) -> tuple[Path, str, int, str | None]:
    request = {"Bucket": ref.source.bucket, "Key": ref.key}
    if ref.version_id:
        request["VersionId"] = ref.version_id
    elif ref.etag:
        # The bytes we hash and cache under this ETag must be the version we listed.
        request["IfMatch"] = f'"{ref.etag}"'
    for attempt in range(1, _STREAM_ATTEMPTS + 1):
        response = client.get_object(**request)
        body = response["Body"]
        tmp = None
        try:
            # Checked before a byte is kept: If-Match should make a different ETag impossible, so
            # one means something between us and the store answered wrongly (a cache, a proxy).
            got_etag = _etag(response.get("ETag"))
            if ref.etag and got_etag != ref.etag:
                raise IntegrityError(f"ETag mismatch: listed {ref.etag}, the download answered {got_etag}")
            md5 = hashlib.md5(usedforsecurity=False) if _md5_checkable(ref.etag, response) else None
            tmp, sha, n = stream_to_temp(_hashing(body.iter_chunks(CHUNK), md5), folder)
            if md5 is not None and md5.hexdigest() != ref.etag:
                raise IntegrityError(f"MD5 of the downloaded bytes {md5.hexdigest()} is not the ETag {ref.etag}")
            version_id = response.get("VersionId")
            return tmp, sha, n, None if version_id in (None, "null") else version_id
        except (*_STREAM_ERRORS, IntegrityError):
            if tmp is not None:  # complete but wrong bytes: never left where a later run could take them
                tmp.unlink(missing_ok=True)
            if attempt == _STREAM_ATTEMPTS:
                raise
            time.sleep(0.5 * attempt)
        finally:
            body.close()
    raise AssertionError("unreachable")


def _md5_checkable(etag: str | None, response: dict) -> bool:
    """Whether the ETag is the MD5 of the bytes. AWS: single-part, not SSE-KMS / DSSE-KMS / SSE-C.
    Some S3-compatible stores (MinIO with encryption, some gateways) return 32-hex ETags that
    are not an MD5: INGRESS_AUDIT_S3_ETAG_MD5=false turns the check off for them."""
    if not env_switch(ETAG_MD5_ENV, True):
        return False
    kms = str(response.get("ServerSideEncryption") or "").startswith("aws:kms")  # aws:kms, aws:kms:dsse
    return bool(etag and _MD5_ETAG.fullmatch(etag) and not kms and not response.get("SSECustomerAlgorithm"))


ETAG_MD5_ENV = "INGRESS_AUDIT_S3_ETAG_MD5"


def _hashing(chunks: Iterator[bytes], md5) -> Iterator[bytes]:
    for chunk in chunks:
        if md5 is not None:
            md5.update(chunk)
        yield chunk


def error_code(exc: ClientError) -> str:
    """The S3 error code ("NoSuchKey", "AccessDenied", "412" …) of a client error."""
    return str(exc.response.get("Error", {}).get("Code", ""))


def describe_error(exc: Exception) -> str:
    """One line for a log or an error message: "Code: Message" of a client error, else its text."""
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        return _one_line(f"{err.get('Code', '')}: {err.get('Message', '')}".strip(": "))
    return _one_line(exc)


def _object_error(exc: ClientError) -> str:
    err = exc.response.get("Error", {})
    code = err.get("Code", "")
    return _OBJECT_MESSAGES.get(code) or _one_line(f"{code}: {err.get('Message', '')}".strip(": "))


def _etag(raw: str | None) -> str | None:
    return raw.strip('"') if raw else None


def _one_line(obj: object) -> str:
    return " ".join(str(obj).split())
