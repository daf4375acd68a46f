"""Large archives for benchmarks: millions of realistic lines, written fast.

Formatting ten million lines one by one in Python would take many minutes. Instead a pool of a
few thousand real-looking lines is rendered once with the sample week's own traffic model and cut
around the fields that must vary (client address, timestamp, request or audit id); each file is
then assembled by joining the parts in C (`str.join` over `itertools` iterators). The pools'
sizes are coprime, so client and request combine differently for a long while.
Compression (ISA-L, which releases the GIL) runs in a second thread while the next file is built.
"""

from __future__ import annotations

import random
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import date
from functools import lru_cache
from itertools import accumulate, chain, islice, repeat
from ipaddress import IPv6Address
from pathlib import Path

from isal import igzip

from . import samplegen_plan as plan
from .samplegen_audit import Audit, background_day
from .samplegen_audit_incidents import plant_audit
from .samplegen_formats import nginx_default, nginx_time, rfc3339_micro, utc
from .samplegen_http_incidents import plant_public
from .samplegen_traffic import DAY_US, PUBLIC_HOURS, Day, Population, public_day

HEAD_POOL = 65521  # "client - - [" prefixes: up to this many distinct client addresses
TAIL_POOL = 4093  # '] "request" status … upstream_status ' suffixes
AUDIT_POOL = 4091  # audit events, cut around auditID and the two timestamps
POOL_PER_CLIENT = 40  # request lines a single client may contribute to the pool
GZIP_LEVEL = 1  # ISA-L level 1: ~5x smaller than plain text at several hundred MB/s


def generate_bench_archive(out: Path, start: date, *, nginx_lines: int, audit_events: int, days: int = 7,
                           files_per_day: int = 4, seed: int = 1) -> dict:
    """Write `days` × `files_per_day` ingress-nginx files and as many audit files under `out`."""
    if not 1 <= files_per_day <= 24:
        raise ValueError("files_per_day must be between 1 and 24 (audit files are named by hour)")
    rng = random.Random(f"bench:{seed}")
    heads, tails = _nginx_pool(rng, start)
    audit_parts = _audit_pool(rng, start)
    slots = [(day, k) for day in range(days) for k in range(files_per_day)]
    first = plan.at(start, (0, "00:00:00"))
    with ThreadPoolExecutor(max_workers=1) as writer:
        written: list[Future] = []

        def write(path: str, text: str) -> None:
            # wait for the previous file first, so that at most two files are held in memory
            if written:
                written[-1].result()
            written.append(writer.submit(_write, out / path, text))

        for n, (day, _) in enumerate(slots):
            day_start = first + day * DAY_US
            write(f"ingress-nginx/public/{utc(day_start):%Y/%m/%d}/ingress-nginx-controller-7d9c6b5f4-{n:05d}.log.gz",
                  _nginx_file(rng, day_start, _share(nginx_lines, len(slots), n), heads, tails, offset=n * 977))
        for n, (day, k) in enumerate(slots):
            slot_start = first + day * DAY_US + k * DAY_US // files_per_day
            slot_end = first + day * DAY_US + (k + 1) * DAY_US // files_per_day
            write(f"kube-apiserver/audit/{utc(slot_start):%Y/%m/%d}/kube-apiserver-audit-{utc(slot_start):%H}.log.gz",
                  _audit_file(rng, slot_start, slot_end, _share(audit_events, len(slots), n), audit_parts,
                              offset=n * 613))
        size = sum(f.result() for f in written)
    return {"nginx_files": len(slots), "audit_files": len(slots), "nginx_lines": nginx_lines,
            "audit_events": audit_events, "bytes": size}


def _share(total: int, parts: int, n: int) -> int:
    """Part n of `total` split as evenly as possible."""
    return total // parts + (1 if n < total % parts else 0)


def _write(path: Path, text: str) -> int:
    data = igzip.compress(text.encode(), GZIP_LEVEL, mtime=0)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return len(data)


# --- ingress-nginx -------------------------------------------------------------------------------

def _nginx_pool(rng: random.Random, start: date) -> tuple[list[str], list[str]]:
    """Client prefixes, and request suffixes cut from a rendered day of the sample's public controller."""
    pop = Population(rng.randrange(1 << 30))
    day_start = plan.at(start, (0, "00:00:00"))
    d = Day(random.Random(rng.random()), day_start, weekend=False)
    public_day(d, pop, visits=500)
    plant_public(d, start, pop)  # the rare shapes: 401 bursts, 404 scans, 5xx retry lists
    rng.shuffle(d.requests)
    # no client may dominate the pool (the probe, the partner's burst, the rate spike)
    per_client: Counter[str] = Counter()
    tails = []
    for r in d.requests:
        per_client[r.client_ip] += 1
        if per_client[r.client_ip] <= POOL_PER_CLIENT:
            line = nginx_default(r)
            tails.append(line[line.index(" [") + 28:-32])  # after "[16/Nov/2026:10:02:03 +0000", before the id
    # a busy site sees far more addresses than one sample day: draw them afresh
    addresses = {f"198.{rng.randint(18, 19)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}" for _ in range(HEAD_POOL)}
    addresses |= {str(IPv6Address(f"2001:db8:{rng.getrandbits(16):x}:{rng.getrandbits(16):x}::{rng.getrandbits(16):x}"))
                  for _ in range(HEAD_POOL // 5)}
    heads = [f"{ip} - - [" for ip in sorted(addresses)]
    rng.shuffle(heads)
    return heads[:HEAD_POOL], _cycle(tails, TAIL_POOL)


def _cycle(items: list[str], size: int) -> list[str]:
    return list(islice(chain.from_iterable(repeat(items)), size))


def _second_counts(rng: random.Random, lines: int) -> list[int]:
    """How many lines fall in each second of a day: diurnal, with some noise per minute."""
    minute_noise = [0.6 + 0.8 * rng.random() for _ in range(1440)]
    weights = [PUBLIC_HOURS[s // 3600] * minute_noise[s // 60] for s in range(86_400)]
    cumulative = list(accumulate(weights))
    scale = lines / cumulative[-1]
    bounds = [int(c * scale + 0.5) for c in cumulative]
    bounds[-1] = lines
    return [b - a for a, b in zip([0] + bounds[:-1], bounds)]


@lru_cache(maxsize=1)  # the files of one day come one after another
def _stamps(day_start_us: int) -> list[str]:
    prefix = nginx_time(day_start_us)[:12]  # "16/Nov/2026:"
    return [f"{prefix}{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d} +0000" for s in range(86_400)]


def _nginx_file(rng: random.Random, day_start_us: int, lines: int, heads: list[str], tails: list[str],
                offset: int) -> str:
    stamps = chain.from_iterable(map(repeat, _stamps(day_start_us), _second_counts(rng, lines)))
    ids = rng.randbytes(16 * lines).hex("\n", 16).split("\n") if lines else []
    head_seq = islice(chain.from_iterable(repeat(heads)), offset % len(heads), offset % len(heads) + lines)
    tail_seq = islice(chain.from_iterable(repeat(tails)), offset % len(tails), offset % len(tails) + lines)
    return "".join(chain.from_iterable(zip(head_seq, stamps, tail_seq, ids, repeat("\n"))))


# --- Kubernetes audit ------------------------------------------------------------------------------

_ID, _RECEIVED, _STAGE = '"auditID":"', '"requestReceivedTimestamp":"', '","stageTimestamp":"'


def _audit_pool(rng: random.Random, start: date) -> list[tuple[str, str, str]]:
    """Events of a sample day cut into (up to auditID, up to requestReceivedTimestamp, the rest)."""
    a = Audit(random.Random(rng.random()))
    background_day(a, plan.at(start, (0, "00:00:00")), weekend=False)
    plant_audit(a, start)
    lines = [line for _, line in a.events]
    rng.shuffle(lines)
    parts = []
    for line in lines[:AUDIT_POOL]:
        id_at = line.index(_ID) + len(_ID)
        received_at = line.index(_RECEIVED) + len(_RECEIVED)
        rest_at = line.index(_STAGE, received_at) + len(_STAGE) + 27  # "2026-11-16T10:02:03.123456Z"
        parts.append((line[:id_at], line[id_at + 36:received_at], line[rest_at:]))
    return parts


def _audit_file(rng: random.Random, start_us: int, end_us: int, events: int,
                parts: list[tuple[str, str, str]], offset: int) -> str:
    """Events evenly spread over the slot, in stage order, each with its own auditID."""
    step = (end_us - start_us) / max(events, 1)
    ids = rng.randbytes(16 * events).hex()
    out = []
    for i in range(events):
        stage = start_us + int(i * step + rng.random() * step)
        received = stage - 500 - int(rng.random() * 20_000)
        head, middle, rest = parts[(offset + i) % len(parts)]
        h = ids[32 * i:32 * i + 32]
        out.append(f"{head}{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}{middle}"
                   f"{rfc3339_micro(received)}{_STAGE}{rfc3339_micro(stage)}{rest}\n")
    return "".join(out)
