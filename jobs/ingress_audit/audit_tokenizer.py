"""A compiled reader for Kubernetes audit Events, one JSON object per line (the log backend).

Why: DuckDB's read_json took ~3 us of CPU an event and its Parquet writer ~2 us, so two cores
staged ~240 k events/s. This reader runs in machine code (numba, or built ahead of time by
tokenizer_aot; no GIL, one chunk per parse worker), reads only the fields audit_events needs,
and hands pyarrow the columns.

How: each line is read once as JSON, strings eight bytes at a time (bit operations find the
first quote, backslash or control byte among eight), the rest byte by byte. The fields
audit_events needs are noted (where their value is in the line); every other value is checked
and skipped. Then the accepted line's values are copied into Arrow buffers: strings unescaped,
requestObject and responseObject rewritten compactly, as DuckDB's JSON writer (yyjson) writes
them. Functions run without numba's reference counting (_nrt=False): its atomic operations on
every array passed to a function cost more than the work (7 us an event instead of 2).

It is a fast path, not a second definition of the format. It takes a line only when it can
give exactly the row queries/normalize/k8s_audit.sql gives and that row is no reject. It hands
the line back to that SQL (with its line number) when anything is unusual, among others:
malformed JSON, a duplicate key, an escaped key, a trailing comma, a field of another JSON type
than the Event's (DuckDB would convert it), a number that is not a plain integer inside
requestObject/responseObject (yyjson rewrites those), a timestamp not of the form
2006-01-02T15:04:05.999999Z, an EventList batch or `items`, or anything the SQL would reject.
tests/test_audit_tokenizer.py checks that both give the same rows. Its version is in
formats._TOKENIZERS: raise it with any change to what this accepts or outputs.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pyarrow as pa

from . import tokenizer_support as ts
from .tokenizer_support import Tokenized, njit

# --- What a line's JSON is read into ---------------------------------------------------------
# Slots: the values the Event's fields point to (a span of the line). Strings first, then the
# lists of strings, then the JSON values.
_STRING_SLOTS = (
    "kind", "apiVersion", "level", "auditID", "stage", "requestURI", "verb", "userAgent",
    "requestReceivedTimestamp", "stageTimestamp", "timestamp",
    "user.username", "impersonatedUser.username",
    "objectRef.resource", "objectRef.namespace", "objectRef.name", "objectRef.apiGroup",
    "objectRef.apiVersion", "objectRef.subresource",
    "responseStatus.reason", "annotations.authorization.k8s.io/decision",
    "annotations.authorization.k8s.io/reason",
)
_LIST_SLOTS = ("user.groups", "impersonatedUser.groups", "sourceIPs")
_JSON_SLOTS = ("requestObject", "responseObject")
_SLOTS = _STRING_SLOTS + _LIST_SLOTS + _JSON_SLOTS
_N_SLOTS = len(_SLOTS)
(_KIND, _API_VERSION, _LEVEL, _AUDIT_ID, _STAGE, _REQUEST_URI, _VERB, _USER_AGENT, _RECEIVED, _STAGE_TS,
 _TIMESTAMP, _USER_NAME, _IMP_NAME, _RESOURCE, _NAMESPACE, _NAME, _API_GROUP, _OBJ_API_VERSION,
 _SUBRESOURCE, _STATUS_REASON, _DECISION, _AUTHZ_REASON) = range(len(_STRING_SLOTS))
_FIRST_LIST = len(_STRING_SLOTS)
_USER_GROUPS, _IMP_GROUPS, _SOURCE_IPS = range(_FIRST_LIST, _FIRST_LIST + 3)
_FIRST_JSON = _FIRST_LIST + 3
_REQUEST_OBJECT, _RESPONSE_OBJECT = _FIRST_JSON, _FIRST_JSON + 1
# The objects whose members are read (contexts), and two more actions a key can have
_TOP, _USER, _IMP, _OBJECT_REF, _STATUS, _ANNOTATIONS = range(6)
_NESTED = 100  # action _NESTED + context: the value is that context's object
_CODE = 200  # responseStatus.code
_GIVE_BACK = 201  # `items`: an EventList, for the SQL
_SKIP = -1
_ITEM_STRING = 300  # an item of a list slot: a string or null
_TOP_OBJECT = 400  # the line itself: an object of the _TOP context
_KEYS = {  # (context, key) -> action
    **{(_TOP, k): s for s, k in enumerate(_SLOTS) if "." not in k},
    (_TOP, "user"): _NESTED + _USER, (_TOP, "impersonatedUser"): _NESTED + _IMP,
    (_TOP, "objectRef"): _NESTED + _OBJECT_REF, (_TOP, "responseStatus"): _NESTED + _STATUS,
    (_TOP, "annotations"): _NESTED + _ANNOTATIONS, (_TOP, "items"): _GIVE_BACK,
    (_USER, "username"): _USER_NAME, (_USER, "groups"): _USER_GROUPS,
    (_IMP, "username"): _IMP_NAME, (_IMP, "groups"): _IMP_GROUPS,
    **{(_OBJECT_REF, k.split(".")[1]): s for s, k in enumerate(_SLOTS) if k.startswith("objectRef.")},
    (_STATUS, "code"): _CODE, (_STATUS, "reason"): _STATUS_REASON,
    (_ANNOTATIONS, "authorization.k8s.io/decision"): _DECISION,
    (_ANNOTATIONS, "authorization.k8s.io/reason"): _AUTHZ_REASON,
}
# The key table, for _action: a key's hash (_key_hash) -> its index + 1 in the arrays below (0: no
# key), one table of _HASH_SIZE per context. No two keys of a context share a hash (checked below),
# so one comparison decides.
_KEY_LIST = sorted(_KEYS.items())
_KEY_BYTES = np.frombuffer(b"".join(k.encode() for (_, k), _ in _KEY_LIST), np.uint8).copy()
_KEY_START = np.cumsum([0] + [len(k) for (_, k), _ in _KEY_LIST]).astype(np.int64)
_KEY_ACTION = np.array([a for _, a in _KEY_LIST], np.int64)
_HASH_SIZE = 256


def _key_hash(key: bytes) -> int:  # the same arithmetic as _action's
    return (len(key) + key[0] + key[-1] * 2 + key[len(key) // 2] * 3) % _HASH_SIZE


_KEY_TABLE = np.zeros((6, _HASH_SIZE), np.int64)
for _k, ((_context, _key), _) in enumerate(_KEY_LIST):
    _h = _key_hash(_key.encode())
    assert _KEY_TABLE[_context, _h] == 0, f"two keys share a hash: {_key}"
    _KEY_TABLE[_context, _h] = _k + 1
# Which bit of a line's `seen` mask a key sets: a key twice is a duplicate (DuckDB keeps the first)
_SEEN_CODE = _N_SLOTS + 6

# --- The columns it fills ----------------------------------------------------------------------
STRING_COLUMNS = (
    "audit_id", "stage", "level", "verb", "user", "source_ip", "user_agent", "resource", "subresource",
    "api_group", "api_version", "namespace", "name", "request_uri", "decision", "reason", "impersonated_by",
    "request_object", "response_object",
)
_N_STR = len(STRING_COLUMNS)
# column -> the slot it copies, where it is one slot's value as it is (user, source_ip, reason
# and impersonated_by are computed; api_group is '' where its slot is absent)
_PLAIN = np.full(_N_STR, -1, np.int64)
for _col, _slot in {"audit_id": _AUDIT_ID, "stage": _STAGE, "level": _LEVEL, "verb": _VERB,
                    "user_agent": _USER_AGENT, "resource": _RESOURCE, "subresource": _SUBRESOURCE,
                    "api_version": _OBJ_API_VERSION, "namespace": _NAMESPACE, "name": _NAME,
                    "request_uri": _REQUEST_URI, "decision": _DECISION, "api_group": _API_GROUP,
                    "request_object": _REQUEST_OBJECT, "response_object": _RESPONSE_OBJECT}.items():
    _PLAIN[STRING_COLUMNS.index(_col)] = _slot
_C_USER, _C_SOURCE_IP, _C_API_GROUP, _C_REASON, _C_IMPERSONATED_BY = (
    STRING_COLUMNS.index(c) for c in ("user", "source_ip", "api_group", "reason", "impersonated_by"))
LIST_COLUMNS = ("groups", "source_ips")
_N_LIST = len(LIST_COLUMNS)

# --- Bytes -------------------------------------------------------------------------------------
_QUOTE, _BACKSLASH, _SLASH, _COMMA, _COLON, _DASH, _PLUS, _DOT = 34, 92, 47, 44, 58, 45, 43, 46
_LBRACE, _RBRACE, _LBRACKET, _RBRACKET, _SP, _TAB, _LF = 123, 125, 91, 93, 32, 9, 10
_ZERO, _NINE, _T, _Z = 48, 57, 84, 90
# Eight copies of a byte, for finding it in eight bytes at once (_string_at); _HIGH3 masks out
# all but the top three bits, which are zero exactly in the control bytes
_QUOTES = np.uint64(0x2222222222222222)
_BACKSLASHES = np.uint64(0x5C5C5C5C5C5C5C5C)
_HIGH3 = np.uint64(0xE0E0E0E0E0E0E0E0)
# The byte a one-letter escape stands for (0: not an escape JSON has; \u is read apart)
_UNESCAPE = np.zeros(256, np.uint8)
for _k, _v in {'"': 34, "\\": 92, "/": 47, "b": 8, "f": 12, "n": 10, "r": 13, "t": 9}.items():
    _UNESCAPE[ord(_k)] = _v
# What yyjson writes for a control character: its one-letter escape, else \u00XX (upper case)
_SHORT_ESCAPE = np.zeros(32, np.uint8)
for _k, _v in {8: "b", 9: "t", 10: "n", 12: "f", 13: "r"}.items():
    _SHORT_ESCAPE[_k] = ord(_v)
_HEX_UPPER = np.frombuffer(b"0123456789ABCDEF", np.uint8).copy()
# A string's flags (_string_at), and a JSON value's (_read_line)
_ESCAPED, _HAS_NUL, _SPACED, _NOT_PLAIN_NUMBER = 1, 2, 4, 8
_MAX_DEPTH = 64  # deeper values go to the SQL
_PREFIX = np.frombuffer(b"audit.k8s.io/", np.uint8).copy()
_EVENT = np.frombuffer(b"Event", np.uint8).copy()


class _Buffers(threading.local):
    """Per-thread buffers, reused from chunk to chunk (fresh pages cost ~1 us each to fault in)."""

    def __init__(self) -> None:
        self.capacity = self.lines = -1

    def ensure(self, n_bytes: int, n_lines: int) -> None:
        if n_bytes > self.capacity:
            self.capacity = n_bytes + n_bytes // 8
            # + a final LF when the chunk lacks one, and 8 bytes _string_at may load past the LF
            self.data = np.zeros(self.capacity + 9, np.uint8)
            # column c's text from c * capacity: unescaping and compacting never lengthen a value
            # (+ 8: _put_string may write 7 bytes past a value)
            self.text = np.empty(_N_STR * self.capacity + 8, np.uint8)
            self.item_text = np.empty(_N_LIST * self.capacity + 8, np.uint8)
            items = self.capacity // 3 + 16  # a list item takes at least 3 bytes: "",
            self.item_offsets = np.empty((_N_LIST, items + 1), np.int32)
            self.item_valid = np.empty((_N_LIST, items), np.bool_)
            self.fb_text = np.empty(self.capacity, np.uint8)
            # a line's: its nesting (kinds, contexts, slots), its slots' spans and flags, its code,
            # the slot each string column copies
            self.scratch = (np.empty(_MAX_DEPTH, np.uint8), np.empty(_MAX_DEPTH, np.int64),
                            np.empty(_MAX_DEPTH, np.int64), np.zeros(_N_SLOTS, np.int64),
                            np.zeros(_N_SLOTS, np.int64), np.zeros(_N_SLOTS, np.int64), np.zeros(2, np.int64),
                            np.empty(_N_STR, np.int64))
        if n_lines > self.lines:
            self.lines = n_lines + n_lines // 8 + 16
            self.ints = np.empty((4, self.lines), np.int64)  # line, ts, stage_ts, response_code
            self.int_valid = np.empty((2, self.lines), np.bool_)  # stage_ts, response_code
            self.offsets = np.empty((_N_STR, self.lines + 1), np.int32)
            self.valid = np.empty((_N_STR, self.lines), np.bool_)
            self.list_offsets = np.empty((_N_LIST, self.lines + 1), np.int32)
            self.list_valid = np.empty((_N_LIST, self.lines), np.bool_)
            self.fb_line = np.empty(self.lines, np.int64)
            self.fb_offsets = np.empty(self.lines + 1, np.int32)


_buffers = _Buffers()
_JSON = pa.json_(pa.string())


def tokenize_file(path: Path | np.ndarray, first_line: int, n_lines: int) -> Tokenized:
    """Read a chunk (its file, or its text) of `n_lines` whole UTF-8 lines, the first being line
    `first_line`."""
    buf = _buffers
    buf.ensure(ts.chunk_size(path), n_lines)
    data = ts.read_chunk(path, buf.data)
    count, n_fallback = _scan(
        data, buf.ints, buf.int_valid, buf.offsets, buf.valid, buf.text, buf.list_offsets, buf.list_valid,
        buf.item_offsets, buf.item_valid, buf.item_text, buf.fb_line, buf.fb_offsets, buf.fb_text,
        _UNESCAPE, _SHORT_ESCAPE, _HEX_UPPER, _KEY_TABLE, _KEY_BYTES, _KEY_START, _KEY_ACTION,
        _PLAIN, _PREFIX, _EVENT, *buf.scratch)
    ints = buf.ints
    columns: dict[str, pa.Array] = {
        "line": pa.array(ints[0, :count] + first_line),
        "ts": pa.array(ints[1, :count], pa.timestamp("us", tz="UTC")),
        "stage_ts": pa.Array.from_buffers(pa.timestamp("us", tz="UTC"), count,
                                          [ts.validity(count, buf.int_valid[0]), pa.py_buffer(ints[2, :count])]),
        "response_code": pa.Array.from_buffers(pa.int32(), count, [ts.validity(count, buf.int_valid[1]),
                                                                   pa.py_buffer(ints[3, :count].astype(np.int32))]),
    }
    for c, name in enumerate(STRING_COLUMNS):
        text = buf.text[c * buf.capacity:(c + 1) * buf.capacity]
        columns[name] = ts.string_array(count, buf.offsets[c], text, buf.valid[c])
    for name in ("request_object", "response_object"):
        columns[name] = pa.ExtensionArray.from_storage(_JSON, columns[name])
    for k, name in enumerate(LIST_COLUMNS):
        n_items = int(buf.list_offsets[k, count])
        items = ts.string_array(n_items, buf.item_offsets[k], buf.item_text[k * buf.capacity:(k + 1) * buf.capacity],
                                buf.item_valid[k])
        columns[name] = pa.Array.from_buffers(pa.list_(pa.string()), count,
                                              [ts.validity(count, buf.list_valid[k]),
                                               pa.py_buffer(buf.list_offsets[k, :count + 1])], children=[items])
    return ts.handed_back(columns, first_line, n_fallback, buf.fb_line, buf.fb_offsets, buf.fb_text)


# --- Reading one line --------------------------------------------------------------------------

@njit(inline="always")
def _ws(b, i):  # pragma: no cover - compiled
    """The first byte at or after i that is not JSON whitespace (LF ends the line: not skipped)."""
    while b[i] == _SP or b[i] == _TAB:
        i += 1
    return i


@njit(nogil=True, cache=True, _nrt=False)
def _hex4(b, i):  # pragma: no cover - compiled
    """The value of the four hex digits at b[i:i+4], or -1."""
    v = 0
    for k in range(4):
        c = np.int64(b[i + k])
        if _ZERO <= c <= _NINE:
            d = c - _ZERO
        elif 97 <= c <= 102:
            d = c - 87
        elif 65 <= c <= 70:
            d = c - 55
        else:
            return -1
        v = v * 16 + d
    return v


@njit(nogil=True, cache=True, _nrt=False)
def _literal(b, i):  # pragma: no cover - compiled
    """The end of the literal true, false or null at i, or -1."""
    c = b[i]
    if c == 116 and b[i + 1] == 114 and b[i + 2] == 117 and b[i + 3] == 101:
        return i + 4
    if c == 110 and b[i + 1] == 117 and b[i + 2] == 108 and b[i + 3] == 108:
        return i + 4
    if c == 102 and b[i + 1] == 97 and b[i + 2] == 108 and b[i + 3] == 115 and b[i + 4] == 101:
        return i + 5
    return -1


@njit(inline="always")
def _is_null(b, i):  # pragma: no cover - compiled
    return b[i] == 110 and b[i + 1] == 117 and b[i + 2] == 108 and b[i + 3] == 108


@njit(nogil=True, cache=True, _nrt=False)
def _number_end(b, i):  # pragma: no cover - compiled
    """(The end of the JSON number at i or -1, _NOT_PLAIN_NUMBER unless it is an integer of at
    most 18 digits other than -0, which yyjson writes back as it was)."""
    start = i
    if b[i] == _DASH:
        i += 1
    first = i
    if b[i] == _ZERO:
        i += 1
    elif _ZERO < b[i] <= _NINE:
        while _ZERO <= b[i] <= _NINE:
            i += 1
    else:
        return -1, 0
    flags = 0
    if i - first > 18 or (b[start] == _DASH and b[first] == _ZERO):
        flags = _NOT_PLAIN_NUMBER
    if b[i] == _DOT:
        flags = _NOT_PLAIN_NUMBER
        i += 1
        if not (_ZERO <= b[i] <= _NINE):
            return -1, 0
        while _ZERO <= b[i] <= _NINE:
            i += 1
    if b[i] == 101 or b[i] == 69:  # e E
        flags = _NOT_PLAIN_NUMBER
        i += 1
        if b[i] == _PLUS or b[i] == _DASH:
            i += 1
        if not (_ZERO <= b[i] <= _NINE):
            return -1, 0
        while _ZERO <= b[i] <= _NINE:
            i += 1
    return i, flags


@njit(inline="always")
def _string_at(b, i):  # pragma: no cover - compiled
    """Check the string whose first byte (after its opening quote) is b[i]: (the index of its
    closing quote or -1, its flags: _ESCAPED, _HAS_NUL). Eight bytes at a time: the first quote,
    backslash or control byte (LF too: the line ended inside the string) among them is found
    with bit operations, not a test per byte."""
    flags = 0
    while True:
        x = ts.load8(b, i)
        m = ts.zero_bytes(x ^ _QUOTES) | ts.zero_bytes(x ^ _BACKSLASHES) | ts.zero_bytes(x & _HIGH3)
        if m == 0:
            i += 8
            continue
        p = i + np.int64(ts.trailing_zeros(m) >> 3)
        c = b[p]
        if c == _QUOTE:
            return p, flags
        if c != _BACKSLASH:
            return -1, flags
        flags |= _ESCAPED
        n = b[p + 1]
        if n == 117:  # \uXXXX
            cp = _hex4(b, p + 2)
            if cp < 0 or 0xDC00 <= cp <= 0xDFFF:
                return -1, flags
            i = p + 6
            if 0xD800 <= cp <= 0xDBFF:  # DuckDB refuses a lone surrogate
                low = _hex4(b, p + 8) if b[p + 6] == _BACKSLASH and b[p + 7] == 117 else -1
                if low < 0xDC00 or low > 0xDFFF:
                    return -1, flags
                i = p + 12
            elif cp == 0:
                flags |= _HAS_NUL
        elif n == _QUOTE or n == _BACKSLASH or n == _SLASH or n == 98 or n == 102 or n == 110 or n == 114 \
                or n == 116:
            i = p + 2
        else:
            return -1, flags


@njit(inline="always")
def _action(b, start, end, context, key_table, key_bytes, key_start, key_action):  # pragma: no cover
    """What the key b[start:end] of an object of `context` is read into (_SKIP: nothing)."""
    n = end - start
    if context < 0 or n == 0:
        return _SKIP
    h = (n + np.int64(b[start]) + np.int64(b[end - 1]) * 2 + np.int64(b[start + n // 2]) * 3) % _HASH_SIZE
    k = key_table[context, h] - 1
    if k < 0 or key_start[k + 1] - key_start[k] != n:
        return _SKIP
    ks = key_start[k]
    for m in range(n):
        if key_bytes[ks + m] != b[start + m]:
            return _SKIP
    return key_action[k]


@njit(nogil=True, cache=True, _nrt=False)
def _read_line(b, i, kinds, contexts, slots, key_table, key_bytes, key_start, key_action, vs, ve, vf, code):  # pragma: no cover - compiled
    """Read the line at b[i] as one JSON object.

    For each slot, vs/ve get the span of its value (a string's without its quotes) and vf its
    flags + 16 (0: absent or null); code[0] gets responseStatus.code (code[1] = 1 when set).
    Returns the index of the line's LF, or -1 when the line is for the SQL.

    One loop over the whole line, nesting on its own stack (kinds: { or [; contexts: whose keys
    an object's are, or what an array's items are read as; slots: the slot a list or JSON value
    fills): calls with arrays cost more than the work in this loop.
    """
    vf[:] = 0
    code[1] = 0
    seen = np.int64(0)  # a bit for each slot, object and code read: a key twice goes to the SQL
    escapes = 0  # strings with escapes so far: does a JSON value need rewriting
    captured_escapes = 0
    spaced = False  # whitespace outside strings so far (Go writes none)
    capture = -1  # the depth of the JSON value being read into a slot, or -1
    depth = 0
    i = _ws(b, i)
    action = _TOP_OBJECT
    need_key = False
    while True:
        if need_key:  # --- an object's member: its key, which says how to read its value -------
            need_key = False
            context = contexts[depth - 1]
            if b[i] != _QUOTE:
                return -1  # also a trailing comma, which DuckDB takes
            end, f = _string_at(b, i + 1)
            if end < 0 or (f != 0 and context != _SKIP):  # an escaped key may spell a field's name
                return -1
            if f:
                escapes += 1
            action = _action(b, i + 1, end, context, key_table, key_bytes, key_start, key_action)
            k = _ws(b, end + 1)
            if b[k] != _COLON:
                return -1
            i = _ws(b, k + 1)
            spaced |= k != end + 1 or i != k + 1
            if action != _SKIP:
                if action == _GIVE_BACK:
                    return -1
                bit = np.int64(1) << (_SEEN_CODE if action == _CODE else
                                      (action - _NESTED + _N_SLOTS if action >= _NESTED else action))
                if seen & bit:
                    return -1
                seen |= bit
        # --- a value, read as `action` says ---------------------------------------------------
        c = b[i]
        if c == _QUOTE:
            end, f = _string_at(b, i + 1)
            if end < 0:
                return -1
            if f & _ESCAPED:
                escapes += 1
            if 0 <= action < _FIRST_LIST:
                if f & _HAS_NUL:
                    return -1
                vs[action] = i + 1
                ve[action] = end
                vf[action] = 16 + f
            elif action == _ITEM_STRING:
                if f & _HAS_NUL:
                    return -1
            elif action != _SKIP:
                return -1  # a string where the Event has another type: DuckDB converts, the SQL
            i = end + 1
        elif c == _LBRACE or c == _LBRACKET:
            if depth == _MAX_DEPTH:
                return -1
            slot = -1
            if action == _SKIP:
                context = _SKIP
            elif action >= _FIRST_JSON and action < _N_SLOTS:
                slot = action
                capture = depth
                captured_escapes = escapes
                context = _SKIP
            elif c == _LBRACE and action == _TOP_OBJECT:
                context = _TOP
            elif c == _LBRACE and action >= _NESTED and action < _CODE:
                context = action - _NESTED
            elif c == _LBRACKET and action >= _FIRST_LIST and action < _FIRST_JSON:
                slot = action
                context = _ITEM_STRING
            else:
                return -1
            if slot >= 0:
                vs[slot] = i
            kinds[depth] = c
            contexts[depth] = context
            slots[depth] = slot
            depth += 1
            k = _ws(b, i + 1)
            spaced |= k != i + 1
            i = k
            if b[i] != c + 2:  # not empty: its first member or item
                if c == _LBRACKET:
                    action = context
                else:
                    need_key = True
                continue
        elif c == _DASH or _ZERO <= c <= _NINE:
            end, f = _number_end(b, i)
            if end < 0:
                return -1
            if action == _CODE:
                if f != 0 or end - i > 11:
                    return -1
                v = np.int64(0)
                for k in range(i + (1 if c == _DASH else 0), end):
                    v = v * 10 + np.int64(b[k]) - _ZERO
                if c == _DASH:
                    v = -v
                if v < -2147483648 or v > 2147483647:
                    return -1
                code[0] = v
                code[1] = 1
            elif action != _SKIP or (f != 0 and capture >= 0):  # yyjson rewrites such numbers
                return -1
            i = end
        else:
            end = _literal(b, i)
            if end < 0 or (action != _SKIP and not _is_null(b, i)) or action == _TOP_OBJECT:
                return -1
            i = end
        # --- after a value: close what ends here; then a comma and the next member or item -----
        while True:
            if depth == 0:
                k = _ws(b, i)
                return k if b[k] == _LF else -1  # nothing may follow the object
            k = _ws(b, i)
            spaced |= k != i
            i = k
            c = b[i]
            kind = kinds[depth - 1]
            if c == kind + 2:  # } after {, ] after [
                depth -= 1
                i += 1
                slot = slots[depth]
                if slot >= 0:
                    ve[slot] = i
                    vf[slot] = 16
                    if depth == capture:
                        capture = -1
                        vf[slot] += (_ESCAPED if escapes != captured_escapes else 0) + (_SPACED if spaced else 0)
                continue
            if c != _COMMA:
                return -1
            k = _ws(b, i + 1)
            spaced |= k != i + 1
            i = k
            if kind == _LBRACKET:
                action = contexts[depth - 1]
            else:
                need_key = True
            break


@njit(nogil=True, cache=True, _nrt=False)
def _same(b, start, end, word):  # pragma: no cover - compiled
    if end - start != word.size:
        return False
    for k in range(word.size):
        if b[start + k] != word[k]:
            return False
    return True


@njit(nogil=True, cache=True, _nrt=False)
def _timestamp(b, start, end):  # pragma: no cover - compiled
    """Microseconds since the epoch of "YYYY-MM-DDTHH:MM:SS[.f{1,9}]Z" (DuckDB keeps 6 digits of
    the fraction and drops the rest), or -1 for any other text (the SQL reads those)."""
    n = end - start
    if n < 20 or n == 21 or n > 30 or b[start + 4] != _DASH or b[start + 7] != _DASH or b[start + 10] != _T \
            or b[start + 13] != _COLON or b[start + 16] != _COLON or b[end - 1] != _Z:
        return -1
    year = ts.digits(b, start, start + 4, 4)
    month = ts.digits(b, start + 5, start + 7, 2)
    day = ts.digits(b, start + 8, start + 10, 2)
    hour = ts.digits(b, start + 11, start + 13, 2)
    minute = ts.digits(b, start + 14, start + 16, 2)
    second = ts.digits(b, start + 17, start + 19, 2)
    if year < 1970 or year > 2999 or month < 1 or month > 12 or day < 1 or day > ts.days_in_month(year, month) \
            or hour < 0 or hour > 23 or minute < 0 or minute > 59 or second < 0 or second > 59:
        return -1
    micros = 0
    if n > 20:
        if b[start + 19] != _DOT:
            return -1
        scale = 100000
        for k in range(start + 20, end - 1):
            d = np.int64(b[k]) - _ZERO
            if d < 0 or d > 9:
                return -1
            micros += d * scale
            scale //= 10
    elif b[start + 19] != _Z:
        return -1
    days = ts.days_from_civil(year, month, day)
    return (((days * 24 + hour) * 60 + minute) * 60 + second) * 1_000_000 + micros


@njit(nogil=True, cache=True, _nrt=False)
def _utf8(out, o, cp):  # pragma: no cover - compiled
    if cp < 0x80:
        out[o] = cp
        return o + 1
    if cp < 0x800:
        out[o] = 0xC0 | (cp >> 6)
        out[o + 1] = 0x80 | (cp & 0x3F)
        return o + 2
    if cp < 0x10000:
        out[o] = 0xE0 | (cp >> 12)
        out[o + 1] = 0x80 | ((cp >> 6) & 0x3F)
        out[o + 2] = 0x80 | (cp & 0x3F)
        return o + 3
    out[o] = 0xF0 | (cp >> 18)
    out[o + 1] = 0x80 | ((cp >> 12) & 0x3F)
    out[o + 2] = 0x80 | ((cp >> 6) & 0x3F)
    out[o + 3] = 0x80 | (cp & 0x3F)
    return o + 4


@njit(nogil=True, cache=True, _nrt=False)
def _escaped_char(b, i, unescape):  # pragma: no cover - compiled
    """(The code point of the escape at i (b[i] is the backslash), the index after it)."""
    n = b[i + 1]
    if n != 117:
        return np.int64(unescape[n]), i + 2
    cp = _hex4(b, i + 2)
    if 0xD800 <= cp <= 0xDBFF:
        return 0x10000 + ((cp - 0xD800) << 10) + (_hex4(b, i + 8) - 0xDC00), i + 12
    return cp, i + 6


@njit(nogil=True, cache=True, _nrt=False)
def _put_string(out, o, b, start, end, flags, unescape):  # pragma: no cover - compiled
    """Copy the checked string b[start:end] into out at o, unescaped; returns the new end."""
    if not flags & _ESCAPED:
        ts.copy_short(out, o, b, start, end - start)
        return o + end - start
    i = start
    while i < end:
        if b[i] != _BACKSLASH:
            run = i
            while i < end and b[i] != _BACKSLASH:
                i += 1
            ts.copy(out, o, b, run, i - run)
            o += i - run
        else:
            cp, i = _escaped_char(b, i, unescape)
            o = _utf8(out, o, cp)
    return o


@njit(nogil=True, cache=True, _nrt=False)
def _put_json(out, o, b, start, end, flags, unescape, short_escape, hex_upper):  # pragma: no cover
    """Copy the checked JSON value b[start:end] into out at o as yyjson writes it: no whitespace;
    in strings, escapes read and written again (only ", \\ and control characters escaped)."""
    if not flags & (_ESCAPED | _SPACED):
        ts.copy(out, o, b, start, end - start)
        return o + end - start
    i = start
    inside = False
    while i < end:
        c = b[i]
        if not inside:
            if c == _QUOTE:
                inside = True
            elif c == _SP or c == _TAB:
                i += 1
                continue
            out[o] = c
            o += 1
            i += 1
        elif c == _QUOTE:
            inside = False
            out[o] = c
            o += 1
            i += 1
        elif c != _BACKSLASH:
            out[o] = c
            o += 1
            i += 1
        else:
            cp, i = _escaped_char(b, i, unescape)
            if cp == _QUOTE or cp == _BACKSLASH:
                out[o] = _BACKSLASH
                out[o + 1] = cp
                o += 2
            elif cp < 32 and short_escape[cp] != 0:
                out[o] = _BACKSLASH
                out[o + 1] = short_escape[cp]
                o += 2
            elif cp < 32:
                out[o] = _BACKSLASH
                out[o + 1] = 117
                out[o + 2] = _ZERO
                out[o + 3] = _ZERO
                out[o + 4] = hex_upper[cp >> 4]
                out[o + 5] = hex_upper[cp & 15]
                o += 6
            else:
                o = _utf8(out, o, cp)
    return o


@njit(nogil=True, cache=True, _nrt=False)
def _scan(b, ints, int_valid, offsets, valid, text, list_offsets, list_valid, item_offsets, item_valid, item_text,
          fb_line, fb_offsets, fb_text, unescape, short_escape, hex_upper, key_table, key_bytes, key_start,
          key_action, plain, prefix, event, kinds, contexts, slots, vs, ve, vf, code, col_slot):  # pragma: no cover - compiled
    """Read every line of b (which ends with LF): accepted lines into the column buffers, the
    others into the fallback buffers. Returns (accepted, handed back)."""
    stride = (text.size - 8) // _N_STR
    item_stride = (item_text.size - 8) // _N_LIST
    max_lines = ints.shape[1]
    offsets[:, 0] = 0
    list_offsets[:, 0] = 0
    item_offsets[:, 0] = 0
    fb_offsets[0] = 0
    count = 0
    n_fallback = 0
    index = 0  # the line's index in the chunk
    start = 0
    while start < b.size:
        if index == max_lines:  # the caller's line count was wrong: never write past the buffers
            raise ValueError("the chunk holds more lines than it was said to")
        end = _read_line(b, start, kinds, contexts, slots, key_table, key_bytes, key_start, key_action, vs, ve, vf, code)
        ok = end >= 0
        if not ok:
            end = start
            while b[end] != _LF:
                end += 1
        received = stage = -1
        if ok:
            # What k8s_audit_tail.sql rejects, the SQL writes (with its reason). Any kind but
            # "Event" (EventList too) goes there; so does an Event of neither kind nor auditID and verb.
            if vf[_KIND] != 0 and not (vf[_KIND] == 16 and _same(b, vs[_KIND], ve[_KIND], event)):
                ok = False
            elif vf[_KIND] == 0 and (vf[_AUDIT_ID] == 0 or vf[_VERB] == 0):
                ok = False
            elif vf[_API_VERSION] != 0 and (vf[_API_VERSION] != 16 or ve[_API_VERSION] - vs[_API_VERSION] < prefix.size
                                           or not _same(b, vs[_API_VERSION], vs[_API_VERSION] + prefix.size, prefix)):
                ok = False
        if ok:
            # ts: coalesce(requestReceivedTimestamp, timestamp); stage_ts: coalesce(stageTimestamp,
            # timestamp, requestReceivedTimestamp)
            s = _RECEIVED if vf[_RECEIVED] != 0 else _TIMESTAMP
            received = _timestamp(b, vs[s], ve[s]) if vf[s] == 16 else -1
            s = _STAGE_TS if vf[_STAGE_TS] != 0 else (_TIMESTAMP if vf[_TIMESTAMP] != 0 else _RECEIVED)
            if vf[s] != 0:
                stage = _timestamp(b, vs[s], ve[s]) if vf[s] == 16 else -1
                ok = stage >= 0
            ok = ok and received >= 0
        if ok:
            ints[0, count] = index
            ints[1, count] = received
            ints[2, count] = stage if stage >= 0 else 0
            int_valid[0, count] = stage >= 0
            ints[3, count] = code[0] if code[1] else 0
            int_valid[1, count] = code[1] == 1
            # the string columns: a slot as it is, or as the SQL computes it
            for c in range(_N_STR):
                col_slot[c] = plain[c]
            col_slot[_C_USER] = _IMP_NAME if vf[_IMP_NAME] != 0 else _USER_NAME
            col_slot[_C_IMPERSONATED_BY] = _USER_NAME if vf[_IMP_NAME] != 0 else -1
            col_slot[_C_REASON] = _AUTHZ_REASON if vf[_AUTHZ_REASON] != 0 and ve[_AUTHZ_REASON] > vs[_AUTHZ_REASON] \
                else _STATUS_REASON
            for c in range(_N_STR):
                o = offsets[c, count]
                s = col_slot[c]
                row = c * stride
                if c == _C_SOURCE_IP:  # sourceIPs[1]
                    first_s, first_e, f = _first_item(b, vs[_SOURCE_IPS], vf[_SOURCE_IPS])
                    valid[c, count] = first_s >= 0
                    if first_s >= 0:
                        o = _put_string(text, row + o, b, first_s, first_e, f, unescape) - row
                elif s < 0 or vf[s] == 0:
                    valid[c, count] = c == _C_API_GROUP  # coalesce(apiGroup, '')
                elif s >= _FIRST_JSON:
                    valid[c, count] = True
                    o = _put_json(text, row + o, b, vs[s], ve[s], vf[s] - 16, unescape, short_escape,
                                  hex_upper) - row
                else:
                    valid[c, count] = True
                    o = _put_string(text, row + o, b, vs[s], ve[s], vf[s] - 16, unescape) - row
                offsets[c, count + 1] = o
            # groups: coalesce(impersonatedUser.groups, user.groups); source_ips
            for k in range(_N_LIST):
                s = _SOURCE_IPS if k == 1 else (_IMP_GROUPS if vf[_IMP_GROUPS] != 0 else _USER_GROUPS)
                n_items = list_offsets[k, count]
                list_valid[k, count] = vf[s] != 0
                if vf[s] != 0:
                    n_items = _put_list(item_text, k * item_stride, item_offsets[k], item_valid[k], n_items, b,
                                        vs[s], unescape)
                list_offsets[k, count + 1] = n_items
            count += 1
        else:
            n_fallback = ts.hand_back(fb_line, fb_offsets, fb_text, n_fallback, index, b, start, end)
        start = end + 1
        index += 1
    return count, n_fallback


@njit(nogil=True, cache=True, _nrt=False)
def _first_item(b, i, flags):  # pragma: no cover - compiled
    """The span and flags of the first item of the checked list at i, when it is a string, else
    (-1, -1, 0)."""
    if flags == 0:
        return -1, -1, 0
    i = _ws(b, i + 1)
    if b[i] != _QUOTE:
        return -1, -1, 0  # [] or [null, …]
    end, f = _string_at(b, i + 1)
    return i + 1, end, f


@njit(nogil=True, cache=True, _nrt=False)
def _put_list(item_text, row, item_offsets, item_valid, n_items, b, i, unescape):  # pragma: no cover
    """Append the items of the checked list of strings at i; returns the new item count."""
    i = _ws(b, i + 1)
    if b[i] == _RBRACKET:
        return n_items
    while True:
        o = item_offsets[n_items]
        if b[i] == _QUOTE:
            end, f = _string_at(b, i + 1)
            o = _put_string(item_text, row + o, b, i + 1, end, f, unescape) - row
            item_valid[n_items] = True
            i = end + 1
        else:  # null
            item_valid[n_items] = False
            i += 4
        item_offsets[n_items + 1] = o
        n_items += 1
        i = _ws(b, i)
        if b[i] == _RBRACKET:
            return n_items
        i = _ws(b, i + 1)


if ts.KERNELS is not None:  # the built kernel replaces the function above (tokenizer_aot)
    _scan = ts.KERNELS.audit_scan  # noqa: F811
