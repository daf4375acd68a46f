"""The sources stage against a real HTTP S3 endpoint (moto's server, see conftest.py)."""

from __future__ import annotations

import gzip
import hashlib
import json
import socket
import time
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from botocore.exceptions import ClientError, NoCredentialsError

from ingress_audit.errors import ConfigError
from ingress_audit.period import Period
from ingress_audit.sources import fetch_objects, list_objects, make_s3_client, parse_source
from ingress_audit.sources_s3 import listing_error

UTC = timezone.utc
WEEK = Period(datetime(2020, 3, 16, tzinfo=UTC), datetime(2020, 3, 23, tzinfo=UTC))  # long before any upload


def around_now() -> Period:
    """A period holding the LastModified moto gives objects uploaded in this test."""
    now = datetime.now(UTC)
    return Period(now - timedelta(hours=1), now + timedelta(hours=1))


def put(client, bucket: str, objects: dict[str, bytes]) -> None:
    for key, body in objects.items():
        client.put_object(Bucket=bucket, Key=key, Body=body)


def count_calls(client, operation: str) -> list[int]:
    """Count requests of one operation the client sends (an event hook: the HTTP still happens)."""
    calls: list[int] = []
    client.meta.events.register(f"before-call.s3.{operation}", lambda **_: calls.append(1))
    return calls


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- client ---------------------------------------------------------------------------------------


def test_path_style_option_and_env(s3_server, monkeypatch):
    assert make_s3_client(path_style=True).meta.config.s3["addressing_style"] == "path"
    assert (make_s3_client().meta.config.s3 or {}).get("addressing_style") != "path"
    monkeypatch.setenv("INGRESS_AUDIT_S3_PATH_STYLE", "1")
    assert make_s3_client().meta.config.s3["addressing_style"] == "path"
    assert (make_s3_client(path_style=False).meta.config.s3 or {}).get("addressing_style") != "path"


def test_retries_timeouts_and_endpoint(s3_server, monkeypatch):
    client = make_s3_client()
    assert client.meta.endpoint_url == s3_server  # AWS_ENDPOINT_URL, honoured by boto3 itself
    assert client.meta.config.retries["mode"] == "adaptive"
    assert client.meta.config.connect_timeout and client.meta.config.read_timeout
    monkeypatch.setenv("AWS_RETRY_MODE", "standard")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "3")
    client = make_s3_client()
    assert client.meta.config.retries == {"mode": "standard", "total_max_attempts": 3}
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9")
    assert make_s3_client().meta.endpoint_url == "http://127.0.0.1:9"


def test_invalid_client_settings_are_config_errors(s3_server, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "not a url")
    with pytest.raises(ConfigError, match=r"AWS_ENDPOINT_URL=not a url.*Invalid endpoint"):
        make_s3_client()
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_server)
    monkeypatch.setenv("AWS_RETRY_MODE", "bogus")
    with pytest.raises(ConfigError, match="cannot set up the S3 client"):
        make_s3_client()
    monkeypatch.setenv("AWS_RETRY_MODE", "standard")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "ten")
    with pytest.raises(ConfigError, match="AWS_MAX_ATTEMPTS='ten' is not a whole number"):
        make_s3_client()


# --- listing ----------------------------------------------------------------------------------------


def test_pagination_lists_every_object(s3_client, bucket):
    put(s3_client, bucket, {f"logs/2020/03/{16 + i}/nginx.log": b"x\n" for i in range(5)})
    calls = count_calls(s3_client, "ListObjectsV2")

    refs = list_objects(parse_source(f"s3://{bucket}/logs/"), WEEK, s3_client=s3_client, page_size=2)

    assert len(calls) == 3
    assert [r.key for r in refs] == [f"logs/2020/03/{16 + i}/nginx.log" for i in range(5)]
    ref = refs[0]
    assert ref.url == f"s3://{bucket}/logs/2020/03/16/nginx.log"
    assert (ref.size, ref.etag, ref.version_id) == (2, hashlib.md5(b"x\n").hexdigest(), None)
    assert ref.last_modified.tzinfo is not None and ref.last_modified.utcoffset() == timedelta(0)


def test_selection_markers_and_unclassified_objects(s3_client, bucket):
    put(
        s3_client,
        bucket,
        {
            "alb/2020/03/15/a.log.gz": b"a",  # the margin day
            "alb/2020/03/10/old.log.gz": b"b",
            "alb/2020/03/": b"",  # a console-made folder
            "alb_$folder$": b"",
            "alb/README.txt": b"what this bucket holds",  # undated, LastModified is now
        },
    )
    refs = list_objects(parse_source(f"s3://{bucket}"), WEEK, s3_client=s3_client)
    assert [r.key for r in refs] == ["alb/2020/03/15/a.log.gz"]
    refs = list_objects(parse_source(f"s3://{bucket}/alb"), around_now(), s3_client=s3_client)
    assert [r.key for r in refs] == ["alb/README.txt"]  # listed, so it is reported as unclassified


def test_client_from_environment_when_none_is_given(s3_client, bucket, tmp_path):
    put(s3_client, bucket, {"k/2020-03-16.log": b"hello\n"})
    refs = list_objects(parse_source(f"prod=s3://{bucket}/k"), WEEK)
    [got] = fetch_objects(refs, tmp_path, progress=False)
    assert (got.ref.source.cluster, got.error, got.local_path.read_bytes()) == ("prod", None, b"hello\n")


def test_no_such_bucket_is_a_config_error(s3_server):
    with pytest.raises(ConfigError) as info:
        list_objects(parse_source("s3://no-such-bucket-here/logs"), WEEK)
    assert str(info.value) == "s3://no-such-bucket-here/logs: the bucket does not exist"


def test_unreachable_endpoint_is_a_config_error_quickly(s3_server, monkeypatch):
    endpoint = f"http://127.0.0.1:{closed_port()}"
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    started = time.monotonic()
    with pytest.raises(ConfigError) as info:
        list_objects(parse_source("s3://logs/x"), WEEK)
    assert time.monotonic() - started < 5
    message = str(info.value)
    assert message.startswith(f"s3://logs/x: cannot reach the S3 endpoint {endpoint}")
    assert "\n" not in message


def test_missing_credentials_are_a_config_error(s3_server, monkeypatch):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(ConfigError, match=r"^s3://logs/: no usable AWS credentials"):
        list_objects(parse_source("s3://logs/"), WEEK)


@pytest.mark.parametrize(
    ("code", "words"),
    [
        ("InvalidAccessKeyId", "the access key id is not known"),
        ("SignatureDoesNotMatch", "the secret key does not match"),
        ("ExpiredToken", "the session token has expired"),
        ("AccessDenied", "access denied listing the bucket"),
        ("SlowDown", "SlowDown: Please reduce your request rate."),
    ],
)
def test_listing_error_messages(code, words):
    # moto's server accepts any credentials, so these server answers are built by hand.
    exc = ClientError({"Error": {"Code": code, "Message": "Please reduce\nyour request rate."}}, "ListObjectsV2")
    assert str(listing_error(exc, "s3://b/p", None)).startswith(f"s3://b/p: {words}")
    assert "credentials" in str(listing_error(NoCredentialsError(), "s3://b/p", None))


# --- fetching ----------------------------------------------------------------------------------------


def test_download_hashes_every_byte_and_writes_a_sidecar(s3_client, bucket, tmp_path):
    data = gzip.compress(b"10.0.0.1 - - [16/Nov/2026:00:00:01 +0000] \"GET / HTTP/1.1\" 200 1\n" * 50000)
    plain = b"line\n" * 1000
    put(s3_client, bucket, {"a/2020/03/16/x.log.gz": data, "a/2020/03/16/y.log": plain})
    refs = list_objects(parse_source(f"s3://{bucket}/a/"), WEEK, s3_client=s3_client)

    got = fetch_objects(refs, tmp_path / "cache", s3_client=s3_client, workers=2, progress=False)

    for fetched, body in zip(got, (data, plain)):
        assert fetched.error is None and fetched.cached is False
        assert fetched.sha256 == hashlib.sha256(body).hexdigest()  # of the bytes as stored, gz or not
        assert fetched.local_path.read_bytes() == body
        assert fetched.local_path.is_relative_to(tmp_path / "cache" / "s3" / bucket)
        sidecar = json.loads(fetched.local_path.with_name(fetched.local_path.name + ".json").read_text())
        assert sidecar["sha256"] == fetched.sha256 and sidecar["size"] == len(body)
        assert sidecar["etag"] == fetched.ref.etag
    assert not [p for p in (tmp_path / "cache").rglob("%t-*")]  # no temp file left behind


def test_second_fetch_comes_from_the_cache_without_a_download(s3_client, bucket, tmp_path):
    put(s3_client, bucket, {"a/2020-03-16.log": b"first\n"})
    refs = list_objects(parse_source(f"s3://{bucket}/a"), WEEK, s3_client=s3_client)
    [first] = fetch_objects(refs, tmp_path, s3_client=s3_client, progress=False)

    s3_client.delete_object(Bucket=bucket, Key="a/2020-03-16.log")  # a download would now fail
    gets = count_calls(s3_client, "GetObject")
    [again] = fetch_objects(refs, tmp_path, s3_client=s3_client, progress=False)

    assert not gets
    assert (again.cached, again.error, again.sha256, again.local_path) == (True, None, first.sha256, first.local_path)
    assert again.local_path.read_bytes() == b"first\n"


def test_changed_etag_downloads_again(s3_client, bucket, tmp_path):
    spec = parse_source(f"s3://{bucket}")
    put(s3_client, bucket, {"k/2020/03/17/a.log": b"version one\n"})
    [one] = fetch_objects(list_objects(spec, WEEK, s3_client=s3_client), tmp_path, s3_client=s3_client, progress=False)
    put(s3_client, bucket, {"k/2020/03/17/a.log": b"version two!\n"})
    [two] = fetch_objects(list_objects(spec, WEEK, s3_client=s3_client), tmp_path, s3_client=s3_client, progress=False)

    assert two.cached is False and two.error is None
    assert two.ref.etag != one.ref.etag and two.local_path != one.local_path
    assert two.sha256 == hashlib.sha256(b"version two!\n").hexdigest()


def test_object_replaced_between_listing_and_fetch_is_not_cached_under_the_old_etag(s3_client, bucket, tmp_path):
    put(s3_client, bucket, {"k/2020/03/17/a.log": b"listed\n"})
    refs = list_objects(parse_source(f"s3://{bucket}"), WEEK, s3_client=s3_client)
    put(s3_client, bucket, {"k/2020/03/17/a.log": b"rewritten\n"})
    [got] = fetch_objects(refs, tmp_path, s3_client=s3_client, progress=False)
    assert (got.error, got.sha256, got.local_path) == ("changed since listing (ETag no longer matches)", None, None)


def test_unsafe_keys_are_refused_and_nothing_is_written_outside_the_cache(s3_client, bucket, tmp_path):
    unsafe = ["a/../../etc/passwd", "/abs/key", "..\\x"]
    put(s3_client, bucket, {key: b"evil" for key in unsafe} | {"ok.log": b"fine"})
    refs = list_objects(parse_source(f"s3://{bucket}"), around_now(), s3_client=s3_client)
    assert sorted(r.key for r in refs) == sorted(unsafe + ["ok.log"])
    cache = tmp_path / "work" / "cache"

    got = {g.ref.key: g for g in fetch_objects(refs, cache, s3_client=s3_client, progress=False)}

    assert got["ok.log"].error is None
    for key in unsafe:
        assert got[key].error.startswith("unsafe key refused: ") and repr(key) in got[key].error
        assert got[key].local_path is None and got[key].sha256 is None
    assert [p.name for p in tmp_path.iterdir()] == ["work"]
    assert [p.name for p in (tmp_path / "work").iterdir()] == ["cache"]
    written = [p for p in cache.rglob("*") if p.is_file()]
    assert {p.read_bytes() for p in written if not p.name.endswith(".json")} == {b"fine"}


def test_size_mismatch_is_reported_and_leaves_nothing_cached(s3_client, bucket, tmp_path):
    put(s3_client, bucket, {"k/2020-03-16.log": b"1234567"})
    [ref] = list_objects(parse_source(f"s3://{bucket}"), WEEK, s3_client=s3_client)
    [got] = fetch_objects([replace(ref, size=10)], tmp_path, s3_client=s3_client, progress=False)
    assert (got.error, got.local_path) == ("size mismatch: listed 10, got 7", None)
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]


def test_a_failed_object_does_not_stop_the_others(s3_client, bucket, tmp_path):
    put(s3_client, bucket, {f"k/2020/03/16/{n}.log": n.encode() * 3 for n in "abcd"})
    refs = list_objects(parse_source(f"s3://{bucket}/k"), WEEK, s3_client=s3_client)
    s3_client.delete_object(Bucket=bucket, Key="k/2020/03/16/b.log")

    got = fetch_objects(refs, tmp_path, s3_client=s3_client, workers=3, progress=False)

    assert [g.ref.key for g in got] == [r.key for r in refs]
    assert [g.error for g in got] == [None, "no such key (deleted since listing?)", None, None]
    assert [g.local_path.read_bytes() for g in got if g.local_path] == [b"aaa", b"ccc", b"ddd"]


def test_versioned_bucket_records_the_version_id(s3_client, bucket, tmp_path):
    s3_client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    put(s3_client, bucket, {"k/2020-03-18.log": b"v1\n"})
    version = s3_client.head_object(Bucket=bucket, Key="k/2020-03-18.log")["VersionId"]
    refs = list_objects(parse_source(f"s3://{bucket}"), WEEK, s3_client=s3_client)
    assert refs[0].version_id is None  # a plain listing does not say

    [got] = fetch_objects(refs, tmp_path, s3_client=s3_client, progress=False)
    [again] = fetch_objects(refs, tmp_path, s3_client=s3_client, progress=False)

    assert got.ref.version_id == version and again.ref.version_id == version and again.cached
    # A ref that names its version is cached under it and fetched by it.
    put(s3_client, bucket, {"k/2020-03-18.log": b"v2 is longer\n"})
    [pinned] = fetch_objects([got.ref], tmp_path, s3_client=s3_client, progress=False)
    assert (pinned.error, pinned.local_path.read_bytes()) == (None, b"v1\n")


def test_mixed_sources_keep_their_order(s3_client, bucket, tmp_path):
    folder = tmp_path / "local"
    (folder / "2020-03-16").mkdir(parents=True)
    (folder / "2020-03-16" / "a.log").write_bytes(b"local\n")
    put(s3_client, bucket, {"2020-03-16/b.log": b"remote\n"})
    refs = list_objects(parse_source(f"s3://{bucket}"), WEEK, s3_client=s3_client) + list_objects(
        parse_source(f"onprem={folder}"), WEEK
    )
    got = fetch_objects(refs, tmp_path / "cache", s3_client=s3_client, progress=False)
    assert [(g.ref.source.scheme, g.local_path.read_bytes(), g.cached) for g in got] == [
        ("s3", b"remote\n", False),
        ("file", b"local\n", True),
    ]


def test_timeouts_from_the_environment(s3_server, monkeypatch):
    monkeypatch.setenv("INGRESS_AUDIT_S3_CONNECT_TIMEOUT", "2.5")
    monkeypatch.setenv("INGRESS_AUDIT_S3_READ_TIMEOUT", "7")
    client = make_s3_client()
    assert (client.meta.config.connect_timeout, client.meta.config.read_timeout) == (2.5, 7.0)
    for bad in ("soon", "0", "-3"):
        monkeypatch.setenv("INGRESS_AUDIT_S3_READ_TIMEOUT", bad)
        with pytest.raises(ConfigError, match=f"INGRESS_AUDIT_S3_READ_TIMEOUT='{bad}' is not a number of seconds"):
            make_s3_client()


@pytest.mark.parametrize(
    "etag, response, env, checkable",
    [
        ("0123456789abcdef0123456789abcdef", {}, None, True),  # single part, SSE-S3 or none: an MD5
        ("0123456789abcdef0123456789abcdef-3", {}, None, False),  # multipart: not an MD5 of the bytes
        ("0123456789abcdef0123456789abcdef", {"ServerSideEncryption": "aws:kms"}, None, False),
        ("0123456789abcdef0123456789abcdef", {"ServerSideEncryption": "aws:kms:dsse"}, None, False),
        ("0123456789abcdef0123456789abcdef", {"SSECustomerAlgorithm": "AES256"}, None, False),
        ("0123456789abcdef0123456789abcdef", {}, "false", False),  # a store whose ETags are no MD5
        (None, {}, None, False),
    ],
)
def test_which_etags_are_checked_as_md5(etag, response, env, checkable, monkeypatch):
    from ingress_audit.sources_s3 import ETAG_MD5_ENV, _md5_checkable

    if env is None:
        monkeypatch.delenv(ETAG_MD5_ENV, raising=False)
    else:
        monkeypatch.setenv(ETAG_MD5_ENV, env)
    assert _md5_checkable(etag, response) is checkable


@settings(max_examples=300, deadline=None)
@example(["logs", "a" * 250, "x.log"])  # one name over 255 bytes' worth once encoded
@example(["日志" * 50, "访问.log"])  # 300 bytes of UTF-8 in 100 characters
@example(["%o-e-0123abcd", "..."])  # our reserved prefix, and dots that are not '..'
@given(st.lists(st.text(st.characters(blacklist_categories=("Cs",)), max_size=300), min_size=1, max_size=6))
def test_any_key_maps_inside_the_cache_with_names_a_filesystem_takes(segments):
    """Very long, unicode, dot and slash-heavy keys: refused, or a path inside the cache whose
    every name fits in 255 bytes; two different keys never share a path."""
    from ingress_audit.cache import UnsafeKey, s3_entry

    cache = Path("/tmp/ingress-audit-cache-under-test")
    key = "/".join(segments)[:1024]  # S3's limit is 1024 bytes of UTF-8; characters are close enough here

    def entry(k: str) -> Path:
        return s3_entry(cache, "bucket", k, etag="0123abcd", version_id=None, size=1,
                        last_modified=datetime(2026, 11, 17, tzinfo=timezone.utc))[0]

    try:
        data = entry(key)
    except UnsafeKey:
        assert key.startswith("/") or ".." in key.split("/") or "\\" in key or "\x00" in key
        return
    assert data.resolve().is_relative_to(cache.resolve())
    assert all(len(part.encode()) <= 255 for part in data.relative_to(cache).parts)
    other = key + "x"
    try:
        assert entry(other) != data
    except UnsafeKey:
        pass
