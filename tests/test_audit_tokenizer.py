"""The compiled audit Event reader gives, for every line it accepts, the SQL parser's row.

queries/normalize/k8s_audit.sql (+ k8s_audit_tail.sql) is the definition of the format; the
tokenizer (jobs/ingress_audit/audit_tokenizer.py) is a fast path beside it. For each line it
accepts, every column must equal the SQL's, byte for byte (request_object/response_object as
DuckDB's JSON writer gives them), and the SQL must not reject that line; any other line must
come back unchanged with its line number, for the SQL. Handing back an ordinary line only costs
speed, so the lines the API server actually writes are also checked to be accepted.

Checked on: the committed sample week, the real public samples, hand-picked edge cases (JSON
escapes, whitespace, numbers inside the JSON columns, timestamps, wrong JSON types, odd kinds
and apiVersions, strings crossing the string scanner's 8-byte steps), hypothesis-mutated real
lines, and staging a whole archive with and without the tokenizer.
"""

from __future__ import annotations

import gzip
import json
import tempfile
from datetime import date
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingress_audit import audit_tokenizer, chunks, db, formats, pipeline, stage, tokenized_parquet

from .real_samples import REAL_SAMPLES, sample
from .test_stage import audit_line, stage_folder

AUDIT = formats.builtin("k8s-audit")
SAMPLE_WEEK = Path(__file__).resolve().parents[1] / "sample_data" / "archive" / "kube-apiserver"
COLUMNS = [*audit_tokenizer.STRING_COLUMNS, *audit_tokenizer.LIST_COLUMNS, "ts", "stage_ts", "response_code"]


# --- Running both parsers ----------------------------------------------------------------------

def tokenize(lines: list[str], *, first_line: int = 1, final_newline: bool = True):
    """(accepted rows by line number, handed-back {line: text}, the Tokenized) for one chunk."""
    body = "\n".join(lines) + ("\n" if final_newline else "")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "chunk.txt"
        path.write_bytes(body.encode("utf-8"))
        tok = audit_tokenizer.tokenize_file(path, first_line, len(lines))
    names = list(tok.columns)
    values = [tok.columns[n].to_pylist() for n in names]
    rows = {row["line"]: row for row in (dict(zip(names, r)) for r in zip(*values))}
    handed_back = dict(zip(tok.fallback_lines.to_pylist(), tok.fallback_text.to_pylist()))
    # every line once: accepted or handed back, never both, never lost
    assert len(rows) == tok.accepted and not rows.keys() & handed_back.keys()
    assert sorted([*rows, *handed_back]) == list(range(first_line, first_line + len(lines)))
    return rows, handed_back, tok


_SQL = db.quiet(duckdb.connect())  # one connection for the file's many small parses


def sql_rows(lines: list[str]) -> dict[int, list[dict]]:
    """The SQL's rows by line number (an EventList line has several), in UTC as staging runs it."""
    by_line: dict[int, list[dict]] = {}
    for row in formats.parse_lines(AUDIT, lines, _SQL):
        by_line.setdefault(row["line"], []).append(row)
    return by_line


def _same(got, want) -> bool:
    # same value and same Python type (True == 1 and '1' != 1 must not blur a difference);
    # timestamps are aware datetimes on both sides, equal when they are the same instant
    return got == want and type(got) is type(want)


def assert_same_as_sql(lines: list[str], *, min_accepted: int = 0) -> tuple[dict, dict]:
    """Every accepted line is one SQL row, no reject, equal in every column; every other line
    comes back unchanged. Returns (accepted rows, handed back)."""
    rows, handed_back, _ = tokenize(lines)
    by_line = sql_rows(lines)
    for number, row in rows.items():
        line = lines[number - 1]
        assert len(by_line.get(number, [])) == 1, ("accepted, but the SQL gives not one row", line)
        (expected,) = by_line[number]
        assert expected["reject_reason"] is None, ("accepted a line the SQL rejects", expected["reject_reason"], line)
        for col in COLUMNS:
            assert _same(row[col], expected[col]), (col, row[col], expected[col], line)
    for number, text in handed_back.items():
        assert text == lines[number - 1]
    assert len(rows) >= min_accepted, (len(rows), list(handed_back.values())[:3])
    return rows, handed_back


def test_it_fills_every_column_of_the_format():
    """A column of audit_events the tokenizer did not fill would be staged as NULL."""
    assert sorted(COLUMNS) == sorted(AUDIT.fields)


# --- Events as the API server writes them ------------------------------------------------------

MISSING = object()  # drops a field


class Raw(str):
    """JSON text put into an event as it is (a wrong type, an escape, odd spacing)."""


BASE = {  # Go's field order, compact, as kube-apiserver's log backend writes an Event
    "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "RequestResponse",
    "auditID": "0de44b0a-57ee-4e1e-b769-407d0e00c139", "stage": "ResponseComplete",
    "requestURI": "/apis/apps/v1/namespaces/shop/deployments/web?fieldManager=kubectl-client-side-apply",
    "verb": "patch",
    "user": {"username": "system:serviceaccount:argocd:argocd-application-controller",
             "uid": "3c7e0f52-9d41-4b8e-a1f3-5b2d7c9e6a10",
             "groups": ["system:serviceaccounts", "system:serviceaccounts:argocd", "system:authenticated"],
             "extra": {"authentication.kubernetes.io/pod-name": ["argocd-application-controller-0"]}},
    "sourceIPs": ["10.2.13.7", "fd00::7"], "userAgent": "argocd-application-controller/v2.13.1+af54ef8 (linux/amd64)",
    "objectRef": {"resource": "deployments", "namespace": "shop", "name": "web", "uid": "95e5673b",
                  "apiGroup": "apps", "apiVersion": "v1", "resourceVersion": "8317875", "subresource": "scale"},
    "responseStatus": {"metadata": {}, "status": "Failure", "message": "deployments \"web\" is forbidden",
                       "reason": "Forbidden", "details": {"name": "web", "kind": "deployments"}, "code": 403},
    "requestObject": {"kind": "Scale", "metadata": {"name": "web", "labels": {"app": "web"}, "generation": 14,
                                                    "creationTimestamp": None},
                      "spec": {"replicas": 3, "paused": False, "minReadySeconds": -5}, "status": {}},
    "responseObject": {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                       "details": {"causes": [], "retryAfterSeconds": 0}, "code": 403},
    "requestReceivedTimestamp": "2026-11-17T09:15:31.412737Z", "stageTimestamp": "2026-11-17T09:15:31.430025Z",
    "annotations": {"authorization.k8s.io/decision": "forbid", "authorization.k8s.io/reason": "",
                    "pod-security.kubernetes.io/enforce-policy": "restricted:latest"},
}


def event(_drop: tuple[str, ...] = (), **fields) -> str:
    """BASE with these top-level fields replaced; MISSING (or _drop) removes one, Raw puts JSON text."""
    raws: dict[str, str] = {}

    def encode(value):
        if isinstance(value, Raw):
            token = f"\x00raw{len(raws)}\x00"
            raws[json.dumps(token)] = str(value)
            return token
        if isinstance(value, dict):
            return {k: encode(v) for k, v in value.items() if v is not MISSING}
        if isinstance(value, list):
            return [encode(v) for v in value]
        return value

    body = {k: v for k, v in {**BASE, **fields}.items() if k not in _drop}
    text = json.dumps(encode(body), separators=(",", ":"), ensure_ascii=False)
    for token, raw in raws.items():
        text = text.replace(token, raw)
    return text


def nested(field: str, **members) -> dict:
    """BASE's object `field` with these members replaced (MISSING removes one)."""
    return {**BASE[field], **members}


def _lines(text: str) -> list[str]:
    """The lines of a file as staging numbers them: split at LF only (U+2028 is no line end)."""
    lines = text.split("\n")
    return lines[:-1] if lines and lines[-1] == "" else lines


def _week_lines(backend: str) -> list[str]:
    files = sorted((SAMPLE_WEEK / backend).rglob("*.gz"))
    assert files, f"the sample week has {backend} objects"
    return [line for path in files for line in _lines(gzip.decompress(path.read_bytes()).decode("utf-8"))]


# --- Real events ---------------------------------------------------------------------------------

def test_sample_week_single_events():
    """The log backend's week: every line is an ordinary Event, so every line is taken."""
    lines = _week_lines("audit")
    rows, _ = assert_same_as_sql(lines)
    assert len(rows) == len(lines) > 20000


def test_sample_week_eventlist_batches_are_handed_back():
    """The webhook backend's batches yield many rows a line: only the SQL unnests them."""
    lines = _week_lines("webhook")
    rows, handed_back, _ = tokenize(lines)
    assert not rows and handed_back == {i + 1: line for i, line in enumerate(lines)}
    assert sum(len(r) for r in sql_rows(lines).values()) > len(lines)  # they are batches indeed


def _real_sample_lines() -> list[str]:
    sample("k8s-audit/falco-trace-files/EXPECTED_RULES.tsv")
    files = sorted((REAL_SAMPLES / "k8s-audit" / "falco-trace-files").glob("*.json"))
    assert files
    return [line for p in files for line in _lines(p.read_text(encoding="utf-8"))]


def test_real_falco_trace_files():
    """Falco's trace files: events of real clusters, keys sorted, some files with blank lines."""
    lines = _real_sample_lines()
    events = [line for line in lines if line.strip()]
    rows, handed_back = assert_same_as_sql(lines)
    assert len(rows) == len(events), [t for t in handed_back.values() if t.strip()][:2]


def test_real_audit2rbac_demo():
    """audit2rbac's demo log: v1 events of an older server, legacy `timestamp`, impersonation."""
    lines = _lines(sample("k8s-audit/audit2rbac/demo.lines1-25.log").read_text(encoding="utf-8"))
    rows, _ = assert_same_as_sql(lines)
    assert len(rows) == len(lines) == 25


def test_line_numbers_and_a_last_line_without_newline():
    lines = [audit_line(1), "", "{not json", audit_line(2), "   ", audit_line(3)]
    rows, handed_back, tok = tokenize(lines, first_line=101, final_newline=False)
    assert sorted(rows) == [101, 104, 106]
    assert [rows[n]["audit_id"] for n in (101, 104, 106)] == ["id-1", "id-2", "id-3"]
    assert handed_back == {102: "", 103: "{not json", 105: "   "}
    assert tokenized_parquet.days(pa.table(tok.columns)) == [date(2026, 11, 17)]


# --- Lines the API server writes every day: these must take the fast path ----------------------

ORDINARY = {
    "request-response": event(),
    "metadata level": event(("requestObject", "responseObject"), level="Metadata"),
    "request received stage": event(("responseStatus", "responseObject", "stageTimestamp", "annotations"),
                                    stage="RequestReceived", level="Request"),
    "go escapes & < > in urls": event(requestURI=Raw('"/api/v1/pods?labelSelector=app%3Dweb\\u0026limit=500"'),
                                      requestObject=Raw('{"script":"a \\u003c b \\u0026\\u0026 c \\u003e d"}')),
    "escaped quotes and newlines": event(responseStatus=nested("responseStatus", reason="Forbidden"),
                                         annotations=nested("annotations", **{
                                             "authorization.k8s.io/reason": 'RBAC: allowed by RoleBinding "x/y"'}),
                                         requestObject={"data": {"config.yaml": "a: 1\n\tb: \"2\"\\n"}}),
    "impersonation": event(impersonatedUser={"username": "system:serviceaccount:shop:ci", "groups": ["system:authenticated"]}),
    "cluster-scoped, core group": event(objectRef={"resource": "namespaces", "name": "shop", "apiVersion": "v1"}),
    "no objectRef (a non-resource url)": event(("objectRef", "requestObject", "responseObject"),
                                               requestURI="/healthz", verb="get"),
    "watch, no response yet": event(("responseObject",), verb="watch", stage="ResponseStarted",
                                    responseStatus={"metadata": {}, "code": 200}),
    "v1beta1 with legacy timestamp": event(apiVersion="audit.k8s.io/v1beta1", timestamp="2026-11-17T09:15:31Z"),
    "unicode user and object": event(user=nested("user", username="zoë@例え.jp"), requestObject={"note": "café ☕ 😀"}),
    "annotation reason": event(annotations=nested("annotations", **{"authorization.k8s.io/decision": "allow",
                                                                  "authorization.k8s.io/reason": "RBAC: allowed"})),
}


@pytest.mark.parametrize("line", ORDINARY.values(), ids=ORDINARY.keys())
def test_ordinary_events_are_accepted(line):
    assert_same_as_sql([line], min_accepted=1)


# --- Edge cases ----------------------------------------------------------------------------------

ACCEPT, EITHER, REJECTED = "accept", "either", "rejected"


def check(line: str, expect: str = EITHER) -> None:
    """The line is equal to the SQL's row or handed back; ACCEPT: it must be taken; REJECTED:
    the SQL rejects it (the case's premise, checked) and it must be handed back."""
    rows, handed_back = assert_same_as_sql([line])
    if expect == ACCEPT:
        assert 1 in rows, ("an ordinary line was handed back", line)
    elif expect == REJECTED:
        assert [r["reject_reason"] is not None for r in sql_rows([line]).get(1, [])] == [True], line
        assert handed_back == {1: line}


# The escapes of JSON, and UTF-8 raw: each is put into every kind of place the tokenizer copies
# from (a string column, a list item, the first source IP, a JSON column's strings and keys) and
# into one it only skips.
ESCAPES = {
    "quote": '\\"', "backslash": "\\\\", "slash": "\\/", "b": "\\b", "f": "\\f", "n": "\\n", "r": "\\r",
    "t": "\\t", "u0026": "\\u0026", "u00e9": "\\u00e9", "upper hex": "\\u00E9\\u00C9\\uABCD", "u001f": "\\u001f",
    "u007f": "\\u007f", "u2028": "\\u2028\\u2029", "surrogate pair": "\\ud83d\\ude00", "upper pair": "\\uD83D\\uDE00",
    "lone high surrogate": "\\ud83d", "lone low surrogate": "\\ude00", "high then non-low": "\\ud83d\\u0041",
    "controls by \\u": "\\u0008\\u0009\\u000A\\u000c\\u000D\\u001b", "u0000": "\\u0000",
    "raw e-acute": "é", "raw emoji": "😀", "raw u2028": "\u2028", "raw del": "\x7f",
    "bad escape": "\\x", "bad hex": "\\u00g0", "short hex": "\\u00e", "escaped backslash, quote": '\\\\\\"',
}


def _placed(esc: str) -> dict[str, str]:
    s = f'"a{esc}z"'  # z: neither a hex digit nor an escape letter
    return {
        "string column": event(userAgent=Raw(s)),
        "reason": event(annotations=Raw('{"authorization.k8s.io/reason":' + s + '}')),
        "list item": event(user=Raw('{"username":"u","groups":["x",' + s + ']}')),
        "first source ip": event(sourceIPs=Raw("[" + s + ',"10.0.0.1"]')),
        "json value": event(requestObject=Raw('{"k":' + s + ',"n":[' + s + ']}')),
        "json key": event(responseObject=Raw("{" + s + ":1}")),
        "skipped value": event(responseStatus=Raw('{"message":' + s + ',"code":500}')),
        "skipped key": event(user=Raw('{"username":"u","extra":{' + s + ':["v"]}}')),
    }


_PLACES = list(_placed(""))


@pytest.mark.parametrize("place", _PLACES)
@pytest.mark.parametrize("esc", ESCAPES.values(), ids=ESCAPES.keys())
def test_escapes_and_utf8_in_every_place(esc, place):
    check(_placed(esc)[place])


def test_ordinary_escapes_are_accepted():
    """What Go's encoder writes (\\" \\\\ \\n \\t \\u0026 \\u003c, UTF-8 raw) is read in every place."""
    for name in ("quote", "backslash", "n", "t", "u0026", "raw e-acute", "raw emoji", "upper hex", "surrogate pair"):
        for place, line in _placed(ESCAPES[name]).items():
            rows, _ = assert_same_as_sql([line])
            assert rows, (name, place, line)


_COMPACT = event()
JSON_VALUES = [
    # requestObject/responseObject: DuckDB writes them back compactly (yyjson), numbers as it reads them
    "{}", "[]", "{ }", "[ ]", "null", "true", "false", '"str"', '""', "5", "-5", "0", "-0", "1.5", "1.0", "-0.0",
    "1e5", "1E+5", "2.5e-3", "123456789012345678", "1234567890123456789", "-123456789012345678",
    "9223372036854775807", "9223372036854775808", "-9223372036854775809", "18446744073709551616",
    "100000000000000000000000000000", "0.1", "1e400", "NaN", "Infinity", "-Infinity", "01", "1.", ".5", "+1",
    '{"a":{"b":{"c":[1,[2,[3,{}]]]}}}', '[1,"a",null,true,false,{"x":[]}]',
    '{ "a" : [ 1 , 2 ] ,\t"b" :\t{ } }', '{"a":1,"a":2}', '{"a":{"k":1},"a":[]}',
    '{"a":"x\\"y\\\\z\\/w\\b\\f\\n\\r\\t\\u0001\\u001F\\u00e9\\ud83d\\ude00"}',
    '{"\\u006bind":"Pod","k\\"ey":1}', '{ "a b" : "c \\" d\\\\" , "e":[ " x " , "\\\\" ] }',
    # numbers inside a value: DuckDB keeps some as written (1.0, big integers) and rewrites others
    # (1e5 as 100000.0, -0 as 0): the tokenizer copies plain integers only
    '{"a":1.5}', '{"a":[1.0,-0.0,0.5]}', '{"a":-0}', '{"a":[0,-0]}', '{"a":1e5}', '{"a":1E+2}', '{"a":2.5e-3}',
    '{"a":123456789012345678}', '{"a":1234567890123456789}', '{"a":-999999999999999999}',
    '{"a":9223372036854775807}', '{"a":-9223372036854775808}', '{"a":9223372036854775808}',
    '{"a":-9223372036854775809}', '{"a":-9999999999999999999}', '{"a":9999999999999999999}',
    '{"a":18446744073709551615}', '{"a":18446744073709551616}', '{"a":100000000000000000000000000000}',
    '{"a":0.1}', '{"a":1e400}', '{"a":-1e-400}', '{"a":[1,2.0,3]}', '{"a":NaN}', '{"a":-Infinity}',
    # malformed inside a value, trailing commas (DuckDB takes those)
    '{"a":01}', '{"a":1.}', '{"a":-}', '{"a":1e}', '{"a":tru}', '{"a":nul}', '{"a":True}',
    '{"a":[1,2,]}', '{"a":1,}', '[,]', '{"a" 1}', '{"a":[}', "{,}",
    '{"kind":"Pod","items":[{"verb":"x"}]}', '{"requestObject":{"verb":1}}',
]


@pytest.mark.parametrize("value", JSON_VALUES)
@pytest.mark.parametrize("field", ["requestObject", "responseObject"])
def test_json_columns(field, value):
    check(event(**{field: Raw(value)}))


def test_plain_json_columns_are_accepted():
    for value in ("{}", "[]", "null", '{"a":{"b":{"c":[1,[2,[3,{}]]]}}}', '[1,"a",null,true,false,{"x":[]}]',
                  '{"n":-5,"z":0,"big":123456789012345678}', '{ "a" : [ 1 , 2 ] ,\t"b" :\t{ } }'):
        check(event(requestObject=Raw(value)), ACCEPT)


def _deep(levels: int) -> str:
    return '{"a":' * levels + "1" + "}" * levels


@pytest.mark.parametrize("levels", [30, 61, 62, 63, 64, 65, 100, 1000])
def test_deep_nesting_inside_json_columns(levels):
    check(event(requestObject=Raw(_deep(levels))))
    check(event(requestObject=Raw("[" * levels + "]" * levels)))


def test_deep_nesting_beyond_the_tokenizers_stack_is_handed_back():
    _, handed_back, _ = tokenize([event(requestObject=Raw(_deep(100)))])
    assert list(handed_back) == [1]


def _spaced(text: str, space: str, before: bool = False) -> str:
    """The compact line with `space` after (and before) every colon and comma outside strings."""
    out, inside, escaped = [], False, False
    for ch in text:
        out.append(ch)
        if inside:
            inside = escaped or ch != '"'
            escaped = not escaped and ch == "\\"
        elif ch == '"':
            inside = True
        elif ch in ",:{[":
            if before and ch in ",:":
                out.insert(-1, space)
            out.append(space)
    return "".join(out)


@pytest.mark.parametrize("space", [" ", "\t", "  \t ", "\r", "\x0b", "\u00a0"])
def test_whitespace_between_tokens(space):
    for line in (_spaced(_COMPACT, space), _spaced(_COMPACT, space, before=True), space + _COMPACT,
                 _COMPACT + space, json.dumps(BASE),
                 _COMPACT.replace("}", space + "}").replace("]", space + "]")):
        check(line)


def test_python_json_dumps_spacing_is_read():
    """json.dumps' default ', ' and ': ' (tools re-writing audit logs): plain JSON whitespace."""
    check(json.dumps(BASE), ACCEPT)
    check(json.dumps(BASE, indent=None, separators=(" , ", " : ")), ACCEPT)


DUPLICATES_AND_KEYS = {
    "duplicate verb": _COMPACT.replace('"verb":"patch"', '"verb":"patch","verb":"get"'),
    "duplicate verb, same value": _COMPACT.replace('"verb":"patch"', '"verb":"patch","verb":"patch"'),
    "duplicate user": _COMPACT.replace('"sourceIPs"', '"user":{"username":"mallory"},"sourceIPs"'),
    "duplicate code": _COMPACT.replace('"code":403', '"code":403,"code":200'),
    "duplicate username": _COMPACT.replace('"uid":"3c7e', '"username":"mallory","uid":"3c7e'),
    "duplicate annotation": _COMPACT.replace('"authorization.k8s.io/reason":""',
                                             '"authorization.k8s.io/reason":"","authorization.k8s.io/reason":"x"'),
    "duplicate timestamp": _COMPACT.replace('"stageTimestamp"',
                                            '"requestReceivedTimestamp":"2020-01-01T00:00:00Z","stageTimestamp"'),
    "duplicate requestObject": _COMPACT.replace('"responseObject"', '"requestObject":{},"responseObject"'),
    "escaped key spelling verb": _COMPACT.replace('"verb":"patch"', '"\\u0076erb":"patch"'),
    "escaped key spelling verb twice": _COMPACT.replace('"verb":"patch"', '"verb":"patch","\\u0076erb":"get"'),
    "escaped key alone": event(("verb",), **{"\\u0076erb": "get"}).replace("\\\\u0076", "\\u0076"),
    "escaped nested key": _COMPACT.replace('"groups"', '"gr\\u006fups"'),
    "escaped annotation key": _COMPACT.replace('"authorization.k8s.io/decision"', '"authorization.k8s.io\\/decision"'),
    "upper-case Verb": _COMPACT.replace('"verb":"patch"', '"Verb":"patch"'),
    "upper-case Verb alone": event(("verb",), Verb="get"),
    "upper-case USER": _COMPACT.replace('"user":', '"USER":'),
    "upper-case objectref": _COMPACT.replace('"objectRef":', '"objectref":'),
    "upper-case code": _COMPACT.replace('"code":403', '"Code":403'),
    "upper-case annotation key": _COMPACT.replace('"authorization.k8s.io/decision"', '"Authorization.k8s.io/decision"'),
    "upper-case timestamp": event(("requestReceivedTimestamp",), RequestReceivedTimestamp="2026-11-17T09:15:31Z"),
    "empty key": _COMPACT.replace('"verb":"patch"', '"":"x","verb":"patch"'),
    "trailing comma": _COMPACT[:-1] + ",}",
    "trailing comma in user": _COMPACT.replace('"uid"', '"x":1,"uid"').replace('}},"sourceIPs"', '},}},"sourceIPs"'),
    "trailing comma in groups": _COMPACT.replace('"system:authenticated"]', '"system:authenticated",]'),
    "trailing comma in sourceIPs": _COMPACT.replace('"fd00::7"]', '"fd00::7",]'),
    "items on an Event": event(items=[json.loads(audit_line(1))]),
    "items null": event(items=None),
    "items empty": event(items=[]),
}


@pytest.mark.parametrize("line", DUPLICATES_AND_KEYS.values(), ids=DUPLICATES_AND_KEYS.keys())
def test_duplicate_escaped_and_odd_keys(line):
    check(line)


KINDS = {
    "Event": (event(), ACCEPT),
    "kind missing, auditID and verb": (event(("kind",)), EITHER),
    "kind null, auditID and verb": (event(kind=None), EITHER),
    "kind missing, no auditID": (event(("kind", "auditID")), REJECTED),
    "kind missing, no verb": (event(("kind", "verb")), REJECTED),
    "kind missing, auditID null": (event(("kind",), auditID=None), REJECTED),
    "kind missing, nothing": (event(("kind", "auditID", "verb")), REJECTED),
    "EventList": (event(kind="EventList", items=[json.loads(audit_line(1)), json.loads(audit_line(2))]), EITHER),
    "EventList without items": (event(kind="EventList"), EITHER),
    "EventList, items null": (event(kind="EventList", items=None), EITHER),
    "EventList with a nested EventList": (event(kind="EventList", items=[{"kind": "EventList", "items": []}]), EITHER),
    "kind Pod with auditID and verb": (event(kind="Pod"), EITHER),
    "kind Pod without auditID": (event(("auditID",), kind="Pod"), REJECTED),
    "kind event": (event(kind="event"), EITHER),
    "kind Events": (event(kind="Events"), EITHER),
    "kind empty": (event(("verb",), kind=""), REJECTED),
    "kind escaped": (event(kind=Raw('"\\u0045vent"')), EITHER),
    "kind escaped, no verb": (event(("verb",), kind=Raw('"\\u0045vent"')), EITHER),
    "kind 1": (event(kind=1), EITHER),
    "kind true": (event(kind=True), EITHER),
    "apiVersion v1beta1": (event(apiVersion="audit.k8s.io/v1beta1"), ACCEPT),
    "apiVersion v1alpha1": (event(apiVersion="audit.k8s.io/v1alpha1"), EITHER),
    "apiVersion prefix only": (event(apiVersion="audit.k8s.io/"), EITHER),
    "apiVersion without slash": (event(apiVersion="audit.k8s.io"), REJECTED),
    "apiVersion v1": (event(apiVersion="v1"), REJECTED),
    "apiVersion other group": (event(apiVersion="audit.k8s.iox/v1"), REJECTED),
    "apiVersion upper case": (event(apiVersion="Audit.k8s.io/v1"), REJECTED),
    "apiVersion missing": (event(("apiVersion",)), EITHER),
    "apiVersion null": (event(apiVersion=None), EITHER),
    "apiVersion empty": (event(apiVersion=""), REJECTED),
    "apiVersion escaped slash": (event(apiVersion=Raw('"audit.k8s.io\\/v1"')), EITHER),
    "apiVersion 1": (event(apiVersion=1), EITHER),
    "empty object": ("{}", REJECTED),
}


@pytest.mark.parametrize(("line", "expect"), KINDS.values(), ids=KINDS.keys())
def test_kinds_and_api_versions(line, expect):
    check(line, expect)


def test_an_eventlist_is_handed_back():
    lines = [KINDS["EventList"][0], KINDS["EventList without items"][0]]
    _, handed_back, _ = tokenize(lines)
    assert handed_back == {1: lines[0], 2: lines[1]}


def _at(ts: str, **fields) -> str:
    return event(requestReceivedTimestamp=ts, stageTimestamp=ts, **fields)


TIMESTAMPS = {
    "0 digits": (_at("2026-11-17T08:00:00Z"), ACCEPT),
    "1 digit": (_at("2026-11-17T08:00:00.1Z"), ACCEPT),
    "3 digits": (_at("2026-11-17T08:00:00.123Z"), ACCEPT),
    "6 digits": (_at("2026-11-17T08:00:00.123456Z"), ACCEPT),
    "7 digits": (_at("2026-11-17T08:00:00.1234567Z"), EITHER),
    "7 digits rounding up": (_at("2026-11-17T08:00:00.9999995Z"), EITHER),
    "9 digits": (_at("2026-11-17T08:00:00.123456789Z"), EITHER),
    "9 digits rounding up": (_at("2026-11-17T23:59:59.999999999Z"), EITHER),
    "10 digits": (_at("2026-11-17T08:00:00.1234567891Z"), EITHER),
    "dot without digits": (_at("2026-11-17T08:00:00.Z"), EITHER),
    "without Z": (_at("2026-11-17T08:00:00.5"), EITHER),
    "+02:00": (_at("2026-11-17T08:00:00.5+02:00"), EITHER),
    "-0530": (_at("2026-11-17T08:00:00-0530"), EITHER),
    "+00:00": (_at("2026-11-17T08:00:00+00:00"), EITHER),
    "lower-case z": (_at("2026-11-17T08:00:00.5z"), EITHER),
    "lower-case t": (_at("2026-11-17t08:00:00Z"), EITHER),
    "space for T": (_at("2026-11-17 08:00:00Z"), EITHER),
    "date only": (_at("2026-11-17"), EITHER),
    "Feb 29 leap year": (_at("2024-02-29T12:00:00Z"), ACCEPT),
    "Feb 29 2000": (_at("2000-02-29T12:00:00Z"), EITHER),
    "Feb 29 non-leap year": (_at("2026-02-29T12:00:00Z"), REJECTED),
    "Feb 29 1900": (_at("1900-02-29T12:00:00Z"), REJECTED),
    "Feb 29 2100": (_at("2100-02-29T12:00:00Z"), REJECTED),
    "Apr 31": (_at("2026-04-31T12:00:00Z"), REJECTED),
    "Dec 31": (_at("2026-12-31T23:59:59.999999Z"), ACCEPT),
    "month 13": (_at("2026-13-01T12:00:00Z"), REJECTED),
    "month 00": (_at("2026-00-01T12:00:00Z"), REJECTED),
    "day 00": (_at("2026-11-00T12:00:00Z"), REJECTED),
    "hour 24": (_at("2026-11-17T24:00:00Z"), EITHER),
    "minute 60": (_at("2026-11-17T08:60:00Z"), EITHER),
    "second 60": (_at("2026-11-17T08:00:60Z"), EITHER),
    "epoch": (_at("1970-01-01T00:00:00Z"), EITHER),
    "before the epoch": (_at("1969-12-31T23:59:59.5Z"), EITHER),
    "year 1": (_at("0001-01-01T00:00:00Z"), EITHER),
    "year 2999": (_at("2999-12-31T23:59:59Z"), EITHER),
    "year 3000": (_at("3000-01-01T00:00:00Z"), EITHER),
    "five-digit year": (_at("12026-11-17T08:00:00Z"), EITHER),
    "one-digit month": (_at("2026-1-17T08:00:00.000Z"), EITHER),
    "letters in the fraction": (_at("2026-11-17T08:00:00.1a3Z"), EITHER),
    "not a timestamp": (_at("yesterday"), REJECTED),
    "empty": (_at(""), REJECTED),
    "escaped": (_at(Raw('"2026-11-17T08:00:00\\u002e5Z"')), EITHER),
    "a number": (event(requestReceivedTimestamp=1763366400), EITHER),
    # which field gives ts and stage_ts: coalesce(requestReceivedTimestamp, timestamp) and
    # coalesce(stageTimestamp, timestamp, requestReceivedTimestamp)
    "legacy timestamp alone": (event(("requestReceivedTimestamp", "stageTimestamp"), timestamp="2017-09-11T19:55:05Z"),
                               ACCEPT),
    "legacy timestamp and received": (event(("stageTimestamp",), timestamp="2026-11-17T10:00:00Z"), ACCEPT),
    "legacy timestamp, all three": (event(timestamp="2026-11-17T10:00:00Z"), ACCEPT),
    "legacy timestamp invalid, others valid": (event(timestamp="2026-02-30T10:00:00Z"), EITHER),
    "legacy timestamp null": (event(("requestReceivedTimestamp",), timestamp=None), REJECTED),
    "stageTimestamp missing": (event(("stageTimestamp",)), ACCEPT),
    "stageTimestamp null": (event(stageTimestamp=None), ACCEPT),
    "stageTimestamp invalid": (event(stageTimestamp="2026-11-17T25:00:00Z"), EITHER),
    "stageTimestamp not UTC": (event(stageTimestamp="2026-11-17T09:15:31+01:00"), EITHER),
    "received missing": (event(("requestReceivedTimestamp",)), REJECTED),
    "received null": (event(requestReceivedTimestamp=None), REJECTED),
    "received invalid, legacy valid": (event(requestReceivedTimestamp="2026-02-30T00:00:00Z",
                                             timestamp="2026-11-17T10:00:00Z"), REJECTED),
    "received null, legacy valid": (event(requestReceivedTimestamp=None, timestamp="2026-11-17T10:00:00Z"), EITHER),
}


@pytest.mark.parametrize(("line", "expect"), TIMESTAMPS.values(), ids=TIMESTAMPS.keys())
def test_timestamps(line, expect):
    check(line, expect)


USERS = {
    "impersonated, username and groups": event(impersonatedUser={"username": "bob", "groups": ["g1", "g2"]}),
    "impersonated, username only": event(impersonatedUser={"username": "bob"}),
    "impersonated, groups only": event(impersonatedUser={"groups": ["g1"]}),
    "impersonated, empty groups": event(impersonatedUser={"username": "bob", "groups": []}),
    "impersonated, null groups": event(impersonatedUser={"username": "bob", "groups": None}),
    "impersonated, extra and uid": event(impersonatedUser={"username": "bob", "uid": "u1", "extra": {"scopes": ["a"]}}),
    "impersonated, empty username": event(impersonatedUser={"username": ""}),
    "impersonated {}": event(impersonatedUser={}),
    "impersonated null": event(impersonatedUser=None),
    "impersonated, user without username": event(user={"groups": ["g"]}, impersonatedUser={"username": "bob"}),
    "groups null": event(user=nested("user", groups=None)),
    "groups []": event(user=nested("user", groups=[])),
    "groups [null]": event(user=nested("user", groups=[None])),
    "groups [a, null]": event(user=nested("user", groups=["a", None])),
    "groups [null, a]": event(user=nested("user", groups=[None, "a"])),
    "groups ['']": event(user=nested("user", groups=[""])),
    "groups missing": event(user=nested("user", groups=MISSING)),
    "username null": event(user=nested("user", username=None)),
    "username missing": event(user=nested("user", username=MISSING)),
    "username empty": event(user=nested("user", username="")),
    "user {}": event(user={}),
    "user null": event(user=None),
    "user missing": event(("user",)),
    "sourceIPs missing": event(("sourceIPs",)),
    "sourceIPs null": event(sourceIPs=None),
    "sourceIPs []": event(sourceIPs=[]),
    "sourceIPs [null, ip]": event(sourceIPs=[None, "1.2.3.4"]),
    "sourceIPs [ip, null]": event(sourceIPs=["1.2.3.4", None]),
    "sourceIPs ['']": event(sourceIPs=[""]),
    "sourceIPs spaced": event(sourceIPs=Raw('[ "1.2.3.4" , "::1" ]')),
    "objectRef missing": event(("objectRef",)),
    "objectRef null": event(objectRef=None),
    "objectRef {}": event(objectRef={}),
    "apiGroup missing": event(objectRef=nested("objectRef", apiGroup=MISSING)),
    "apiGroup null": event(objectRef=nested("objectRef", apiGroup=None)),
    "apiGroup empty": event(objectRef=nested("objectRef", apiGroup="")),
    "objectRef other members null": event(objectRef={k: None for k in BASE["objectRef"]}),
}


@pytest.mark.parametrize("line", USERS.values(), ids=USERS.keys())
def test_users_groups_source_ips_and_object_refs(line):
    check(line)


def test_user_columns_are_accepted_and_computed():
    """The computed columns (user, groups, impersonated_by, source_ip, api_group) on the lines
    that should be common, taken and equal to the SQL's (which assert_same_as_sql compares)."""
    for name in ("impersonated, username and groups", "impersonated, username only", "impersonated, groups only",
                 "groups []", "groups null", "sourceIPs []", "sourceIPs [null, ip]", "sourceIPs missing",
                 "objectRef missing", "objectRef null", "apiGroup missing", "user missing", "username missing"):
        check(USERS[name], ACCEPT)


CODES = {
    "int": ("200", ACCEPT), "zero": ("0", EITHER), "negative": ("-1", EITHER), "-0": ("-0", EITHER),
    "int32 max": ("2147483647", EITHER), "int32 min": ("-2147483648", EITHER),
    "beyond int32": ("2147483648", EITHER), "below int32": ("-2147483649", EITHER),
    "beyond int64": ("99999999999999999999", EITHER), "12 digits": ("100000000000", EITHER),
    "float": ("200.0", EITHER), "fraction": ("200.5", EITHER), "exponent": ("2e2", EITHER),
    "string": ('"200"', EITHER), "string not a number": ('"OK"', EITHER), "true": ("true", EITHER),
    "false": ("false", EITHER), "null": ("null", ACCEPT), "object": ("{}", EITHER), "array": ("[200]", EITHER),
    "leading zero": ("0200", EITHER),
}


@pytest.mark.parametrize(("code", "expect"), CODES.values(), ids=CODES.keys())
def test_response_codes(code, expect):
    check(event(responseStatus=Raw('{"metadata":{},"reason":"Forbidden","code":' + code + "}")), expect)


REASONS = {
    "authz reason empty: the status reason": event(),
    "authz reason set": event(annotations=nested("annotations", **{"authorization.k8s.io/reason": "RBAC: x"})),
    "authz reason missing": event(annotations=nested("annotations", **{"authorization.k8s.io/reason": MISSING})),
    "authz reason null": event(annotations=nested("annotations", **{"authorization.k8s.io/reason": None})),
    "authz reason a space": event(annotations=nested("annotations", **{"authorization.k8s.io/reason": " "})),
    "both empty": event(annotations=nested("annotations", **{"authorization.k8s.io/reason": ""}),
                        responseStatus=nested("responseStatus", reason="")),
    "no status reason": event(responseStatus=nested("responseStatus", reason=MISSING)),
    "annotations missing": event(("annotations",)),
    "annotations null": event(annotations=None),
    "annotations {}": event(annotations={}),
    "decision null": event(annotations=nested("annotations", **{"authorization.k8s.io/decision": None})),
    "responseStatus missing": event(("responseStatus",)),
    "responseStatus null": event(responseStatus=None),
    "responseStatus {}": event(responseStatus={}),
}


@pytest.mark.parametrize("line", REASONS.values(), ids=REASONS.keys())
def test_reasons_and_decisions(line):
    check(line, ACCEPT)


WRONG_TYPES = {
    "verb 12": event(verb=12), "verb true": event(verb=True), "verb object": event(verb={"a": 1}),
    "verb array": event(verb=["get"]), "auditID 5": event(auditID=5), "level 1.5": event(level=1.5),
    "user string": event(user="bob"), "user array": event(user=["bob"]), "user 1": event(user=1),
    "username 7": event(user=nested("user", username=7)), "username object": event(user=nested("user", username={})),
    "groups string": event(user=nested("user", groups="system:masters")), "groups [1]": event(user=nested("user", groups=[1])),
    "groups [true]": event(user=nested("user", groups=[True])), "groups [[a]]": event(user=nested("user", groups=[["a"]])),
    "groups [{}]": event(user=nested("user", groups=[{}])), "groups {}": event(user=nested("user", groups={})),
    "impersonatedUser string": event(impersonatedUser="bob"),
    "sourceIPs string": event(sourceIPs="x"), "sourceIPs [1]": event(sourceIPs=[1]), "sourceIPs {}": event(sourceIPs={}),
    "objectRef []": event(objectRef=[]), "objectRef string": event(objectRef="pods"),
    "resource 1": event(objectRef=nested("objectRef", resource=1)),
    "namespace []": event(objectRef=nested("objectRef", namespace=[])),
    "requestObject string": event(requestObject="str"), "requestObject 5": event(requestObject=5),
    "requestObject true": event(requestObject=True), "responseObject string": event(responseObject=""),
    "responseStatus string": event(responseStatus="OK"), "responseStatus []": event(responseStatus=[]),
    "status reason 1": event(responseStatus=nested("responseStatus", reason=1)),
    "annotations []": event(annotations=[]), "annotations string": event(annotations="x"),
    "decision true": event(annotations=nested("annotations", **{"authorization.k8s.io/decision": True})),
    "reason {}": event(annotations=nested("annotations", **{"authorization.k8s.io/reason": {}})),
    "stageTimestamp object": event(stageTimestamp={}),
    "timestamp []": event(timestamp=[]),
    "items string": event(items="x"), "items {}": event(items={}),
    "kind []": event(kind=[]),
}


@pytest.mark.parametrize("line", WRONG_TYPES.values(), ids=WRONG_TYPES.keys())
def test_fields_of_the_wrong_json_type(line):
    check(line)


NOT_EVENTS = {
    "not json": ("{not json", REJECTED), "array": ("[1]", REJECTED), "null": ("null", REJECTED),
    "string": ('"x"', REJECTED), "number": ("1", REJECTED), "true": ("true", REJECTED),
    "truncated": (_COMPACT[:200], REJECTED), "truncated inside a string": (_COMPACT[: _COMPACT.index("patch") + 2], REJECTED),
    "missing final brace": (_COMPACT[:-1], REJECTED), "extra brace": (_COMPACT + "}", REJECTED),
    "trailing garbage": (_COMPACT + " x", REJECTED), "two objects": (_COMPACT + _COMPACT, REJECTED),
    "trailing comma after the object": (_COMPACT + ",", REJECTED),
    "control byte in a string": (_COMPACT.replace("argocd-application-controller/", "argocd\x01/"), EITHER),
    "tab in a string": (_COMPACT.replace("argocd-application-controller/", "argocd\t/"), EITHER),
    "NUL byte in a string": (_COMPACT.replace("argocd-application-controller/", "argocd\x00/"), EITHER),
    "control byte between tokens": (_COMPACT.replace(',"verb"', ',\x01"verb"'), REJECTED),
    "CR in a string": (_COMPACT.replace("argocd-application-controller/", "argocd\r/"), EITHER),
    "single quotes": (_COMPACT.replace('"verb":"patch"', "'verb':'patch'"), REJECTED),
    "unquoted key": (_COMPACT.replace('"verb":"patch"', 'verb:"patch"'), REJECTED),
    "comment": ("/* c */" + _COMPACT, EITHER),
    "BOM": ("\ufeff" + _COMPACT, EITHER),
    "tab only": ("\t", EITHER),
    "NUL only": ("\x00", EITHER),
    "U+2028 only": ("\u2028", EITHER),
    "klog line": ('I1117 10:00:00.000000 1 main.go:1] "audit"', REJECTED),
    "an object with one other key": ('{"a":1}', REJECTED),
}


@pytest.mark.parametrize(("line", "expect"), NOT_EVENTS.values(), ids=NOT_EVENTS.keys())
def test_lines_that_are_not_events(line, expect):
    check(line, expect)


def test_blank_lines_are_handed_back():
    """Blank lines are no records: staging skips them after the tokenizer hands them back."""
    lines = ["", " ", "    ", audit_line(1), ""]
    rows, handed_back, _ = tokenize(lines)
    assert list(rows) == [4] and handed_back == {1: "", 2: " ", 3: "    ", 5: ""}


# --- Strings across the scanner's 8-byte steps ---------------------------------------------------
# The string scanner loads eight bytes at a time and finds the first quote, backslash or control
# byte among them: every length from 0 to 40, with an escape at every offset, at several
# alignments (the auditID before it shifts where the string starts).

_INSERTS = ["", '\\"', "\\\\", "\\/", "\\n", "\\u00e9", "\\ud83d\\ude00", "é", "😀", "\x7f", "\x01", "\\", '"']


@pytest.mark.parametrize("insert", _INSERTS, ids=[repr(i) for i in _INSERTS])
def test_strings_of_every_length_with_an_escape_at_every_offset(insert):
    lines = []
    for n in range(41):
        for k in range(n + 1):
            s = "a" * k + insert + "b" * (n - k)
            shift = "x" * ((n + k) % 8)
            lines.append(event(auditID=Raw(f'"id{shift}"'), userAgent=Raw(f'"{s}"'),
                               sourceIPs=Raw(f'["{s}"]'), requestObject=Raw(f'{{"{s}":"{s}"}}')))
    rows, handed_back = assert_same_as_sql(lines)
    # the inserts that keep the line a valid ordinary Event must not throw it back
    if insert in ("", '\\"', "\\\\", "\\n", "é", "😀", "\x7f", "\\u00e9", "\\ud83d\\ude00"):
        assert not handed_back, list(handed_back.values())[:1]


@pytest.mark.parametrize("n", range(0, 24))
def test_a_string_at_the_end_of_the_chunk(n):
    """The last line's strings end near the end of the buffer (no final newline), and a
    truncated string runs into it; earlier, longer chunks left other bytes in the reused buffer."""
    tokenize(['{"a":"' + '"' * 64 + '\\\\' * 64 + '"}' * 20])  # leave quotes and backslashes behind
    body = '{"kind":"Event","auditID":"a","verb":"v","requestReceivedTimestamp":"2026-11-17T00:00:00Z","userAgent":"'
    for line in (body + "u" * n + '"}', body + "u" * n, body + "u" * n + "\\", body + "u" * n + '\\"'):
        rows, handed_back, _ = tokenize([line], final_newline=False)
        assert_same_as_sql([line])
        if line.endswith('"}'):
            assert rows[1]["user_agent"] == "u" * n
        else:
            assert handed_back == {1: line}


def test_a_long_line_with_long_strings():
    big = "x" * 100_000
    check(event(userAgent=big, requestObject={"data": {"blob": big + "é\\\"" + big}}), ACCEPT)


# --- Hypothesis: real lines, mutated -------------------------------------------------------------

def _hypothesis_seeds() -> list[str]:
    """Distinct shapes from the sample week (Metadata, RequestResponse, impersonation) + ours."""
    lines = [line for line in _week_lines("audit") if line]
    picked = lines[:3] + [line for line in lines if '"RequestResponse"' in line][:4]
    picked += [line for line in lines if "impersonatedUser" in line][:1]
    return picked + list(ORDINARY.values())[:6]


SEEDS = _hypothesis_seeds()
# structural characters most of all, then escapes, digits, whitespace and UTF-8
_PIECES = list('"\\{}[],:-.0123456789eE +\t') + [
    '\\"', "\\\\", "\\u", "\\u00e9", "\\ud83d", "\\ude00", "\\u0000", "\\n", "é", "😀", "\u2028", "\x01", "\x7f",
    "null", "true", '""', "{}", "[]", "Z", "T", ".5", "+02:00", '"kind":"EventList",', '"items":[],', '"verb":1,',
]


@st.composite
def mutated_lines(draw) -> str:
    line = draw(st.sampled_from(SEEDS))
    for _ in range(draw(st.sampled_from([0, 1, 1, 1, 2, 3]))):
        i = draw(st.integers(0, len(line)))
        op = draw(st.sampled_from(["insert", "delete", "replace"]))
        if op == "delete":
            line = line[:i] + line[i + draw(st.integers(1, 3)):]
        else:
            line = line[:i] + draw(st.sampled_from(_PIECES)) + line[i + (op == "replace"):]
    return line.replace("\n", " ")


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(mutated_lines(), min_size=1, max_size=4))
def test_property_same_rows_as_sql(lines):
    assert_same_as_sql(lines)


# Hypothesis: any JSON value in requestObject/responseObject, any text in the string and list
# columns, written by json.dumps with or without ASCII escapes and with any of JSON's spacings
_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=12)


@st.composite
def generated_events(draw) -> str:
    def dumps(value) -> str:
        separators = draw(st.sampled_from([(",", ":"), (", ", ": "), (" , ", " : "), (",\t", ":\t")]))
        return json.dumps(value, ensure_ascii=draw(st.booleans()), separators=separators)

    text = draw(st.text(max_size=20))
    groups = dumps(draw(st.lists(st.none() | st.text(max_size=10), max_size=3)))
    return event(**{draw(st.sampled_from(["requestObject", "responseObject"])): Raw(dumps(draw(_JSON_VALUES)))},
                 userAgent=text, sourceIPs=Raw(groups), user=Raw(f'{{"username":{dumps(text)},"groups":{groups}}}'))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(generated_events(), min_size=1, max_size=3))
def test_property_generated_values_same_as_sql(lines):
    assert_same_as_sql(lines)


def test_property_generator_reaches_the_fast_path():
    """The mutated lines are not all handed back: the property above tests accepted lines."""
    accepted = mutated = 0

    @settings(max_examples=150, deadline=None, database=None)
    @given(mutated_lines())
    def count(line):
        nonlocal accepted, mutated
        rows, _, _ = tokenize([line])
        accepted += len(rows)
        mutated += len(rows) and line not in SEEDS

    count()
    assert accepted >= 40 and mutated >= 10, (accepted, mutated)
    generated = 0

    @settings(max_examples=50, deadline=None, database=None)
    @given(generated_events())
    def count_generated(line):
        nonlocal generated
        generated += len(tokenize([line])[0])

    count_generated()
    assert generated >= 15, generated


# --- Staging: with and without the tokenizer -----------------------------------------------------

def _edge_lines() -> list[str]:
    return [*ORDINARY.values(), *(line for line, _ in KINDS.values()),
            *(line for line, _ in TIMESTAMPS.values()),
            *USERS.values(), *WRONG_TYPES.values(), *REASONS.values(), *DUPLICATES_AND_KEYS.values(),
            *(line for line, _ in NOT_EVENTS.values() if "\r" not in line),
            *(line for name in ("quote", "controls by \\u", "u0000", "u2028", "raw emoji", "lone high surrogate")
              for line in _placed(ESCAPES[name]).values())]


_ARCHIVE_EVENTS = 300  # audit_line(i) events in audit.log, besides the edge cases
_ARCHIVE_COPIES = 50  # copies of BASE's line at its end
_WEEK_FILE = sorted((SAMPLE_WEEK / "audit").rglob("*.gz"))[0]


@pytest.fixture()
def audit_archive(tmp_path: Path) -> Path:
    """Normal events, damaged, blank and edge-case lines, an EventList in the middle (below the
    sniffed head, so the object takes the fast path), a gzip of the sample week and CRLF."""
    root = tmp_path / "archive"
    day = root / "kube-apiserver" / "audit" / "2026" / "11" / "17"
    day.mkdir(parents=True)
    batch = event(kind="EventList", items=[json.loads(audit_line(i)) for i in range(900, 903)])
    lines = [audit_line(i) for i in range(_ARCHIVE_EVENTS)]
    lines[60:60] = _edge_lines()
    lines[200:200] = ["", "   ", batch, "{not json", audit_line(5)[:80], "", "\t"]
    lines += [_COMPACT] * _ARCHIVE_COPIES
    (day / "audit.log").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (day / "week.log.gz").write_bytes(_WEEK_FILE.read_bytes())
    (day / "crlf.log").write_bytes("\r\n".join(audit_line(i) for i in range(40)).encode() + b"\r\n")
    return root


def _staged_rows(archive: Path, cache: Path, monkeypatch, tokenize: bool) -> tuple[list, list, list, int]:
    """(object counts, audit_events rows, rejects, lines the tokenizer accepted) of one staging."""
    monkeypatch.setattr(stage, "_TOKENIZE", tokenize)
    monkeypatch.setattr(chunks, "_READ_BYTES", 8 * 1024)  # so that chunks can be small
    accepted = []
    original = audit_tokenizer.tokenize_file

    def spy(*args):
        tok = original(*args)
        accepted.append(tok.accepted)
        return tok

    monkeypatch.setattr(audit_tokenizer, "tokenize_file", spy)
    staged = stage_folder(archive, cache, chunk_bytes=16 * 1024)
    con = pipeline.open_period(staged, cache)
    counts = sorted((o.object, o.records_read, o.records_parsed, o.records_rejected, o.error) for o in staged.objects)
    # every staged row, in the period or not, rejects too (they share the files)
    files = db.sql_string(str(cache / "staged" / "audit_events" / "**" / "*.parquet"))
    events = con.execute(f"SELECT * REPLACE (request_object::VARCHAR AS request_object, response_object::VARCHAR "
                         f"AS response_object) FROM read_parquet({files}, hive_partitioning = false) "
                         f"ORDER BY ALL").fetchall()
    rejects = con.execute("SELECT * FROM rejects ORDER BY ALL").fetchall()
    return counts, events, rejects, sum(accepted)


def test_staging_gives_the_same_tables_with_and_without_it(audit_archive: Path, tmp_path: Path, monkeypatch):
    sql_only = _staged_rows(audit_archive, tmp_path / "sql", monkeypatch, tokenize=False)
    tokenized = _staged_rows(audit_archive, tmp_path / "tok", monkeypatch, tokenize=True)
    # the tokenizer ran, and took at least every ordinary event
    week = len(_lines(gzip.decompress(_WEEK_FILE.read_bytes()).decode()))
    assert sql_only[3] == 0 and tokenized[3] >= week + _ARCHIVE_EVENTS + _ARCHIVE_COPIES + 40 + len(ORDINARY)
    assert tokenized[0] == sql_only[0]
    assert tokenized[1] == sql_only[1]
    assert tokenized[2] == sql_only[2]
    # the archive holds what it should: many chunks' events, the batch's items, rejects of each kind
    counts = {Path(c[0]).name: c for c in tokenized[0]}
    assert counts["crlf.log"][1:] == (40, 40, 0, None) and counts["week.log.gz"][1:] == (week, week, 0, None)
    assert counts["audit.log"][4] is None and counts["audit.log"][3] >= 30
    reasons = {reason for _, _, _, reason, _ in tokenized[2]}
    assert {"not JSON", "JSON but not an object", "no readable requestReceivedTimestamp or timestamp"} <= reasons
    assert len([r for r in tokenized[1] if "id-900" in r]) == 1  # an item of the batch


def test_its_parquet_reads_back_like_duckdbs(tmp_path: Path, monkeypatch):
    """Column names, order and types (lists and JSON too) of a tokenized file equal those of the
    SQL's file, so the readers (one read_parquet over files of both kinds) see one table."""
    root = tmp_path / "archive" / "2026" / "11" / "17"
    root.mkdir(parents=True)
    lines = [audit_line(i) for i in range(50)] + [event(impersonatedUser={"username": "bob", "groups": ["g"]}),
                                                   "{not json", _COMPACT]
    (root / "audit.log").write_text("\n".join(lines) + "\n")

    def files(tokenize: bool) -> list[Path]:
        monkeypatch.setattr(stage, "_TOKENIZE", tokenize)
        stage_folder(tmp_path / "archive", tmp_path / str(tokenize))
        found = sorted((tmp_path / str(tokenize) / "staged" / "audit_events").rglob("*.parquet"))
        assert found
        return found

    def describe(path: Path) -> list[tuple]:
        return duckdb.connect().execute(f"DESCRIBE SELECT * FROM read_parquet('{path}')").fetchall()

    sql_files, tok_files = files(False), files(True)
    # the files compared were written by each writer (else this would compare DuckDB with itself)
    assert all("DuckDB" in pq.ParquetFile(f).metadata.created_by for f in sql_files)
    assert all("parquet-cpp-arrow" in pq.ParquetFile(f).metadata.created_by for f in tok_files)
    sql_types, tok_types = describe(sql_files[0]), describe(tok_files[0])
    assert tok_types == sql_types
    types = {name: t for name, t, *_ in tok_types}
    assert (types["groups"], types["source_ips"], types["request_object"], types["response_object"]) == \
        ("VARCHAR[]", "VARCHAR[]", "JSON", "JSON")
    assert (types["ts"], types["response_code"]) == ("TIMESTAMP WITH TIME ZONE", "INTEGER")
    # and the values read back equal, JSON and lists included
    query = "SELECT * EXCLUDE (object) REPLACE (request_object::VARCHAR AS request_object) FROM read_parquet(?) ORDER BY line"
    read = [duckdb.connect().execute(query, [str(f[0])]).fetchall() for f in (sql_files, tok_files)]
    assert read[0] == read[1] and len(read[0]) == len(lines)


def test_a_wrong_line_count_is_refused_not_overrun(tmp_path: Path):
    path = tmp_path / "chunk.txt"
    path.write_text("\n".join(audit_line(i) for i in range(200)) + "\n")
    audit_tokenizer._buffers.__init__()  # fresh buffers, sized by the count given below
    with pytest.raises(ValueError, match="more lines"):
        audit_tokenizer.tokenize_file(path, 1, 3)
