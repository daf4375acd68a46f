"""The compiled ingress-nginx tokenizer gives, for every line it accepts, the SQL parser's row.

The SQL (queries/normalize/ingress_nginx.sql) is the definition of the format and is checked
against real-sample goldens in test_formats_nginx.py; here the tokenizer is checked against it:
on the sample week, the real samples, retry lists, hand-picked edge cases and hypothesis-made
lines. A line it does not accept must come back with its line number and text, for the SQL.
"""

from __future__ import annotations

import gzip
import math
from datetime import date
import re
import tempfile
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingress_audit import formats, nginx_tokenizer, pipeline, stage, tokenized_parquet

from .real_samples import sample
from .test_stage import archive, nginx_line, stage_folder  # noqa: F401 - archive is a fixture

NGINX = formats.builtin("ingress-nginx")
SAMPLE_WEEK = Path(__file__).resolve().parents[1] / "sample_data" / "archive"
COLUMNS = [c for c in NGINX.fields if c not in ("host", "tls", "forwarded_for")]


def tokenize(lines: list[str], *, first_line: int = 1, final_newline: bool = True):
    """(accepted rows by line number, handed-back {line: text}) for a chunk of these lines."""
    body = "\n".join(lines) + ("\n" if final_newline else "")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "chunk.txt"
        path.write_text(body, encoding="utf-8")
        tok = nginx_tokenizer.tokenize_file(path, first_line, len(lines))
    rows = {}
    for row in _rows(tok.columns):
        rows[row["line"]] = row
    handed_back = dict(zip(tok.fallback_lines.to_pylist(), tok.fallback_text.to_pylist()))
    assert len(rows) + len(handed_back) == len(lines)
    return rows, handed_back, tok


def _rows(columns) -> list[dict]:
    names = list(columns)
    values = [columns[n].to_pylist() for n in names]
    return [dict(zip(names, row)) for row in zip(*values)]


def assert_same_as_sql(lines: list[str], *, min_accepted: int = 0) -> dict:
    """Every accepted line equals the SQL's row; every other line comes back unchanged."""
    rows, handed_back, _ = tokenize(lines)
    by_line = {r["line"]: r for r in formats.parse_lines(NGINX, lines)}
    for number, row in rows.items():
        expected = by_line[number]
        assert expected["reject_reason"] is None, (lines[number - 1], expected["reject_reason"])
        for col in COLUMNS:
            got, want = row[col], expected[col]
            same = got == want or (isinstance(want, float) and math.isclose(got, want, rel_tol=0, abs_tol=0))
            assert same, (col, got, want, lines[number - 1])
    for number, text in handed_back.items():
        assert text == lines[number - 1]
    assert len(rows) >= min_accepted, (len(rows), list(handed_back.values())[:3])
    return rows


def _week_lines(controller: str) -> list[str]:
    files = sorted((SAMPLE_WEEK / "ingress-nginx" / controller).rglob("*.gz"))
    assert files, f"the sample week has {controller} objects"
    return [line for path in files for line in gzip.open(path, "rt", encoding="utf-8").read().splitlines()]


def test_sample_week_default_format():
    """The public controller of the committed week (default format, incidents, retry lists)."""
    lines = _week_lines("public")
    assert len(assert_same_as_sql(lines)) >= len(lines) * 0.99


def test_sample_week_custom_format_is_handed_back():
    """The internal controller logs more fields than the default format: none is taken."""
    lines = _week_lines("internal")
    rows, handed_back, _ = tokenize(lines)
    assert not rows and len(handed_back) == len(lines)


def test_real_controller_logs():
    lines = sample("ingress-nginx/test-ingest-raw.log").read_text().splitlines()
    assert len(assert_same_as_sql(lines)) == len(lines)


def test_line_numbers_and_a_last_line_without_newline():
    lines = [nginx_line(i) for i in range(5)] + ["", "I1117 10:00:00.000000 1 main.go:1] klog", nginx_line(9)]
    rows, handed_back, tok = tokenize(lines, first_line=101, final_newline=False)
    assert sorted(rows) == [101, 102, 103, 104, 105, 108]
    assert handed_back == {106: "", 107: lines[6]}
    assert tokenized_parquet.days(pa.table(tok.columns)) == [date(2026, 11, 16)]


def test_the_days_a_chunk_is_filed_under():
    lines = [nginx_line(1, day=17), nginx_line(2, day=16), nginx_line(3, day=18)]
    _, _, tok = tokenize(lines)
    assert tokenized_parquet.days(pa.table(tok.columns)) == [date(2026, 11, 16), date(2026, 11, 17), date(2026, 11, 18)]
    rejects_only = pa.table({"ts": pa.nulls(2, pa.timestamp("us", tz="UTC"))})
    assert tokenized_parquet.days(rejects_only) == []


RETRIES = [
    # ingress-nginx retry lists and internal-redirect groups: folded as the SQL folds them
    ('10.2.3.14:8080, 10.2.3.15:8080 0, 0 0.001, 0.000 502, 502', "10.2.3.14:8080, 10.2.3.15:8080", "502, 502"),
    ('10.2.3.14:8080 : 10.2.3.15:8080 0 : 12 0.001 : 0.002 502 : 200', "10.2.3.14:8080, 10.2.3.15:8080", "502, 200"),
    ('a:1, b:2 : c:3 1, 2 : 3 0.1, 0.2 : 0.3 502, 504 : 200', "a:1, b:2, c:3", "502, 504, 200"),
]


@pytest.mark.parametrize(("upstream", "addr", "status"), RETRIES)
def test_retry_lists(upstream, addr, status):
    line = (f'10.0.0.1 - - [17/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 502 10 "-" "ua" 80 0.002 '
            f'[shop-web-8080] [] {upstream} req1')
    rows = assert_same_as_sql([line], min_accepted=1)
    assert (rows[1]["upstream_addr"], rows[1]["upstream_status"]) == (addr, status)


EDGES = [
    # (the line, whether the tokenizer takes it): each is compared with the SQL either way
    ('1.2.3.4 - alice [29/Feb/2024:23:59:59 -0130] "POST /a?b=1&c=2,3 HTTP/1.1" 201 0 "-" "-" 1 10.5 [ns-svc-80] [alt] - - - - -', True),
    ('1.2.3.4 - - [31/Dec/2026:23:59:59 +1400] "GET /? HTTP/2.0" 200 1 "r" "u" 1 0.000001 [] [] x 1 1 200 id', True),
    ('1.2.3.4 - - [01/Jan/1970:00:00:00 +0000] "GET  HTTP/1.1" 400 1 "-" "-" 1 0 [] [] - - - - -', True),
    ('1.2.3.4 - - [01/Jan/2026:00:00:00 +0000] " /x HTTP/1.1" 400 1 "-" "-" 1 12 [] [] - - - - -', True),
    ('::1 - - [17/Nov/2026:10:00:00 +0000] "GET /[x] HTTP/1.1" 200 1 "-" "a, b (c) [d]" 1 1.5 [] [] [::1]:80 1 1 200 id', True),
    ('1.2.3.4 - - [29/Feb/2026:00:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "-" 1 0.1 [] [] - - - - -', False),
    ('1.2.3.4 - - [17/nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "-" 1 0.1 [] [] - - - - -', False),
    ('1.2.3.4 - - [17/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1 x y" 200 1 "-" "-" 1 0.1 [] [] - - - - -', True),
    ('1.2.3.4 - - [17/Nov/2026:10:00:00 +0000] "\\x16\\x03\\x01" 400 150 "-" "-" 0 0.000 [] [] - - - - -', True),
    ('1.2.3.4 - - [17/Nov/2026:10:00:00 +0000] "-" 400 0 "-" "-" 0 0.000 [] [] - - - - -', True),
    ('1.2.3.4 - - [17/Nov/2026:10:00:00 +0000] "" 400 0 "-" "-" 0 0.000 [] [] - - - - -', True),
    ('1.2.3.4 - - [17/Nov/2026:10:00:00 +0000] "GET /a?b" 400 0 "-" "-" 0 0.000 [] [] - - - - -', True),
    ('1.2.3.4 - - [17/Nov/2026:10:00:00 +0000] "GET " 400 0 "-" "-" 0 0.000 [] [] - - - - -', True),
    ('1.2.3.4 - - [17/Nov/2026:10:00:00 +0000] "GET /a?b  " 400 0 "-" "-" 0 0.000 [] [] - - - - -', True),
    ('1.2.3.4 - - [17/Nov/2026:10:00:00 +0000] "?x y?z" 400 0 "-" "-" 0 0.000 [] [] - - - - -', True),
    ('1.2.3.4 - [x [17/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "-" 1 0.1 [] [] - - - - -', False),
    ('1.2.3.4 - - [17/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 -1 "-" "-" 1 0.1 [] [] - - - - -', False),
    ('1.2.3.4 - - [17/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "-" 1 0.1 [] [] a,b 1 1 200 id', False),
    ('1.2.3.4 - - [17/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "-" 1 0.1 [] [] - - - - id, x', False),
    ('1.2.3.4 - - [17/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "-" 1 0.1 [] [] a , b 1 1 200 id', False),
    ('1.2.3.4 - - [17/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "-" 1 0.1 [] [] a : : b 1 1 200 id', False),
    ('1.2.3.4 - - [17/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "-" 1 0.1 [] [] - - - - - ', False),
    ('1.2.3.4 - - [17/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "-" 1 .5 [] [] - - - - -', False),
    ('1.2.3.4 - - [17/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "-" - 0.1 [] [] - - - - -', False),
    ('1.2.3.4 - - [17/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "-" 1 0.1 [] [] - - - - -\u00e9\u2028', True),
]


@pytest.mark.parametrize(("line", "accepted"), EDGES)
def test_edge_cases(line, accepted):
    rows = assert_same_as_sql([line])
    assert (1 in rows) == accepted


# Hypothesis: lines nginx could write (valid and edge values in every field), then zero or more
# mutations anywhere (insert, delete or replace characters, structural ones most of all).
_ALPHABET = st.sampled_from(list(' "[],?:-./+0123456789aZ\\\t\x00\u00e9\u2028\U0001F600') + [", ", " : "])
_DIGITS = st.text("0123456789", min_size=1, max_size=4)
# referer, user agent: any text but a quote (the mutations bring those) or a line end
_FREE_TEXT = st.one_of(st.just("-"), st.text(st.characters(exclude_characters='\n\r"', exclude_categories=["Cs"]), max_size=12))


# a TLS handshake on the HTTP port logs one part, as nginx escapes it
_METHODS = st.sampled_from(["GET ", "POST ", "", "\\x16\\x03", "-"])


def _mostly(usual: list[str], odd: list[str]):
    return st.sampled_from(usual * 4 + odd)


@st.composite
def nginx_lines(draw) -> str:
    day = draw(_mostly(["01", "17", "28", "29", "30", "31"], ["00", "32", "7"]))
    month = draw(_mostly(["Jan", "Feb", "Apr", "Nov", "Dec"], ["nov", "Foo"]))
    year = draw(_mostly(["1970", "2024", "2026", "2100", "2999"], ["1969", "3000"]))
    clock = draw(_mostly(["00:00:00", "23:59:59", "10:20:30"], ["24:00:00", "10:60:00", "10:00:60"]))
    zone = draw(_mostly(["+0000", "-0130", "+1400", "+9999"], ["0000", "+00:0"]))
    upstreams = draw(_mostly([
        "10.0.0.1:80 5 0.001 200", "a:1, b:2 0, 5 0.1, 0.2 502, 200", "a:1 : b:2 0 : 5 0.1 : 0.2 502 : 200",
        "a:1, b:2 : c:3 0, 0 : 1 0.1, 0.2 : 0.3 502, 502 : 200", "- - - -"],
        ["a:1,b:2 0 0 200", "a:1 , b:2 0 0 200", "a:1, b:2 0 0 200, "]))
    decimal = st.tuples(_DIGITS, _DIGITS).map(".".join)
    line = (f'{draw(st.sampled_from(["10.0.0.1", "::1", "2001:db8::7"]))} - {draw(st.sampled_from(["-", "bob", "é"]))} '
            f'[{day}/{month}/{year}:{clock} {zone}] '
            f'"{draw(_METHODS)}{draw(st.sampled_from(["/", "/p?q=1", "/a?", "?x", "/[1],2", ""]))}'
            f'{draw(st.sampled_from([" HTTP/1.1", " HTTP/2.0", "", " ", " HTTP/1.0 x"]))}" {draw(st.sampled_from(["200", "502", "000"]))} '
            f'{draw(_DIGITS)} "{draw(_FREE_TEXT)}" "{draw(_FREE_TEXT)}" {draw(_DIGITS)} '
            f'{draw(st.one_of(decimal, _DIGITS))} [{draw(st.sampled_from(["shop-web-80", ""]))}] [] {upstreams} '
            f'{draw(st.sampled_from(["id1", "-", "3b0a3fcccd8433e7df740b73393a2c26"]))}')
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 2]))):
        i = draw(st.integers(0, len(line)))
        line = line[:i] + draw(_ALPHABET) + line[i + draw(st.integers(0, 1)):]
    return re.sub(r"[\n\r]", " ", line)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(nginx_lines(), min_size=1, max_size=8))
def test_property_same_rows_as_sql(lines):
    assert_same_as_sql(lines)


def test_property_generator_reaches_the_fast_path():
    """The hypothesis lines are not all handed back: the property above tests accepted lines."""
    accepted = 0

    @settings(max_examples=300, deadline=None, database=None)
    @given(nginx_lines())
    def count(line):
        nonlocal accepted
        rows, _, _ = tokenize([line])
        accepted += len(rows)

    count()
    assert accepted >= 50


def _staged_rows(archive: Path, cache: Path, monkeypatch, tokenize: bool) -> tuple[list, list, list]:
    monkeypatch.setattr(stage, "_TOKENIZE", tokenize)
    staged = stage_folder(archive, cache, chunk_bytes=64 * 1024)
    con = pipeline.open_period(staged, cache)
    counts = sorted((o.object, o.records_read, o.records_parsed, o.records_rejected, o.error) for o in staged.objects)
    requests = con.execute("SELECT * EXCLUDE (object) FROM http_requests ORDER BY cluster, line, request_id").fetchall()
    rejects = con.execute("SELECT * EXCLUDE (object) FROM rejects ORDER BY line, raw").fetchall()
    return counts, requests, rejects


def test_staging_gives_the_same_tables_with_and_without_it(archive: Path, tmp_path: Path, monkeypatch):
    """Damaged lines, klog noise, blank lines, CRLF, a truncated gzip and many chunks: the
    tokenized staging and the SQL-only staging give the same counts, rows and rejects."""
    sql_only = _staged_rows(archive, tmp_path / "sql", monkeypatch, tokenize=False)
    tokenized = _staged_rows(archive, tmp_path / "tok", monkeypatch, tokenize=True)
    assert tokenized == sql_only
    assert len(tokenized[1]) > 5000 and len(tokenized[2]) >= 3


def test_its_parquet_reads_back_like_duckdbs(archive: Path, tmp_path: Path, monkeypatch):
    """Column names, order and types of a tokenized file equal those of the SQL's file, so the
    readers (which list files of both kinds in one read_parquet) see one table."""
    def file_types(tokenize: bool) -> list[tuple]:
        monkeypatch.setattr(stage, "_TOKENIZE", tokenize)
        stage_folder(archive, tmp_path / str(tokenize))
        files = sorted((tmp_path / str(tokenize) / "staged" / "http_requests").rglob("*.parquet"))
        files = [f for f in files if not f.stem.endswith("-sql")]  # the tokenizer's own files
        assert files
        con = duckdb.connect()
        return [con.execute(f"DESCRIBE SELECT * FROM read_parquet('{f}')").fetchall() for f in files]

    sql_only, tokenized = file_types(False), file_types(True)
    assert all(t == sql_only[0] for t in sql_only + tokenized)


def test_a_wrong_line_count_is_refused_not_overrun(tmp_path: Path):
    path = tmp_path / "chunk.txt"
    path.write_text("\n".join(nginx_line(i) for i in range(200)) + "\n")
    nginx_tokenizer._buffers.__init__()  # fresh buffers, sized by the count given below
    with pytest.raises(ValueError, match="more lines"):
        nginx_tokenizer.tokenize_file(path, 1, 3)
