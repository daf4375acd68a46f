"""The sources stage without S3: parsing --source, period selection by key date, local folders."""

from __future__ import annotations

import hashlib
import logging
import os
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from ingress_audit.errors import ConfigError
from ingress_audit.period import Period
from ingress_audit.progress import Progress, human_bytes
from ingress_audit.sources import fetch_objects, key_date, list_objects, parse_source, selected

UTC = timezone.utc
WEEK = Period(datetime(2026, 11, 16, tzinfo=UTC), datetime(2026, 11, 23, tzinfo=UTC))
ALB_KEY = (
    "AWSLogs/123456789012/elasticloadbalancing/eu-west-1/2026/11/16/"
    "123456789012_elasticloadbalancing_eu-west-1_app.k8s-x.abc_20261116T0005Z_10.0.1.23_x.log.gz"
)


def at(day: int, hour: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, tzinfo=UTC)


# --- parse_source --------------------------------------------------------------------------------


def test_labelled_s3_source():
    spec = parse_source("prod-eu=s3://b/p")
    assert (spec.cluster, spec.url, spec.scheme, spec.bucket, spec.prefix, spec.root) == (
        "prod-eu", "s3://b/p", "s3", "b", "p", None,
    )


def test_unlabelled_s3_source_is_default_and_keeps_the_prefix_literally():
    assert parse_source("s3://logs.example").prefix == ""
    spec = parse_source("s3://my-bucket/ingress/dt=2026-11-16/a?b#c")
    assert (spec.cluster, spec.bucket, spec.prefix) == ("default", "my-bucket", "ingress/dt=2026-11-16/a?b#c")


def test_file_url_plain_path_and_label(tmp_path):
    (tmp_path / "my logs").mkdir()
    by_url = parse_source(f"file://{tmp_path}/my%20logs")
    assert (by_url.scheme, by_url.root, by_url.cluster, by_url.bucket) == ("file", tmp_path / "my logs", "default", None)
    assert parse_source(f"file://localhost{tmp_path}").root == tmp_path
    labelled = parse_source(f"staging.k8s_2=file://{tmp_path}")
    assert (labelled.cluster, labelled.url) == ("staging.k8s_2", f"file://{tmp_path}")
    plain = parse_source(str(tmp_path))
    assert (plain.scheme, plain.root, plain.url, plain.prefix) == ("file", tmp_path, str(tmp_path), "")


def test_existing_relative_path_with_equals_sign_is_a_path_not_a_label(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "dt=2026-11-16").mkdir()
    spec = parse_source("dt=2026-11-16")
    assert (spec.cluster, spec.root) == ("default", Path("dt=2026-11-16"))
    assert parse_source("eu=dt=2026-11-16").cluster == "eu"


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("ftp://host/logs", ["ftp://host/logs", "unsupported scheme 'ftp'"]),
        ("s3a://bucket/x", ["unsupported scheme 's3a'"]),
        ("s3://", ["names no bucket"]),
        ("s3:///prefix", ["'s3:///prefix'", "names no bucket"]),
        ("s3://bad/../x", []),  # a valid bucket "bad"; the prefix is just text
        ("s3://-bucket/x", ["not a valid bucket name"]),
        ("prod eu=s3://b/p", ["label 'prod eu'", "letters, digits"]),
        ("=s3://b/p", ["label ''"]),
        ("prod=", ["nothing after the label"]),
        ("file://otherhost/logs", ["absolute path"]),
        ("/definitely/not/here", ["'/definitely/not/here'", "does not exist"]),
        ("", ["empty --source"]),
    ],
)
def test_bad_sources_are_config_errors_with_one_clear_line(text, words):
    if not words:
        assert parse_source(text).prefix == "../x"
        return
    with pytest.raises(ConfigError) as info:
        parse_source(text)
    message = str(info.value)
    assert "\n" not in message
    for word in words:
        assert word in message


def test_a_file_is_not_a_folder(tmp_path):
    (tmp_path / "a.log").write_text("x")
    with pytest.raises(ConfigError, match="is not a folder"):
        parse_source(str(tmp_path / "a.log"))


# --- dates in keys and the period window ----------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("ingress/2026/11/16/nginx-0.log.gz", date(2026, 11, 16)),
        ("ingress/nginx-2026-11-17.log", date(2026, 11, 17)),
        ("audit/dt=2026-11-18/part-0.jsonl", date(2026, 11, 18)),
        ("audit/dt=2026-11-18/kube-apiserver-audit-2026-11-19T03-00-00.log", date(2026, 11, 19)),
        (ALB_KEY, date(2026, 11, 16)),
        ("x/2026/13/45/a.log", None),  # not a real date
        ("x/2026-02-30.log", None),
        ("x/2026/13/45/2026/11/20/a.log", date(2026, 11, 20)),
        ("x/20261116/a.log", None),  # compact digit runs are not guessed at
        ("123456789012/11/16/a.log", None),  # part of a longer digit run
        ("0001/01/01/a.log", None),  # a real date, but no log date
        ("README.md", None),
    ],
)
def test_key_date(key, expected):
    assert key_date(key) == expected


@pytest.mark.parametrize(
    ("day", "margin_days", "expected"),
    [
        (15, 1, True),  # the day before: logs rotated after midnight
        (14, 1, False),
        (22, 1, True),  # the last day of the period
        (23, 1, True),  # the end is exclusive, but the margin reaches past it
        (24, 1, False),
        (15, 0, False),
        (16, 0, True),
        (22, 0, True),
        (23, 0, False),
        (13, 3, True),
    ],
)
def test_key_date_window_and_margin(day, margin_days, expected):
    key = f"ingress/2026/11/{day:02d}/a.log"
    far_away = datetime(2020, 1, 1, tzinfo=UTC)  # the key's date wins over LastModified
    assert selected(key, far_away, WEEK, timedelta(days=margin_days)) is expected


@pytest.mark.parametrize(
    ("modified", "expected"),
    [
        (at(16), True),
        (at(15, 23), False),  # before the start: the fallback window has no early margin
        (at(22, 23), True),
        (at(23, 12), True),  # shipped after the period ends
        (at(24), False),  # end + margin is exclusive
    ],
)
def test_last_modified_fallback_for_undated_keys(modified, expected):
    assert selected("ingress/nginx.log.gz", modified, WEEK, timedelta(days=1)) is expected


# --- local folders ---------------------------------------------------------------------------------


def _write(root: Path, key: str, data: bytes, mtime: datetime | None = None) -> Path:
    path = root / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    if mtime:
        os.utime(path, (mtime.timestamp(), mtime.timestamp()))
    return path


def test_local_listing_selects_by_key_date_then_mtime(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    root = Path("archive")
    _write(root, "2026/11/16/nginx.log", b"a\n")
    _write(root, "2026/11/10/nginx.log", b"old\n")
    _write(root, "undated/in.log", b"b\n", mtime=at(18))
    _write(root, "undated/out.log", b"c\n", mtime=at(1))
    _write(root, "README.md", b"# about this archive\n", mtime=at(20))
    (root / "empty-dir").mkdir()

    refs = list_objects(parse_source("eu=archive"), WEEK)

    assert [r.key for r in refs] == ["2026/11/16/nginx.log", "README.md", "undated/in.log"]
    first = refs[0]
    assert first.url == str(Path("archive/2026/11/16/nginx.log"))  # the root as the user gave it
    assert (first.size, first.etag, first.version_id, first.source.cluster) == (2, None, None, "eu")
    assert refs[2].last_modified == at(18)


def test_local_fetch_hashes_in_place_and_reuses_the_stored_hash(tmp_path):
    root = tmp_path / "archive"
    data = os.urandom(3 * 1024 * 1024 + 17)  # more than one read chunk
    path = _write(root, "2026/11/16/big.log.gz", data)
    cache = tmp_path / "cache"
    refs = list_objects(parse_source(str(root)), WEEK)

    [got] = fetch_objects(refs, cache, progress=False)
    assert (got.local_path, got.sha256, got.cached, got.error) == (path, hashlib.sha256(data).hexdigest(), True, None)
    assert list(cache.rglob("*")) and not list(root.rglob("*.json"))  # nothing written beside the data

    # Same size and mtime: the stored hash answers (it is keyed by path + size + mtime_ns) …
    st = path.stat()
    path.write_bytes(b"X" * len(data))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert fetch_objects(refs, cache, progress=False)[0].sha256 == hashlib.sha256(data).hexdigest()
    # … and a new mtime makes it hash the file again.
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    assert fetch_objects(refs, cache, progress=False)[0].sha256 == hashlib.sha256(b"X" * len(data)).hexdigest()


def test_local_failures_are_per_object(tmp_path):
    root = tmp_path / "archive"
    _write(root, "2026/11/16/a.log", b"a\n")
    _write(root, "2026/11/16/b.log", b"bb\n")
    _write(root, "2026/11/16/c.log", b"c\n")
    refs = list_objects(parse_source(str(root)), WEEK)
    (root / "2026/11/16/a.log").unlink()
    (root / "2026/11/16/b.log").write_bytes(b"grown since listing\n")

    got = fetch_objects(refs, tmp_path / "cache", progress=False)

    assert [g.ref.key for g in got] == [r.key for r in refs]  # order kept
    assert [g.error for g in got] == ["file vanished since listing", "size mismatch: listed 3, got 20", None]
    assert got[2].sha256 == hashlib.sha256(b"c\n").hexdigest()


def test_cache_folder_that_cannot_be_created_is_a_config_error(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="cannot create the cache folder"):
        fetch_objects([], tmp_path / "file" / "cache", progress=False)


# --- progress ----------------------------------------------------------------------------------------


def test_progress_logs_plain_lines_without_a_tty(caplog):
    caplog.set_level(logging.INFO, logger="ingress_audit.progress")
    with Progress("staged", total=40, unit="objects", tty=False, log_every=3600) as p:
        for _ in range(12):
            p.advance(1, bytes=2_600_000)
    assert [r.getMessage() for r in caplog.records] == ["staged 12/40 objects, 31.2 MB"]


def test_progress_bar_on_a_tty_and_disabled_progress(caplog):
    caplog.set_level(logging.INFO, logger="ingress_audit.progress")
    with Progress("fetched", total=2, tty=True) as p:  # rich, on stderr
        p.advance(2, bytes=10)
    with Progress("quiet", total=1, enabled=False) as p:
        p.advance()
    assert p.done == 1 and not caplog.records


def test_human_bytes():
    assert [human_bytes(n) for n in (0, 999, 1000, 31_200_000, 5 * 10**12, 7 * 10**15)] == [
        "0 B", "999 B", "1.0 kB", "31.2 MB", "5.0 TB", "7000.0 TB",
    ]
