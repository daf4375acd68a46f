"""The S3 calls behind the staged days: verified uploads and downloads, listing, deleting.

Uploads carry their SHA-256 (`ChecksumSHA256`: S3 refuses a body that does not match it) and
are checked afterwards with a HEAD: the size, and the checksum the store keeps. A store that
keeps no SHA-256 for the object (a multipart upload's checksum is one of parts) is read back
and hashed instead. Downloads are hashed as they stream and compared with the manifest's
SHA-256 before the file takes its name.
"""

from __future__ import annotations

import base64
import logging
import os
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError

from .cache import CHUNK, stream_to_temp, unsafe_key_reason
from .errors import ConfigError
from .publish import PublishError
from .sources_s3 import describe_error, error_code, listing_error

log = logging.getLogger(__name__)

SINGLE_PUT_MAX = 4 << 30  # S3 takes up to 5 GiB in one PUT; larger files go multipart


class Gone(Exception):
    """A listed file is no longer there (a rerun of its day replaced it): read the manifest again."""


def _missing(exc: ClientError) -> bool:
    return error_code(exc) in ("404", "NoSuchKey", "NotFound")


def check_readable(client, bucket: str, prefix: str) -> None:
    """Fail early, as a configuration error, when the bucket is missing or cannot be listed."""
    where = f"s3://{bucket}/{prefix}"
    try:
        client.list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=1)
    except (ClientError, BotoCoreError) as exc:
        raise listing_error(exc, where, client.meta.endpoint_url) from None


def get_bytes(client, bucket: str, key: str) -> bytes | None:
    """A small object's bytes, None when there is none. Access errors are configuration errors."""
    try:
        response = client.get_object(Bucket=bucket, Key=key)
        body = response["Body"]
        try:
            return body.read()
        finally:
            body.close()
    except ClientError as exc:
        if _missing(exc):
            return None
        raise listing_error(exc, f"s3://{bucket}/{key}", client.meta.endpoint_url) from None
    except BotoCoreError as exc:
        raise listing_error(exc, f"s3://{bucket}/{key}", client.meta.endpoint_url) from None


def list_keys(client, bucket: str, prefix: str) -> list[str]:
    keys = []
    try:
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            keys += [o["Key"] for o in page.get("Contents", ())]
    except (ClientError, BotoCoreError) as exc:
        raise PublishError(f"s3://{bucket}/{prefix}: listing failed: {describe_error(exc)}") from None
    return keys


def delete_keys(client, bucket: str, keys: list[str]) -> None:
    for i in range(0, len(keys), 1000):
        batch = keys[i:i + 1000]
        try:
            response = client.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True})
        except (ClientError, BotoCoreError) as exc:
            raise PublishError(f"s3://{bucket}: deleting {len(batch)} replaced files failed: {describe_error(exc)}") from None
        failed = response.get("Errors") or []
        if failed:
            first = failed[0]
            raise PublishError(f"s3://{bucket}/{first.get('Key')}: delete failed: {first.get('Code')}: {first.get('Message')}")


def _b64(sha_hex: str) -> str:
    return base64.b64encode(bytes.fromhex(sha_hex)).decode("ascii")


def upload_verified(client, bucket: str, key: str, path: Path, sha256: str, size: int,
                    content_type: str = "application/octet-stream") -> bool:
    """Upload a file unless the key already holds it; True when uploaded. PublishError on failure."""
    url = f"s3://{bucket}/{key}"
    checksum = _b64(sha256)
    try:
        head = _head(client, bucket, key)
        if head is not None and head["ContentLength"] == size and head.get("ChecksumSHA256") in (None, checksum):
            return False  # the name carries the SHA-256: same name and size, same bytes
        if size <= SINGLE_PUT_MAX:
            with open(path, "rb") as body:
                client.put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type,
                                  ChecksumAlgorithm="SHA256", ChecksumSHA256=checksum)
        else:
            from boto3.s3.transfer import TransferConfig

            client.upload_file(str(path), bucket, key, ExtraArgs={"ContentType": content_type, "ChecksumAlgorithm": "SHA256"},
                               Config=TransferConfig(multipart_chunksize=256 << 20))
        head = _head(client, bucket, key)
    except (ClientError, BotoCoreError) as exc:
        raise PublishError(f"{url}: upload failed: {describe_error(exc)}") from None
    except OSError as exc:
        raise PublishError(f"cannot read {str(path)!r}: {exc.strerror or exc}") from None
    if head is None or head["ContentLength"] != size:
        raise PublishError(f"{url}: uploaded, but the store holds {head and head['ContentLength']} bytes, not {size}")
    stored = head.get("ChecksumSHA256")
    if stored == checksum:
        return True
    if stored is not None and "-" not in stored:
        raise PublishError(f"{url}: uploaded, but the store's SHA-256 differs from the file's")
    if read_back_sha256(client, bucket, key) != sha256:  # no whole-object SHA-256 kept: hash what is there
        raise PublishError(f"{url}: uploaded, but what reads back is not the file")
    return True


def put_verified(client, bucket: str, key: str, data: bytes, content_type: str = "application/json") -> None:
    """A small object, written whole and read back (the day manifest: the commit)."""
    import hashlib

    sha = hashlib.sha256(data).hexdigest()
    url = f"s3://{bucket}/{key}"
    try:
        client.put_object(Bucket=bucket, Key=key, Body=data, ContentType=content_type,
                          ChecksumAlgorithm="SHA256", ChecksumSHA256=_b64(sha))
        back = read_back_sha256(client, bucket, key)
    except (ClientError, BotoCoreError) as exc:
        raise PublishError(f"{url}: upload failed: {describe_error(exc)}") from None
    if back != sha:
        raise PublishError(f"{url}: uploaded, but what reads back is not what was written")


def read_back_sha256(client, bucket: str, key: str) -> str:
    import hashlib

    digest = hashlib.sha256()
    body = client.get_object(Bucket=bucket, Key=key)["Body"]
    try:
        for chunk in body.iter_chunks(CHUNK):
            digest.update(chunk)
    finally:
        body.close()
    return digest.hexdigest()


def _head(client, bucket: str, key: str) -> dict | None:
    try:
        return client.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    except ClientError as exc:
        if _missing(exc):
            return None
        raise


def local_path(root: Path, key: str) -> Path:
    """Where a staged file's copy lives under `root`; refuses keys that would leave it."""
    reason = unsafe_key_reason(key)
    path = root / key
    if reason or not path.resolve().is_relative_to(root.resolve()):
        raise ConfigError(f"staged file key refused: {reason or 'resolves outside the cache'}: {key!r}")
    return path


def download_verified(client, bucket: str, key: str, path: Path, sha256: str, size: int) -> bool:
    """Copy a listed file into the cache once; True when downloaded. Raises Gone when it is not there."""
    if path.is_file() and path.stat().st_size == size:
        return False  # written under its name only after its SHA-256 checked out
    url = f"s3://{bucket}/{key}"
    try:
        response = client.get_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if _missing(exc):
            raise Gone(url) from None
        raise ConfigError(f"{url}: cannot read a staged file: {describe_error(exc)}") from None
    except BotoCoreError as exc:
        raise ConfigError(f"{url}: cannot read a staged file: {describe_error(exc)}") from None
    body = response["Body"]
    try:
        tmp, got_sha, got_size = stream_to_temp(body.iter_chunks(CHUNK), path.parent)
    finally:
        body.close()
    if (got_sha, got_size) != (sha256, size):
        Path(tmp).unlink(missing_ok=True)
        raise Gone(f"{url}: holds {got_size} bytes with another SHA-256 than its manifest lists")
    os.replace(tmp, path)
    return True
