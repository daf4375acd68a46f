"""A compiled tokenizer for ingress-nginx's default log-format-upstream.

Why: DuckDB's string functions take ~3 us of CPU per line to split an ingress-nginx line and its
Parquet writer another 1.6 us, so two cores staged ~380 k lines/s. This tokenizer runs in machine
code (built ahead of time by tokenizer_aot, or compiled by numba on first use; it runs without
the GIL, one chunk per parse worker) and hands pyarrow the columns, whose Parquet writer is
about three times as fast as DuckDB's. Staging went from ~380 k to 0.8-1 M lines/s (README,
Performance).

How: one branch-free pass over the chunk lists where its structural bytes are (LF, quote,
space, comma, '?', brackets); each line is then read from that list, ~40 positions instead of
~300 bytes, and its fields are copied into Arrow buffers.

It is a fast path, not a second definition of the format. It takes a line only when the line
has exactly the shape nginx writes and every field converts the way the SQL parser
(queries/normalize/ingress_nginx.sql) converts it. Every other line (controller noise, damaged
or unusual lines) goes back, with its line number, to that parser, which also writes every
reject. tests/test_nginx_tokenizer.py checks that both give the same rows for
generated, real-sample and hypothesis-made lines. Its version is in formats._TOKENIZERS: raise
it with any change to what this accepts or outputs.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pyarrow as pa

from . import tokenizer_support as ts
from .tokenizer_support import Tokenized, njit

# The string columns it fills, in the order of its text buffers.
STRING_COLUMNS = (
    "client_ip", "remote_user", "method", "path", "query", "protocol",
    "referer", "user_agent", "upstream", "upstream_addr", "upstream_status", "request_id",
)
_CLIENT_IP, _REMOTE_USER, _METHOD, _PATH, _QUERY, _PROTOCOL = range(6)
_REFERER, _USER_AGENT, _UPSTREAM, _UPSTREAM_ADDR, _UPSTREAM_STATUS, _REQUEST_ID = range(6, 12)
_N_STR = len(STRING_COLUMNS)

_LF, _SP, _QUOTE, _COMMA, _QMARK, _LBRACKET, _RBRACKET = 10, 32, 34, 44, 63, 91, 93
_DASH, _DOT, _SLASH, _COLON, _PLUS = 45, 46, 47, 58, 43
_STRUCTURAL = np.zeros(256, dtype=np.uint8)
_STRUCTURAL[[_LF, _SP, _QUOTE, _COMMA, _QMARK, _LBRACKET, _RBRACKET]] = 1
# "Jan".."Dec" as 24-bit keys. The SQL's %b also reads "nov" or "NOV": such lines go to the SQL.
_MONTH_KEYS = np.array([(ord(m[0]) << 16) | (ord(m[1]) << 8) | ord(m[2]) for m in
                        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")],
                       dtype=np.int64)
_DAYS_IN_MONTH = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)
_POW10 = np.array([10**k for k in range(19)], dtype=np.int64)
# The head's structural bytes, in order: "addr - user [dd/Mon/yyyy:HH:MM:SS +zzzz] "
_HEAD = np.array([_SP, _SP, _SP, _LBRACKET, _SP, _RBRACKET, _SP], dtype=np.uint8)


class _Buffers(threading.local):
    """Per-thread buffers, reused from chunk to chunk: fresh pages cost ~1 us each to fault in
    on this kind of machine, about a third of the tokenizer's time were they new every chunk."""

    def __init__(self) -> None:
        self.capacity = self.lines = -1

    def ensure(self, n_bytes: int, n_lines: int) -> None:
        if n_bytes > self.capacity:
            self.capacity = n_bytes + n_bytes // 8
            self.data = np.zeros(self.capacity + 9, np.uint8)  # + a final LF when the chunk lacks one
            self.events = np.empty(self.capacity + 2, np.int32)  # chunks stay far below 2 GiB
            self.text = np.empty(_N_STR * self.capacity, np.uint8)  # field f's text from f * capacity
            self.fb_text = np.empty(self.capacity, np.uint8)
            # a line's: quotes, head, request, status and bytes, tail, retry lists, fields (start,
            # end, not NULL, a retry list), numbers, duration
            self.scratch = (np.empty(6, np.int64), np.empty(7, np.int64), np.empty(4, np.int64),
                            np.empty(3, np.int64), np.empty(9, np.int64), np.empty(1, np.int64),
                            np.empty(_N_STR, np.int64), np.empty(_N_STR, np.int64), np.empty(_N_STR, np.bool_),
                            np.empty(_N_STR, np.bool_), np.empty(5, np.int64), np.empty(1, np.float64))
        if n_lines > self.lines:
            self.lines = n_lines + n_lines // 8 + 16
            self.ints = np.empty((5, self.lines), np.int64)  # line, ts, bytes_sent, request_length, status
            self.duration = np.empty(self.lines, np.float64)
            self.offsets = np.empty((_N_STR, self.lines + 1), np.int32)
            self.valid = np.empty((_N_STR, self.lines), np.bool_)
            self.fb_line = np.empty(self.lines, np.int64)
            self.fb_offsets = np.empty(self.lines + 1, np.int32)


_buffers = _Buffers()


def tokenize_file(path: Path | np.ndarray, first_line: int, n_lines: int) -> Tokenized:
    """Tokenize a chunk (its file, or its text) of `n_lines` whole UTF-8 lines, the first being line
    `first_line`."""
    buf = _buffers
    buf.ensure(ts.chunk_size(path), n_lines)
    data = ts.read_chunk(path, buf.data)
    n_events = ts.index(data, _STRUCTURAL, buf.events)
    count, n_fallback = _scan(data, buf.events, n_events, buf.ints, buf.duration, buf.offsets, buf.valid,
                              buf.text, buf.fb_line, buf.fb_offsets, buf.fb_text,
                              _HEAD, _MONTH_KEYS, _DAYS_IN_MONTH, *buf.scratch)
    ints = buf.ints
    columns: dict[str, pa.Array] = {
        "line": pa.array(ints[0, :count] + first_line),
        "ts": pa.array(ints[1, :count], pa.timestamp("us", tz="UTC")),
        "status": pa.array(ints[4, :count].astype(np.int32)),
        "bytes_sent": pa.array(ints[2, :count]),
        "request_length": pa.array(ints[3, :count]),
        "duration_s": pa.array(buf.duration[:count]),
    }
    for f, name in enumerate(STRING_COLUMNS):
        text = buf.text[f * buf.capacity:(f + 1) * buf.capacity]
        columns[name] = ts.string_array(count, buf.offsets[f], text, buf.valid[f])
    return ts.handed_back(columns, first_line, n_fallback, buf.fb_line, buf.fb_offsets, buf.fb_text)


# _nrt=False: no reference counting of the arrays passed from function to function (numba's
# atomic increments and decrements cost more than a line's work); nothing here allocates.
@njit(nogil=True, cache=True, _nrt=False)
def _scan(b, events, n_events, ints, duration, offsets, valid, text, fb_line, fb_offsets, fb_text,
          head, month_keys, days_in_month, q, h, rq, mid, tail, folds, fs, fe, fv, fx, nums, dur):  # pragma: no cover
    """Read every line of b (which ends with LF): accepted lines into the column buffers, the
    others into the fallback buffers. Returns (accepted, handed back).

    Scratch: q the quotes; h the head's structural bytes; rq the request's first three spaces
    and first '?' after the first; mid the spaces around status and bytes; tail the spaces
    before the nine fields after the user agent; folds which of those nine hold a retry list;
    fs, fe, fv, fx this line's fields: start, end, not NULL, a retry list (written with ", ").
    """
    stride = text.size // _N_STR
    count = 0
    n_fallback = 0
    offsets[:, 0] = 0
    fb_offsets[0] = 0
    start = 0
    index = 0  # the line's index in the chunk
    j = 0
    max_lines = ints.shape[1]
    while j < n_events:
        if index == max_lines:  # the caller's line count was wrong: never write past the buffers
            raise ValueError("the chunk holds more lines than it was said to")
        ok, j = _walk(b, events, j, q, h, rq, mid, tail, folds, head)
        end = events[j]  # the line's LF
        if ok:
            ok = _fields(b, start, end, q, h, rq, mid, tail, folds[0], fs, fe, fv, fx, nums, dur, month_keys,
                         days_in_month)
        if ok:
            ints[0, count] = index
            ints[1, count] = nums[0]
            ints[2, count] = nums[1]
            ints[3, count] = nums[2]
            ints[4, count] = nums[3]
            duration[count] = dur[0]
            for f in range(_N_STR):
                o = offsets[f, count]
                valid[f, count] = fv[f]
                if fv[f] and fx[f]:
                    o = _copy_list(text, f * stride, o, b, fs[f], fe[f])
                elif fv[f]:
                    ts.copy(text, f * stride + o, b, fs[f], fe[f] - fs[f])
                    o += fe[f] - fs[f]
                offsets[f, count + 1] = o
            count += 1
        else:
            n_fallback = ts.hand_back(fb_line, fb_offsets, fb_text, n_fallback, index, b, start, end)
        start = end + 1
        index += 1
        j += 1
    return count, n_fallback


@njit(inline="always")
def _copy_list(text, row, o, b, start, end):  # pragma: no cover - compiled
    """Copy a retry list as the SQL writes it: each " : " as ", " (", " stays)."""
    i = start
    while i < end:
        if b[i] == _SP and b[i + 1] == _COLON:
            text[row + o] = _COMMA
            o += 1
            i += 2  # the space after the colon is copied next
        else:
            text[row + o] = b[i]
            o += 1
            i += 1
    return o


@njit(nogil=True, inline="always")
def _walk(b, events, j, q, h, rq, mid, tail, folds, head):  # pragma: no cover - compiled
    """Sort one line's structural bytes into the places the format has for them.

    Returns (whether the line has the format's shape, the index of its LF in events); folds[0]
    gets a bit for each field after the user agent that holds a retry list (bit k: field k). The
    segments are the line's parts between quotes: 0 the head, 1 the request, 2 status and
    bytes, 3 the referer, 4 the gap, 5 the user agent, 6 the nine fields after it.
    """
    ok = True
    seg = 0
    n = 0  # structural bytes seen in this segment
    skip = 0  # spaces of a retry list's separator still to pass
    rq[:] = -1
    folds[0] = 0
    while True:
        p = events[j]
        c = b[p]
        if c == _LF:
            return ok and seg == 6 and n == 9, j
        j += 1
        if not ok:
            continue
        if c == _QUOTE:
            if seg == 6:
                ok = False
                continue
            if (seg == 0 and n != 7) or (seg == 2 and n != 3):
                ok = False
                continue
            q[seg] = p
            seg += 1
            n = 0
        elif seg == 0:  # exactly " ", " ", " ", "[", " ", "]", " "
            if n == 7 or c != head[n]:
                ok = False
            else:
                h[n] = p
                n += 1
        elif seg == 1:  # its first three spaces, and the first '?' after the first
            if c == _SP:
                if n < 3:
                    rq[n] = p
                n += 1
            elif c == _QMARK and n == 1 and rq[3] < 0:
                rq[3] = p
        elif seg == 2:  # three spaces, nothing else
            if c != _SP or n == 3:
                ok = False
            else:
                mid[n] = p
                n += 1
        elif seg == 6:  # nine separating spaces, and the retry lists' separators
            if skip > 0 and c == _SP:  # the second space of a ", " or " : "
                skip -= 1
            elif c == _COMMA or (c == _SP and b[p + 1] == _COLON and b[p + 2] == _SP):
                # A retry list "a, b" or an internal-redirect group "a : b". The SQL folds both
                # into ", " before splitting; only $upstream_addr … $upstream_status hold them.
                # A separator in any other field, or doubled, or a bare comma: the SQL decides.
                gap = 1 if c == _COMMA else 2
                after = b[p + gap + 1]
                if n < 5 or n > 8 or b[p + gap] != _SP or b[p - 1] == _SP or b[p - 1] == _COMMA \
                        or after == _SP or after == _COMMA or after == _LF or after == _COLON:
                    ok = False
                else:
                    folds[0] |= 1 << n
                    skip = 1
            elif c == _SP:
                if n == 9:
                    ok = False
                else:
                    tail[n] = p
                    n += 1


@njit(inline="always")
def _field(fs, fe, fv, f, start, end, not_null):  # pragma: no cover - compiled
    fs[f] = start
    fe[f] = end
    fv[f] = not_null


@njit(inline="always")
def _not_dash(b, start, end):  # pragma: no cover - compiled
    """The SQL's nullif(x, '-')."""
    return not (end - start == 1 and b[start] == _DASH)


@njit(nogil=True, cache=True, _nrt=False)
def _fields(b, s, e, q, h, rq, mid, tail, folds, fs, fe, fv, fx, nums, dur, month_keys, days_in_month):  # pragma: no cover
    """The fields of a line of the format's shape, converted as the SQL converts them; False
    when a field is not what nginx writes (the SQL then decides)."""
    q0, q1, q2, q3, q4, q5 = q[0], q[1], q[2], q[3], q[4], q[5]
    # --- $remote_addr - $remote_user [$time_local] -----------------------------------------------
    # The SQL takes the address up to the first space, the user between the first " - " and the
    # first " [", and the time between the first "[" and the first "]". _walk made sure neither
    # address nor user holds a space or bracket; the time has a fixed width.
    ip_end, user_end = h[0], h[2]
    if ip_end == s or h[1] != ip_end + 2 or b[ip_end + 1] != _DASH or user_end <= ip_end + 3 \
            or user_end != q0 - 30 or h[3] != q0 - 29 or h[4] != q0 - 8 or h[5] != q0 - 2 or h[6] != q0 - 1:
        return False
    t = q0 - 28  # dd/Mon/yyyy:HH:MM:SS +zzzz
    if b[t + 2] != _SLASH or b[t + 6] != _SLASH or b[t + 11] != _COLON or b[t + 14] != _COLON \
            or b[t + 17] != _COLON:
        return False
    day = ts.digits(b, t, t + 2, 2)
    year = ts.digits(b, t + 7, t + 11, 4)
    hour = ts.digits(b, t + 12, t + 14, 2)
    minute = ts.digits(b, t + 15, t + 17, 2)
    second = ts.digits(b, t + 18, t + 20, 2)
    zone_h = ts.digits(b, t + 22, t + 24, 2)
    zone_m = ts.digits(b, t + 24, t + 26, 2)
    sign = b[t + 21]
    if day < 1 or year < 1970 or year > 2999 or hour < 0 or hour > 23 or minute < 0 or minute > 59 \
            or second < 0 or second > 59 or zone_h < 0 or zone_m < 0 or (sign != _PLUS and sign != _DASH):
        return False
    key = (np.int64(b[t + 3]) << 16) | (np.int64(b[t + 4]) << 8) | np.int64(b[t + 5])
    month = 0
    for m in range(12):
        if month_keys[m] == key:
            month = m + 1
    if month == 0:
        return False
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    if day > days_in_month[month - 1] + (1 if month == 2 and leap else 0):
        return False
    days = ts.days_from_civil(year, month, day)
    offset_s = (zone_h * 60 + zone_m) * 60  # %z reads any two-digit hours and minutes
    if sign == _DASH:
        offset_s = -offset_s
    nums[0] = (((days * 24 + hour) * 60 + minute) * 60 + second - offset_s) * 1_000_000
    _field(fs, fe, fv, _CLIENT_IP, s, ip_end, True)
    _field(fs, fe, fv, _REMOTE_USER, ip_end + 3, user_end, _not_dash(b, ip_end + 3, user_end))
    # --- "$request": method, target, protocol ---------------------------------------------------
    # The SQL splits it on spaces and takes the first three parts, any of which may be missing
    # (a TLS handshake sent to the HTTP port logs one part); more are ignored.
    sp1, sp2, sp3, qm = rq[0], rq[1], rq[2], rq[3]  # -1: no such space; qm: the target's first '?'
    method_end = sp1 if sp1 >= 0 else q1
    _field(fs, fe, fv, _METHOD, q0 + 1, method_end, method_end > q0 + 1)  # nullif(method, '')
    target_end = sp2 if sp2 >= 0 else q1
    path_end = qm if qm >= 0 else target_end
    _field(fs, fe, fv, _PATH, sp1 + 1, path_end, sp1 >= 0 and path_end > sp1 + 1)  # nullif(path, '')
    _field(fs, fe, fv, _QUERY, qm + 1 if qm >= 0 else target_end, target_end, qm >= 0)  # '' after a bare '?'
    _field(fs, fe, fv, _PROTOCOL, sp2 + 1, sp3 if sp3 >= 0 else q1, sp2 >= 0)
    # --- $status $body_bytes_sent: " ddd n " ----------------------------------------------------
    if mid[0] != q1 + 1 or mid[1] != q1 + 5 or mid[2] != q2 - 1:
        return False
    status = ts.digits(b, q1 + 2, q1 + 5, 3)
    sent = ts.digits(b, q1 + 6, q2 - 1, 18)
    if status < 0 or sent < 0:
        return False
    nums[3] = status
    nums[1] = sent
    # --- "$http_referer" "$http_user_agent": anything but a quote --------------------------------
    _field(fs, fe, fv, _REFERER, q2 + 1, q3, _not_dash(b, q2 + 1, q3))
    _field(fs, fe, fv, _USER_AGENT, q4 + 1, q5, _not_dash(b, q4 + 1, q5))
    # --- the nine fields after the user agent -----------------------------------------------------
    if tail[0] != q5 + 1 or e <= tail[8] + 1:
        return False
    for k in range(8):
        if tail[k + 1] == tail[k] + 1:  # an empty field
            return False
    rl = ts.digits(b, tail[0] + 1, tail[1], 18)
    if rl < 0:
        return False
    nums[2] = rl
    # $request_time, "s.mmm": (digits / 10^decimals) is the correctly rounded double of the
    # decimal, as DuckDB's cast gives
    rt_s, rt_e = tail[1] + 1, tail[2]
    dot = -1
    for i in range(rt_s, rt_e):
        if b[i] == _DOT:
            dot = i
            break
    if dot < 0:
        whole = ts.digits(b, rt_s, rt_e, 15)
        if whole < 0:
            return False
        dur[0] = float(whole)
    else:
        whole = ts.digits(b, rt_s, dot, 9)
        frac = ts.digits(b, dot + 1, rt_e, 6)
        if whole < 0 or frac < 0:
            return False
        scale = 10 ** (rt_e - dot - 1)
        dur[0] = (whole * scale + frac) / scale
    # [$proxy_upstream_name]: the SQL drops the first and last character
    up_s, up_e = tail[2] + 1, tail[3]
    if up_e - up_s < 2 or b[up_s] != _LBRACKET or b[up_e - 1] != _RBRACKET:
        return False
    _field(fs, fe, fv, _UPSTREAM, up_s + 1, up_e - 1, up_e - up_s > 2)  # nullif(upstream, '')
    _field(fs, fe, fv, _UPSTREAM_ADDR, tail[4] + 1, tail[5], _not_dash(b, tail[4] + 1, tail[5]))
    _field(fs, fe, fv, _UPSTREAM_STATUS, tail[7] + 1, tail[8], _not_dash(b, tail[7] + 1, tail[8]))
    _field(fs, fe, fv, _REQUEST_ID, tail[8] + 1, e, _not_dash(b, tail[8] + 1, e))
    fx[:] = False
    fx[_UPSTREAM_ADDR] = (folds >> 5) & 1 == 1
    fx[_UPSTREAM_STATUS] = (folds >> 8) & 1 == 1
    return True


if ts.KERNELS is not None:  # the built kernel replaces the function above (tokenizer_aot)
    _scan = ts.KERNELS.nginx_scan  # noqa: F811
