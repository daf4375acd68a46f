"""The cap on an object's decompressed bytes: a gzip bomb stops at it, while streaming, and counts for nothing."""

from __future__ import annotations

import functools
import gzip
import zlib
from pathlib import Path

import pytest

from ingress_audit import chunks, pipeline

from .cli_helpers import run_cli
from .test_stage import by_name, nginx_line, stage_folder

CAP_ENV = "INGRESS_AUDIT_MAX_OBJECT_BYTES"


@functools.cache
def bomb(inflated_mib: int = 200) -> bytes:
    """A small gzip of valid nginx lines (the same few, repeated) that inflates to `inflated_mib` MiB."""
    block = ("\n".join(nginx_line(i) for i in range(8)) + "\n").encode()
    block = block * (1024 * 1024 // len(block))
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)
    return b"".join(comp.compress(block) for _ in range(inflated_mib)) + comp.flush()


@pytest.fixture()
def archive(tmp_path: Path) -> Path:
    day = tmp_path / "archive" / "2026" / "11" / "16"
    day.mkdir(parents=True)
    (day / "bomb.log.gz").write_bytes(bomb())
    (day / "normal.log.gz").write_bytes(gzip.compress("\n".join(nginx_line(i) for i in range(500)).encode() + b"\n"))
    (day / "plain.log").write_text("\n".join(nginx_line(i) for i in range(50)) + "\n")
    return tmp_path / "archive"


def test_the_bomb_is_small(archive: Path):
    assert (archive / "2026/11/16/bomb.log.gz").stat().st_size < 2_000_000


def test_a_bomb_stops_at_the_cap_and_nothing_of_it_counts(archive: Path, tmp_path: Path, monkeypatch):
    monkeypatch.setenv(CAP_ENV, "8MiB")
    # small chunks: several of the bomb's chunks are parsed into Parquet before the cap is hit
    staged = stage_folder(archive, tmp_path / "cache", chunk_bytes=1024 * 1024)
    objs = by_name(staged)
    bomb = objs["bomb.log.gz"]
    assert bomb.error == f"decompressed size exceeds the cap of 8.0 MiB ({CAP_ENV})"
    assert (bomb.records_read, bomb.records_parsed, bomb.records_rejected, bomb.files) == (0, 0, 0, [])
    assert not staged.complete
    # the other objects of the run are staged normally
    assert (objs["normal.log.gz"].records_parsed, objs["normal.log.gz"].error) == (500, None)
    assert (objs["plain.log"].records_parsed, objs["plain.log"].error) == (50, None)
    # no Parquet file of the bomb is left behind, listed or not
    on_disk = {str(p.relative_to(staged.staged_dir)) for p in staged.staged_dir.rglob("*.parquet")}
    assert on_disk == {f for o in staged.objects for f in o.files}
    con = pipeline.open_period(staged, tmp_path / "cache")
    assert con.execute("SELECT count(*) FROM http_requests").fetchone()[0] == 550
    assert con.execute("SELECT count(*) FROM objects WHERE error LIKE '%exceeds the cap%'").fetchone()[0] == 1


def test_a_cap_below_the_first_block_is_reported_too(archive: Path, tmp_path: Path, monkeypatch):
    monkeypatch.setenv(CAP_ENV, "1000")  # hit while reading the object's head, for sniffing
    objs = by_name(stage_folder(archive, tmp_path / "cache"))
    assert all("exceeds the cap of 1000 bytes" in o.error for o in objs.values())
    assert all(o.records_read == 0 and not o.files for o in objs.values())


def test_a_capped_object_is_not_cached_so_a_raised_cap_stages_it(archive: Path, tmp_path: Path, monkeypatch):
    (archive / "2026/11/16/bomb.log.gz").unlink()
    big = archive / "2026/11/16/plain.log"
    big.write_text("\n".join(nginx_line(i) for i in range(20_000)) + "\n")  # ~4 MiB
    monkeypatch.setenv(CAP_ENV, "2MiB")
    first = by_name(stage_folder(archive, tmp_path / "cache", chunk_bytes=256 * 1024))
    assert "exceeds the cap of 2.0 MiB" in first["plain.log"].error
    monkeypatch.setenv(CAP_ENV, "1GiB")
    second = by_name(stage_folder(archive, tmp_path / "cache", chunk_bytes=256 * 1024))
    assert not second["plain.log"].reused and second["plain.log"].error is None
    assert second["plain.log"].records_parsed == 20_000
    assert second["normal.log.gz"].reused


def test_the_inflate_loop_yields_bounded_blocks(archive: Path):
    total = 0
    for block in chunks.iter_blocks(archive / "2026/11/16/bomb.log.gz"):
        assert len(block) <= chunks._INFLATE_STEP_BYTES
        total += len(block)
    assert total > 199 * 1024 * 1024  # the default cap (64 GiB) lets it through


@pytest.mark.parametrize("value", ["lots", "0", "-5", "12 parsecs"])
def test_a_bad_cap_is_a_config_error(monkeypatch, value):
    monkeypatch.setenv(CAP_ENV, value)
    with pytest.raises(chunks.ConfigError, match=CAP_ENV):
        chunks.max_object_bytes()


def test_the_cli_exits_3_naming_the_capped_object(archive: Path, tmp_path: Path, capsys, monkeypatch):
    monkeypatch.setenv(CAP_ENV, "8MiB")
    monkeypatch.setenv("INGRESS_AUDIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("INGRESS_AUDIT_SOURCE", raising=False)
    result = run_cli(capsys, monkeypatch, "query", "--source", str(archive), "--from", "2026-11-16", "--to", "2026-11-23",
                     "--format", "csv", "SELECT count(*) AS n FROM http_requests")
    assert result.code == 3
    assert result.out.splitlines() == ["n", "550"]
    assert "bomb.log.gz" in result.err and "exceeds the cap" in result.err
