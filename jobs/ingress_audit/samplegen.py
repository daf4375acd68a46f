"""Sample archives: the small committed week with planted incidents, and large benchmark archives.

`generate_sample_week` writes what a real cluster's log archive looks like in object storage
(ingress-nginx, Traefik, AWS ALB access logs and Kubernetes API audit logs), deterministically:
the same arguments give byte-identical files. sample_data/README.md describes the result.
"""

from __future__ import annotations

import gzip
import random
from collections import defaultdict
from datetime import date, timedelta
from pathlib import Path

from . import samplegen_noise as noise
from . import samplegen_plan as plan
from .samplegen_formats import ALB_ACCOUNT, ALB_REGION, Request, alb_line, nginx_default, nginx_internal, traefik_json
from .samplegen_http_incidents import in_public_gap, plaintext_payroll, plant_public, without_background_checkouts
from .samplegen_sites import alb_day, internal_day, traefik_day
from .samplegen_traffic import DAY_US, Day, Population, public_day

PUBLIC_PODS = ("ingress-nginx-controller-5c8d66c76d-4kq2x", "ingress-nginx-controller-5c8d66c76d-b7vwn")
PUBLIC_VISITS_PER_DAY = 700


def generate_sample_week(out: Path, start: date = date(2026, 11, 16), *, seed: int = 7) -> list[Path]:
    """Write the sample week under `out` (an archive root, like a bucket prefix); return the files."""
    pop = Population(seed)
    files: dict[str, str] = {}
    files |= _public_controller(start, seed, pop)
    files |= _internal_controller(start, seed, pop)
    files |= _traefik(start, seed, pop)
    files |= _alb(start, seed, pop)
    written = []
    for rel in sorted(files):
        path = out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        # mtime=0 and no file name in the header: the same text always gives the same bytes
        path.write_bytes(gzip.compress(files[rel].encode("utf-8", "surrogateescape"), 6, mtime=0))
        written.append(path)
    return written


def _week_us(start: date) -> tuple[int, int]:
    first = plan.at(start, (0, "00:00:00"))
    return first, first + 7 * DAY_US


def _days(start: date, seed: int, name: str, build, pop: Population) -> list[Request]:
    """Run a day builder for each day of the week; return every request, in no particular order."""
    requests: list[Request] = []
    first, _ = _week_us(start)
    for i in range(7):
        d = Day(random.Random(f"{seed}:{name}:{start}:{i}"), first + i * DAY_US, weekend=i >= 5)
        build(d, pop)
        requests += d.requests
    return requests


def _collector(start: date, seed: int, name: str) -> Day:
    return Day(random.Random(f"{seed}:{name}:{start}"), _week_us(start)[0], weekend=False)


def _by_day(items: list[tuple[int, str]], start: date) -> dict[date, list[tuple[int, str]]]:
    """Group (time, line) pairs by UTC day, sorted by time; anything outside the week is dropped."""
    first, end = _week_us(start)
    days: dict[date, list[tuple[int, str]]] = defaultdict(list)
    for us, line in sorted(items, key=lambda item: item[0]):
        if first <= us < end:
            days[start + timedelta(days=(us - first) // DAY_US)].append((us, line))
    return days


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
    files = {}
    for pod, name in enumerate(PUBLIC_PODS):
        lines = [item for item in per_pod[pod] if not in_public_gap(item[0], start)]
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
    for day, day_lines in _by_day([(r.end_us, alb_line(r)) for r in requests], start).items():
        lb = "app.k8s-shop-web-0123456789.abcdef0123456789"
        suffix = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(8))
        name = f"{ALB_ACCOUNT}_elasticloadbalancing_{ALB_REGION}_{lb}_{day:%Y%m%d}T2355Z_10.0.1.23_{suffix}.log.gz"
        files[f"AWSLogs/{ALB_ACCOUNT}/elasticloadbalancing/{ALB_REGION}/{day:%Y/%m/%d}/{name}"] = _text(day_lines)
    return files
