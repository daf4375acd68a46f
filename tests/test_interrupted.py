"""SIGTERM (a Kubernetes deadline) in the middle of a download and in the middle of staging.

`ingress-audit stage` runs as a subprocess against moto behind the fault proxy. It must exit 143
promptly, leave nothing partial that a later run could take for complete, and the rerun must
count exactly what an uninterrupted run counts while reusing what was already finished.
"""

from __future__ import annotations

import gzip
import json
import re
import signal
import time
from pathlib import Path

import pytest

from .fault_proxy import FaultProxy, Rule
from .s3_stack import (WEEK, cached_data_files, cli, cli_env, client_for, counts, new_bucket, query_counts,
                       records_lost, small_archive, start_cli)
from .test_stage import nginx_line

pytestmark = pytest.mark.slow  # CLI runs interrupted and rerun (~20 s)

VICTIM = "logs/2026/11/17/access.log.gz"
STALL = 30.0  # seconds the proxy holds the victim's body: far longer than the test waits


@pytest.fixture(scope="module")
def proxy(s3_server):
    with FaultProxy(s3_server) as p:
        yield p


def wait_for(condition, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def terminate(proc) -> tuple[int, str, str, float]:
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    return proc.returncode, out, err, time.monotonic() - started


def stage_args(bucket: str, cache: Path) -> list[str]:
    return ["stage", "--source", f"s3://{bucket}/logs/", *WEEK, "--cache-dir", str(cache)]


def test_sigterm_mid_download_exits_143_and_the_rerun_downloads_only_the_rest(s3_server, proxy, tmp_path):
    bucket = new_bucket(client_for(s3_server), small_archive())
    baseline = query_counts(bucket, tmp_path / "baseline", cli_env(s3_server))
    assert baseline.code == 0, baseline.err

    proxy.clear()
    proxy.add(Rule("slow", key=VICTIM, delay=STALL, where="body"))
    env = cli_env(proxy.url, INGRESS_AUDIT_S3_READ_TIMEOUT=str(STALL * 2))  # a stall, not a timeout
    cache = tmp_path / "cache"
    proc = start_cli(stage_args(bucket, cache), env)
    # the other two objects are downloaded, and the victim's download is under way (its headers
    # and half its body have arrived, in a temp file)
    wait_for(lambda: len(list(cache.rglob("%o-*.json"))) == 2 and any("access.log.gz" in str(p) for p in cache.rglob("%t-*")),
             "two finished downloads and the victim's partial one")
    code, out, err, seconds = terminate(proc)

    assert code == 143, err
    assert seconds < 10, f"exit took {seconds:.1f} s: it waited for the stalled download"
    assert "Traceback" not in err and err.strip().splitlines()[-1] == "ingress-audit: stopped by SIGTERM"
    assert not [p for p in cached_data_files(cache) if "access.log.gz" in str(p)], "partial download left"
    finished = cached_data_files(cache)
    assert len(finished) == 2 and all(p.with_name(p.name + ".json").is_file() for p in finished)

    proxy.clear()
    again = query_counts(bucket, cache, env)
    assert again.code == 0, again.err
    assert counts(again.rows) == counts(baseline.rows) and records_lost(again.rows) == 0
    # only the interrupted object was downloaded again
    assert proxy.count("GET", VICTIM) == 1
    assert proxy.count("GET", "logs/2026/11/16/access.log") == proxy.count("GET", "audit.jsonl") == 0
    assert "3 objects: 1 downloaded, 2 from cache or disk, 0 failed" in again.err


def big_objects(n: int, lines: int) -> dict[str, bytes]:
    """n gzip objects of `lines` nginx lines each: small to upload, seconds to stage."""
    text = ("\n".join(nginx_line(i % 20000) for i in range(lines)) + "\n").encode()
    return {f"logs/2026/11/{16 + i}/big-{i}.log.gz": gzip.compress(text, compresslevel=1, mtime=0) for i in range(n)}


def staged_manifests(cache: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in (cache / "staged" / "_objects").glob("*.json")]


def test_sigterm_mid_stage_exits_143_and_the_rerun_reuses_finished_objects(s3_server, proxy, tmp_path):
    n_objects = 4
    bucket = new_bucket(client_for(s3_server), big_objects(n_objects, 250_000))
    baseline = query_counts(bucket, tmp_path / "baseline", cli_env(s3_server))
    assert baseline.code == 0, baseline.err

    proxy.clear()
    env = cli_env(proxy.url)
    cache = tmp_path / "cache"
    proc = start_cli(stage_args(bucket, cache), env)
    manifests = cache / "staged" / "_objects"
    wait_for(lambda: manifests.is_dir() and any(manifests.glob("*.json")), "the first staged object")
    code, out, err, seconds = terminate(proc)

    assert code == 143, err
    assert "Traceback" not in err
    done = staged_manifests(cache)
    assert 1 <= len(done) < n_objects, "staging finished before the SIGTERM: the test proves nothing"
    assert not list((cache / "tmp").glob("chunks-*")), "chunk files left behind"
    assert not list((cache / "staged").rglob(".*.parquet")), "temporary Parquet left behind"

    rerun = cli(stage_args(bucket, cache), env)
    assert rerun.code == 0, rerun.err
    reused = re.search(r"objects\s+(\d+) \((\d+) from the Parquet cache, 0 unreadable\)", rerun.out)
    assert reused and (int(reused[1]), int(reused[2])) == (n_objects, len(done)), rerun.out
    assert proxy.count("GET", "big-") == n_objects  # each object downloaded once over both runs

    again = query_counts(bucket, cache, env)
    assert again.code == 0, again.err
    assert counts(again.rows) == counts(baseline.rows) and records_lost(again.rows) == 0
    # what the interrupted object had written before the SIGTERM was replaced, not added
    listed = {f for m in staged_manifests(cache) for f in m["files"]}
    on_disk = {str(p.relative_to(cache / "staged")) for p in (cache / "staged").rglob("*.parquet")}
    assert on_disk == listed
