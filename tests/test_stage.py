"""Staging: per object, records read = parsed + rejected; line numbers exact; damage reported."""

from __future__ import annotations

import gzip
import json
import os
from datetime import datetime, timezone
from pathlib import Path

import pytest

from ingress_audit import formats, pipeline, stage
from ingress_audit.period import resolve_period
from ingress_audit.sources import fetch_objects, list_objects, parse_source

PERIOD = resolve_period("2026-11-16", "2026-11-23", None)
CANDIDATES = [stage.Candidate(formats.builtin(k)) for k in formats.builtin_kinds()]


def nginx_line(i: int, day: int = 16) -> str:
    return (f'10.1.{i // 250 % 250}.{i % 250 + 1} - - [{day:02d}/Nov/2026:10:{i // 60 % 60:02d}:{i % 60:02d} +0000] '
            f'"GET /item/{i}?q={i} HTTP/1.1" 200 {i} "-" "curl/8.{i}" 80 0.002 [shop-web-8080] [] '
            f'10.2.0.5:8080 5 0.002 200 req{i:08d}')


def audit_line(i: int) -> str:
    return json.dumps({
        "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata", "auditID": f"id-{i}",
        "stage": "ResponseComplete", "requestURI": "/api/v1/namespaces/shop/pods", "verb": "list",
        "user": {"username": "alice@example.com", "groups": ["system:authenticated"]}, "sourceIPs": ["10.0.0.9"],
        "objectRef": {"resource": "pods", "namespace": "shop", "apiVersion": "v1"}, "responseStatus": {"code": 200},
        "requestReceivedTimestamp": f"2026-11-17T08:00:{i % 60:02d}.000001Z", "stageTimestamp": "2026-11-17T08:00:59.1Z",
    })


def stage_folder(root: Path, cache: Path, **kw) -> stage.StagedPeriod:
    refs = list_objects(parse_source(str(root)), PERIOD)
    fetched = fetch_objects(refs, cache / "objects", progress=False)
    return stage.stage_objects(fetched, PERIOD, CANDIDATES, cache, progress=False, **kw)


def by_name(staged: stage.StagedPeriod) -> dict[str, stage.ObjectReport]:
    return {Path(o.object).name: o for o in staged.objects}


@pytest.fixture()
def archive(tmp_path: Path) -> Path:
    root = tmp_path / "archive"
    day = root / "ingress-nginx" / "2026" / "11" / "16"
    day.mkdir(parents=True)
    lines = [nginx_line(i) for i in range(5000)]
    # controller noise, a truncated line, blank lines and CRLF are all read, none dropped silently
    damaged = lines[:100] + ['I1116 10:02:03.123456       7 controller.go:190] "reload"', "", "   ",
                             lines[100][:50]] + lines[101:]
    (day / "access.log.gz").write_bytes(gzip.compress("\n".join(damaged).encode() + b"\n"))
    (day / "crlf.log").write_bytes("\r\n".join(lines[:10]).encode() + b"\r\n")
    (day / "broken.log.gz").write_bytes(gzip.compress("\n".join(lines).encode())[:4000])
    audit = root / "audit" / "2026" / "11" / "17"
    audit.mkdir(parents=True)
    (audit / "audit.log").write_text("\n".join(audit_line(i) for i in range(300)) + "\n{not json\n")
    readme = root / "README.txt"
    readme.write_text("this folder holds the archive\n")
    # no date in its key: selected by its mtime, which must lie in the period whatever today is
    in_period = datetime(2026, 11, 18, tzinfo=timezone.utc).timestamp()
    os.utime(readme, (in_period, in_period))
    return root


def test_reconciliation(archive: Path, tmp_path: Path):
    staged = stage_folder(archive, tmp_path / "cache", chunk_bytes=64 * 1024)  # many chunks
    objs = by_name(staged)
    for o in staged.objects:
        assert o.records_read == o.records_parsed + o.records_rejected, o.object
    access = objs["access.log.gz"]
    # 5,000 lines minus the one truncated, plus the klog line; blank lines are not records
    assert (access.records_read, access.records_parsed, access.records_rejected) == (5001, 4999, 2)
    assert access.error is None
    assert objs["crlf.log"].records_parsed == 10
    assert objs["audit.log"].records_parsed == 300 and objs["audit.log"].records_rejected == 1
    con = pipeline.open_period(staged, tmp_path / "cache")
    rejects = con.execute("SELECT line, reason FROM rejects WHERE object LIKE '%access.log.gz' ORDER BY line").fetchall()
    assert rejects[0] == (101, "controller log line (klog), not an access record")
    assert rejects[1][0] == 104  # the truncated line, after two blank lines
    # line numbers stay exact across chunk boundaries
    lines = dict(con.execute("SELECT request_id, line FROM http_requests WHERE object LIKE '%access.log.gz'").fetchall())
    assert lines["req00000000"] == 1 and lines["req00000101"] == 105 and lines["req00004999"] == 5003
    assert con.execute("SELECT count(*) FROM http_requests").fetchone()[0] == sum(
        o.records_parsed for o in staged.objects if o.table == "http_requests")


def test_unreadable_and_unclassified_objects_are_reported(archive: Path, tmp_path: Path):
    staged = stage_folder(archive, tmp_path / "cache")
    objs = by_name(staged)
    assert not staged.complete
    broken = objs["broken.log.gz"]
    assert broken.error and "gzip" in broken.error
    # what was inflated before the damage is kept and counted
    assert broken.records_read == broken.records_parsed + broken.records_rejected > 0
    assert "unrecognized format" in objs["README.txt"].error
    con = pipeline.open_period(staged, tmp_path / "cache")
    errors = dict(con.execute("SELECT object, error FROM objects WHERE error IS NOT NULL").fetchall())
    assert len(errors) == 2


def test_a_rerun_reuses_the_parquet_cache(archive: Path, tmp_path: Path):
    first = stage_folder(archive, tmp_path / "cache")
    second = stage_folder(archive, tmp_path / "cache")
    assert not any(o.reused for o in first.objects)
    assert all(o.reused for o in second.objects)
    assert [(o.records_read, o.records_parsed, o.error) for o in first.objects] == \
        [(o.records_read, o.records_parsed, o.error) for o in second.objects]
    # a changed object is staged again; the others stay cached
    access = archive / "ingress-nginx/2026/11/16/crlf.log"
    access.write_text(nginx_line(1) + "\n")
    third = by_name(stage_folder(archive, tmp_path / "cache"))
    assert not third["crlf.log"].reused and third["crlf.log"].records_parsed == 1
    assert third["access.log.gz"].reused


def test_an_interrupted_staging_is_cleaned_up_and_redone(archive: Path, tmp_path: Path):
    """What an interrupted staging leaves (files, a .partial marker, no manifest) is removed when
    the object is staged again; a finished staging leaves no marker."""
    cache = tmp_path / "cache"
    first = by_name(stage_folder(archive, cache))
    staged_dir = cache / "staged"
    assert not list(staged_dir.rglob("*.partial"))
    objects = staged_dir / "_objects"
    manifest = next(p for p in objects.glob("*.json") if first["access.log.gz"].files[0].split("/")[-1].split("-c")[0] in p.stem)
    key = manifest.stem
    # as a SIGTERM would leave it: the manifest not yet written, a marker, and a chunk file
    manifest.unlink()
    (objects / f"{key}.partial").touch()
    leftover = staged_dir / first["access.log.gz"].files[0]
    stray = leftover.with_name(f"{key}-c00099.parquet")
    stray.write_bytes(leftover.read_bytes())
    again = by_name(stage_folder(archive, cache))
    assert not again["access.log.gz"].reused
    assert not stray.exists()
    assert again["access.log.gz"].records_read == first["access.log.gz"].records_read
    assert not list(staged_dir.rglob("*.partial"))


def test_records_outside_the_period_are_counted_not_shown(tmp_path: Path):
    root = tmp_path / "a" / "2026" / "11" / "23"
    root.mkdir(parents=True)
    (root / "late.log").write_text("\n".join([nginx_line(1, day=22), nginx_line(2, day=23)]) + "\n")
    staged = stage_folder(tmp_path / "a", tmp_path / "cache")
    con = pipeline.open_period(staged, tmp_path / "cache")
    assert con.execute("SELECT count(*) FROM http_requests").fetchone()[0] == 1
    assert con.execute("SELECT records_parsed, records_outside_period FROM objects").fetchone() == (2, 1)


def test_invalid_utf8_is_kept_and_flagged(tmp_path: Path):
    root = tmp_path / "a" / "2026" / "11" / "16"
    root.mkdir(parents=True)
    (root / "x.log").write_bytes(nginx_line(1).replace("curl/8.1", "curl\xff").encode("latin-1") + b"\n")
    (o,) = stage_folder(tmp_path / "a", tmp_path / "cache").objects
    assert o.records_parsed == 1 and o.replaced_utf8


def test_an_overlong_line_is_rejected_not_fatal(tmp_path: Path, monkeypatch):
    from ingress_audit import chunks

    monkeypatch.setattr(chunks, "MAX_LINE_BYTES", 10_000)
    root = tmp_path / "a" / "2026" / "11" / "16"
    root.mkdir(parents=True)
    (root / "x.log").write_text("\n".join([nginx_line(1), "x" * 50_000, nginx_line(2)]) + "\n")
    (o,) = stage_folder(tmp_path / "a", tmp_path / "cache", chunk_bytes=4096).objects
    assert (o.records_read, o.records_parsed, o.records_rejected) == (3, 2, 1)
