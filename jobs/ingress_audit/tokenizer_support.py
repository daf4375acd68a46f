"""What the compiled tokenizers (nginx_tokenizer, audit_tokenizer) share: numba's cache folder,
their result, reading a chunk, a memcpy and 8-byte loads and stores, Arrow arrays over their
buffers, and date arithmetic.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# The kernels built ahead of time (tokenizer_aot), or None: then numba compiles them. With them,
# nothing imports numba (~0.5 s of CPU holding the GIL): the decorators below leave the functions
# as written, and the names only their compiled bodies use (ir, cgutils, types, trailing_zeros)
# are not defined.
from . import tokenizer_aot  # noqa: E402

KERNELS = tokenizer_aot.load()
if KERNELS is None:
    # numba keys compiled code by the tokenizer's own file only: after changing a compiled function
    # here, touch nginx_tokenizer.py and audit_tokenizer.py too (an installed package's files all
    # change together). Where the code is kept: tokenizer_cache (numba reads it when imported).
    from .tokenizer_cache import choose_cache_folder

    choose_cache_folder()
    import numba
    from llvmlite import ir
    from numba.core import cgutils, types
    from numba.cpython.unsafe.numbers import trailing_zeros  # noqa: F401 - for the tokenizers
    from numba.extending import intrinsic

    njit = numba.njit
else:
    njit = intrinsic = tokenizer_aot.as_is

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402

LF = 10


@dataclass(frozen=True)
class Tokenized:
    """One chunk, tokenized: the accepted lines as columns, the others handed back.

    The arrays share the tokenizing thread's buffers: use them before that thread tokenizes again.
    """

    columns: dict[str, pa.Array]  # line, ts and the other columns the tokenizer fills
    fallback_lines: pa.Array  # int64: 1-based line numbers (within the object) of the other lines
    fallback_text: pa.Array  # string: those lines' text

    @property
    def accepted(self) -> int:
        return len(self.columns["line"])


def read_chunk(text: Path | np.ndarray, data: np.ndarray) -> np.ndarray:
    """A chunk's bytes, ending with LF, with 8 bytes to spare after it (for 8-byte loads).

    A chunk file is read into `data` (at least its size + 9); a chunk in memory (a view of a
    pooled array with chunks.SLACK bytes after it) is used where it is, without a copy.
    """
    if isinstance(text, Path):
        size = text.stat().st_size
        with text.open("rb") as f:
            got = f.readinto(memoryview(data)[:size])
        if got != size:
            raise OSError(f"{text}: read {got} of {size} bytes")
    else:
        size = text.size
        data = text.base if text.base is not None else text
        if data.size < size + 9 or data.ctypes.data != text.ctypes.data:
            raise ValueError("an in-memory chunk must be the start of an array with room after its text")
    if size and data[size - 1] != LF:
        data[size] = LF
        size += 1
    return data[:size]


def handed_back(columns: dict[str, pa.Array], first_line: int, n_fallback: int, fb_line: np.ndarray,
                fb_offsets: np.ndarray, fb_text: np.ndarray) -> Tokenized:
    """The Tokenized of a chunk: its columns, and the lines hand_back() gave back."""
    return Tokenized(columns=columns, fallback_lines=pa.array(fb_line[:n_fallback] + first_line),
                     fallback_text=string_array(n_fallback, fb_offsets, fb_text, None))


def chunk_size(text: Path | np.ndarray) -> int:
    return text.stat().st_size if isinstance(text, Path) else text.size


def string_array(count: int, offsets: np.ndarray, data: np.ndarray, valid: np.ndarray | None) -> pa.Array:
    """An Arrow string array over a tokenizer's buffers, without copying them."""
    end = int(offsets[count])
    bitmap = None if valid is None else validity(count, valid)
    return pa.Array.from_buffers(pa.string(), count, [bitmap, pa.py_buffer(offsets[: count + 1]),
                                                      pa.py_buffer(data[:end])])


def validity(count: int, valid: np.ndarray) -> pa.Buffer | None:
    """An Arrow validity bitmap of valid[:count], or None when all are valid."""
    if valid[:count].all():
        return None
    return pa.py_buffer(np.packbits(valid[:count], bitorder="little"))


@njit(nogil=True, cache=True)
def index(b, structural, events):  # pragma: no cover - compiled
    """The positions of the structural bytes of b (structural[byte] == 1), in events; returns
    how many. Branch-free (always store, advance by 0 or 1): 3x faster here than testing each byte.
    """
    k = 0
    for i in range(b.size):
        events[k] = i
        k += structural[b[i]]
    return k


@intrinsic
def copy(typingctx, dst, dst_start, src, src_start, length):
    """memcpy between two C-contiguous uint8 arrays (flat offsets, unchecked): 3x faster here
    than a byte loop, which LLVM cannot vectorize for fields of ~20 bytes. (ctypes' memcpy is
    as fast, but numba cannot cache code that calls it: every run would compile again.)"""
    def codegen(context, builder, signature, args):
        dst_array = context.make_array(signature.args[0])(context, builder, args[0])
        src_array = context.make_array(signature.args[2])(context, builder, args[2])
        cgutils.raw_memcpy(builder, builder.gep(dst_array.data, [args[1]]),
                           builder.gep(src_array.data, [args[3]]), args[4], 1)
        return context.get_dummy_value()
    return types.none(dst, dst_start, src, src_start, length), codegen


@intrinsic
def load8(typingctx, src, start):
    """The 8 bytes of a uint8 array from `start` as one little-endian uint64 (unaligned,
    unchecked: the array must have 7 bytes to spare after any start the caller reads from)."""
    def codegen(context, builder, signature, args):
        src_array = context.make_array(signature.args[0])(context, builder, args[0])
        pointer = builder.bitcast(builder.gep(src_array.data, [args[1]]), ir.IntType(64).as_pointer())
        return builder.load(pointer, align=1)
    return types.uint64(src, start), codegen


@intrinsic
def store8(typingctx, dst, start, value):
    """Store a uint64 as 8 little-endian bytes of a uint8 array from `start` (unaligned, unchecked)."""
    def codegen(context, builder, signature, args):
        dst_array = context.make_array(signature.args[0])(context, builder, args[0])
        pointer = builder.bitcast(builder.gep(dst_array.data, [args[1]]), ir.IntType(64).as_pointer())
        builder.store(args[2], pointer, align=1)
        return context.get_dummy_value()
    return types.none(dst, start, types.uint64), codegen


@njit(inline="always")
def copy_short(dst, dst_start, src, src_start, length):  # pragma: no cover - compiled
    """copy() for the short fields most are: 8 bytes at a time, without a call to memcpy. It
    reads and writes up to 7 bytes past the field: both arrays must have them to spare (what
    it writes there is overwritten by the next field, or lies past every column's end)."""
    if length > 64:
        copy(dst, dst_start, src, src_start, length)
        return
    k = 0
    while k < length:
        store8(dst, dst_start + k, load8(src, src_start + k))
        k += 8


_LOW7 = np.uint64(0x7F7F7F7F7F7F7F7F)


@njit(inline="always")
def zero_bytes(x):  # pragma: no cover - compiled
    """0x80 in each byte of x that is zero, else 0: exact (no borrow from byte to byte), so the
    lowest set bit is the first zero byte (SWAR: eight bytes tested at once)."""
    return ~(((x & _LOW7) + _LOW7) | x | _LOW7)


@njit(inline="always")
def hand_back(fb_line, fb_offsets, fb_text, n_fallback, index, b, start, end):  # pragma: no cover - compiled
    """Keep the line b[start:end] (the chunk's line `index`) for the SQL; returns the new count."""
    o = fb_offsets[n_fallback]
    copy(fb_text, o, b, start, end - start)
    fb_line[n_fallback] = index
    fb_offsets[n_fallback + 1] = o + end - start
    return n_fallback + 1


@njit(inline="always")
def days_from_civil(year, month, day):  # pragma: no cover - compiled
    """Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil)."""
    y = year - (1 if month <= 2 else 0)
    era = y // 400
    yoe = y - era * 400
    doy = (153 * ((month + 9) % 12) + 2) // 5 + day - 1
    return era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468


@njit(inline="always")
def digits(b, start, end, max_digits):  # pragma: no cover - compiled
    """The unsigned integer b[start:end], or -1 unless it is 1..max_digits ASCII digits."""
    if end <= start or end - start > max_digits:
        return -1
    v = 0
    for i in range(start, end):
        d = np.int64(b[i]) - 48
        if d < 0 or d > 9:
            return -1
        v = v * 10 + d
    return v


@njit(inline="always")
def days_in_month(year, month):  # pragma: no cover - compiled
    if month == 2:
        return 29 if year % 4 == 0 and (year % 100 != 0 or year % 400 == 0) else 28
    return 30 if month == 4 or month == 6 or month == 9 or month == 11 else 31


if KERNELS is not None:  # the built kernel replaces the function above
    index = KERNELS.index  # noqa: F811
