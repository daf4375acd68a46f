"""What else lands in an ingress-nginx pod's archived stdout/stderr besides access-log lines.

The controller writes klog lines (`I1116 10:02:03.123456       7 controller.go:190] ...`) and
nginx writes its error log (`2026/11/16 10:02:03 [error] 32#32: *12345 ...`) to the same
container log; a pod restart prints the startup banner. Readers must reject these, not choke.
Each function returns (microseconds, line) pairs to be merged into a pod's file by time.
"""

from __future__ import annotations

import random

from .samplegen_formats import Request, utc

Line = tuple[int, str]

_BANNER = (
    "-------------------------------------------------------------------------------",
    "NGINX Ingress controller",
    "  Release:       v1.11.3",
    "  Build:         0106de65cfccb74405a6dfa7d9daffc6f0a6ef1a",
    "  Repository:    https://github.com/kubernetes/ingress-nginx",
    "  nginx version: nginx/1.25.5",
    "",
    "-------------------------------------------------------------------------------",
    "",
)


def klog(us: int, severity: str, where: str, message: str) -> Line:
    t = utc(us)
    return us, f"{severity}{t:%m%d %H:%M:%S}.{t.microsecond:06d} {7:7d} {where}] {message}"


def nginx_error(us: int, level: str, worker: int, conn: int, message: str) -> Line:
    return us, f"{utc(us):%Y/%m/%d %H:%M:%S} [{level}] {worker}#{worker}: *{conn} {message}"


def reload(us: int, pod: str, rng: random.Random) -> list[Line]:
    uid = f"{rng.getrandbits(32):08x}-{rng.getrandbits(16):04x}-4{rng.getrandbits(12):03x}-" \
          f"8{rng.getrandbits(12):03x}-{rng.getrandbits(48):012x}"
    return [
        klog(us, "I", "controller.go:193", '"Configuration changes detected, backend reload required"'),
        klog(us + 181_233, "I", "controller.go:213", '"Backend successfully reloaded"'),
        klog(us + 181_517, "I", "event.go:377",
             f'Event(v1.ObjectReference{{Kind:"Pod", Namespace:"ingress-nginx", Name:"{pod}", UID:"{uid}", '
             f'APIVersion:"v1", ResourceVersion:"{rng.randint(4_000_000, 9_000_000)}", FieldPath:""}}): '
             "type: 'Normal' reason: 'RELOAD' NGINX reload triggered due to a change in configuration"),
    ]


def restart(us: int) -> list[Line]:
    """The controller starting again: the banner (with its blank lines), then its first klog lines."""
    lines = [(us + i, text) for i, text in enumerate(_BANNER)]
    lines += [
        klog(us + 20_113, "W", "client_config.go:659",
             "Neither --kubeconfig nor --master was specified.  Using the inClusterConfig.  This might not work."),
        klog(us + 20_402, "I", "main.go:205", '"Creating API client" host="https://10.96.0.1:443"'),
        klog(us + 31_977, "I", "main.go:248", '"Running in Kubernetes cluster" major="1" minor="29" '
                                               'git="v1.29.10" state="clean" commit="f0e6e2d0d4a0bd8b0c1b6cbb2e46f3e0d71c61e9" '
                                               'platform="linux/amd64"'),
        klog(us + 902_114, "I", "nginx.go:271", '"Starting NGINX Ingress controller"'),
        klog(us + 1_804_550, "I", "controller.go:213", '"Backend successfully reloaded"'),
    ]
    return lines


def ordinary(day_start: int, rng: random.Random, pod: str) -> list[Line]:
    """A handful of routine controller messages spread over a day."""
    def when() -> int:
        return day_start + rng.randrange(86_400_000_000)

    lines: list[Line] = []
    for _ in range(rng.randint(1, 3)):
        lines += reload(when(), pod, rng)
    lines.append(klog(when(), "W", "controller.go:1226",
                      'Service "shop/legacy-web" does not have any active Endpoint.'))
    lines.append(klog(when(), "W", "backend_ssl.go:47",
                      'Error obtaining X.509 certificate: no object matching key "shop/shop-legacy-tls" in local store'))
    lines.append(nginx_error(when(), "warn", rng.choice((32, 33)), rng.randint(10_000, 999_999),
                             "a client request body is buffered to a temporary file "
                             f"/tmp/nginx/client-body/00000000{rng.randint(10, 99)}, "
                             f"client: {rng.choice(('198.51.100.77', '192.0.2.31', '2001:db8:7f3a:12::4'))}, "
                             'server: api.example.com, request: "POST /api/v1/orders HTTP/2.0", '
                             'host: "api.example.com"'))
    return lines


def upstream_errors(r: Request, rng: random.Random) -> list[Line]:
    """nginx's error-log line for each failed try at an upstream."""
    lines: list[Line] = []
    elapsed_ms = 0
    for a in r.attempts:
        elapsed_ms += a.time_ms
        if a.status == 502:
            what = "connect() failed (111: Connection refused) while connecting to upstream"
        elif a.status == 504:
            what = "upstream timed out (110: Connection timed out) while reading response header from upstream"
        else:
            continue
        referrer = f', referrer: "{r.referer}"' if r.referer != "-" else ""
        lines.append(nginx_error(
            r.start_us + elapsed_ms * 1000, "error", rng.choice((32, 33)), rng.randint(10_000, 999_999),
            f"{what}, client: {r.client_ip}, server: {r.host}, request: \"{r.method} {r.uri} {r.protocol}\", "
            f'upstream: "http://{a.addr}{r.uri}", host: "{r.host}"{referrer}'))
    return lines
