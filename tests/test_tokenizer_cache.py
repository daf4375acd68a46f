"""The tokenizers compiled ahead of time (tokenizer_cache): the seed folder copied into numba's cache,
and a staging run that loads every tokenizer from that seed instead of compiling it."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ingress_audit import tokenizer_cache

ROOT = Path(__file__).resolve().parents[1]


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_copy_seed_copies_what_the_cache_lacks_and_keeps_what_it_has(tmp_path):
    seed, cache = tmp_path / "seed", tmp_path / "cache"
    (seed / "pkg_abc").mkdir(parents=True)
    (seed / "pkg_abc" / "f.nbi").write_bytes(b"seed index")
    (seed / "pkg_abc" / "f.1.nbc").write_bytes(b"seed code")
    (cache / "pkg_abc").mkdir(parents=True)
    (cache / "pkg_abc" / "f.nbi").write_bytes(b"newer index")  # numba added an entry in an earlier run

    assert tokenizer_cache.copy_seed(seed, cache) == 1
    assert _tree(cache) == {"pkg_abc/f.1.nbc": b"seed code", "pkg_abc/f.nbi": b"newer index"}
    assert tokenizer_cache.copy_seed(seed, cache) == 0  # a second run copies nothing


def test_a_missing_seed_is_a_warning_and_nothing_is_copied(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="ingress_audit.tokenizer_cache"):
        assert tokenizer_cache.copy_seed(tmp_path / "absent", tmp_path / "cache") == 0
    assert "INGRESS_AUDIT_NUMBA_SEED" in caplog.text and "compiled on first use" in caplog.text
    assert not (tmp_path / "cache").exists()


def test_an_unwritable_cache_is_a_warning_not_a_failure(tmp_path, caplog):
    seed = tmp_path / "seed"
    seed.mkdir()
    (seed / "f.nbi").write_bytes(b"x")
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    with caplog.at_level(logging.WARNING, logger="ingress_audit.tokenizer_cache"):
        assert tokenizer_cache.copy_seed(seed, blocked / "cache") == 0
    assert "failed" in caplog.text


def test_choose_cache_folder_seeds_numba_cache_dir(tmp_path, monkeypatch):
    seed = tmp_path / "seed"
    (seed / "d").mkdir(parents=True)
    (seed / "d" / "f.nbi").write_bytes(b"x")
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv(tokenizer_cache.SEED_ENV, str(seed))
    tokenizer_cache.choose_cache_folder()
    assert (tmp_path / "cache" / "d" / "f.nbi").read_bytes() == b"x"


def test_without_numba_cache_dir_the_module_refuses_to_compile(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    r = subprocess.run([sys.executable, "-m", "ingress_audit.tokenizer_cache"], capture_output=True, text=True, env=env)
    assert r.returncode == 2 and "NUMBA_CACHE_DIR" in r.stderr


STAGE_AND_COUNT = """
import json, sys, tempfile
from pathlib import Path
from ingress_audit import audit_tokenizer, nginx_tokenizer, pipeline, tokenizer_cache, tokenizer_support
from ingress_audit.period import resolve_period
from ingress_audit.policy import load_policy
with tempfile.TemporaryDirectory() as cache:
    staged = pipeline.stage_period([sys.argv[1]], resolve_period("2026-11-16", "2026-11-23", None),
                                   load_policy(Path(sys.argv[2])), Path(cache), progress=False)
modules = (nginx_tokenizer, audit_tokenizer, tokenizer_support)
print(json.dumps({"misses": tokenizer_cache.cache_misses(*modules),
                  "hits": sum(sum(f.stats.cache_hits.values()) for m in modules for f in tokenizer_cache.dispatchers(m)),
                  "tables": sorted({r.table for r in staged.objects if r.table}),
                  "parsed": staged.totals()["records_parsed"]}))
"""


@pytest.mark.slow
def test_a_run_seeded_from_the_image_folder_compiles_nothing(tmp_path):
    """As in the image: compiled at build time into one folder, then a run whose numba cache starts empty."""
    seed, run_cache = tmp_path / "seed", tmp_path / "run-cache"
    env = {**os.environ, "NUMBA_CPU_NAME": "generic", "NUMBA_CACHE_DIR": str(seed)}
    env.pop(tokenizer_cache.SEED_ENV, None)
    built = subprocess.run([sys.executable, "-m", "ingress_audit.tokenizer_cache"], capture_output=True, text=True,
                           env=env, timeout=300)
    assert built.returncode == 0, built.stderr
    assert "nginx_tokenizer:" in built.stdout and "audit_tokenizer:" in built.stdout
    assert any(seed.rglob("*.nbc"))

    env = {**env, "NUMBA_CACHE_DIR": str(run_cache), tokenizer_cache.SEED_ENV: str(seed)}
    r = subprocess.run([sys.executable, "-c", STAGE_AND_COUNT, str(ROOT / "sample_data" / "archive"),
                        str(ROOT / "sample_data" / "policy.yaml")], capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout.strip().splitlines()[-1])
    assert result["tables"] == ["audit_events", "http_requests"], result
    assert result["parsed"] > 100_000
    assert result["misses"] == 0, f"compiled in the run instead of loaded from the seed: {result}"
    assert result["hits"] >= 2, result  # at least each tokenizer's entry point came from the seed
