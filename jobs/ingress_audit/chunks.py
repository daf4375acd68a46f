"""Cut an archive object into plain-text chunk files that DuckDB parses in parallel.

Why: DuckDB's gzip reader is single-threaded, and numbering lines (`row_number() OVER ()`)
makes a query single-threaded too. Inflating with ISA-L (which releases the GIL) in one thread
while DuckDB parses earlier chunks in others keeps both cores busy, and each chunk knows the
line number it starts at, so line numbers stay exact. Lines are never split across chunks.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from isal import igzip, isal_zlib

CHUNK_BYTES = 32 * 1024 * 1024
# A record longer than this is cut off and rejected: an object without newlines (a binary
# file, a gzip bomb) must not grow one chunk without bound.
MAX_LINE_BYTES = 64 * 1024 * 1024
_GZIP_MAGIC = b"\x1f\x8b"


class ObjectReadError(Exception):
    """The object's bytes could not be read to the end (corrupt or truncated gzip, I/O error)."""


@dataclass(frozen=True)
class Chunk:
    index: int
    path: Path  # plain UTF-8 text, whole lines
    first_line: int  # 1-based line number of the chunk's first line within the object
    n_lines: int  # physical lines in the chunk, blank ones included
    replaced_bytes: bool  # invalid UTF-8 was replaced with U+FFFD


@dataclass(frozen=True)
class OverlongLine:
    line: int
    head: str  # the start of the line, for the reject's raw text


def is_gzip(path: Path) -> bool:
    with path.open("rb") as f:
        return f.read(2) == _GZIP_MAGIC


def open_object(path: Path):
    """A binary reader that inflates gzip (multi-member too) and passes plain files through."""
    return igzip.open(path, "rb") if is_gzip(path) else path.open("rb")


def read_head(path: Path, max_lines: int = 50, max_bytes: int = 4 * 1024 * 1024) -> list[str]:
    """The first non-blank lines of an object, for sniffing its format."""
    lines: list[str] = []
    buf = b""
    try:
        with open_object(path) as f:
            while len(lines) < max_lines and len(buf) < max_bytes:
                block = f.read(256 * 1024)
                if not block:
                    break
                buf += block
                *complete, _ = buf.split(b"\n")
                lines = [l.decode("utf-8", "replace") for l in complete if l.strip()]
            if not buf.endswith(b"\n") and len(lines) < max_lines:
                tail = buf.rsplit(b"\n", 1)[-1]
                if tail.strip():
                    lines.append(tail.decode("utf-8", "replace"))
    except _READ_ERRORS as exc:
        raise ObjectReadError(_describe(exc)) from None
    return lines[:max_lines]


def iter_chunks(
    path: Path, work_dir: Path, stem: str, chunk_bytes: int = CHUNK_BYTES
) -> Iterator[Chunk | OverlongLine]:
    """Yield chunk files (and overlong lines, which are in no chunk) in object order.

    The caller deletes each chunk file once parsed. When the object cannot be read to the end
    (a truncated or corrupt gzip), what was inflated before the damage is still yielded, then
    ObjectReadError is raised.
    """
    state = _Cutter(work_dir, stem)
    try:
        with open_object(path) as f:
            while True:
                # Small reads: a damaged gzip raises on the read that hits the damage, and
                # everything inflated before it must not be lost with that read.
                block = f.read(_READ_BYTES)
                if not block:
                    break
                yield from state.feed(block, final=False, chunk_bytes=chunk_bytes)
    except _READ_ERRORS as exc:
        yield from state.feed(b"", final=True, chunk_bytes=chunk_bytes)
        raise ObjectReadError(f"{_describe(exc)} (after line {state.next_line - 1})") from None
    yield from state.feed(b"", final=True, chunk_bytes=chunk_bytes)


_READ_BYTES = 1024 * 1024
_READ_ERRORS = (OSError, EOFError, zlib.error, gzip.BadGzipFile, isal_zlib.error)


class _Cutter:
    """Accumulates inflated bytes and cuts them into whole-line chunks."""

    def __init__(self, work_dir: Path, stem: str) -> None:
        self.work_dir, self.stem = work_dir, stem
        self.parts: list[bytes] = []
        self.size = 0
        self.next_line = 1  # line number of the first line not yet yielded
        self.index = 0
        self.skipping = False  # inside an overlong line: drop bytes until its newline

    def feed(self, block: bytes, *, final: bool, chunk_bytes: int) -> Iterator[Chunk | OverlongLine]:
        if self.skipping and block:
            nl = block.find(b"\n")
            if nl < 0:
                return
            block, self.skipping = block[nl + 1 :], False
            self.next_line += 1
        if block:
            self.parts.append(block)
            self.size += len(block)
        if not final and self.size < chunk_bytes:
            return
        data = b"".join(self.parts)
        cut = len(data) if final else data.rfind(b"\n") + 1
        if cut == 0:
            if len(data) > MAX_LINE_BYTES:
                yield OverlongLine(self.next_line, data[:2000].decode("utf-8", "replace"))
                self.parts, self.size, self.skipping = [], 0, True
            return
        body, rest = data[:cut], data[cut:]
        self.parts, self.size = ([rest], len(rest)) if rest else ([], 0)
        if body:
            chunk = _write_chunk(body, self.work_dir, self.stem, self.index, self.next_line)
            self.next_line += chunk.n_lines
            self.index += 1
            yield chunk


def _write_chunk(body: bytes, work_dir: Path, stem: str, index: int, first_line: int) -> Chunk:
    replaced = False
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        # Rare (nginx escapes bytes above 0x7E); keep the record, flag the object.
        body = body.decode("utf-8", "replace").encode("utf-8")
        replaced = True
    path = work_dir / f"{stem}-{index:05d}.txt"
    path.write_bytes(body)
    n_lines = body.count(b"\n") + (0 if body.endswith(b"\n") else 1)
    return Chunk(index, path, first_line, n_lines, replaced)


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    if isinstance(exc, EOFError):
        return f"truncated gzip: {text}"
    if isinstance(exc, (zlib.error, gzip.BadGzipFile, isal_zlib.error)) or "gzip" in text.lower() or "deflate" in text.lower():
        return f"corrupt gzip: {text}"
    return f"read error: {text}"
