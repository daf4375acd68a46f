"""End to end over HTTP: the sample week in a real S3 endpoint (moto's server), staged via boto3."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .cli_helpers import run_cli

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data" / "archive"
WEEK = ["--from", "2026-11-16", "--to", "2026-11-23"]
COUNTS = "SELECT object, source_kind, sha256, records_read, records_parsed, records_rejected, error FROM objects ORDER BY object"


@pytest.fixture()
def cli(capsys, monkeypatch):
    monkeypatch.delenv("INGRESS_AUDIT_SOURCE", raising=False)
    return lambda *args: run_cli(capsys, monkeypatch, *args)


def _upload(s3_client, bucket: str, root: Path, prefix: str) -> int:
    n = 0
    for path in sorted(root.rglob("*")):
        if path.is_file():
            s3_client.upload_file(str(path), bucket, prefix + path.relative_to(root).as_posix())
            n += 1
    return n


def _by_key(rows: list[dict], prefix: str) -> dict[str, tuple]:
    return {r["object"].split(prefix, 1)[1]: tuple(v for k, v in r.items() if k != "object") for r in rows}


@pytest.mark.slow
def test_sample_week_from_s3_equals_the_local_run(cli, s3_server, s3_client, bucket, tmp_path):
    if not SAMPLE.is_dir():
        pytest.fail("sample_data/archive is missing: run `ingress-audit sample --out sample_data/archive`")
    uploaded = _upload(s3_client, bucket, SAMPLE, "logs/")
    policy = ["--policy", str(SAMPLE.parent / "policy.yaml")]

    remote = cli("query", "--source", f"s3://{bucket}/logs/", *WEEK, *policy, "--cache-dir", str(tmp_path / "c1"),
                 "--format", "json", COUNTS)
    local = cli("query", "--source", str(SAMPLE), *WEEK, *policy, "--cache-dir", str(tmp_path / "c2"),
                "--format", "json", COUNTS)
    assert remote.code == local.code == 0, remote.err + local.err
    remote_rows, local_rows = json.loads(remote.out), json.loads(local.out)
    assert len(remote_rows) == uploaded
    assert _by_key(remote_rows, f"s3://{bucket}/logs/") == _by_key(local_rows, str(SAMPLE) + "/")
    assert sum(r["records_parsed"] for r in remote_rows) > 50_000

    # a second query is served from the caches: nothing downloaded, nothing reparsed
    again = cli("stage", "--source", f"s3://{bucket}/logs/", *WEEK, *policy, "--cache-dir", str(tmp_path / "c1"))
    assert again.code == 0
    assert f"objects       {uploaded} ({uploaded} from the Parquet cache, 0 unreadable)" in again.out


def test_unsafe_keys_are_refused_and_reported(cli, s3_server, s3_client, bucket, tmp_path):
    line = ('10.0.0.1 - - [16/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 5 "-" "curl/8" 80 0.002 '
            '[shop-web-8080] [] 10.2.0.5:8080 5 0.002 200 abc\n')
    s3_client.put_object(Bucket=bucket, Key="logs/2026/11/16/ok.log", Body=line.encode())
    s3_client.put_object(Bucket=bucket, Key="logs/2026/11/16/../../../../../escape.log", Body=line.encode())
    cache = tmp_path / "deep" / "cache"
    result = cli("stage", "--source", f"s3://{bucket}/logs/", *WEEK, "--cache-dir", str(cache))
    assert result.code == 3
    assert "unsafe key refused" in result.out
    assert not (tmp_path / "deep" / "escape.log").exists() and not list(tmp_path.rglob("escape.log"))
    assert "records read  1 = 1 parsed + 0 rejected" in result.out


def test_missing_bucket_and_unreachable_endpoint_are_exit_2(cli, s3_server, monkeypatch, tmp_path):
    result = cli("query", "--source", "s3://no-such-bucket-here/x/", *WEEK, "--cache-dir", str(tmp_path / "c"), "SELECT 1")
    assert result.code == 2 and "no-such-bucket-here" in result.err and "Traceback" not in result.err
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens on the discard port
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    result = cli("query", "--source", "s3://any-bucket/x/", *WEEK, "--cache-dir", str(tmp_path / "c"), "SELECT 1")
    assert result.code == 2 and "Traceback" not in result.err
    assert len(result.err.strip().splitlines()) == 1
