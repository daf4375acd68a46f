"""The fast audit parser (read_json on the chunk file) is kept only where it equals the exact one.

k8s_audit_fast.sql skips what it cannot vouch for; staging must notice and re-parse the chunk
with k8s_audit.sql, so the rows, rejects and line numbers are those of the exact parser.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from ingress_audit import chunks, formats, pipeline, stage
from ingress_audit.resources import queries_dir

from .real_samples import REAL_SAMPLES, sample
from .test_stage import audit_line, by_name, nginx_line, stage_folder

AUDIT = formats.builtin("k8s-audit")


def _rows(sql: str) -> list[tuple]:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    return sorted(con.execute(f"SELECT * EXCLUDE (raw) FROM ({sql})").fetchall(), key=repr)


def _both_parsers(lines: list[str], tmp_path: Path) -> tuple[list[tuple] | None, list[tuple]]:
    """(fast rows or None when the fast query fails, exact rows) for one chunk of these lines."""
    path = tmp_path / "chunk.txt"
    path.write_text("\n".join(lines) + "\n")
    chunk = chunks.Chunk(0, path, 1, len(lines), False)
    report = stage.ObjectReport(object="file:///a/audit.log", cluster="default")
    exact = _rows(stage._chunk_sql(report, AUDIT, chunk))
    try:
        return _rows(stage._chunk_sql(report, AUDIT, chunk, fast=True)), exact
    except duckdb.Error:
        return None, exact


def test_both_parsers_share_one_tail():
    """Everything after the parse is one file both include: a fix to one reaches the other."""
    tail = (queries_dir() / "normalize" / "k8s_audit_tail.sql").read_text()
    for kind_sql in (formats.builtin("k8s-audit").sql, formats.builtin("k8s-audit").fast_sql):
        assert kind_sql.endswith(tail)
        assert not [line for line in kind_sql.splitlines() if line.startswith("-- include: ")]


def test_fast_parser_equals_the_exact_one_on_real_events(tmp_path: Path):
    sample("k8s-audit/falco-trace-files/EXPECTED_RULES.tsv")
    files = sorted((REAL_SAMPLES / "k8s-audit" / "falco-trace-files").glob("*.json"))
    lines = [line for p in files for line in p.read_text().splitlines() if line.strip()]
    lines += sample("k8s-audit/audit2rbac/demo.lines1-25.log").read_text().splitlines()
    fast, exact = _both_parsers(lines, tmp_path)
    assert len(exact) == len(lines) and fast == exact


@pytest.mark.parametrize("bad", [
    "{not json",                                           # malformed: the fast query fails
    '{"kind": "Event", "auditID": "x", "verb": "get"}',    # parsed but rejected (no timestamp)
    '{"kind": "Event", "user": "bob"}',                    # a field of an unexpected JSON type
    '[1, 2]',                                              # JSON, not an object
    "null",
])
def test_a_chunk_the_fast_parser_cannot_vouch_for_is_parsed_exactly(tmp_path: Path, bad: str):
    root = tmp_path / "a" / "2026" / "11" / "17"
    root.mkdir(parents=True)
    (root / "audit.log").write_text("\n".join([audit_line(1), bad, audit_line(2)]) + "\n")
    staged = stage_folder(tmp_path / "a", tmp_path / "cache")
    (o,) = staged.objects
    assert (o.records_read, o.records_parsed, o.records_rejected, o.error) == (3, 2, 1, None)
    con = pipeline.open_period(staged, tmp_path / "cache")
    (line, reason, raw), = con.execute("SELECT line, reason, raw FROM rejects").fetchall()
    assert line == 2 and reason and raw == bad
    assert sorted(r[0] for r in con.execute("SELECT line FROM audit_events").fetchall()) == [1, 3]


def test_blank_lines_keep_line_numbers_exact(tmp_path: Path):
    root = tmp_path / "a" / "2026" / "11" / "17"
    root.mkdir(parents=True)
    (root / "audit.log").write_text("\n".join([audit_line(1), "", "   ", audit_line(2)]) + "\n")
    staged = stage_folder(tmp_path / "a", tmp_path / "cache")
    con = pipeline.open_period(staged, tmp_path / "cache")
    assert con.execute("SELECT audit_id, line FROM audit_events ORDER BY line").fetchall() == [("id-1", 1), ("id-2", 4)]


def _record_fast_results(monkeypatch) -> list:
    """What each fast attempt returned (None: the chunk went to the exact parser).

    The fast SQL is what staging runs when the compiled tokenizer is off
    (INGRESS_AUDIT_TOKENIZER=off); test_audit_tokenizer.py covers the tokenizer.
    """
    monkeypatch.setattr(stage, "_TOKENIZE", False)
    results = []
    original = stage._Parsers._copy_fast

    def spy(*args, **kwargs):
        results.append(original(*args, **kwargs))
        return results[-1]

    monkeypatch.setattr(stage._Parsers, "_copy_fast", staticmethod(spy))
    return results


def test_objects_of_single_events_take_the_fast_path_chunk_by_chunk(tmp_path: Path, monkeypatch):
    results = _record_fast_results(monkeypatch)
    monkeypatch.setattr(chunks, "_READ_BYTES", 8 * 1024)  # so that chunks can be small
    root = tmp_path / "a" / "2026" / "11" / "17"
    root.mkdir(parents=True)
    lines = [audit_line(i) for i in range(400)]
    lines[300] = "{not json"  # one chunk falls back, the others stay fast
    (root / "audit.log").write_text("\n".join(lines) + "\n")
    staged = stage_folder(tmp_path / "a", tmp_path / "cache", chunk_bytes=16 * 1024)
    (o,) = staged.objects
    assert (o.records_read, o.records_parsed, o.records_rejected) == (400, 399, 1)
    assert len(results) > 3 and sum(r is None for r in results) == 1
    con = pipeline.open_period(staged, tmp_path / "cache")
    got = dict(con.execute("SELECT audit_id, line FROM audit_events").fetchall())
    assert got == {f"id-{i}": i + 1 for i in range(400) if i != 300}


def test_eventlist_objects_skip_the_fast_path_and_late_batches_are_unnested(tmp_path: Path, monkeypatch):
    results = _record_fast_results(monkeypatch)
    root = tmp_path / "a" / "2026" / "11" / "17"
    root.mkdir(parents=True)
    batch = json.dumps({"kind": "EventList", "apiVersion": "audit.k8s.io/v1",
                        "items": [json.loads(audit_line(i)) for i in range(100, 103)]})
    (root / "webhook.log").write_text(batch + "\n")
    # single events, then a batch far below the sniffed head: the fast parse of that chunk
    # rejects it, and the exact parser yields its three events
    (root / "mixed.log").write_text("\n".join([audit_line(i) for i in range(60)] + [batch]) + "\n")
    objs = by_name(stage_folder(tmp_path / "a", tmp_path / "cache"))
    assert (objs["webhook.log"].records_parsed, objs["webhook.log"].records_rejected) == (3, 0)
    assert (objs["mixed.log"].records_parsed, objs["mixed.log"].records_rejected) == (63, 0)
    assert results == [None]  # tried once, on mixed.log only, and sent to the exact parser


# --- sniffing: the cheap key check must never skip a format that would parse a line ----------


@pytest.mark.parametrize(("kind", "relative"), [
    ("traefik-json", "traefik/test-format-json.lines1-4.log"),
    ("k8s-audit", "k8s-audit/audit2rbac/demo.lines1-25.log"),
])
def test_every_parsed_real_line_names_a_sniff_key(kind: str, relative: str):
    fmt = formats.builtin(kind)
    rows = formats.parse_lines(fmt, sample(relative).read_text().splitlines())
    parsed = [r["text"] for r in rows if r["reject_reason"] is None]
    assert parsed and all(any(k in text for k in fmt.sniff_keys) for text in parsed)


def test_sniffing_audit_objects_skips_the_traefik_query():
    head = [audit_line(i) for i in range(5)]
    traefik = formats.builtin("traefik-json")
    con = duckdb.connect()
    con.close()  # any query would fail: the key check answers alone
    assert formats.count_parsed(traefik, head, con) == 0
    candidates = [stage.Candidate(formats.builtin(k)) for k in formats.builtin_kinds()]
    assert stage._sniff(head, candidates, "audit.log", duckdb.connect()).kind == "k8s-audit"


def test_sniffing_takes_the_tokenizers_word_only_when_it_takes_every_line():
    """When the compiled tokenizer takes every sampled line, sniffing skips the format's query:
    the SQL would parse them all. One line it hands back, and the query decides."""
    candidates = [stage.Candidate(formats.builtin(k)) for k in formats.builtin_kinds()]
    closed = duckdb.connect()
    closed.close()  # any query fails: only the tokenizer can answer
    for head, kind in (([audit_line(i) for i in range(5)], "k8s-audit"), ([nginx_line(i) for i in range(5)], "ingress-nginx")):
        assert stage._sniff(head, candidates, "x.log", closed).kind == kind
    # an offset the SQL reads and the tokenizer leaves to it
    odd = json.loads(audit_line(9))
    odd["requestReceivedTimestamp"] = "2026-11-17T11:00:00+01:00"
    head = [audit_line(i) for i in range(5)] + [json.dumps(odd)]
    assert stage._sniff(head, candidates, "x.log", closed) is None
    assert stage._sniff(head, candidates, "x.log", duckdb.connect()).kind == "k8s-audit"


# --- type coercions: where read_json and json_transform could differ, the fast result must
# either equal the exact one or be refused (a failed query or a reject sends the chunk back)

_EVENT = {"kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata", "auditID": "a", "verb": "get",
          "stage": "ResponseComplete", "user": {"username": "u", "groups": ["g"]}, "sourceIPs": ["10.0.0.1"],
          "objectRef": {"resource": "pods"}, "responseStatus": {"code": 200},
          "requestReceivedTimestamp": "2026-11-16T10:00:00Z", "annotations": {"authorization.k8s.io/decision": "allow"}}


@pytest.mark.parametrize(("key", "value"), [
    ("responseStatus", {"code": "200"}), ("responseStatus", {"code": 200.5}), ("responseStatus", {"code": "abc"}),
    ("responseStatus", {"code": 2**40}), ("responseStatus", {"code": True}), ("auditID", 123), ("auditID", {"x": 1}),
    ("user", {"username": "u", "groups": "g"}), ("user", {"username": "u", "groups": [1, 2]}), ("user", None),
    ("user", []), ("sourceIPs", "10.0.0.1"), ("sourceIPs", None), ("objectRef", [1]),
    ("annotations", {"authorization.k8s.io/decision": 5}), ("requestObject", "s"), ("requestObject", [1, {"a": 2}]),
    ("requestReceivedTimestamp", 1700000000), ("verb", "g\u00e9t\u2603 \"q\" \\ \n"),
])
def test_fast_parser_equals_the_exact_one_or_refuses(tmp_path: Path, key: str, value):
    fast, exact = _both_parsers([json.dumps({**_EVENT, key: value})], tmp_path)
    # a failed fast query or a reject (the last column) sends the chunk to the exact parser
    refused = fast is None or any(row[-1] is not None for row in fast)
    assert refused or fast == exact


def test_crlf_and_a_missing_last_newline_stay_on_the_fast_path(tmp_path: Path, monkeypatch):
    results = _record_fast_results(monkeypatch)
    root = tmp_path / "a" / "2026" / "11" / "17"
    root.mkdir(parents=True)
    (root / "audit.log").write_bytes("\r\n".join(audit_line(i) for i in range(5)).encode())
    staged = stage_folder(tmp_path / "a", tmp_path / "cache")
    (o,) = staged.objects
    assert (o.records_read, o.records_parsed) == (5, 5) and results[0] is not None
    con = pipeline.open_period(staged, tmp_path / "cache")
    assert con.execute("SELECT list(line ORDER BY line) FROM audit_events").fetchone()[0] == [1, 2, 3, 4, 5]


def test_a_line_longer_than_the_fast_readers_limit_is_still_parsed(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(stage, "_FAST_MAX_LINE_BYTES", 4096)
    root = tmp_path / "a" / "2026" / "11" / "17"
    root.mkdir(parents=True)
    long_event = json.loads(audit_line(1))
    long_event["userAgent"] = "x" * 10_000
    (root / "audit.log").write_text("\n".join([audit_line(0), json.dumps(long_event)]) + "\n")
    (o,) = stage_folder(tmp_path / "a", tmp_path / "cache").objects
    assert (o.records_read, o.records_parsed, o.records_rejected) == (2, 2, 0)


# --- lines that once broke or escaped staging (found by test_audit_tokenizer.py's helper) -----


@pytest.mark.parametrize("tokenize", [True, False])
def test_a_far_future_year_and_empty_batches_are_rejects_not_lost(tmp_path: Path, monkeypatch, tokenize: bool):
    """A year DuckDB reads but no day folder can name rejected the whole object; an EventList
    without items vanished (nothing to unnest). Both are rejects with a reason now."""
    monkeypatch.setattr(stage, "_TOKENIZE", tokenize)
    far = json.loads(audit_line(3))
    far["requestReceivedTimestamp"] = "12026-11-17T08:00:00Z"
    empty = json.dumps({"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "items": []})
    itemless = json.dumps({"kind": "EventList", "apiVersion": "audit.k8s.io/v1"})
    lines = [audit_line(1), json.dumps(far), empty, itemless, audit_line(2)]
    root = tmp_path / "a" / "2026" / "11" / "17"
    root.mkdir(parents=True)
    (root / "audit.log").write_text("\n".join(lines) + "\n")
    staged = stage_folder(tmp_path / "a", tmp_path / "cache")
    (o,) = staged.objects
    assert (o.records_read, o.records_parsed, o.records_rejected, o.error) == (5, 2, 3, None)
    con = pipeline.open_period(staged, tmp_path / "cache")
    rejects = con.execute("SELECT line, reason, raw FROM rejects ORDER BY line").fetchall()
    assert rejects == [(2, "timestamp outside the years 1-9999", json.dumps(far)),
                       (3, "an EventList with no items, or inside another EventList", empty),
                       (4, "an EventList with no items, or inside another EventList", itemless)]
    assert con.execute("SELECT list(line ORDER BY line) FROM audit_events").fetchone()[0] == [1, 5]
