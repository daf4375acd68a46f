"""What both benchmarks share: their arguments, the generated archive, a measured child run."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

START = date(2026, 11, 16)

# Runs the measured child and reports its peak RSS: RUSAGE_CHILDREN of this throwaway parent
# holds that one child only, so each measurement's peak is its own.
_WRAPPER = (
    "import json, resource, subprocess, sys\n"
    "p = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
    "sys.stderr.write(p.stderr[-3000:])\n"
    "if p.returncode: sys.exit(p.returncode)\n"
    "r = json.loads(p.stdout.strip().splitlines()[-1])\n"
    "r['peak_rss_mb'] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024\n"
    "print(json.dumps(r))\n"
)


def arguments(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nginx-lines", type=int, default=2_000_000)
    parser.add_argument("--audit-events", type=int, default=200_000)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--files-per-day", type=int, default=4)
    parser.add_argument("--workdir", type=Path, default=Path("bench-data"))
    return parser


def archive_for(args: argparse.Namespace) -> tuple[Path, date, date]:
    """The generated gz week for these sizes (made once, then reused), and its period."""
    from ingress_audit.samplegen import generate_bench_archive

    end = date.fromordinal(START.toordinal() + args.days)
    archive = args.workdir / f"archive-{args.nginx_lines}-{args.audit_events}-{args.days}x{args.files_per_day}"
    if not archive.is_dir():
        t0 = time.perf_counter()
        info = generate_bench_archive(archive, START, nginx_lines=args.nginx_lines, audit_events=args.audit_events,
                                      days=args.days, files_per_day=args.files_per_day)
        print(f"generated {archive} in {time.perf_counter() - t0:.1f}s: {info}")
    return archive, START, end


def measure(child_code: str, *child_args: str) -> dict:
    """Run `python -c child_code args…` in a fresh interpreter; its last stdout line is JSON."""
    out = subprocess.run([sys.executable, "-c", _WRAPPER, sys.executable, "-c", child_code, *child_args],
                         capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"benchmark child failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# Runs a command, times it and reports its peak RSS the same way (one child per wrapper)
_COMMAND_WRAPPER = (
    "import json, resource, subprocess, sys, time\n"
    "t0 = time.perf_counter()\n"
    "p = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)\n"
    "print(json.dumps({'returncode': p.returncode, 'seconds': time.perf_counter() - t0, 'stderr': p.stderr,\n"
    "                  'peak_rss_mb': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))\n"
)


def measure_command(argv: list[str]) -> dict:
    """Run a command; its exit code, wall seconds, stderr and peak RSS."""
    out = subprocess.run([sys.executable, "-c", _COMMAND_WRAPPER, *argv], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)
