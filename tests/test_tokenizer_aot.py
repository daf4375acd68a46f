"""The tokenizers' kernels built ahead of time (tokenizer_aot): named after their sources, ignored
when switched off, and staging with them gives the same rows as staging with numba's JIT, without
importing numba and with the GIL released."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ingress_audit import tokenizer_aot

ROOT = Path(__file__).resolve().parents[1]


def test_the_module_name_follows_every_kernel_source(tmp_path):
    for name in tokenizer_aot.SOURCES:
        shutil.copy(tokenizer_aot.PACKAGE / name, tmp_path / name)
    first = tokenizer_aot.module_name(tmp_path)
    assert first == tokenizer_aot.module_name() and first.startswith("_kernels_")
    for name in tokenizer_aot.SOURCES:  # any change to any source: another name, so an old build is never loaded
        text = (tmp_path / name).read_bytes()
        (tmp_path / name).write_bytes(text + b"\n")
        assert tokenizer_aot.module_name(tmp_path) != first, name
        (tmp_path / name).write_bytes(text)


def test_as_is_leaves_functions_as_written():
    def f(x):
        return x + 1

    assert tokenizer_aot.as_is(f) is f
    assert tokenizer_aot.as_is(nogil=True, cache=True)(f) is f
    assert tokenizer_aot.as_is(inline="always")(f) is f


def test_a_build_that_does_not_load_is_a_warning_and_numba_compiles(tmp_path, monkeypatch, caplog):
    import importlib.machinery
    import logging

    import ingress_audit

    name = "_kernels_badbadbadbadbad0"  # not one a real build in the package folder could shadow
    suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
    (tmp_path / f"{name}{suffix}").write_bytes(b"not a shared object")
    monkeypatch.setattr(ingress_audit, "__path__", [*ingress_audit.__path__, str(tmp_path)])
    monkeypatch.setattr(tokenizer_aot, "ENABLED", True)
    monkeypatch.setattr(tokenizer_aot, "module_name", lambda: name)
    with caplog.at_level(logging.WARNING, logger="ingress_audit.tokenizer_aot"):
        assert tokenizer_aot.load() is None
    assert "does not load" in caplog.text and "numba compiles" in caplog.text


def test_switched_off_or_not_built_loads_nothing(monkeypatch):
    monkeypatch.setattr(tokenizer_aot, "ENABLED", False)
    assert tokenizer_aot.load() is None
    monkeypatch.setattr(tokenizer_aot, "ENABLED", True)
    monkeypatch.setattr(tokenizer_aot, "module_name", lambda: "_kernels_0000000000000000")
    assert tokenizer_aot.load() is None


# Stages the sample week with the kernels found in KERNELS_DIR (when given) and prints what ran and
# a digest of every staged row, in a fresh process: the kernels are chosen once, at import.
STAGE = r"""
import hashlib, json, sys, tempfile
from pathlib import Path
import ingress_audit
if sys.argv[3]:
    ingress_audit.__path__.insert(0, sys.argv[3])  # before any build in the package folder
import duckdb
from ingress_audit import pipeline, tokenizer_support
from ingress_audit.period import resolve_period
from ingress_audit.policy import load_policy
with tempfile.TemporaryDirectory() as cache:
    staged = pipeline.stage_period([sys.argv[1]], resolve_period("2026-11-16", "2026-11-23", None),
                                   load_policy(Path(sys.argv[2])), Path(cache), progress=False)
    digests = {}
    for table in ("http_requests", "audit_events"):
        files = sorted(str(p) for p in Path(cache, "staged").rglob(f"{table}/**/*.parquet"))
        rows = duckdb.sql(f"SELECT * EXCLUDE (object) FROM read_parquet({files!r}, union_by_name=true)").fetchall()
        digests[table] = [len(rows), hashlib.sha256(repr(sorted(map(repr, rows))).encode()).hexdigest()]
kernels = tokenizer_support.KERNELS
print(json.dumps({"kernels": kernels.__file__ if kernels else None, "numba": "numba" in sys.modules,
                  "totals": staged.totals(), "digests": digests}))
"""


def _stage(kernels_dir: Path, aot: str) -> dict:
    env = {**os.environ, "INGRESS_AUDIT_TOKENIZER_AOT": aot}
    r = subprocess.run([sys.executable, "-c", STAGE, str(ROOT / "sample_data" / "archive"),
                        str(ROOT / "sample_data" / "policy.yaml"), str(kernels_dir)],
                       capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_built_kernels_stage_the_same_rows_without_numba(tmp_path):
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "numba-cache")}
    (tmp_path / "_kernels_0123456789abcdef.cpython-311-x86_64-linux-gnu.so").write_bytes(b"an older build")
    built = subprocess.run([sys.executable, "-m", "ingress_audit.tokenizer_aot", str(tmp_path)],
                           capture_output=True, text=True, env=env, timeout=600)
    assert built.returncode == 0, built.stderr[-3000:]
    (so,) = tmp_path.glob("_kernels_*")  # the older build removed
    assert so.name.startswith(f"{tokenizer_aot.module_name()}.")
    # the exported functions release the GIL (as the JIT kernels' nogil=True), so two parse workers
    # tokenize at once: the wrappers call PyEval_SaveThread
    assert b"PyEval_SaveThread" in so.read_bytes()

    with_kernels = _stage(tmp_path, "on")
    assert with_kernels["kernels"] == str(so) and not with_kernels["numba"], with_kernels
    with_numba = _stage(tmp_path, "off")  # the same kernels there, switched off
    assert not with_numba["kernels"] and with_numba["numba"], with_numba

    assert with_kernels["totals"] == with_numba["totals"]
    assert with_kernels["digests"] == with_numba["digests"]
    assert with_kernels["digests"]["http_requests"][0] > 50_000 and with_kernels["digests"]["audit_events"][0] > 20_000
