"""Ordinary HTTP traffic for the sample week: who visits which host, when, and what they get.

Traffic is built as visits: a client (address + user agent) arrives at a diurnally weighted time
and walks through a site (a page, its assets, more pages, maybe a login or a checkout). That gives
per-client sequences, referers and think times that look like real logs, so that the planted
incidents stand out for the right reason and nothing else does.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import lru_cache
from ipaddress import IPv6Address
from itertools import accumulate

from .samplegen_formats import Attempt, Request
from .samplegen_plan import PARTNER_IP, PARTNER_PAGES, RESERVED_IPS

DAY_US = 86_400_000_000
HOUR_US = 3_600_000_000
MINUTE_US = 60_000_000

# Relative traffic per UTC hour: European customers, quiet at night, busiest in the evening.
PUBLIC_HOURS = (0.25, 0.18, 0.14, 0.12, 0.12, 0.18, 0.35, 0.6, 0.8, 0.9, 0.95, 1.0,
                1.0, 0.95, 0.95, 0.95, 1.0, 1.1, 1.25, 1.35, 1.3, 1.05, 0.7, 0.4)
# Office tools: Berlin working hours (UTC+1), almost nothing at night.
OFFICE_HOURS = (0.01, 0.01, 0.01, 0.01, 0.01, 0.03, 0.2, 0.7, 1.0, 1.0, 1.0, 0.8,
                0.9, 1.0, 1.0, 0.9, 0.6, 0.3, 0.1, 0.05, 0.03, 0.02, 0.01, 0.01)

UA_DESKTOP = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:132.0) Gecko/20100101 Firefox/132.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36",
    "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0",
)
UA_MOBILE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.39 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 13; SM-S911B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.6723.107 Mobile Safari/537.36",
    "Mozilla/5.0 (iPad; CPU OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1",
)
UA_APP = ("ShopApp/4.12.0 (iPhone; iOS 18.1; Scale/3.00)", "ShopApp/4.12.0 (iPhone; iOS 17.6.1; Scale/3.00)",
          "okhttp/4.12.0", "ShopApp/4.11.2 (Android 14; Pixel 7a)")
UA_GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
UA_BINGBOT = "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)"
UA_BLACKBOX = "Blackbox Exporter/0.25.0"
UA_CURL = "curl/8.5.0"
UA_PYTHON = "python-requests/2.31.0"

UPSTREAM_ADDRS = {
    "shop-web-8080": ("10.2.1.11:8080", "10.2.1.12:8080", "10.2.2.13:8080", "10.2.2.14:8080"),
    "shop-checkout-8080": ("10.2.3.14:8080", "10.2.3.15:8080", "10.2.1.16:8080"),
    "api-gateway-8080": ("10.2.4.21:8080", "10.2.4.22:8080", "10.2.5.23:8080"),
    "api-gateway-canary-8080": ("10.2.5.40:8080",),
    "admin-admin-portal-80": ("10.2.6.31:80", "10.2.6.32:80"),
    "upstream-default-backend": ("127.0.0.1:8181",),
    "monitoring-grafana-3000": ("10.2.7.10:3000",),
    "ci-jenkins-8080": ("10.2.7.21:8080",),
    "wiki-outline-3000": ("10.2.8.12:3000", "10.2.8.13:3000"),
    "payroll-payroll-web-8080": ("10.2.9.14:8080", "10.2.9.15:8080"),
    "blog-ghost-2368": ("10.2.10.11:2368", "10.2.10.12:2368"),
    "docs-docs-site-80": ("10.2.11.5:80", "10.2.11.6:80"),
    "status-statuspage-8080": ("10.2.12.9:8080",),
    "www-landing-8080": ("10.0.11.41:8080", "10.0.12.77:8080", "10.0.13.12:8080"),
}

PRODUCTS = tuple(range(1001, 1481, 3))
CATEGORIES = ("winter-jackets", "boots", "gloves", "scarves", "hats", "sale", "new-arrivals", "kids")
SEARCHES = ("wool+scarf", "waterproof+boots", "gift+card", "down+jacket", "size+guide", "kids+gloves",
            "merino", "rain+coat", "return+policy", "black+friday")
SHOP_ASSETS = ("/static/css/main.3f9a1c2e.css", "/static/js/app.8c1d2e4f.js",
               "/static/js/vendor.77ab10c3.js", "/static/fonts/inter-var.woff2", "/favicon.ico")


@lru_cache(maxsize=8)
def _cumulative(weights: tuple[float, ...]) -> list[float]:
    return list(accumulate(weights))


@dataclass(frozen=True)
class Client:
    ip: str
    ua: str


def _v4(rng: random.Random, prefix: str, count: int) -> list[str]:
    return [f"{prefix}.{rng.randint(1, 254)}" for _ in range(count)]


class Population:
    """Everybody who sends ordinary traffic during the week (incident addresses are excluded)."""

    def __init__(self, seed: int):
        rng = random.Random(f"{seed}:population")
        candidates = (_v4(rng, "198.51.100", 200) + _v4(rng, "203.0.113", 200) + _v4(rng, "192.0.2", 200)
                      + [f"198.{rng.randint(18, 19)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
                         for _ in range(2600)])
        # nginx prints addresses in canonical form (RFC 5952), as ipaddress does
        v6 = [str(IPv6Address(f"2001:db8:{rng.randint(1, 0xffff):x}:{rng.randint(0, 0xffff):x}::{rng.randint(1, 0xffff):x}"))
              for _ in range(400)]
        addrs = sorted(set(candidates + v6) - RESERVED_IPS)  # sorted: set order is not stable
        rng.shuffle(addrs)
        self.public = [Client(ip, rng.choice(UA_DESKTOP if rng.random() < 0.55 else UA_MOBILE))
                       for ip in addrs]
        # A few clients come back a lot (regulars, NAT gateways): a long-tailed choice.
        self._cum_weights = list(accumulate(1.0 / (rank + 1) ** 0.7 for rank in range(len(self.public))))
        self.app = [Client(c.ip, rng.choice(UA_APP)) for c in self.public[::3]]
        self.office = [Client(f"10.20.{rng.randint(1, 12)}.{rng.randint(2, 250)}", rng.choice(UA_DESKTOP))
                       for _ in range(160)]

    def visitor(self, rng: random.Random) -> Client:
        return rng.choices(self.public, cum_weights=self._cum_weights)[0]


class Day:
    """One controller's traffic for one UTC day: turns visit plans into finished `Request`s."""

    def __init__(self, rng: random.Random, day_start_us: int, weekend: bool):
        self.rng = rng
        self.start = day_start_us
        self.weekend = weekend
        self.requests: list[Request] = []

    def when(self, hours: tuple[float, ...]) -> int:
        """A visit start: an hour drawn by weight, then a uniform instant within it."""
        hour = self.rng.choices(range(24), cum_weights=_cumulative(hours))[0]
        return self.start + hour * HOUR_US + int(self.rng.random() * HOUR_US)

    def hit(self, t_us: int, client: Client, method: str, host: str, uri: str, status: int,
            size: int, backend: str, *, ms: tuple[int, int] = (8, 90), referer: str = "-",
            protocol: str = "HTTP/2.0", body: int = 0, **fields) -> Request:
        """A request to `backend` (namespace-service-port) that started at t_us.

        `fields` overrides any other Request field (e.g. the logged upstream name of a canary).
        """
        # random() arithmetic instead of randint(): this runs ~150k times per sample week
        rand = self.rng.random
        duration = ms[0] + int(rand() * (ms[1] - ms[0] + 1))
        pool = UPSTREAM_ADDRS.get(backend)
        attempts = ()
        if pool:
            upstream_ms = max(duration - int(rand() * 3), 0)
            attempts = (Attempt(pool[int(rand() * len(pool))], status, size, upstream_ms),)
        r = Request(
            end_us=t_us + duration * 1000 + int(rand() * 1000), client_ip=client.ip, method=method,
            host=host, uri=uri, status=status, bytes_sent=size,
            request_length=len(uri) + len(client.ua) + 180 + int(rand() * 440) + body,
            duration_ms=duration, user_agent=client.ua, referer=referer, protocol=protocol,
            upstream=backend, attempts=attempts,
            req_id=f"{self.rng.getrandbits(128):032x}", client_port=32768 + int(rand() * 28232),
            tls_protocol="TLSv1.3" if rand() < 0.85 else "TLSv1.2",
        )
        for name, value in fields.items():
            setattr(r, name, value)
        self.requests.append(r)
        return r

    def answered_by_nginx(self, t_us: int, client: Client, method: str, host: str, uri: str,
                          status: int, size: int, backend: str, **fields) -> Request:
        """Redirects and whitelist denials: nginx answers itself, so no upstream was tried."""
        return self.hit(t_us, client, method, host, uri, status, size, backend,
                        ms=(0, 0), attempts=(), **fields)

    def pause(self, t_us: int, lo_s: float, hi_s: float) -> int:
        return t_us + int(self.rng.uniform(lo_s, hi_s) * 1_000_000)


# --- shop.example.com and friends on the public controller ------------------------------------

def shop_visit(d: Day, client: Client, t: int) -> None:
    rng, host = d.rng, "shop.example.com"
    returning = rng.random() < 0.4
    landing = rng.choice(("/", "/", f"/products?category={rng.choice(CATEGORIES)}",
                          f"/products/{rng.choice(PRODUCTS)}"))
    referer = rng.choice(("-", "-", "https://www.google.com/", "https://www.bing.com/", "https://duckduckgo.com/"))
    page = _shop_page(d, client, t, landing, referer)
    t = _shop_assets(d, client, t, page, returning)
    for _ in range(rng.choice((0, 1, 1, 2, 3, 5))):
        t = d.pause(t, 3, 45)
        uri = rng.choice((f"/products/{rng.choice(PRODUCTS)}", f"/products?category={rng.choice(CATEGORIES)}",
                          f"/search?q={rng.choice(SEARCHES)}", f"/products/{rng.choice(PRODUCTS)}"))
        _shop_page(d, client, t, uri, f"https://{host}{page}")
        for _ in range(rng.randint(0, 3)):
            img = f"/images/products/{rng.choice(PRODUCTS)}-400.webp"
            d.hit(d.pause(t, 0.1, 0.6), client, "GET", host, img, 200, rng.randint(9000, 60000),
                  "shop-web-8080", ms=(1, 6), referer=f"https://{host}{uri}")
        page = uri
    if rng.random() < 0.18:
        t = shop_login(d, client, d.pause(t, 5, 30), failures=1 if rng.random() < 0.04 else 0)
    if rng.random() < 0.22:
        t = d.pause(t, 5, 40)
        d.hit(t, client, "POST", host, "/cart/items", 302, 0, "shop-web-8080", ms=(20, 70),
              referer=f"https://{host}{page}", body=rng.randint(40, 90))
        d.hit(d.pause(t, 0.2, 0.5), client, "GET", host, "/cart", 200, rng.randint(18000, 26000),
              "shop-web-8080", ms=(25, 90), referer=f"https://{host}{page}")
        if rng.random() < 0.35:
            shop_checkout(d, client, d.pause(t, 10, 60))


def _shop_page(d: Day, client: Client, t: int, uri: str, referer: str) -> str:
    rng = d.rng
    if uri.startswith("/products/") and rng.random() < 0.01:  # a product that was taken down
        d.hit(t, client, "GET", "shop.example.com", uri, 404, 5212, "shop-web-8080", referer=referer)
    elif rng.random() < 0.005:  # an app error the user will retry
        d.hit(t, client, "GET", "shop.example.com", uri, 500, 1480, "shop-web-8080", ms=(100, 400),
              referer=referer)
    else:
        r = d.hit(t, client, "GET", "shop.example.com", uri, 200, rng.randint(21000, 46000), "shop-web-8080",
                  ms=(25, 160), referer=referer)
        if rng.random() < 0.001:  # a pod going away mid-rollout: nginx retries the next one
            gone = next(a for a in UPSTREAM_ADDRS["shop-web-8080"] if a != r.attempts[0].addr)
            r.attempts = (Attempt(gone, 502, 0, 0),) + r.attempts
    return uri


def _shop_assets(d: Day, client: Client, t: int, page: str, returning: bool) -> int:
    rng = d.rng
    for asset in SHOP_ASSETS:
        t = d.pause(t, 0.02, 0.25)
        cached = returning and rng.random() < 0.9
        size = 0 if cached else rng.randint(3000, 180000)
        d.hit(t, client, "GET", "shop.example.com", asset, 304 if cached else 200, size,
              "shop-web-8080", ms=(1, 5), referer=f"https://shop.example.com{page}")
    return t


def shop_login(d: Day, client: Client, t: int, failures: int) -> int:
    """The login page, `failures` wrong passwords, then a successful login and the account page."""
    rng, host = d.rng, "shop.example.com"
    d.hit(t, client, "GET", host, "/login", 200, 9120, "shop-web-8080", ms=(15, 60))
    for _ in range(failures):
        t = d.pause(t, 6, 20)
        d.hit(t, client, "POST", host, "/login", 401, 9340, "shop-web-8080", ms=(80, 260),
              referer=f"https://{host}/login", body=rng.randint(50, 80))
    t = d.pause(t, 5, 18)
    d.hit(t, client, "POST", host, "/login", 302, 0, "shop-web-8080", ms=(90, 280),
          referer=f"https://{host}/login", body=rng.randint(50, 80))
    t = d.pause(t, 0.2, 0.6)
    d.hit(t, client, "GET", host, "/account", 200, rng.randint(14000, 19000), "shop-web-8080",
          ms=(30, 110), referer=f"https://{host}/login")
    return t


def shop_checkout(d: Day, client: Client, t: int) -> None:
    rng, host = d.rng, "shop.example.com"
    d.hit(t, client, "GET", host, "/checkout", 200, rng.randint(15000, 21000), "shop-checkout-8080",
          ms=(40, 140), referer=f"https://{host}/cart")
    t = d.pause(t, 20, 90)
    d.hit(t, client, "POST", host, "/checkout/payment", 302, 0, "shop-checkout-8080", ms=(300, 1400),
          referer=f"https://{host}/checkout", body=rng.randint(300, 700))
    d.hit(d.pause(t, 1.5, 3), client, "GET", host, "/checkout/confirmation", 200, rng.randint(11000, 14000),
          "shop-checkout-8080", ms=(30, 90), referer=f"https://{host}/checkout")


def api_session(d: Day, client: Client, t: int) -> None:
    """The mobile app: a token refresh (sometimes a login), product browsing, maybe an order."""
    rng, host = d.rng, "api.example.com"

    def call(t: int, method: str, uri: str, status: int, size: int, **kw) -> Request:
        # A small share of app traffic goes to the canary release; nginx then logs both names.
        if rng.random() < 0.05:
            return d.hit(t, client, method, host, uri, status, size, "api-gateway-canary-8080",
                         upstream="api-gateway-8080", alt_upstream="api-gateway-canary-8080", **kw)
        return d.hit(t, client, method, host, uri, status, size, "api-gateway-8080", **kw)

    if rng.random() < 0.2:
        if rng.random() < 0.05:  # a wrong password typed on a phone, corrected once
            call(t, "POST", "/api/v1/auth/login", 401, 64, ms=(60, 200), body=70)
            t = d.pause(t, 8, 25)
        call(t, "POST", "/api/v1/auth/login", 200, 812, ms=(60, 220), body=70)
    else:
        call(t, "POST", "/api/v1/auth/refresh", 200, 790, ms=(15, 60), body=420)
    for page in range(1, rng.randint(2, 7)):
        t = d.pause(t, 1, 20)
        call(t, "GET", f"/api/v1/products?category={rng.choice(CATEGORIES)}&page={page}&limit=20", 200,
             rng.randint(9000, 24000), ms=(12, 70))
        if rng.random() < 0.5:
            call(d.pause(t, 1, 8), "GET", f"/api/v1/products/{rng.choice(PRODUCTS)}", 200,
                 rng.randint(2500, 6000), ms=(6, 40))
    call(d.pause(t, 1, 5), "GET", "/api/v1/cart", 200, rng.randint(300, 2400), ms=(8, 35))
    if rng.random() < 0.08:
        call(d.pause(t, 5, 30), "POST", "/api/v1/orders", 201, rng.randint(900, 1500), ms=(120, 600),
             body=rng.randint(400, 1200))


def admin_session(d: Day, client: Client, t: int) -> None:
    rng, host = d.rng, "admin.example.com"
    for uri in ("/admin", rng.choice(("/admin/orders?status=open", "/admin/users", "/admin/returns")),
                rng.choice(("/admin/orders?status=shipped", "/admin/products/1003", "/admin/reports/daily"))):
        d.hit(t, client, "GET", host, uri, 200, rng.randint(8000, 40000), "admin-admin-portal-80",
              ms=(20, 180), referer=f"https://{host}/admin")
        t = d.pause(t, 10, 120)


def crawler(d: Day, client: Client, t: int, pages: int) -> None:
    """Search-engine bots: robots.txt, the sitemap, then product pages (a few of them gone)."""
    rng, host = d.rng, "shop.example.com"
    d.hit(t, client, "GET", host, "/robots.txt", 200, 312, "shop-web-8080", protocol="HTTP/1.1")
    d.hit(d.pause(t, 1, 3), client, "GET", host, "/sitemap.xml", 200, 48211, "shop-web-8080", protocol="HTTP/1.1")
    for _ in range(pages):
        t = d.pause(t, 20, 400)
        pid = rng.choice(PRODUCTS) if rng.random() < 0.97 else rng.randint(100, 999)
        status, size = (200, rng.randint(21000, 46000)) if pid >= 1000 else (404, 5212)
        d.hit(t, client, "GET", host, f"/products/{pid}", status, size, "shop-web-8080", protocol="HTTP/1.1")


def health_checks(d: Day, hosts: tuple[str, ...], upstreams: tuple[str, ...]) -> None:
    """The monitoring probe (blackbox exporter on 10.0.5.10) hits each host's /healthz every minute."""
    probe = Client("10.0.5.10", UA_BLACKBOX)
    for second in range(0, 86_400, 60):
        for host, upstream in zip(hosts, upstreams):
            t = d.start + second * 1_000_000 + d.rng.randrange(400_000)
            d.hit(t, probe, "GET", host, "/healthz", 200, 2, upstream, ms=(1, 4), protocol="HTTP/1.1")


def internet_noise(d: Day, pop: Population) -> None:
    """What every public endpoint gets: probes of the bare address, TLS on the plain port, odd bots."""
    rng = d.rng
    for _ in range(rng.randint(12, 25)):
        client = Client(rng.choice(pop.public).ip, rng.choice((UA_CURL, "Mozilla/5.0 zgrab/0.x", "-")))
        uri = rng.choice(("/", "/", "/.env", "/robots.txt", "/favicon.ico", "/wp-login.php"))
        d.hit(d.when(PUBLIC_HOURS), client, "GET", "_", uri, 404, 146, "upstream-default-backend",
              ms=(0, 1), protocol="HTTP/1.1")
    for _ in range(rng.randint(2, 4)):  # a TLS ClientHello sent to port 80
        client = Client(rng.choice(pop.public).ip, "-")
        # surrogateescape: the raw byte 0xFC, which nginx logs as \xFC
        d.answered_by_nginx(d.when(PUBLIC_HOURS), client, "", "_", "", 400, 150, "",
                            raw_request="\x16\x03\x01\x02\x00\x01\x00\x01\udcfc\x03\x03", request_length=0)
    client = Client(rng.choice(pop.public).ip, 'Mozilla/5.0 (compatible; "SiteAuditBot"/1.2)')
    d.hit(d.when(PUBLIC_HOURS), client, "GET", "shop.example.com", "/", 200, 31877, "shop-web-8080",
          protocol="HTTP/1.1")
    for _ in range(rng.randint(1, 3)):  # the admin whitelist turns the curious away
        client = Client(rng.choice(pop.public).ip, rng.choice(UA_DESKTOP))
        d.answered_by_nginx(d.when(PUBLIC_HOURS), client, "GET", "admin.example.com", "/admin", 403, 146,
                            "admin-admin-portal-80")


def partner_sync(d: Day) -> None:
    """A partner pulls the whole catalogue each night in under a minute.

    That burst exceeds the per-minute rate threshold, and policy.yaml waives it (its contract
    allows bursts): the sample's example of an accepted finding.
    """
    client = Client(PARTNER_IP, UA_PYTHON)
    t = d.start + 2 * HOUR_US + d.rng.randrange(10) * MINUTE_US + 500_000
    for page in range(1, PARTNER_PAGES + 1):
        d.hit(t, client, "GET", "api.example.com", f"/api/v1/products?page={page}&limit=100", 200,
              d.rng.randint(60000, 90000), "api-gateway-8080", ms=(20, 60), protocol="HTTP/1.1")
        t += 80_000


def public_day(d: Day, pop: Population, visits: int) -> None:
    """Everything ordinary the public controller serves in a day."""
    rng = d.rng
    health_checks(d, ("shop.example.com",), ("shop-web-8080",))
    for _ in range(visits):
        t = d.when(PUBLIC_HOURS)
        kind = rng.random()
        if kind < 0.62:
            shop_visit(d, pop.visitor(rng), t)
        elif kind < 0.95:
            api_session(d, rng.choice(pop.app), t)
        elif not d.weekend:
            admin_session(d, rng.choice(pop.office[:25]), d.when(OFFICE_HOURS))
    crawler(d, Client(f"66.249.66.{rng.randint(1, 200)}", UA_GOOGLEBOT), d.when(PUBLIC_HOURS), 150)
    crawler(d, Client(f"157.55.39.{rng.randint(1, 200)}", UA_BINGBOT), d.when(PUBLIC_HOURS), 60)
    partner_sync(d)
    internet_noise(d, pop)
