"""Every hostile scenario against a fresh moto S3 server and fault proxy, N times; prints a table.

    python benchmarks/hostile_scenarios.py [--runs N] [--only SUBSTRING]      (or: make hostile)

Each scenario runs the real CLI as a subprocess (as tests/s3_stack.py does for the tests) and
is judged against a fault-free run of the same objects, never against fixed numbers:
- a fault within the retries must complete with the fault-free counts (exit 0);
- a fault past them must exit 3 naming the object, the other objects' counts unchanged, and
  nothing of it cached (a clean rerun must give the fault-free counts);
- SIGTERM must exit 143, and the rerun must count as the fault-free run and reuse what finished;
- tampering with any output must make `verify` exit 1.
"records lost" is, over every object, read - parsed - rejected plus how far a readable
object's records_read is from the fault-free run's: it must be 0 in every run. The script exits
1 when any scenario misbehaves.
"""

from __future__ import annotations

import argparse
import gzip
import logging
import re
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the tests' helpers: one proxy, one archive, one way to run the CLI

from tests.evidence_helpers import flip_byte  # noqa: E402
from tests.fault_proxy import FaultProxy, Rule  # noqa: E402
from tests.s3_stack import (WEEK, cached_data_files, cli, cli_env, client_for, counts, moto_server,  # noqa: E402
                            new_bucket, query_counts, records_lost, small_archive, start_cli)
from tests.test_object_cap import bomb  # noqa: E402
from tests.test_stage import nginx_line  # noqa: E402

VICTIM = "logs/2026/11/17/access.log.gz"
FAULT_ARGS = {"500": {}, "503": {}, "reset": {}, "truncate": {}, "slow": {"delay": 2.5}, "etag": {}, "corrupt": {}}


@dataclass
class Outcome:
    ok: bool
    outcome: str
    lost: int


@dataclass
class Ctx:
    moto: str
    proxy: FaultProxy
    work: Path

    def bucket(self, objects: dict[str, bytes]) -> str:
        return new_bucket(client_for(self.moto, checksums=False), objects)

    def baseline(self, bucket: str) -> dict[str, tuple]:
        base = query_counts(bucket, self.work / "baseline", cli_env(self.moto))
        if base.code != 0:
            raise RuntimeError(f"the fault-free run failed: {base.err[-500:]}")
        return counts(base.rows)


def lost(rows: list[dict], baseline: dict[str, tuple]) -> int:
    drift = sum(abs(baseline[r["object"]][1] - r["records_read"]) for r in rows
                if not r["error"] and r["object"] in baseline)
    return records_lost(rows) + drift


# --- scenarios ---------------------------------------------------------------------------------


def fault(kind: str, times: int) -> Callable[[Ctx], Outcome]:
    def scenario(ctx: Ctx) -> Outcome:
        bucket = ctx.bucket(small_archive())
        baseline = ctx.baseline(bucket)
        ctx.proxy.add(Rule(kind, key=VICTIM, times=times, **FAULT_ARGS[kind]))
        env = cli_env(ctx.proxy.url)
        run = query_counts(bucket, ctx.work / "cache", env)
        rows = run.rows if run.out.strip() else []
        n_lost = lost(rows, baseline)
        if run.code == 0:
            return Outcome(counts(rows) == baseline and n_lost == 0, "completed, counts match"
                           if counts(rows) == baseline else "completed, COUNTS DIFFER", n_lost)
        victim = f"s3://{bucket}/{VICTIM}"
        named = f"unreadable: {victim}: " in run.err
        cached = [p for p in cached_data_files(ctx.work / "cache") if "access.log.gz" in str(p)]
        others_ok = {k: v for k, v in counts(rows).items() if k != victim} == \
                    {k: v for k, v in baseline.items() if k != victim}
        ctx.proxy.clear()
        rerun = query_counts(bucket, ctx.work / "cache", env)
        ok = run.code == 3 and named and not cached and others_ok and rerun.code == 0 and counts(rerun.rows) == baseline
        return Outcome(ok, f"exit {run.code}, object reported unreadable" + ("" if ok else ", MISBEHAVED"), n_lost)
    return scenario


def _terminate(proc) -> tuple[int, str]:
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    return proc.returncode, err


def _wait(condition, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError("timed out")
        time.sleep(0.02)


def sigterm_download(ctx: Ctx) -> Outcome:
    bucket = ctx.bucket(small_archive())
    baseline = ctx.baseline(bucket)
    ctx.proxy.add(Rule("slow", key=VICTIM, delay=30, where="body"))
    env = cli_env(ctx.proxy.url, INGRESS_AUDIT_S3_READ_TIMEOUT="60")
    cache = ctx.work / "cache"
    proc = start_cli(["stage", "--source", f"s3://{bucket}/logs/", *WEEK, "--cache-dir", str(cache)], env)
    _wait(lambda: len(list(cache.rglob("%o-*.json"))) == 2 and any("access.log.gz" in str(p) for p in cache.rglob("%t-*")))
    code, _ = _terminate(proc)
    partial = [p for p in cached_data_files(cache) if "access.log.gz" in str(p)]
    ctx.proxy.clear()
    again = query_counts(bucket, cache, env)
    reused = "1 downloaded, 2 from cache or disk" in again.err
    ok = code == 143 and not partial and again.code == 0 and counts(again.rows) == baseline and reused
    return Outcome(ok, f"exit {code}; rerun: counts match, 2 of 3 downloads reused" if ok else f"exit {code}, MISBEHAVED",
                   lost(again.rows, baseline))


def sigterm_stage(ctx: Ctx) -> Outcome:
    text = ("\n".join(nginx_line(i % 20000) for i in range(250_000)) + "\n").encode()
    bucket = ctx.bucket({f"logs/2026/11/{16 + i}/big-{i}.log.gz": gzip.compress(text, 1, mtime=0) for i in range(4)})
    baseline = ctx.baseline(bucket)
    env = cli_env(ctx.proxy.url)
    cache = ctx.work / "cache"
    args = ["stage", "--source", f"s3://{bucket}/logs/", *WEEK, "--cache-dir", str(cache)]
    proc = start_cli(args, env)
    manifests = cache / "staged" / "_objects"
    _wait(lambda: manifests.is_dir() and any(manifests.glob("*.json")))
    code, _ = _terminate(proc)
    done = len(list(manifests.glob("*.json")))
    rerun = cli(args, env)
    m = re.search(r"\((\d+) from the Parquet cache", rerun.out)
    again = query_counts(bucket, cache, env)
    ok = code == 143 and 1 <= done < 4 and m and int(m[1]) == done and again.code == 0 and counts(again.rows) == baseline
    return Outcome(bool(ok), f"exit {code}; rerun: counts match, {done} of 4 staged objects reused" if ok
                   else f"exit {code}, MISBEHAVED", lost(again.rows, baseline))


def decompression_bomb(ctx: Ctx) -> Outcome:
    objects = small_archive() | {"logs/2026/11/16/bomb.log.gz": bomb(200)}
    bucket = ctx.bucket(objects)
    baseline = ctx.baseline(bucket)
    run = query_counts(bucket, ctx.work / "cache", cli_env(ctx.proxy.url, INGRESS_AUDIT_MAX_OBJECT_BYTES="64MiB"))
    rows = {r["object"]: r for r in run.rows}
    victim = rows[f"s3://{bucket}/logs/2026/11/16/bomb.log.gz"]
    others = {k: v for k, v in counts(run.rows).items() if "bomb" not in k}
    ok = run.code == 3 and "exceeds the cap" in (victim["error"] or "") and victim["records_read"] == 0 and \
        others == {k: v for k, v in baseline.items() if "bomb" not in k}
    return Outcome(ok, "exit 3, bomb stopped at the cap" if ok else f"exit {run.code}, MISBEHAVED", lost(run.rows, baseline))


def damaged_lines(ctx: Ctx) -> Outcome:
    import random

    rng = random.Random(7)
    lines = [nginx_line(i) for i in range(300)]
    for i in rng.sample(range(300), 60):  # truncated, byte-flipped, binary, overlong, CR-only
        line = lines[i]
        lines[i] = rng.choice([line[: rng.randrange(len(line))], line.replace(" ", "\x00", 1),
                               bytes(rng.randrange(256) for _ in range(80)).decode("latin-1"),
                               line + "x" * 5000, line.replace(" ", "\r", 2)])
    body = "\n".join(lines).encode("utf-8", "surrogateescape") + b"\n\xff\xfe garbage \x80\n"
    bucket = ctx.bucket({"logs/2026/11/16/damaged.log": body, "logs/2026/11/16/damaged.log.gz": gzip.compress(body)[:-30]})
    run = query_counts(bucket, ctx.work / "cache", cli_env(ctx.proxy.url))
    n_lost = records_lost(run.rows)
    rejected = sum(r["records_rejected"] for r in run.rows)
    ok = run.code in (0, 3) and n_lost == 0 and rejected > 0 and "Traceback" not in run.err
    return Outcome(ok, f"exit {run.code}, {rejected} damaged lines rejected, truncated gz reported", n_lost)


def traversal_keys(ctx: Ctx) -> Outcome:
    line = (nginx_line(1) + "\n").encode()
    bucket = ctx.bucket({"logs/2026/11/16/ok.log": line, "logs/2026/11/16/../../../../../../escape.log": line,
                         "logs/2026/11/16/..\\win.log": line})
    cache = ctx.work / "deep" / "cache"
    run = query_counts(bucket, cache, cli_env(ctx.proxy.url))
    escaped = [p for p in ctx.work.rglob("*escape*")] + [p for p in ctx.work.rglob("*win.log*")]
    refused = sum(1 for r in run.rows if (r["error"] or "").startswith("unsafe key refused"))
    ok = run.code == 3 and refused == 2 and not escaped
    return Outcome(ok, "exit 3, 2 unsafe keys refused, nothing written outside" if ok else "MISBEHAVED",
                   records_lost(run.rows))


def injection(ctx: Ctx) -> Outcome:
    evil = ["=HYPERLINK(\\x22http://evil\\x22)", "@SUM(1)", "+cmd|' /C calc'!A0", "<script>alert(1)</script>"]
    lines = [nginx_line(i).replace(f'"curl/8.{i}"', f'"{ua}"') for i, ua in enumerate(evil)]
    bucket = ctx.bucket({"logs/2026/11/16/evil.log": ("\n".join(lines) + "\n").encode()})
    run = cli(["query", "--source", f"s3://{bucket}/logs/", *WEEK, "--cache-dir", str(ctx.work / "cache"),
               "--format", "csv", "SELECT user_agent FROM http_requests ORDER BY line"], cli_env(ctx.proxy.url))
    cells = run.out.splitlines()[1:]
    formulas = [c for c in cells if c.lstrip('"')[:1] in "=+-@"]
    ok = run.code == 0 and len(cells) == len(evil) and not formulas
    return Outcome(ok, "exit 0, CSV formulas neutralized" if ok else f"exit {run.code}, MISBEHAVED", 0)


def injection_report(ctx: Ctx) -> Outcome:
    """Script and markup in path, user and user agent, and an object key holding a line separator
    (U+2028: S3 keys may, and log readers split on it; the S3 API refuses a raw LF in a key): the
    report renders them as text, and no log line can be forged."""
    from tests.test_report_s3 import PAYLOADS, write_archive

    archive = ctx.work / "archive"
    write_archive(archive)
    objects = {p.relative_to(archive).as_posix(): p.read_bytes() for p in archive.rglob("*") if p.is_file()}
    objects["ingress-nginx/2026/11/17/x\u2028WARNING forged log line.log.gz"] = b"\x1f\x8b not gzip"
    bucket = ctx.bucket(objects)
    out = ctx.work / "out"
    run = cli(["run", "--source", f"s3://{bucket}/", *WEEK, "--cache-dir", str(ctx.work / "cache"), "--out", str(out)],
              cli_env(ctx.proxy.url), timeout=300)
    html = (out / "report.html").read_text() if (out / "report.html").is_file() else ""
    raw_markup = [p for p in PAYLOADS if p in html]
    forged = [line for line in run.err.splitlines() if line.startswith("WARNING forged")]  # splits at U+2028 too
    ok = run.code == 3 and bool(html) and not raw_markup and "<script" not in html.lower() and not forged
    what = "exit 3, markup rendered as text, no forged log line" if ok else (
        f"exit {run.code}, {len(raw_markup)} raw payload(s) in HTML, {len(forged)} forged log line(s)")
    return Outcome(ok, what, 0)


_SIGNED: dict[str, Path] = {}


def tamper(name: str) -> Callable[[Ctx], Outcome]:
    def scenario(ctx: Ctx) -> Outcome:
        if "out" not in _SIGNED:  # one signed run (development key) serves every tampering scenario
            bucket = ctx.bucket(small_archive())
            out = Path(tempfile.mkdtemp(prefix="hostile-signed-")) / "out"
            run = cli(["--quiet", "run", "--source", f"s3://{bucket}/logs/", *WEEK, "--cache-dir",
                       str(out.parent / "cache"), "--out", str(out)], cli_env(ctx.proxy.url), timeout=300)
            if run.code not in (0, 1):
                return Outcome(False, f"run exit {run.code}", 0)
            _SIGNED["out"] = out
        copy = ctx.work / "report"
        shutil.copytree(_SIGNED["out"], copy)
        before = cli(["verify", str(copy)], cli_env(ctx.proxy.url)).code
        path = copy / name
        flip_byte(path, path.stat().st_size // 2)
        after = cli(["verify", str(copy)], cli_env(ctx.proxy.url))
        failed = [line.split(":")[0][6:] for line in after.out.splitlines() if line.startswith("FAIL ")]
        ok = before == 0 and after.code == 1 and bool(failed)
        return Outcome(ok, f"verify exit {after.code} ({failed[0] if failed else 'no check named'})", 0)
    return scenario


SCENARIOS: dict[str, Callable[[Ctx], Outcome]] = {
    **{f"S3 {k} once (retried)": fault(k, 1) for k in FAULT_ARGS},
    **{f"S3 {k} persistent": fault(k, 1000) for k in FAULT_ARGS},
    "SIGTERM mid-download + resume": sigterm_download,
    "SIGTERM mid-stage + resume": sigterm_stage,
    "decompression bomb (200 MiB, cap 64 MiB)": decompression_bomb,
    "fuzzed/damaged lines, truncated gz": damaged_lines,
    "path-traversal keys": traversal_keys,
    "injection in fields (CSV)": injection,
    "injection in fields (report, logs)": injection_report,
    **{f"tampered {n}": tamper(n) for n in ("report.html", "findings.json", "manifest.json", "manifest.json.sig", "report.pdf")},
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=1, help="times to run each scenario")
    parser.add_argument("--only", default="", help="run the scenarios whose name holds this text")
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    rows, bad = [], 0
    for name, scenario in SCENARIOS.items():
        if args.only not in name:
            continue
        outcomes = []
        for _ in range(args.runs):
            work = Path(tempfile.mkdtemp(prefix="hostile-"))
            try:
                with moto_server() as moto, FaultProxy(moto) as proxy:  # fresh per run
                    outcomes.append(scenario(Ctx(moto, proxy, work)))
            except Exception as exc:  # noqa: BLE001 - a scenario that cannot even run misbehaved
                outcomes.append(Outcome(False, f"ERROR {type(exc).__name__}: {exc}"[:80], -1))
            finally:
                shutil.rmtree(work, ignore_errors=True)
        ok = all(o.ok and o.lost == 0 for o in outcomes)
        bad += not ok
        texts = sorted({o.outcome for o in outcomes})
        rows.append((name, len(outcomes), "; ".join(texts), max(abs(o.lost) for o in outcomes), "ok" if ok else "FAIL"))
        print(f"  {rows[-1][4]:<4} {name}", file=sys.stderr, flush=True)
    widths = [max(len(str(r[i])) for r in rows + [("scenario", "runs", "outcome", "records lost", "")])
              for i in range(5)]
    header = ("scenario", "runs", "outcome", "records lost", "")
    print("| " + " | ".join(str(h).ljust(w) for h, w in zip(header, widths)) + " |")
    print("| " + " | ".join("-" * w for w in widths) + " |")
    for r in rows:
        print("| " + " | ".join(str(v).ljust(w) for v, w in zip(r, widths)) + " |")
    if "out" in _SIGNED:
        shutil.rmtree(_SIGNED["out"].parent, ignore_errors=True)
    if bad:
        print(f"{bad} scenario(s) misbehaved", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
