"""S3 faults from a real HTTP proxy in front of moto (tests/fault_proxy.py), end to end through the CLI.

Per fault, two outcomes are acceptable and both are checked against a fault-free run of the same
objects (never against hard-coded numbers):
- within the retries: the run completes (exit 0) with exactly the fault-free counts and hashes;
- past the retries: the object is reported unreadable, the run says INCOMPLETE and exits 3, the
  other objects' counts are unchanged, and nothing of the bad download is left in the cache:
  the next, fault-free run downloads it again and gets the fault-free counts.
"""

from __future__ import annotations

import json

import pytest

from .fault_proxy import FaultProxy, Rule
from .s3_stack import (WEEK, cached_data_files, cli, cli_env, client_for, counts, new_bucket, query_counts,
                       records_lost, small_archive)

pytestmark = pytest.mark.slow  # each fault is a CLI run against a moto server through the proxy (~1 minute in all)

VICTIM = "logs/2026/11/17/access.log.gz"
# kind -> extra Rule arguments; "slow" waits past the 1 s read timeout set by s3_stack.FAST_CLIENT
FAULTS = {"500": {}, "503": {}, "reset": {}, "truncate": {}, "slow": {"delay": 2.5}, "etag": {}, "corrupt": {}}


@pytest.fixture(scope="module")
def archive(s3_server, tmp_path_factory):
    """The objects (uploaded without x-amz-checksum, so a corrupt body meets only the ETag's MD5)
    and the fault-free run's counts, read straight from moto."""
    bucket = new_bucket(client_for(s3_server, checksums=False), small_archive())
    base = query_counts(bucket, tmp_path_factory.mktemp("baseline"), cli_env(s3_server))
    assert base.code == 0, base.err
    assert records_lost(base.rows) == 0 and len(base.rows) == 3
    return bucket, counts(base.rows)


@pytest.fixture(scope="module")
def proxy(s3_server):
    with FaultProxy(s3_server) as p:
        yield p


@pytest.fixture()
def env(proxy):
    proxy.clear()
    return cli_env(proxy.url)


@pytest.mark.parametrize("kind", FAULTS)
def test_a_passing_fault_is_retried_and_the_counts_match(kind, archive, proxy, env, tmp_path):
    bucket, baseline = archive
    rule = Rule(kind, key=VICTIM, times=1, **FAULTS[kind])
    proxy.add(rule)
    result = query_counts(bucket, tmp_path, env)
    assert rule.hits == 1, "the fault never happened: the test would prove nothing"
    assert result.code == 0, result.err
    assert counts(result.rows) == baseline
    assert "Traceback" not in result.err
    assert not [p for p in cached_data_files(tmp_path) if p.name.startswith("%t-")], "a temp file was left"


@pytest.mark.parametrize("kind", FAULTS)
def test_a_persistent_fault_is_an_unreadable_object_and_exit_3(kind, archive, proxy, env, tmp_path):
    bucket, baseline = archive
    proxy.add(Rule(kind, key=VICTIM, times=1000, **FAULTS[kind]))
    result = query_counts(bucket, tmp_path, env)
    assert result.code == 3, result.err
    victim = f"s3://{bucket}/{VICTIM}"
    [line] = [l for l in result.err.splitlines() if l.startswith("unreadable: ")]
    assert line.startswith(f"unreadable: {victim}: ")
    assert "Traceback" not in result.err
    rows = {r["object"]: r for r in result.rows}
    assert rows[victim]["error"] and rows[victim]["records_read"] == 0
    others = {k: v for k, v in counts(result.rows).items() if k != victim}
    assert others == {k: v for k, v in baseline.items() if k != victim}
    # nothing of the bad download stays in the cache: neither a temp file nor the object's name
    assert not [p for p in cached_data_files(tmp_path) if "access.log.gz" in str(p)]
    assert len(cached_data_files(tmp_path)) == 2  # the other objects are (the check can see files)

    proxy.clear()  # the store recovers: the next run downloads it again and counts it right
    again = query_counts(bucket, tmp_path, env)
    assert again.code == 0, again.err
    assert counts(again.rows) == baseline
    assert proxy.count("GET", VICTIM) == 1 and proxy.count("GET", "audit.jsonl") == 0  # only what failed


def test_a_persistent_fault_makes_the_report_say_incomplete(archive, proxy, env, tmp_path):
    bucket, _ = archive
    proxy.add(Rule("503", key=VICTIM, times=1000))
    out = tmp_path / "out"
    result = cli(["--quiet", "run", "--source", f"s3://{bucket}/logs/", *WEEK, "--cache-dir", str(tmp_path / "c"),
                  "--out", str(out)], env, timeout=300)
    assert result.code == 3, result.err
    assert "Traceback" not in result.err
    findings = json.loads((out / "findings.json").read_text())
    assert findings["coverage"]["complete"] is False
    assert [e["object"] for e in findings["coverage"]["errors"]] == [f"s3://{bucket}/{VICTIM}"]
    assert "SlowDown" in findings["coverage"]["errors"][0]["error"]
    assert "INCOMPLETE" in (out / "report.html").read_text(encoding="utf-8")
    assert "INCOMPLETE" in result.out


def test_listing_faults_are_retried_too(archive, proxy, env, tmp_path):
    bucket, baseline = archive
    rule = Rule("503", key=f"/{bucket}", times=2)  # ListObjectsV2 is a GET on the bucket
    proxy.add(rule)
    result = query_counts(bucket, tmp_path, env)
    assert rule.hits == 2
    assert result.code == 0, result.err
    assert counts(result.rows) == baseline


def test_a_persistent_listing_fault_is_exit_2_in_one_line(archive, proxy, env, tmp_path):
    bucket, _ = archive
    proxy.add(Rule("500", key=f"/{bucket}", times=1000))
    result = query_counts(bucket, tmp_path, env)
    assert result.code == 2
    assert result.out == "" and len(result.err.strip().splitlines()) == 1, result.err
    assert "InternalError" in result.err
