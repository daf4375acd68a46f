"""Sample archives: the small committed week with planted incidents, and large benchmark archives.

`generate_sample_week` writes what a real cluster's log archive looks like in object storage
(ingress-nginx, Traefik, AWS ALB access logs and Kubernetes API audit logs), deterministically:
the same arguments give byte-identical files. sample_data/README.md describes the result.
"""

from __future__ import annotations

import gzip
import random
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from pathlib import Path

from . import samplegen_noise as noise
from . import samplegen_plan as plan
from .samplegen_audit import Audit, background_day
from .samplegen_audit_incidents import plant_audit
from .samplegen_bench import generate_bench_archive
from .samplegen_formats import (ALB_ACCOUNT, ALB_NAME, ALB_REGION, Request, alb_line, nginx_default, nginx_internal,
                                traefik_json, utc)
from .samplegen_http_incidents import plaintext_payroll, plant_public, public_gap, without_background_checkouts
from .samplegen_sites import alb_day, internal_day, traefik_day
from .samplegen_traffic import DAY_US, HOUR_US, Day, Population, public_day

__all__ = ["generate_sample_week", "generate_bench_archive"]

PUBLIC_PODS = ("ingress-nginx-controller-5c8d66c76d-4kq2x", "ingress-nginx-controller-5c8d66c76d-b7vwn")
PUBLIC_VISITS_PER_DAY = 600
WEBHOOK_BATCH_US = 30_000_000  # --audit-webhook-batch-max-wait=30s


def generate_sample_week(out: Path, start: date = date(2026, 11, 16), *, seed: int = 7) -> list[Path]:
    """Write the sample week under `out` (an archive root, like a bucket prefix); return the files."""
    pop = Population(seed)
    sources = (lambda: _public_controller(start, seed, pop), lambda: _internal_controller(start, seed, pop),
               lambda: _traefik(start, seed, pop), lambda: _alb(start, seed, pop), lambda: _audit(start, seed))
    # zlib releases the GIL: one source's files compress while the next one is generated
    with ThreadPoolExecutor(max_workers=2) as pool:
        compressed = {rel: pool.submit(_gzip, text) for source in sources for rel, text in source().items()}
        written = []
        for rel in sorted(compressed):
            path = out / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(compressed[rel].result())
            written.append(path)
    return written


def _gzip(text: str) -> bytes:
    # mtime=0 and no file name in the header: the same text always gives the same bytes
    return gzip.compress(text.encode("utf-8", "surrogateescape"), 6, mtime=0)


def _week_us(start: date) -> tuple[int, int]:
    first = plan.at(start, (0, "00:00:00"))
    return first, first + 7 * DAY_US


def _days(start: date, seed: int, name: str, build, pop: Population) -> list[Request]:
    """Run a day builder for each day of the week; return every request, in no particular order."""
    requests: list[Request] = []
    first, _ = _week_us(start)
    for i in range(7):
        weekend = (start + timedelta(days=i)).weekday() >= 5
        d = Day(random.Random(f"{seed}:{name}:{start}:{i}"), first + i * DAY_US, weekend)
        build(d, pop)
        requests += d.requests
    return requests


def _collector(start: date, seed: int, name: str) -> Day:
    return Day(random.Random(f"{seed}:{name}:{start}"), _week_us(start)[0], weekend=False)


def _by_day(items: list[tuple[int, str]], start: date) -> dict[date, list[tuple[int, str]]]:
    """Group (time, line) pairs by UTC day, sorted by time; anything outside the week is dropped."""
    first, _ = _week_us(start)
    return {start + timedelta(days=(slot - first) // DAY_US): lines
            for slot, lines in _slots(items, start, DAY_US).items()}


def _slots(items: list[tuple[int, str]], start: date, size_us: int) -> dict[int, list[tuple[int, str]]]:
    """Group (time, line) pairs into slots of size_us from the week's start (key: the slot's start)."""
    first, end = _week_us(start)
    slots: dict[int, list[tuple[int, str]]] = defaultdict(list)
    for us, line in sorted(items, key=lambda item: item[0]):
        if first <= us < end:
            slots[first + (us - first) // size_us * size_us].append((us, line))
    return slots


def _text(lines: list[tuple[int, str]]) -> str:
    return "".join(f"{line}\n" for _, line in lines)


def _public_controller(start: date, seed: int, pop: Population) -> dict[str, str]:
    background = _days(start, seed, "public", lambda d, p: public_day(d, p, PUBLIC_VISITS_PER_DAY), pop)
    planted = _collector(start, seed, "public-incidents")
    plant_public(planted, start, pop)
    requests = without_background_checkouts(background, start) + planted.requests
    rng = random.Random(f"{seed}:public-pods:{start}")
    per_pod: list[list[tuple[int, str]]] = [[], []]
    for r in requests:
        pod = rng.randrange(2)
        per_pod[pod].append((r.end_us, nginx_default(r)))
        per_pod[pod] += noise.upstream_errors(r, rng)
    first, _ = _week_us(start)
    for i in range(7):
        for pod, name in enumerate(PUBLIC_PODS):
            per_pod[pod] += noise.ordinary(first + i * DAY_US, rng, name)
    restart = plan.at(start, plan.PUBLIC_POD_RESTART)
    per_pod[1] += noise.restart(restart)
    gap = public_gap(start)
    files = {}
    for pod, name in enumerate(PUBLIC_PODS):
        lines = [item for item in per_pod[pod] if item[0] not in gap]
        for day, day_lines in _by_day(lines, start).items():
            if pod == 1:
                _cut_line_before(day_lines, restart)
            files[f"ingress-nginx/public/{day:%Y/%m/%d}/{name}.log.gz"] = _text(day_lines)
    return files


def _cut_line_before(lines: list[tuple[int, str]], us: int) -> None:
    """The pod was killed mid-write: the last line before its restart is only partly there."""
    for i, (t, line) in enumerate(lines):
        if t >= us:
            if i:
                prev_t, prev = lines[i - 1]
                lines[i - 1] = (prev_t, prev[: len(prev) // 3])
            return


def _internal_controller(start: date, seed: int, pop: Population) -> dict[str, str]:
    requests = _days(start, seed, "internal", internal_day, pop)
    planted = _collector(start, seed, "internal-incidents")
    plaintext_payroll(planted, start, pop)
    lines = [(r.end_us, nginx_internal(r)) for r in requests + planted.requests]
    return {f"ingress-nginx/internal/dt={day:%Y-%m-%d}/access.log.gz": _text(day_lines)
            for day, day_lines in _by_day(lines, start).items()}


def _traefik(start: date, seed: int, pop: Population) -> dict[str, str]:
    requests = sorted(_days(start, seed, "traefik", traefik_day, pop), key=lambda r: r.end_us)
    # RequestCount is the proxy's running total of requests since it started
    lines = [(r.end_us, traefik_json(r, 1_204_331 + n)) for n, r in enumerate(requests)]
    return {f"traefik/{day:%Y-%m-%d}/traefik-access.json.gz": _text(day_lines)
            for day, day_lines in _by_day(lines, start).items()}


def _alb(start: date, seed: int, pop: Population) -> dict[str, str]:
    requests = _days(start, seed, "alb", alb_day, pop)
    rng = random.Random(f"{seed}:alb-files:{start}")
    files = {}
    lb = ALB_NAME.replace("/", ".")  # AWS writes the load balancer id with dots in file names
    for day, day_lines in _by_day([(r.end_us, alb_line(r)) for r in requests], start).items():
        suffix = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(8))
        name = f"{ALB_ACCOUNT}_elasticloadbalancing_{ALB_REGION}_{lb}_{day:%Y%m%d}T2355Z_10.0.1.23_{suffix}.log.gz"
        files[f"AWSLogs/{ALB_ACCOUNT}/elasticloadbalancing/{ALB_REGION}/{day:%Y/%m/%d}/{name}"] = _text(day_lines)
    return files


def _audit(start: date, seed: int) -> dict[str, str]:
    """Log-backend files (four a day, six hours each) and, for the webhook half day, EventList batches."""
    first, _ = _week_us(start)
    a = Audit(random.Random(f"{seed}:audit:{start}"))
    for i in range(7):
        background_day(a, first + i * DAY_US, weekend=(start + timedelta(days=i)).weekday() >= 5)
    plant_audit(a, start)
    webhook_from = plan.at(start, plan.WEBHOOK_FROM)
    webhook_to = webhook_from + plan.WEBHOOK_HOURS * HOUR_US
    by_log = [e for e in a.events if not webhook_from <= e[0] < webhook_to]
    files = {}
    for slot, lines in _slots(by_log, start, 6 * HOUR_US).items():
        t = utc(slot)
        files[f"kube-apiserver/audit/{t:%Y/%m/%d}/kube-apiserver-audit-{t:%H}.log.gz"] = _text(lines)
    by_webhook = [e for e in a.events if webhook_from <= e[0] < webhook_to]
    for n, (slot, lines) in enumerate(sorted(_slots(by_webhook, start, HOUR_US).items()), start=1):
        files[f"kube-apiserver/webhook/{utc(slot):%Y/%m/%d}/audit-batch-{n}.json.gz"] = _text(_batches(lines))
    return files


def _batches(events: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """What the webhook backend POSTs: an EventList of the events of each 30-second batch window."""
    windows: dict[int, list[str]] = defaultdict(list)
    for us, line in events:
        windows[us // WEBHOOK_BATCH_US].append(line)
    return [(window, '{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":['
             + ",".join(lines) + "]}") for window, lines in sorted(windows.items())]
