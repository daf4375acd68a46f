"""Cutting objects into chunks: exact line numbers, multi-member gzip, damage salvaged then reported."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from ingress_audit import chunks

DATA = b"".join(b"line %d\n" % i for i in range(1, 20001))


def _cut(path: Path, tmp_path: Path, size: int = 10_000):
    return [c for c in chunks.iter_chunks(path, tmp_path, "t", size) if isinstance(c, chunks.Chunk)]


def test_chunks_hold_whole_lines_and_know_their_first_line(tmp_path: Path):
    big = b"".join(b"line %d %s\n" % (i, b"x" * (i % 200)) for i in range(1, 40001))
    path = tmp_path / "x.log"  # plain files are read in 1 MiB blocks: several chunks
    path.write_bytes(big + b"\n\nlast without newline")
    got = _cut(path, tmp_path, size=1_000_000)
    assert len(got) >= 4
    assert sum(c.n_lines for c in got) == 40003
    assert b"".join(c.path.read_bytes() for c in got) == big + b"\n\nlast without newline"
    for c in got:
        first = c.path.read_bytes().split(b"\n", 1)[0]
        if first.startswith(b"line"):
            assert int(first.split()[1]) == c.first_line


def test_multi_member_gzip_and_zero_padding(tmp_path: Path):
    path = tmp_path / "m.gz"
    path.write_bytes(gzip.compress(DATA[:1000]) + gzip.compress(DATA[1000:]) + b"\0" * 512)
    body = b"".join(c.path.read_bytes() for c in _cut(path, tmp_path))
    assert body == DATA


def test_truncated_gzip_yields_everything_before_the_damage(tmp_path: Path):
    path = tmp_path / "t.gz"
    path.write_bytes(gzip.compress(DATA)[:20_000])
    got = []
    with pytest.raises(chunks.ObjectReadError, match="truncated gzip"):
        for c in chunks.iter_chunks(path, tmp_path, "t", 10_000):
            got.append(c)
    body = b"".join(c.path.read_bytes() for c in got)
    assert len(body) > 40_000 and DATA.startswith(body)


def test_corrupt_gzip_is_reported(tmp_path: Path):
    raw = bytearray(gzip.compress(DATA))
    raw[-6] ^= 0xFF  # the CRC in the trailer
    path = tmp_path / "c.gz"
    path.write_bytes(bytes(raw))
    with pytest.raises(chunks.ObjectReadError, match="corrupt gzip"):
        _cut(path, tmp_path)


def test_read_head_survives_damage_after_the_first_lines(tmp_path: Path):
    path = tmp_path / "t.gz"
    path.write_bytes(gzip.compress(DATA)[:5_000])
    assert chunks.read_head(path, max_lines=3) == ["line 1", "line 2", "line 3"]


def test_chunks_in_memory_equal_chunk_files(tmp_path: Path, monkeypatch):
    """The tokenizers' in-memory chunks hold what the chunk files hold: the same cuts, line
    numbers and text (CRLF, a lone CR, BOMs and invalid UTF-8 fixed the same way), no file left."""
    monkeypatch.setattr(chunks, "_COMPRESSED_READ_BYTES", 4096)  # small blocks: many cuts
    lines = [b"line %d %s" % (i, b"x" * (i % 300)) for i in range(1, 30001)]
    lines[5] = b"\xef\xbb\xbfbom"
    lines[7000] = b"caf\xe9 invalid"
    lines[20000] = b"lone\rcr"
    path = tmp_path / "x.log.gz"
    path.write_bytes(gzip.compress(b"\r\n".join(lines) + b"\r\nlast"))
    (tmp_path / "files").mkdir()
    (tmp_path / "memory").mkdir()
    files = [c for c in chunks.iter_chunks(path, tmp_path / "files", "t", 200_000) if isinstance(c, chunks.Chunk)]
    memory = [c for c in chunks.iter_chunks(path, tmp_path / "memory", "t", 200_000, in_memory=True)
              if isinstance(c, chunks.Chunk)]
    assert len(files) > 10 and len(memory) == len(files)
    for f, m in zip(files, memory):
        assert m.path is None and m.text.tobytes() == f.path.read_bytes() and m.size == f.size
        assert (m.index, m.first_line, m.n_lines, m.replaced_bytes) == (f.index, f.first_line, f.n_lines, f.replaced_bytes)
    assert any(m.replaced_bytes for m in memory)
    assert not list((tmp_path / "memory").iterdir())


def test_in_memory_chunks_reuse_their_arrays_once_discarded(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(chunks, "_READ_BYTES", 50_000)
    path = tmp_path / "x.log"
    path.write_bytes(DATA)
    first, second, *_ = (c for c in chunks.iter_chunks(path, tmp_path, "t", 100_000, in_memory=True)
                         if isinstance(c, chunks.Chunk))
    assert first.data.base is not second.data.base
    first.discard()
    first.discard()  # twice: still one free array, never handed to two chunks
    (again, *_) = [c for c in chunks.iter_chunks(path, tmp_path, "t", 100_000, in_memory=True)
                   if isinstance(c, chunks.Chunk)]
    assert again.data.base is first.data.base
    assert again.data.tobytes() == first.data.tobytes() == DATA[: again.size]
    chunks.release_memory()


def test_text_chunk_is_the_start_of_an_array_with_slack_after_it():
    chunk = chunks.text_chunk(b"a line\nanother\n")
    assert bytes(chunk) == b"a line\nanother\n"
    assert chunk.base is not None and chunk.ctypes.data == chunk.base.ctypes.data
    assert chunk.base.size == chunk.size + chunks.SLACK and not chunk.base[chunk.size:].any()
