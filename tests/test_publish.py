"""Publishing to S3, end to end against moto's S3 server over HTTP (see conftest.py).

Requests are observed, and in two tests altered in flight, through botocore's event hooks on
the client under test: the HTTP requests still reach the server.
"""

from __future__ import annotations

import hashlib
import logging
import socket
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from botocore.exceptions import ClientError

from ingress_audit.errors import ConfigError
from ingress_audit.publish import (
    EXIT_PUBLISH,
    PublishError,
    check_destination,
    fetch_previous,
    parse_out_url,
    period_folder,
    publish,
    upload_order,
)
from ingress_audit.sources import make_s3_client

UTC = timezone.utc
LABEL = "2026-W47"
OUTPUTS = {
    # Given to publish() signature first, to show the order is publish's doing, not the caller's.
    "manifest.json.sig": b"\x30\x82\x01\x0a signature bytes",
    "manifest.json": b'{"schema": "ingress-audit/manifest/v1", "outputs": {}}\n',
    "report.pdf": b"%PDF-1.7\n% not really a pdf\n%%EOF\n",
    "report.html": "<!doctype html><p>Audit \u2014 week 47</p>\n".encode(),
    "findings.json": b'{"schema": "ingress-audit/findings/v1", "controls": []}\n',
}
CONTENT_TYPES = {
    "report.pdf": "application/pdf",
    "report.html": "text/html; charset=utf-8",
    "findings.json": "application/json",
    "manifest.json": "application/json",
    "manifest.json.sig": "application/octet-stream",
}


@pytest.fixture(scope="module")
def client(s3_server):
    """The client the job builds (retries, endpoint from AWS_ENDPOINT_URL); hook it through `hook`."""
    return make_s3_client()


@pytest.fixture
def hook(client):
    """Register an event handler on `client` for this test only."""
    registered = []

    def register(event: str, handler) -> None:
        client.meta.events.register(event, handler)
        registered.append((event, handler))

    yield register
    for event, handler in registered:
        client.meta.events.unregister(event, handler)


@pytest.fixture
def locked_bucket(s3_client):
    name = f"locked-{uuid.uuid4().hex[:12]}"
    s3_client.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
    return name


@pytest.fixture
def out_dir(tmp_path):
    folder = tmp_path / "out"
    folder.mkdir()
    for name, data in OUTPUTS.items():
        (folder / name).write_bytes(data)
    return folder


def record(hook, operation: str) -> list[dict]:
    """The parameters of every `operation` request the client sends."""
    calls: list[dict] = []
    hook(f"before-parameter-build.s3.{operation}", lambda params, **_: calls.append(dict(params)))
    return calls


def keys(s3_client, bucket: str) -> list[str]:
    return sorted(o["Key"] for o in s3_client.list_objects_v2(Bucket=bucket).get("Contents", ()))


def versions(s3_client, bucket: str) -> list[tuple[str, str]]:
    listing = s3_client.list_object_versions(Bucket=bucket)
    return sorted((v["Key"], v["VersionId"]) for v in listing.get("Versions", ()))


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- names ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("s3://audit", ("audit", "")),
        ("s3://audit/", ("audit", "")),
        ("s3://audit/reports", ("audit", "reports")),
        ("s3://audit/reports/", ("audit", "reports")),
        ("S3://audit/a/b c/", ("audit", "a/b c")),
        ("s3://Legacy_Bucket/x", ("Legacy_Bucket", "x")),
    ],
)
def test_out_urls(url, expected):
    assert parse_out_url(url) == expected


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("", "is not an s3:// URL"),
        ("/var/reports", "is not an s3:// URL"),
        ("file:///var/reports", "is not an s3:// URL"),
        ("s3://", "names no bucket"),
        ("s3:///reports", "names no bucket"),
        ("s3://bad!bucket/x", "is not a valid bucket name"),
        ("s3://-audit/x", "is not a valid bucket name"),
        ("s3://a..b/x", "is not a valid bucket name"),
        ("s3://audit//x", "the prefix starts with '/'"),
        ("s3://audit/a//b", "has an empty segment"),
        ("s3://audit/../x", "has a '..' segment"),
        ("s3://audit/a/./b", "has a '.' segment"),
        ("s3://audit/a\tb", "contains a control character"),
    ],
)
def test_bad_out_urls_are_one_line_config_errors(url, words):
    with pytest.raises(ConfigError) as info:
        parse_out_url(url)
    assert words in str(info.value)
    assert "\n" not in str(info.value)


def test_period_folder_never_doubles_a_slash():
    assert period_folder("", LABEL) == "2026-W47/"
    assert period_folder("reports", LABEL) == "reports/2026-W47/"
    assert period_folder("reports/", LABEL) == "reports/2026-W47/"
    assert period_folder("a/b", "2026-11-16_2026-11-20") == "a/b/2026-11-16_2026-11-20/"
    for bad in ("", "..", "a/b"):
        with pytest.raises(ValueError):
            period_folder("reports", bad)


def test_upload_order_keeps_the_manifest_and_its_signature_last():
    names = ["manifest.json.sig", "manifest.json", "report.pdf", "findings.json"]
    assert upload_order(names) == ["report.pdf", "findings.json", "manifest.json", "manifest.json.sig"]


# --- publishing ----------------------------------------------------------------------------------


def test_the_set_lands_under_the_period_with_its_bytes_and_types(client, s3_client, bucket, out_dir, caplog):
    caplog.set_level(logging.INFO, logger="ingress_audit.publish")
    result = publish(client, out_dir, bucket, "reports/", LABEL, list(OUTPUTS), retain_days=None)

    assert keys(s3_client, bucket) == sorted(f"reports/2026-W47/{n}" for n in OUTPUTS)
    for name, data in OUTPUTS.items():
        got = s3_client.get_object(Bucket=bucket, Key=f"reports/2026-W47/{name}")
        assert (got["Body"].read(), got["ContentType"]) == (data, CONTENT_TYPES[name])
    assert result.url == f"s3://{bucket}/reports/2026-W47/"
    assert result.urls == [
        f"s3://{bucket}/reports/2026-W47/{n}"
        for n in ("report.pdf", "report.html", "findings.json", "manifest.json", "manifest.json.sig")
    ]
    assert result.skipped == [] and len(result.uploaded) == 5
    assert [o.sha256 for o in result.objects] == [hashlib.sha256(OUTPUTS[o.name]).hexdigest() for o in result.objects]
    # One line per object: its URL, size and a short hash.
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 5
    pdf = OUTPUTS["report.pdf"]
    short = hashlib.sha256(pdf).hexdigest()[:12]
    assert f"s3://{bucket}/reports/2026-W47/report.pdf: published ({len(pdf)} bytes, sha256 {short})" in lines


def test_without_a_prefix_keys_start_at_the_period(client, s3_client, bucket, out_dir):
    publish(client, out_dir, bucket, "", LABEL, ["report.pdf"], retain_days=None)
    assert keys(s3_client, bucket) == ["2026-W47/report.pdf"]


def test_every_put_is_conditional_and_checksummed_and_the_signature_goes_last(client, hook, bucket, out_dir):
    puts = record(hook, "PutObject")
    publish(client, out_dir, bucket, "reports", LABEL, list(OUTPUTS), retain_days=None)

    assert [p["Key"].rsplit("/", 1)[1] for p in puts] == [
        "report.pdf", "report.html", "findings.json", "manifest.json", "manifest.json.sig",
    ]
    assert {(p["IfNoneMatch"], p["ChecksumAlgorithm"]) for p in puts} == {("*", "SHA256")}


def test_a_rerun_with_identical_files_changes_nothing(client, hook, s3_client, bucket, out_dir):
    first = publish(client, out_dir, bucket, "reports", LABEL, list(OUTPUTS), retain_days=None)
    before = versions(s3_client, bucket)
    puts = record(hook, "PutObject")

    again = publish(client, out_dir, bucket, "reports", LABEL, list(OUTPUTS), retain_days=None)

    assert puts == []
    assert versions(s3_client, bucket) == before
    assert again.uploaded == [] and sorted(again.skipped) == sorted(OUTPUTS)
    assert again.urls == first.urls


def test_a_rerun_with_a_changed_file_is_refused_before_anything_is_written(client, hook, s3_client, bucket, out_dir):
    publish(client, out_dir, bucket, "reports", LABEL, ["report.html", "findings.json"], retain_days=None)
    changed = OUTPUTS["findings.json"].replace(b"[]", b"{}")  # same size, so the bytes are compared
    (out_dir / "findings.json").write_bytes(changed)
    puts = record(hook, "PutObject")

    with pytest.raises(PublishError) as info:
        publish(client, out_dir, bucket, "reports", LABEL, list(OUTPUTS), retain_days=None)

    message = str(info.value)
    assert message.startswith(f"s3://{bucket}/reports/2026-W47/findings.json already holds a different findings.json")
    assert f"(sha256 {hashlib.sha256(OUTPUTS['findings.json']).hexdigest()[:12]};" in message  # compared, not sized
    assert "an earlier report is never overwritten" in message and "\n" not in message
    assert info.value.exit_code == EXIT_PUBLISH == 4
    assert puts == []  # not even the files that were not there yet
    got = s3_client.get_object(Bucket=bucket, Key="reports/2026-W47/findings.json")["Body"].read()
    assert got == OUTPUTS["findings.json"]


def test_a_writer_between_the_check_and_the_put_is_caught_by_the_conditional_write(client, hook, s3_client, bucket, out_dir):
    """Another writer stores report.pdf just before our PUT: moto honours If-None-Match and answers 412."""
    key = "reports/2026-W47/report.pdf"

    def other_writer(params, **_):
        if params["Key"] == key:
            s3_client.put_object(Bucket=bucket, Key=key, Body=b"%PDF-1.7 someone else's report")

    hook("before-parameter-build.s3.PutObject", other_writer)
    with pytest.raises(PublishError, match=f"^s3://{bucket}/{key} already holds a different report.pdf"):
        publish(client, out_dir, bucket, "reports", LABEL, ["report.pdf"], retain_days=None)
    assert s3_client.get_object(Bucket=bucket, Key=key)["Body"].read() == b"%PDF-1.7 someone else's report"


def test_a_racing_writer_with_the_same_bytes_counts_as_published(client, hook, s3_client, bucket, out_dir):
    key = "reports/2026-W47/report.pdf"

    def other_writer(params, **_):
        s3_client.put_object(Bucket=bucket, Key=key, Body=OUTPUTS["report.pdf"])

    hook("before-parameter-build.s3.PutObject", other_writer)
    result = publish(client, out_dir, bucket, "reports", LABEL, ["report.pdf"], retain_days=None)
    assert result.skipped == ["report.pdf"]


def test_a_body_corrupted_in_flight_is_caught_by_reading_it_back(client, hook, s3_client, bucket, out_dir):
    # moto stores the checksum the client sends without checking the body against it (real S3
    # would refuse the PUT), so this is the read-back's job.
    def corrupt(request, **_):
        if request.url.endswith("/report.html"):
            data = request.body.read() if hasattr(request.body, "read") else request.body
            request.body = data.replace(b"week", b"weak")

    hook("before-send.s3.PutObject", corrupt)
    with pytest.raises(PublishError) as info:
        publish(client, out_dir, bucket, "reports", LABEL, list(OUTPUTS), retain_days=None)
    message = str(info.value)
    assert message.startswith(f"s3://{bucket}/reports/2026-W47/report.html: the uploaded object does not match")
    assert "this period's set is incomplete" in message
    # Stopped there: no manifest, no signature, so no reader takes the set for complete.
    assert keys(s3_client, bucket) == ["reports/2026-W47/report.html", "reports/2026-W47/report.pdf"]


def test_retention_is_compliance_until_now_plus_the_days(client, hook, s3_client, locked_bucket, out_dir):
    now = datetime.now(UTC).replace(microsecond=654321)
    until = now.replace(microsecond=0) + timedelta(days=30)
    check_destination(client, locked_bucket, "reports", LABEL, retain_days=30)
    puts = record(hook, "PutObject")

    result = publish(client, out_dir, locked_bucket, "reports", LABEL, list(OUTPUTS), retain_days=30, now=now)

    # Object Lock needs an integrity header on the PUT; moto refuses one without it.
    assert all(p["ChecksumSHA256"] and p["ObjectLockMode"] == "COMPLIANCE" for p in puts)
    for obj in result.objects:
        head = s3_client.head_object(Bucket=locked_bucket, Key=obj.key, VersionId=obj.version_id)
        assert (head["ObjectLockMode"], head["ObjectLockRetainUntilDate"]) == ("COMPLIANCE", until)
        assert (obj.lock_mode, obj.retain_until) == ("COMPLIANCE", until)
    # moto enforces the lock: a locked version cannot be deleted, even with the governance bypass.
    pdf = result.objects[0]
    with pytest.raises(ClientError) as info:
        s3_client.delete_object(
            Bucket=locked_bucket, Key=pdf.key, VersionId=pdf.version_id, BypassGovernanceRetention=True
        )
    assert info.value.response["Error"]["Code"] == "AccessDenied"
    assert s3_client.head_object(Bucket=locked_bucket, Key=pdf.key, VersionId=pdf.version_id)["ContentLength"] > 0


def test_a_locked_bucket_without_retain_days_gets_no_retention(client, s3_client, locked_bucket, out_dir):
    result = publish(client, out_dir, locked_bucket, "", LABEL, ["report.pdf"], retain_days=None)
    assert result.objects[0].lock_mode is None and result.objects[0].version_id


# --- checking the destination first --------------------------------------------------------------


def test_destination_says_what_is_already_published(client, bucket, out_dir):
    empty = check_destination(client, bucket, "reports", LABEL, retain_days=None)
    assert (empty.url, empty.existing, empty.manifest_sha256, empty.complete) == (
        f"s3://{bucket}/reports/2026-W47/", {}, None, False
    )
    publish(client, out_dir, bucket, "reports", LABEL, ["report.pdf", "manifest.json"], retain_days=None)
    partial = check_destination(client, bucket, "reports", LABEL, retain_days=None)
    assert partial.existing == {"report.pdf": len(OUTPUTS["report.pdf"]), "manifest.json": len(OUTPUTS["manifest.json"])}
    assert partial.manifest_sha256 == hashlib.sha256(OUTPUTS["manifest.json"]).hexdigest()
    assert not partial.complete  # no signature yet
    publish(client, out_dir, bucket, "reports", LABEL, list(OUTPUTS), retain_days=None)
    assert check_destination(client, bucket, "reports", LABEL, retain_days=None).complete
    # Another period's folder is not this one's.
    assert check_destination(client, bucket, "reports", "2026-W4", retain_days=None).existing == {}


def test_retain_days_on_a_bucket_without_object_lock_is_refused_before_any_upload(client, hook, s3_client, bucket):
    puts = record(hook, "PutObject")
    with pytest.raises(ConfigError) as info:
        check_destination(client, bucket, "reports", LABEL, retain_days=7)
    assert str(info.value) == (
        f"s3://{bucket}/reports/2026-W47/: --retain-days needs Object Lock, and bucket {bucket!r} does not "
        "have it enabled (enable Object Lock on the bucket, or publish without --retain-days)"
    )
    assert puts == [] and keys(s3_client, bucket) == []


@pytest.mark.parametrize("days", [0, -1, True, 2.5, 3654])
def test_retain_days_must_be_sensible(client, days):
    with pytest.raises(ConfigError, match="--retain-days must be a whole number of days from 1 to 3653"):
        check_destination(client, "audit", "reports", LABEL, retain_days=days)


def test_a_missing_bucket_is_a_config_error(client):
    with pytest.raises(ConfigError) as info:
        check_destination(client, "no-such-bucket-here", "reports", LABEL, retain_days=None)
    assert str(info.value) == "s3://no-such-bucket-here/reports/2026-W47/: the bucket does not exist"


def test_an_unreachable_endpoint_is_a_config_error(s3_server, monkeypatch):
    endpoint = f"http://127.0.0.1:{closed_port()}"
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    with pytest.raises(ConfigError) as info:
        check_destination(make_s3_client(), "audit", "", LABEL, retain_days=None)
    assert str(info.value).startswith(f"s3://audit/2026-W47/: cannot reach the S3 endpoint {endpoint}")
    assert "\n" not in str(info.value)


def test_missing_credentials_are_a_config_error(s3_server, monkeypatch):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(ConfigError, match=r"^s3://audit/2026-W47/: no usable AWS credentials"):
        check_destination(make_s3_client(), "audit", "", LABEL, retain_days=None)


# --- the previous period -------------------------------------------------------------------------


def test_fetch_previous_downloads_what_was_published(client, bucket, out_dir, tmp_path):
    publish(client, out_dir, bucket, "reports", "2026-W46", list(OUTPUTS), retain_days=None)
    got = fetch_previous(client, bucket, "reports", "2026-W46", tmp_path / "previous")
    assert sorted(got) == ["findings.json", "manifest.json"]
    assert {name: path.read_bytes() for name, path in got.items()} == {
        "findings.json": OUTPUTS["findings.json"], "manifest.json": OUTPUTS["manifest.json"],
    }


def test_fetch_previous_leaves_out_what_is_absent(client, bucket, out_dir, tmp_path):
    assert fetch_previous(client, bucket, "reports", "2026-W46", tmp_path / "none") == {}
    publish(client, out_dir, bucket, "reports", "2026-W46", ["findings.json"], retain_days=None)
    assert list(fetch_previous(client, bucket, "reports", "2026-W46", tmp_path / "some")) == ["findings.json"]


def test_fetch_previous_turns_other_failures_into_a_warning(client, tmp_path, caplog):
    assert fetch_previous(client, "no-such-bucket-here", "reports", "2026-W46", tmp_path / "p") == {}
    [warning] = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert "s3://no-such-bucket-here/reports/2026-W46/: cannot read the previous report" in warning.getMessage()
    assert "NoSuchBucket" in warning.getMessage()
