"""Cut an archive object into plain-text chunk files that DuckDB parses in parallel.

Why: DuckDB's gzip reader is single-threaded, and numbering lines (`row_number() OVER ()`)
makes a query single-threaded too. Inflating with ISA-L (which releases the GIL) in one thread
while DuckDB parses earlier chunks in others keeps both cores busy, and each chunk knows the
line number it starts at, so line numbers stay exact. Lines are never split across chunks.
"""

from __future__ import annotations

import gzip
import os
import re
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np
from isal import isal_zlib

from .errors import ConfigError

CHUNK_BYTES = 64 * 1024 * 1024  # fewer, larger queries: each costs ~50 ms to plan
# A record longer than this is cut off and rejected: an object without newlines (a binary
# file, a gzip bomb) must not grow one chunk without bound.
MAX_LINE_BYTES = 64 * 1024 * 1024
_GZIP_MAGIC = b"\x1f\x8b"
_BOM = "\ufeff".encode()
_READ_BYTES = 1024 * 1024
_COMPRESSED_READ_BYTES = 64 * 1024
# Output of one inflate step: with a fixed input block, bounds the memory a gzip bomb can take
# (64 KiB of deflate could otherwise inflate to ~66 MB in one call). Logs inflate 64 KiB to
# well under this, so it costs nothing on real objects.
_INFLATE_STEP_BYTES = 4 * 1024 * 1024
# Decompressed bytes one object may hold: a 10 MB gzip that inflates to terabytes stops here.
MAX_OBJECT_BYTES_ENV = "INGRESS_AUDIT_MAX_OBJECT_BYTES"
DEFAULT_MAX_OBJECT_BYTES = 64 * 1024**3
_SIZE_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}
_READ_ERRORS = (OSError, EOFError, zlib.error, gzip.BadGzipFile, isal_zlib.error)


class ObjectReadError(Exception):
    """The object's bytes could not be read to the end (corrupt or truncated gzip, I/O error)."""


class ObjectTooLarge(ObjectReadError):
    """The object inflates to more than the cap: nothing of it may count, unlike a damaged gzip."""


def max_object_bytes() -> int:
    """The cap on an object's decompressed bytes: INGRESS_AUDIT_MAX_OBJECT_BYTES, default 64 GiB.

    Bytes, or a number with a binary unit: `500000000`, `512MiB`, `64G`, `1.5TiB`.
    """
    text = os.environ.get(MAX_OBJECT_BYTES_ENV, "").strip()
    if not text:
        return DEFAULT_MAX_OBJECT_BYTES
    value = parse_size(text)
    if value <= 0:
        raise ConfigError(f"{MAX_OBJECT_BYTES_ENV}={text!r} is not a positive size (bytes, or e.g. 64GiB)")
    return value


def parse_size(text: str) -> int:
    """Bytes from `500000000`, `512MiB`, `64G` or `1.5TiB` (binary units); 0 when unreadable."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?", text.strip(), re.IGNORECASE)
    return int(float(m[1]) * _SIZE_UNITS[m[2].lower()]) if m else 0


def _human(n: int) -> str:
    for unit, size in (("TiB", 1024**4), ("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} bytes"


@dataclass(frozen=True)
class Chunk:
    """Whole lines of an object: plain UTF-8 text in a file, or in memory (`data`)."""

    index: int
    path: Path | None  # the chunk file; None when the chunk is in `data`
    first_line: int  # 1-based line number of the chunk's first line within the object
    n_lines: int  # physical lines in the chunk, blank ones included
    replaced_bytes: bool  # invalid UTF-8 was replaced with U+FFFD
    # the text, when cut in memory (iter_chunks(..., in_memory=True)): a view of a pooled array
    # with at least SLACK bytes after it, which the compiled tokenizers may use
    data: np.ndarray | None = field(default=None, repr=False, compare=False)

    @property
    def text(self) -> Path | np.ndarray:
        """Where the text is: what the compiled tokenizers read."""
        return self.data if self.path is None else self.path

    @property
    def size(self) -> int:
        return len(self.data) if self.path is None else self.path.stat().st_size

    def discard(self) -> None:
        """Once parsed: delete the chunk file, or give the memory back to the pool."""
        if self.path is not None:
            self.path.unlink(missing_ok=True)
        elif self.data is not None:
            _POOL.give(self.data.base)


# Bytes an in-memory chunk's array holds beyond its text (for a final LF and 8-byte loads)
SLACK = 16


def text_chunk(text: bytes) -> np.ndarray:
    """`text` as an in-memory chunk for the tokenizers: the start of a fresh array with SLACK
    bytes after it (the pooled chunks of iter_chunks are for whole objects)."""
    array = np.zeros(len(text) + SLACK, np.uint8)
    array[: len(text)] = np.frombuffer(text, np.uint8)
    return array[: len(text)]


class _ArrayPool:
    """Arrays for in-memory chunks, reused from chunk to chunk: a fresh array's pages cost more
    to fault in (~0.5 us an audit event) than writing the chunk to a file and reading it back.
    At most a few are in use at once (the chunks in flight); release() frees them all."""

    def __init__(self) -> None:
        self.free: list[np.ndarray] = []
        self.lock = threading.Lock()

    def take(self, size: int) -> np.ndarray:
        with self.lock:
            for i, array in enumerate(self.free):
                if array.size >= size:
                    return self.free.pop(i)
        return np.empty(size, np.uint8)

    def give(self, array: np.ndarray) -> None:
        with self.lock:
            if not any(a is array for a in self.free):  # a chunk discarded twice
                self.free.append(array)

    def release(self) -> None:
        with self.lock:
            self.free.clear()


_POOL = _ArrayPool()


def release_memory() -> None:
    """Free the arrays kept for in-memory chunks (staging calls this when it is done)."""
    _POOL.release()


class _MemoryFile:
    """The open in-memory chunk: the few file operations _Cutter uses, over a pooled array."""

    def __init__(self, chunk_bytes: int) -> None:
        # a chunk is cut at the first block that takes it to chunk_bytes: room for one more block
        self.array = _POOL.take(chunk_bytes + max(_INFLATE_STEP_BYTES, _READ_BYTES) + SLACK)
        self.pos = self.size = 0

    def write(self, block: bytes) -> None:
        end = self.pos + len(block)
        if end + SLACK > self.array.size:  # a long line: grow
            bigger = _POOL.take(2 * end + SLACK)
            bigger[: self.size] = self.array[: self.size]
            _POOL.give(self.array)
            self.array = bigger
        self.array[self.pos:end] = np.frombuffer(block, np.uint8)
        self.pos = end
        self.size = max(self.size, end)

    def seek(self, pos: int) -> None:
        self.pos = pos

    def read(self) -> bytes:
        out = self.array[self.pos:self.size].tobytes()
        self.pos = self.size
        return out

    def truncate(self) -> None:
        self.size = self.pos

    def close(self) -> None:
        """Closed without a chunk (discarded): the array goes back to the pool."""
        _POOL.give(self.array)

    def take(self) -> np.ndarray:
        """The text, as a view of the array, which now belongs to the chunk."""
        return self.array[: self.size]


@dataclass(frozen=True)
class OverlongLine:
    line: int
    head: str  # the start of the line, for the reject's raw text


def iter_blocks(path: Path) -> Iterator[bytes]:
    """The object's bytes, inflated when gzip (multi-member too), in blocks.

    Inflating with a decompressor object rather than a gzip file reader loses nothing on a
    damaged object: every byte before the damage is yielded, then ObjectReadError is raised.
    Memory stays bounded whatever the object holds (a fixed input block, at most
    _INFLATE_STEP_BYTES out per step), and ObjectTooLarge is raised, while streaming, before
    more than max_object_bytes() in total would be yielded.
    """
    cap = max_object_bytes()
    total = 0

    def capped(out: bytes) -> bytes:
        nonlocal total
        total += len(out)
        if total > cap:
            raise ObjectTooLarge(f"decompressed size exceeds the cap of {_human(cap)} ({MAX_OBJECT_BYTES_ENV})")
        return out

    try:
        with path.open("rb") as f:
            if f.read(2) != _GZIP_MAGIC:
                f.seek(0)
                while block := f.read(_READ_BYTES):
                    yield capped(block)
                return
            f.seek(0)
            inflater = isal_zlib.decompressobj(wbits=31)
            member_open = False
            while raw := f.read(_COMPRESSED_READ_BYTES):
                while raw:
                    if not member_open:
                        if raw.strip(b"\0") == b"":
                            break  # zero padding after the last member (seen with some writers)
                        inflater = isal_zlib.decompressobj(wbits=31)
                        member_open = True
                    for out in _inflate(inflater, raw):
                        yield capped(out)
                    if inflater.eof:  # a member ended: what follows may be another member
                        member_open = False
                        raw = inflater.unused_data
                    else:
                        raw = b""
            if member_open:
                raise EOFError("compressed data ended before the end-of-stream marker")
    except _READ_ERRORS as exc:
        raise ObjectReadError(_describe(exc)) from None


def _inflate(inflater, raw: bytes) -> Iterator[bytes]:
    """All the output of `raw` (until its member ends), at most _INFLATE_STEP_BYTES at a time."""
    while True:
        out = inflater.decompress(raw, _INFLATE_STEP_BYTES)
        if out:
            yield out
        raw = inflater.unconsumed_tail
        # a full step with no input left may still leave output pending in the inflater
        if inflater.eof or (not raw and len(out) < _INFLATE_STEP_BYTES):
            return


def read_head(path: Path, max_lines: int = 50, max_bytes: int = 4 * 1024 * 1024) -> list[str]:
    """The first non-blank lines of an object, for sniffing its format.

    A damaged object still yields the lines before the damage; staging reports the damage.
    """
    buf = b""
    damage = None
    try:
        for block in iter_blocks(path):
            buf += block
            if buf.count(b"\n") > max_lines or len(buf) >= max_bytes:
                break
    except ObjectReadError as exc:
        damage = exc
    # blank as staging counts it (stage._NOT_BLANK): nothing but spaces; a tab-only line is a record
    lines = [l.decode("utf-8", "replace") for l in buf.split(b"\n") if l.removesuffix(b"\r").replace(_BOM, b"").strip(b" ")]
    if damage is not None and not lines:  # blank lines, then damage: not an empty object
        raise damage
    return lines[:max_lines]


def iter_chunks(
    path: Path, work_dir: Path, stem: str, chunk_bytes: int = CHUNK_BYTES, *, in_memory: bool = False
) -> Iterator[Chunk | OverlongLine]:
    """Yield chunks (and overlong lines, which are in no chunk) in object order.

    Chunks are files in work_dir, or with in_memory, arrays: for the compiled tokenizers, which
    read bytes, a file is a copy into the kernel and one out (~0.9 us of CPU an audit event).
    The caller discards each chunk once parsed (Chunk.discard). When the object cannot be
    read to the end (a truncated or corrupt gzip), what was inflated before the damage is still
    yielded, then ObjectReadError is raised.
    """
    state = _Cutter(work_dir, stem, in_memory)
    try:
        for block in iter_blocks(path):
            yield from state.feed(block, final=False, chunk_bytes=chunk_bytes)
    except ObjectTooLarge:
        state.discard()  # nothing of the object counts: no last chunk
        raise
    except ObjectReadError as exc:
        yield from state.feed(b"", final=True, chunk_bytes=chunk_bytes)
        raise ObjectReadError(f"{exc} (after line {state.next_line - 1})") from None
    yield from state.feed(b"", final=True, chunk_bytes=chunk_bytes)


class _Cutter:
    """Streams inflated blocks into chunk files, cutting only after a newline.

    Blocks are written as they come, never joined into one big buffer: the main thread's cost
    per line is what keeps the parse workers waiting, so it stays at a count and a write per
    block. The partial line at a cut (or an overlong line) is read back from the file.
    """

    def __init__(self, work_dir: Path, stem: str, in_memory: bool = False) -> None:
        self.work_dir, self.stem, self.in_memory = work_dir, stem, in_memory
        self.index = 0
        self.next_line = 1  # line number of the open chunk's first line
        self.file: BinaryIO | _MemoryFile | None = None
        self.size = 0  # bytes in the open chunk file
        self.newlines = 0  # newlines in the open chunk file
        self.line_start = 0  # offset of the line still being written
        self.ascii = True
        self.skipping = False  # inside an overlong line: drop bytes until its newline
        self.held_cr = False  # the last block ended in CR: is it half of a CRLF?
        self.replaced = False  # a lone CR was replaced in the open chunk

    def _line_ends(self, block: bytes, final: bool) -> bytes:
        """CRLF as LF, and a CR that ends no line as U+FFFD.

        DuckDB's CSV reader ends a line at any CR, whatever `new_line` says, so a lone CR
        inside a line would split its record and shift every later line number.
        """
        if self.held_cr:
            block, self.held_cr = b"\r" + block, False
        if b"\r" not in block:
            return block
        if block.endswith(b"\r"):
            # the LF may start the next block; at the end, a CRLF that lost its LF
            block, self.held_cr = block[:-1], not final
        block = block.replace(b"\r\n", b"\n")
        if b"\r" in block:
            block = block.replace(b"\r", "\ufffd".encode())
            self.replaced = True
        return block

    def feed(self, block: bytes, *, final: bool, chunk_bytes: int) -> Iterator[Chunk | OverlongLine]:
        block = self._line_ends(block, final)
        if block and self.skipping:
            nl = block.find(b"\n")
            if nl < 0:
                return
            block, self.skipping = block[nl + 1 :], False
            self.next_line += 1  # the overlong line, now fully skipped
        if block:
            yield from self._write(block, chunk_bytes)
        if final and self.size:
            yield self._close(ends_with_newline=self.line_start == self.size)

    def _write(self, block: bytes, chunk_bytes: int) -> Iterator[Chunk | OverlongLine]:
        if self.file is None:
            self.file = _MemoryFile(chunk_bytes) if self.in_memory else \
                (self.work_dir / f"{self.stem}-{self.index:05d}.txt").open("w+b")
        self.file.write(block)
        last_nl = block.rfind(b"\n")
        if last_nl >= 0:
            self.newlines += _count_newlines(block)
            self.line_start = self.size + last_nl + 1
        self.size += len(block)
        self.ascii = self.ascii and block.isascii()
        if self.size - self.line_start > MAX_LINE_BYTES:
            head = self._take_partial_line()[:2000]
            if self.size:
                yield self._close(ends_with_newline=True)
            yield OverlongLine(self.next_line, head.decode("utf-8", "replace"))
            self.skipping = True
        elif self.size >= chunk_bytes and self.line_start > 0:
            partial = self._take_partial_line()
            yield self._close(ends_with_newline=True)
            if partial:
                yield from self._write(partial, chunk_bytes)

    def discard(self) -> None:
        """Close and delete the open chunk file, if any."""
        if self.file is not None:
            path = None if self.in_memory else Path(self.file.name)
            self.file.close()
            self.file = None
            if path is not None:
                path.unlink(missing_ok=True)

    def _take_partial_line(self) -> bytes:
        """Remove the unfinished last line from the open file and return its bytes."""
        assert self.file is not None
        self.file.seek(self.line_start)
        partial = self.file.read()
        self.file.seek(self.line_start)
        self.file.truncate()
        self.size = self.line_start
        return partial

    def _close(self, *, ends_with_newline: bool) -> Chunk:
        assert self.file is not None
        replaced, self.replaced = self.replaced, False
        if not self.ascii:
            self.file.seek(0)
            body = self.file.read()
            # DuckDB drops a BOM at the start of a chunk file only: dropped everywhere, a line's
            # records do not depend on where the chunks were cut
            fixed = body.replace(_BOM, b"")
            try:
                fixed.decode("utf-8")
            except UnicodeDecodeError:
                # Rare (nginx escapes bytes above 0x7E); keep the record, flag the object.
                fixed = fixed.decode("utf-8", "replace").encode("utf-8")
                replaced = True
            if fixed != body:
                self.file.seek(0)
                self.file.truncate()
                self.file.write(fixed)
        if isinstance(self.file, _MemoryFile):
            path, data = None, self.file.take()
        else:
            path, data = Path(self.file.name), None
            self.file.close()
        self.file = None
        n_lines = self.newlines + (0 if ends_with_newline else 1)
        chunk = Chunk(self.index, path, self.next_line, n_lines, replaced, data)
        self.next_line += n_lines
        self.index += 1
        self.size = self.newlines = self.line_start = 0
        self.ascii = True
        return chunk


def _count_newlines(block: bytes) -> int:
    """LF bytes in the block. numpy counts twice as fast as bytes.count and releases the GIL,
    so the parse workers' Python side is not held up: this runs over every inflated byte on the
    thread the whole staging waits on."""
    return int(np.count_nonzero(np.frombuffer(block, dtype=np.uint8) == _LF))


_LF = ord("\n")


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    if isinstance(exc, EOFError):
        return f"truncated gzip: {text}"
    if isinstance(exc, (zlib.error, gzip.BadGzipFile, isal_zlib.error)) or "gzip" in text.lower() or "deflate" in text.lower():
        return f"corrupt gzip: {text}"
    return f"read error: {text}"
