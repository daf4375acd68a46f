"""Scale out: days staged into S3 in parallel (an Indexed Job), then `run --staged` reads only Parquet.

Against moto's standalone S3 server (conftest.py). The end-to-end test stages a small archive
spanning midnight, a damaged and an unclassified object, objects filed before and after the
period and a file holding records of a day that does not read it, with one process per day as
an Indexed Job's pods would; `run --staged` must then give exactly the findings of a `run` over
the raw logs, the days' accounting must sum to each object's counts once, a rerun must change
nothing, and a missing day must make the run incomplete.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import subprocess
import sys
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import duckdb
import pytest

from ingress_audit.period import Period
from ingress_audit.staged_layout import (
    day_share, days_written, home_day, iso_week, owner_day, selecting_days, whole_days,
)

from .cli_helpers import run_cli

UTC = timezone.utc
FROM, TO = "2026-11-16", "2026-11-19"  # three days
PERIOD_ARGS = ["--from", FROM, "--to", TO]
WINDOW = Period(datetime(2026, 11, 16, tzinfo=UTC), datetime(2026, 11, 19, tzinfo=UTC))
D15, D16, D17, D18, D19 = (date(2026, 11, d) for d in (15, 16, 17, 18, 19))
ROOT = Path(__file__).resolve().parents[1]


def at(day: int, hms: str) -> datetime:
    return datetime.fromisoformat(f"2026-11-{day:02d}T{hms}+00:00")


# --- which day keeps what ----------------------------------------------------------------------

LATE = datetime(2026, 11, 1, tzinfo=UTC)  # a LastModified that plays no part (the key has a date)


@pytest.mark.parametrize(
    ("key", "last_modified", "selecting", "owner"),
    [
        ("nginx/2026/11/17/a.log", LATE, [D16, D17, D18], D17),  # its key's day
        ("nginx/2026/11/16/a.log", LATE, [D16, D17], D16),
        ("nginx/2026/11/15/a.log", LATE, [D16], D16),  # filed the day before: clamped to the first day
        ("nginx/2026/11/19/a.log", LATE, [D18], D18),  # filed the day after: the last day keeps it
        ("nginx/no-date.log", at(17, "10:00:00"), [D16, D17], D17),  # no date: its LastModified day
        ("nginx/no-date.log", at(19, "00:05:00"), [D18], D18),  # rotated after midnight: the last day
        ("nginx/no-date.log", at(16, "00:05:00"), [D16], D16),
    ],
)
def test_owner_day_is_the_home_day_clamped_into_the_days_that_read_it(key, last_modified, selecting, owner):
    assert selecting_days(key, last_modified, WINDOW.days()) == selecting
    assert owner_day(key, last_modified, WINDOW) == owner
    assert owner in selecting  # the owner's job always reads the object


def test_owner_day_outside_any_selecting_day_is_none():
    assert owner_day("nginx/2026/11/10/a.log", LATE, WINDOW) is None
    assert home_day("x/2026-11-12/y.log", LATE) == date(2026, 11, 12)


def test_a_bare_day_is_staged_for_its_iso_week():
    week = iso_week(date(2026, 11, 19))  # a Thursday
    assert week.iso() == ("2026-11-16T00:00:00Z", "2026-11-23T00:00:00Z") and week.is_iso_week()
    assert iso_week(date(2026, 11, 16)) == week and iso_week(date(2026, 11, 22)) == week
    partial = Period(at(16, "06:00:00"), at(18, "12:00:00"))
    assert whole_days(partial) == WINDOW


@pytest.mark.parametrize(
    ("key", "last_modified", "parsed_by_day", "rejected"),
    [
        ("n/2026/11/16/midnight.log", LATE, {D16: 40, D17: 7}, 2),  # spans midnight
        ("n/2026/11/16/weekly.log", LATE, {D16: 5, D18: 9}, 1),  # the 18th does not read it: the owner writes it
        ("n/2026/11/15/early.log", LATE, {D15: 30, D16: 4}, 3),  # records before the window: counted by the owner
        ("n/2026/11/19/late.log", LATE, {D18: 2, D19: 50}, 0),  # and after it
        ("n/no-date.log", at(19, "00:05:00"), {D18: 11}, 1),
        ("n/2026/11/17/broken.log.gz", LATE, {}, 0),  # unreadable: nothing to write, reported by each day
    ],
)
def test_the_days_shares_sum_to_the_object_once(key, last_modified, parsed_by_day, rejected):
    selecting = selecting_days(key, last_modified, WINDOW.days())
    owner = owner_day(key, last_modified, WINDOW)
    shares = [day_share(d, owner, selecting, WINDOW, parsed_by_day, rejected) for d in selecting]
    parsed = sum(parsed_by_day.values())
    assert sum(s.records_parsed for s in shares) == parsed
    assert sum(s.records_rejected for s in shares) == rejected
    assert sum(s.records_read for s in shares) == parsed + rejected
    assert all(s.records_read == s.records_parsed + s.records_rejected for s in shares)
    # every record day of the window is written by exactly one day's job; days outside are not written
    writers = {d: [j for j in selecting if d in days_written(j, owner, selecting, WINDOW, parsed_by_day)]
               for d in parsed_by_day}
    for d, who in writers.items():
        assert len(who) == (1 if d in WINDOW.days() else 0), (d, who)
        assert who in ([d], [owner], [])
    assert sum(s.records_outside_window for s in shares) == sum(n for d, n in parsed_by_day.items()
                                                                 if d not in WINDOW.days())


# --- the command line --------------------------------------------------------------------------


@pytest.fixture()
def cli(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("INGRESS_AUDIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("INGRESS_AUDIT_SOURCE", raising=False)
    monkeypatch.delenv("JOB_COMPLETION_INDEX", raising=False)
    return lambda *args: run_cli(capsys, monkeypatch, *args)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["stage", "-s", "ARCHIVE", *PERIOD_ARGS, "--day-index", "3", "--out", "s3://b-x/p"],
         "--day-index 3 is outside the period 2026-11-16T00:00:00Z .. 2026-11-19T00:00:00Z (3 days: 0 to 2)"),
        (["stage", "-s", "ARCHIVE", *PERIOD_ARGS, "--day-index", "-1", "--out", "s3://b-x/p"], "--day-index -1 is outside"),
        (["stage", "-s", "ARCHIVE", *PERIOD_ARGS, "--day", "2026-11-20", "--out", "s3://b-x/p"], "--day 2026-11-20 is not in the period"),
        (["stage", "-s", "ARCHIVE", "--day", "2026-11-32", "--out", "s3://b-x/p"], "--day '2026-11-32' is not a date"),
        (["stage", "-s", "ARCHIVE", "--day", "2026-11-17", "--day-index", "1", "--out", "s3://b-x/p"], "not both"),
        (["stage", "-s", "ARCHIVE", "--day", "2026-11-17"], "give --out s3://bucket/prefix"),
        (["stage", "-s", "ARCHIVE", "--day", "2026-11-17", "--out", "/tmp/x"], "is not an s3:// URL"),
        (["run", "-s", "ARCHIVE", "--staged", "s3://b-x/p", *PERIOD_ARGS, "--out", "OUT"], "either --source or --staged"),
        (["run", "--staged", "/tmp/staged", *PERIOD_ARGS, "--out", "OUT"], "--staged '/tmp/staged' is not an s3:// URL"),
        (["query", "--staged", "s3://", *PERIOD_ARGS, "SELECT 1"], "--staged 's3://' names no bucket"),
        (["run", *PERIOD_ARGS, "--out", "OUT"], "no --source given"),
    ],
)
def test_bad_scale_out_flags_are_one_line_exit_2(cli, tmp_path, args, message):
    archive = tmp_path / "archive"
    archive.mkdir()
    args = [str(archive) if a == "ARCHIVE" else str(tmp_path / "out") if a == "OUT" else a for a in args]
    result = cli(*args)
    assert result.code == 2, result.err
    lines = [line for line in result.err.strip().splitlines() if line]
    assert len(lines) == 1 and message in lines[0], result.err
    assert not (tmp_path / "out").exists()


def test_an_indexed_jobs_index_is_ignored_without_out(cli, tmp_path, monkeypatch):
    archive = tmp_path / "archive" / "2026" / "11" / "16"
    archive.mkdir(parents=True)
    (archive / "a.log").write_text(nginx(at(16, "10:00:00"), 1) + "\n")
    monkeypatch.setenv("JOB_COMPLETION_INDEX", "5")
    result = cli("stage", "-s", str(tmp_path / "archive"), *PERIOD_ARGS)
    assert result.code == 0, result.err
    assert "records read  1 = 1 parsed + 0 rejected" in result.out


# --- the archive -------------------------------------------------------------------------------


def nginx(ts: datetime, i: int, *, ip: str = "10.1.0.1", path: str = "/item", status: int = 200) -> str:
    return (f'{ip} - - [{ts.strftime("%d/%b/%Y:%H:%M:%S")} +0000] "GET {path}/{i} HTTP/1.1" {status} {100 + i} "-" '
            f'"curl/8.{i % 7}" 80 0.002 [shop-web-8080] [] 10.2.0.5:8080 5 0.002 {status} req{ts:%d%H%M%S}{i:05d}')


def login(ts: datetime, i: int) -> str:
    return (f'203.0.113.7 - - [{ts.strftime("%d/%b/%Y:%H:%M:%S")} +0000] "POST /login HTTP/1.1" 401 12 "-" '
            f'"python-requests/2.31" 90 0.010 [shop-web-8080] [] 10.2.0.5:8080 12 0.010 401 login{i:05d}')


def audit(ts: datetime, i: int, *, verb: str = "list", resource: str = "pods", user: str = "alice@example.com") -> str:
    return json.dumps({
        "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata", "auditID": f"id-{ts:%d%H%M%S}-{i}",
        "stage": "ResponseComplete", "requestURI": f"/apis/networking.k8s.io/v1/namespaces/shop/{resource}",
        "verb": verb, "user": {"username": user, "groups": ["system:authenticated"]}, "sourceIPs": ["10.0.0.9"],
        "objectRef": {"resource": resource, "namespace": "shop", "name": f"web-{i}", "apiGroup": "networking.k8s.io",
                      "apiVersion": "v1"},
        "responseStatus": {"code": 200},
        "requestReceivedTimestamp": ts.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "stageTimestamp": (ts + timedelta(milliseconds=30)).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
    })


def every(start: datetime, n: int, step_s: float) -> list[datetime]:
    return [start + timedelta(seconds=step_s * i) for i in range(n)]


def build_archive() -> dict[str, bytes]:
    """Keys (below the prefix) and bytes of a small archive around 2026-11-16 .. 2026-11-19."""
    lines = lambda rows: ("\n".join(rows) + "\n").encode()  # noqa: E731
    klog = 'I1116 10:02:03.123456       7 controller.go:190] "reload"'
    files = {
        "ingress-nginx/2026/11/16/access-10.log.gz": gzip.compress(lines(
            [nginx(t, i) for i, t in enumerate(every(at(16, "10:00:00"), 300, 2))] + [klog]), mtime=0),
        # spans midnight, with a brute force across it and a truncated line
        "ingress-nginx/2026/11/16/access-23.log": lines(
            [nginx(t, i, ip="10.1.0.2") for i, t in enumerate(every(at(16, "23:50:00"), 200, 6))]
            + [login(t, i) for i, t in enumerate(every(at(16, "23:59:00"), 30, 4))]
            + [nginx(at(17, "00:10:00"), 999)[:40]]),
        # path scanning on the 17th
        "ingress-nginx/2026/11/17/access-12.log": lines(
            [nginx(t, i, ip="198.51.100.9", path=f"/wp-admin{i}", status=404) for i, t in enumerate(every(at(17, "12:00:00"), 80, 1))]
            + [nginx(t, i) for i, t in enumerate(every(at(17, "12:30:00"), 100, 3))]),
        # filed on the 16th, holding the 18th too: the 18th's job does not read it
        "ingress-nginx/2026/11/16/weekly.log": lines(
            [nginx(t, i, ip="10.1.0.3") for i, t in enumerate(every(at(16, "08:00:00"), 20, 60))]
            + [nginx(t, i, ip="10.1.0.3") for i, t in enumerate(every(at(18, "08:00:00"), 25, 60))] + [klog]),
        # filed before and after the period: records outside it are counted, not shown
        "ingress-nginx/2026/11/15/early.log": lines(
            [nginx(t, i, ip="10.1.0.4") for i, t in enumerate(every(at(15, "23:58:00"), 40, 6))] + [klog]),
        "ingress-nginx/2026/11/19/late.log": lines(
            [nginx(t, i, ip="10.1.0.5") for i, t in enumerate(every(at(18, "23:59:00"), 40, 6))] + [klog]),
        # damaged: what was readable before the damage is kept, and the object reported
        "ingress-nginx/2026/11/17/broken.log.gz": gzip.compress(lines(
            [nginx(t, i, ip="10.1.0.6") for i, t in enumerate(every(at(17, "09:00:00"), 3000, 1))]), mtime=0)[:6000],
        "ingress-nginx/2026/11/18/README.txt": b"this folder holds the archive\n",
        "kube-apiserver/2026/11/17/audit.log": lines(
            [audit(t, i) for i, t in enumerate(every(at(17, "08:00:00"), 50, 30))]
            + [audit(at(17, "15:00:00"), 1, verb="patch", resource="ingresses", user="mallory@example.com"),
               audit(at(17, "23:59:59"), 2, verb="delete", resource="ingresses", user="mallory@example.com"),
               "{not json"]),
        "kube-apiserver/2026/11/18/audit.log": lines(
            [audit(t, i) for i, t in enumerate(every(at(18, "00:00:01"), 40, 60))]),
    }
    return files


def upload(s3_client, bucket: str, prefix: str, files: dict[str, bytes]) -> None:
    for key, data in files.items():
        s3_client.put_object(Bucket=bucket, Key=prefix + key, Body=data)


def keys(s3_client, bucket: str, prefix: str) -> dict[str, str]:
    out = {}
    for page in s3_client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        out.update({o["Key"]: o["ETag"] for o in page.get("Contents", ())})
    return out


def manifest(s3_client, bucket: str, day: str) -> dict:
    return json.loads(s3_client.get_object(Bucket=bucket, Key=f"staged/_days/day={day}.json")["Body"].read())


def stage_in_parallel(bucket: str, tmp_path: Path, n: int, *extra: str) -> list[subprocess.CompletedProcess]:
    """An Indexed Job: n pods, each with JOB_COMPLETION_INDEX and a cache of its own."""
    procs = []
    for i in range(n):
        env = dict(os.environ, JOB_COMPLETION_INDEX=str(i), INGRESS_AUDIT_MEMORY_LIMIT="512MB")
        env.pop("INGRESS_AUDIT_SOURCE", None)
        args = [sys.executable, "-m", "ingress_audit", "--quiet", "stage", "--source", f"s3://{bucket}/logs/",
                *PERIOD_ARGS, "--out", f"s3://{bucket}/staged", "--cache-dir", str(tmp_path / f"pod-{i}"), *extra]
        procs.append(subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    done = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        done.append(subprocess.CompletedProcess(p.args, p.returncode, out, err))
    return done


def raw_audit(bucket: str, cache: Path, staged_url: str | None = None):
    """What `run` computes before it renders: the findings and the evidence's inputs."""
    from ingress_audit.outputs import collect_evidence
    from ingress_audit.period import resolve_period
    from ingress_audit.pipeline import audit_period
    from ingress_audit.policy import load_policy
    from ingress_audit.resources import queries_dir

    sources = [] if staged_url else [f"s3://{bucket}/logs/"]
    policy = load_policy(None)
    audit = audit_period(sources, resolve_period(FROM, TO, None), policy, cache, staged_url=staged_url, progress=False)
    return audit.findings, collect_evidence(audit.staged, [], queries_dir(), None, policy).inputs


def findings_bytes(findings: dict) -> bytes:
    return (json.dumps(findings, indent=2, ensure_ascii=False) + "\n").encode("utf-8")  # as outputs.py writes it


@pytest.mark.slow
def test_days_staged_in_parallel_give_the_raw_runs_findings(cli, s3_server, s3_client, bucket, tmp_path):
    files = build_archive()
    upload(s3_client, bucket, "logs/", files)

    # three pods stage the three days at once
    pods = stage_in_parallel(bucket, tmp_path, 3)
    for i, pod in enumerate(pods):
        assert pod.returncode == 3, pod.stderr  # every day read the damaged object (or the README)
        assert f"day           2026-11-{16 + i}" in pod.stdout and "committed     s3://" in pod.stdout, pod.stdout

    staged = cli("run", "--staged", f"s3://{bucket}/staged", *PERIOD_ARGS, "--out", str(tmp_path / "staged"),
                 "--cache-dir", str(tmp_path / "staged-cache"))
    assert staged.code == 3, staged.err  # the damaged object: incomplete, as over the raw logs
    raw_findings, raw_inputs = raw_audit(bucket, tmp_path / "raw-cache")
    assert json.loads((tmp_path / "staged" / "findings.json").read_text()) == raw_findings
    assert (tmp_path / "staged" / "findings.json").read_bytes() == findings_bytes(raw_findings)
    # the findings are worth comparing: failures with rows, over records that crossed midnight
    status = {c["id"]: (c["status"], c["finding_count"]) for c in raw_findings["controls"]}
    assert status["FA-01"] == ("fail", 1) and status["AP-03"][0] == "fail" and status["PD-02"][0] == "fail"
    assert status["CV-04"] == ("fail", 2) and status["CV-05"][0] == "info"
    cov = raw_findings["coverage"]
    assert cov["objects"] == len(files) and not cov["complete"]
    # the evidence manifest names the same inputs with the same counts, and the committed day
    # manifests it read (by SHA-256), which bind the Parquet to those inputs
    staged_inputs = json.loads((tmp_path / "staged" / "manifest.json").read_text())["inputs"]
    assert [i for i in staged_inputs if i["source_kind"] != "staged-day"] == raw_inputs
    days_read = [i for i in staged_inputs if i["source_kind"] == "staged-day"]
    assert [i["url"].rsplit("/", 1)[1] for i in days_read] == [f"day=2026-11-{d}.json" for d in (16, 17, 18)]
    for i in days_read:
        key = i["url"].split("/", 3)[3]
        body = s3_client.get_object(Bucket=bucket, Key=key)["Body"].read()
        assert i["sha256"] == hashlib.sha256(body).hexdigest()

    # the days' accounting: each object's shares over the days sum to its counts once
    days = {d: manifest(s3_client, bucket, d) for d in ("2026-11-16", "2026-11-17", "2026-11-18")}
    summed: dict[str, list[int]] = {}
    for doc in days.values():
        for o in doc["objects"]:
            acc = summed.setdefault(o["url"], [0, 0, 0])
            acc[0] += o["records_read"]
            acc[1] += o["records_parsed"]
            acc[2] += o["records_rejected"]
    assert summed == {i["url"]: [i["records_read"], i["records_parsed"], i["records_rejected"]] for i in raw_inputs}
    assert sum(o["owner"] for doc in days.values() for o in doc["objects"]) == len(files)

    # what an engine listing the prefix sees (Trino, Athena, Spark): the tables, each record once
    local = tmp_path / "bucket-copy"
    for key in keys(s3_client, bucket, "staged/"):
        path = local / key
        path.parent.mkdir(parents=True, exist_ok=True)
        s3_client.download_file(bucket, key, str(path))
    con = duckdb.connect()
    lake = lambda t: f"read_parquet('{local}/staged/{t}/**/*.parquet', hive_partitioning = true)"  # noqa: E731
    n_raw = sum(r["requests"] for r in _rows(raw_findings, "AP-01"))
    q = f"""SELECT count(*), count(DISTINCT (object, line)), count(DISTINCT source_kind)
            FROM {lake('http_requests')} WHERE day BETWEEN '{FROM}' AND '2026-11-18'"""
    assert con.execute(q).fetchone() == (n_raw, n_raw, 1)
    totals = con.execute(f"SELECT sum(records_read), sum(records_parsed), sum(records_rejected) FROM {lake('objects')}").fetchone()
    assert list(totals) == [cov["records_read"], cov["records_parsed"], cov["records_rejected"]]
    assert con.execute(f"SELECT count(*) FROM {lake('rejects')}").fetchone()[0] == cov["records_rejected"]

    # idempotent: restaging a day from the same inputs changes nothing; an orphan of a dead job is swept
    before = keys(s3_client, bucket, "staged/")
    orphan = "staged/http_requests/day=2026-11-17/source_kind=ingress-nginx/part-2026-11-17-0000000000000000.parquet"
    s3_client.put_object(Bucket=bucket, Key=orphan, Body=b"left by a pod that died before its commit")
    again = cli("stage", "--source", f"s3://{bucket}/logs/", *PERIOD_ARGS, "--day-index", "1",
                "--out", f"s3://{bucket}/staged", "--cache-dir", str(tmp_path / "pod-again"))
    assert again.code == 3, again.err
    assert "0 uploaded" in again.out and "1 removed" in again.out and "(unchanged)" in again.out, again.out
    assert keys(s3_client, bucket, "staged/") == before
    listed = {f"staged/{f['key']}" for doc in days.values() for f in doc["files"]}
    listed |= {f"staged/_days/day={d}.json" for d in days}
    assert set(before) == listed  # every file is listed by a committed day: no orphans

    # a day missing from the staged prefix: incomplete and named, in the findings and the exit code
    s3_client.delete_object(Bucket=bucket, Key="staged/_days/day=2026-11-18.json")
    findings, _ = raw_audit(bucket, tmp_path / "staged-cache", staged_url=f"s3://{bucket}/staged")
    assert not findings["coverage"]["complete"]
    errors = {e["object"]: e["error"] for e in findings["coverage"]["errors"]}
    assert "day 2026-11-18 is not staged" in errors[f"s3://{bucket}/staged/_days/day=2026-11-18.json"]
    # and the objects whose records of that day are missing say so
    assert "staged records of 2026-11-18 do not match" in errors[f"s3://{bucket}/logs/kube-apiserver/2026/11/18/audit.log"]
    missing = cli("query", "--staged", f"s3://{bucket}/staged", *PERIOD_ARGS, "--cache-dir", str(tmp_path / "staged-cache"),
                  "--format", "json", "SELECT count(*) AS n FROM http_requests")
    assert missing.code == 3 and "day 2026-11-18 is not staged" in missing.err
    assert json.loads(missing.out)[0]["n"] < n_raw


def _rows(findings: dict, control: str) -> list[dict]:
    return next(c["findings"] for c in findings["controls"] if c["id"] == control)


COMPARED = {  # one query answers them all: a CLI call costs a second
    "objects": "SELECT object, cluster, source_kind, size, sha256, records_read, records_parsed, records_rejected, "
               "records_outside_period, error FROM objects",
    "rejects": "SELECT * FROM rejects",
    "per_day": "SELECT CAST(ts AS DATE) AS day, source_kind, cluster, count(*) AS n, count(DISTINCT client_ip) AS clients, "
               "sum(bytes_sent) AS bytes, min(ts) AS first, max(ts) AS last FROM http_requests GROUP BY ALL",
    "audit": "SELECT * EXCLUDE (request_object, response_object) FROM audit_events",
    "midnight": "SELECT * FROM http_requests WHERE object LIKE '%access-23.log'",
}
EVERYTHING = " UNION ALL ".join(f"SELECT '{name}' AS t, to_json(q)::VARCHAR AS r FROM ({sql}) q"
                                for name, sql in COMPARED.items()) + " ORDER BY t, r"


def test_every_day_staged_by_one_pod_answers_queries_as_the_raw_logs_do(cli, s3_server, s3_client, bucket, tmp_path,
                                                                         monkeypatch):
    upload(s3_client, bucket, "logs/", build_archive())
    logs, staged = f"s3://{bucket}/logs/", f"s3://{bucket}/staged/"  # a trailing '/' is the same prefix
    out = cli("stage", "--source", logs, *PERIOD_ARGS, "--out", staged, "--cache-dir", str(tmp_path / "pod"))
    assert out.code == 3, out.err
    assert out.out.count("committed     s3://") == 3

    monkeypatch.setenv("INGRESS_AUDIT_SOURCE", logs)  # a pod's environment: --staged wins over it

    def both(*period: str, sql: str) -> tuple:
        a = cli("query", "--staged", staged, *period, "--cache-dir", str(tmp_path / "reader"), "--format", "json", sql)
        b = cli("query", "--source", logs, *period, "--cache-dir", str(tmp_path / "raw"), "--format", "json", sql)
        return a, b

    # the staged period, a day of it (an object it reads keeps its rejects on another day) and
    # part of two days (timestamps cut inside the day partitions)
    for period in (PERIOD_ARGS, ["--from", "2026-11-17", "--to", "2026-11-18"],
                   ["--from", "2026-11-16T23:55:00Z", "--to", "2026-11-17T00:05:00Z"]):
        a, b = both(*period, sql=EVERYTHING)
        assert (a.code, a.out) == (b.code, b.out), (period, a.err)
        assert a.code == 3 and {r["t"] for r in json.loads(a.out)} >= {"objects", "rejects", "per_day", "midnight"}

    # an object replaced, and only its own day restaged: the other days that read it disagree
    changed = "ingress-nginx/2026/11/17/access-12.log"
    s3_client.put_object(Bucket=bucket, Key=f"logs/{changed}", Body=(nginx(at(17, "13:00:00"), 1) + "\n").encode())
    before = keys(s3_client, bucket, "staged/http_requests/day=2026-11-17/")
    again = cli("stage", "--source", logs, *PERIOD_ARGS, "--day", "2026-11-17", "--out", staged,
                "--cache-dir", str(tmp_path / "pod"))
    # the day's requests and its accounting changed: their old files are replaced
    assert again.code == 3 and "2 uploaded, 2 already there, 2 removed" in again.out, again.out
    assert keys(s3_client, bucket, "staged/http_requests/day=2026-11-17/").keys() != before.keys()
    a = cli("query", "--staged", staged, *PERIOD_ARGS, "--cache-dir", str(tmp_path / "reader"), "SELECT 1")
    assert a.code == 3 and f"{changed}: changed between the stagings of 2026-11-16 and 2026-11-17" in a.err
