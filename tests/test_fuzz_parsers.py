"""Parsers under fuzz, through the real stage_objects: nothing raises, nothing read is lost.

Per object: records read = parsed + rejected, every reject has a reason, and the records are
exactly the object's non-blank lines, with their line numbers. A line is blank when it holds
nothing but spaces (a CRLF's CR and byte-order marks aside); blank lines are not records but
count for line numbers.
"""

from __future__ import annotations

import gzip
import json
import tempfile
from pathlib import Path

import duckdb
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from ingress_audit import chunks, formats, stage
from ingress_audit.sources import fetch_objects, list_objects, parse_source

from .test_stage import CANDIDATES, PERIOD, audit_line, nginx_line

KINDS = formats.builtin_kinds()
FUZZ = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def stage_one(body: bytes, kind: str | None, *, gz: bool = False, chunk_bytes: int = chunks.CHUNK_BYTES,
              data: bytes | None = None):
    """Stage one object holding `body` (or the file bytes `data`); its report and its rows as (line, reject_reason)."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "archive" / "2026" / "11" / "16"
        root.mkdir(parents=True)
        if data is None:
            data = gzip.compress(body) if gz else body
        (root / ("x.log.gz" if gz else "x.log")).write_bytes(data)
        candidates = [stage.Candidate(formats.builtin(kind), match="*")] if kind else CANDIDATES
        refs = list_objects(parse_source(str(Path(tmp) / "archive")), PERIOD)
        fetched = fetch_objects(refs, Path(tmp) / "cache" / "objects", progress=False)
        staged = stage.stage_objects(fetched, PERIOD, candidates, Path(tmp) / "cache", progress=False,
                                     chunk_bytes=chunk_bytes)
        (report,) = staged.objects
        rows = []
        if report.files:
            listed = ", ".join(f"'{staged.staged_dir / f}'" for f in report.files)
            rows = duckdb.sql(f"SELECT line, reject_reason FROM read_parquet([{listed}], union_by_name = true)").fetchall()
        return report, rows


def record_lines(body: bytes) -> list[int]:
    """The 1-based numbers of the body's non-blank lines."""
    lines = body.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()  # the newline ends the last line; it starts none
    # a CR ends the last line too (a CRLF that lost its LF); BOMs are dropped
    return [i for i, line in enumerate(lines, 1) if line.removesuffix(b"\r").replace(b"\xef\xbb\xbf", b"").strip(b" ")]


def check(report: stage.ObjectReport, rows: list, body: bytes) -> None:
    assert report.records_read == report.records_parsed + report.records_rejected
    assert report.records_read == len(rows)
    assert sum(1 for _, reason in rows if reason is not None) == report.records_rejected
    assert all(reason is None or reason.strip() for _, reason in rows)  # a reject always says why
    assert sorted(line for line, _ in rows) == record_lines(body)  # nothing lost, nothing shifted


# --- lines ---------------------------------------------------------------------------------

def _truncated(line: str):
    return st.integers(0, len(line)).map(lambda n: line[:n])


NOISE = [
    'I1116 10:02:03.123456       7 controller.go:190] "Configuration changes detected"',
    "2026/11/16 10:02:03 [error] 31#31: *1 upstream timed out (110: Connection timed out)",
    "-------------------------------------------------------------------------------",
    "NGINX Ingress controller",
    "{}", "[]", "null", '{"kind":"EventList","items":[', "-", '"',
]

LINE = st.one_of(
    st.integers(0, 5000).map(nginx_line),
    st.integers(0, 5000).map(audit_line),
    st.integers(0, 5000).map(audit_line).flatmap(_truncated),  # truncated JSON
    st.integers(0, 5000).map(nginx_line).flatmap(_truncated),
    st.sampled_from(NOISE),
    st.text(max_size=120),  # any unicode, NUL and control characters included
).map(lambda s: s.encode("utf-8", "surrogatepass"))

RAW_LINE = st.one_of(
    LINE,
    LINE,
    st.binary(max_size=120).map(lambda b: b.replace(b"\n", b"")),  # invalid UTF-8, NUL, lone CR
    st.sampled_from([b"", b" ", b"   ", b"\r", b" \r", b"\x00", b"\t", b"\xff\xfe", b"\r\r", b"\xef\xbb\xbf"]),
)


@st.composite
def bodies(draw) -> bytes:
    lines = draw(st.lists(RAW_LINE, max_size=40))
    ends = draw(st.lists(st.sampled_from([b"\n", b"\r\n"]), min_size=len(lines), max_size=len(lines)))
    body = b"".join(line + end for line, end in zip(lines, ends))
    if draw(st.booleans()) and body:
        body = body.removesuffix(b"\n").removesuffix(b"\r")  # no newline after the last line
    return body


@FUZZ
@given(body=bodies(), kind=st.sampled_from(KINDS), gz=st.booleans(), chunk=st.sampled_from([64, 4096, 1 << 20]))
def test_mixed_lines_pinned_to_a_format(body, kind, gz, chunk):
    report, rows = stage_one(body, kind, gz=gz, chunk_bytes=chunk)
    assert report.error is None
    check(report, rows, body)


@FUZZ
@given(body=bodies(), gz=st.booleans())
def test_mixed_lines_sniffed(body, gz):
    report, rows = stage_one(body, None, gz=gz, chunk_bytes=4096)
    if report.error is not None:  # nothing parsed among the first lines
        assert report.error.startswith("unrecognized format") and not rows
        return
    check(report, rows, body)


@FUZZ
@given(body=st.binary(max_size=3000), kind=st.sampled_from(KINDS), gz=st.booleans())
def test_random_bytes(body, kind, gz):
    assume(gz or not body.startswith(b"\x1f\x8b"))  # plain bytes that look like gzip are a damaged gzip
    report, rows = stage_one(body, kind, gz=gz, chunk_bytes=1024)
    assert report.error is None
    check(report, rows, body)


@FUZZ
@given(lines=st.lists(RAW_LINE, min_size=1, max_size=60), kind=st.sampled_from(KINDS), cut=st.floats(0.0, 0.999))
def test_truncated_gzip_keeps_what_it_could_read(lines, kind, cut):
    body = b"\n".join(lines) + b"\n"
    data = gzip.compress(body)
    data = data[: max(2, int(len(data) * cut))]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "x.gz"
        path.write_bytes(data)
        salvaged = b""
        with pytest.raises(chunks.ObjectReadError):
            for block in chunks.iter_blocks(path):
                salvaged += block
    assert body.startswith(salvaged)
    report, rows = stage_one(body, kind, gz=True, data=data, chunk_bytes=256)
    assert report.error and "gzip" in report.error
    check(report, rows, salvaged)  # what was inflated before the damage is kept, every line of it


# --- long lines ----------------------------------------------------------------------------

LONG = 1024 * 1024


@pytest.mark.parametrize("kind", ["ingress-nginx", "k8s-audit"])
@pytest.mark.parametrize("long_line", [
    b"x" * LONG,
    nginx_line(1).replace("/item/1", "/" + "a" * LONG).encode(),
    ('{"kind":"Event","apiVersion":"audit.k8s.io/v1","requestURI":"' + "b" * LONG).encode(),  # truncated JSON
    audit_line(1).replace("/api/v1/namespaces/shop/pods", "/" + "c" * LONG).encode(),
    b"\xff" * LONG,
], ids=["xs", "nginx-path", "truncated-json", "audit-uri", "invalid-utf8"])
def test_a_1mb_line_among_others(kind, long_line):
    good = (nginx_line(2) if kind == "ingress-nginx" else audit_line(2)).encode()
    body = b"\n".join([good, long_line, good, b"", good]) + b"\n"
    report, rows = stage_one(body, kind, chunk_bytes=64 * 1024)
    assert report.error is None
    check(report, rows, body)
    assert report.records_parsed >= 3


def test_lines_over_the_line_limit_are_rejected_not_lost(monkeypatch):
    monkeypatch.setattr(chunks, "MAX_LINE_BYTES", 100_000)
    body = b"\n".join([nginx_line(1).encode(), b"y" * 300_000, nginx_line(2).encode(),
                       json.dumps({"x": "z" * 250_000}).encode(), b"", nginx_line(3).encode()])
    for gz in (False, True):
        report, rows = stage_one(body, "ingress-nginx", gz=gz, chunk_bytes=50_000)
        check(report, rows, body)
        assert (report.records_parsed, report.records_rejected) == (3, 2)


def test_a_tab_only_line_is_a_record_not_a_blank():
    """Staging counts only space-only lines as blank; sniffing once skipped a tab-only line too,
    and called the object empty, without an error (found by hypothesis)."""
    report, rows = stage_one(b"\t\n", "ingress-nginx")
    check(report, rows, b"\t\n")
    assert report.records_rejected == 1
    report, _ = stage_one(b"\t\n", None)  # sniffed: no format reads it, and the report says so
    assert report.error.startswith("unrecognized format")
