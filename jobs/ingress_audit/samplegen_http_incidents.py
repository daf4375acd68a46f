"""The planted HTTP incidents (and the one planted look-alike), at the times samplegen_plan gives.

Each function adds its requests to a `Day` used as a collector; its `start` is the week's start.
The counts here are the ones sample_data/expected_incidents.yaml states.
"""

from __future__ import annotations

from datetime import date

from . import samplegen_plan as plan
from .samplegen_formats import Attempt, Request
from .samplegen_traffic import (HOUR_US, UA_DESKTOP, UA_MOBILE, UA_PYTHON, UPSTREAM_ADDRS, Client, Day,
                                Population, shop_login)

SHOP, API, ADMIN = "shop.example.com", "api.example.com", "admin.example.com"

_SCAN_FILES = (
    ".env", ".env.bak", ".env.production", ".git/config", ".git/HEAD", ".svn/entries", ".DS_Store",
    ".aws/credentials", ".htpasswd", "config.php", "config.json", "wp-config.php.bak", "wp-login.php",
    "wp-admin/install.php", "wp-admin/setup-config.php", "xmlrpc.php", "phpmyadmin/index.php",
    "pma/index.php", "phpinfo.php", "info.php", "server-status", "actuator/env", "swagger-ui.html",
    "v2/api-docs", "debug/pprof/", "backup.zip", "backup.sql", "dump.sql", "site.tar.gz",
    "vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php",
)
_SCAN_DIRS = ("", "/old", "/backup", "/api", "/app", "/public", "/dev", "/wordpress")
SCAN_PATHS = tuple(f"{prefix}/{name}" for name in _SCAN_FILES for prefix in _SCAN_DIRS)


def brute_force(d: Day, week: date) -> None:
    """64 wrong passwords from one address in under five minutes, then a successful login."""
    client, t = Client(plan.BRUTE_FORCE_IP, UA_PYTHON), plan.at(week, plan.BRUTE_FORCE_START)
    for _ in range(plan.BRUTE_FORCE_ATTEMPTS):
        d.hit(t, client, "POST", SHOP, "/login", 401, 9340, "shop-web-8080", ms=(80, 200),
              referer=f"https://{SHOP}/login", protocol="HTTP/1.1", body=d.rng.randint(50, 70))
        t = d.pause(t, 3.5, 4.4)
    t = plan.at(week, plan.BRUTE_FORCE_SUCCESS)
    d.hit(t, client, "POST", SHOP, "/login", 302, 0, "shop-web-8080", ms=(90, 200),
          referer=f"https://{SHOP}/login", protocol="HTTP/1.1", body=61)
    d.hit(d.pause(t, 0.3, 0.6), client, "GET", SHOP, "/account", 200, 16211, "shop-web-8080",
          protocol="HTTP/1.1")


def credential_stuffing(d: Day, week: date) -> None:
    """45 addresses, each trying 2 or 3 stolen passwords on the API's login within the hour."""
    start = plan.at(week, plan.STUFFING_START)
    for k, ip in enumerate(plan.STUFFING_IPS):
        client = Client(ip, d.rng.choice(UA_DESKTOP + UA_MOBILE))
        t = start + k * 65_000_000 + d.rng.randrange(20_000_000)
        for _ in range(3 if k % 2 == 0 else 2):
            d.hit(t, client, "POST", API, "/api/v1/auth/login", 401, 64, "api-gateway-8080", ms=(60, 200),
                  protocol="HTTP/1.1", body=d.rng.randint(60, 90))
            t = d.pause(t, 8, 30)


def scanner(d: Day, week: date) -> None:
    client, t = Client(plan.SCANNER_IP, UA_DESKTOP[5]), plan.at(week, plan.SCANNER_START)
    for path in SCAN_PATHS:
        d.hit(t, client, "GET", SHOP, path, 404, 5212, "shop-web-8080", ms=(3, 20), protocol="HTTP/1.1")
        t = d.pause(t, 3, 5.5)


def rate_spike(d: Day, week: date) -> None:
    """One client scrapes the catalogue: 3000 requests in 10 minutes, up to 760 in one minute."""
    client, start = Client(plan.SPIKE_IP, "Go-http-client/2.0"), plan.at(week, plan.SPIKE_START)
    page = 0
    for minute, count in enumerate(plan.SPIKE_PER_MINUTE):
        step = 59_000_000 // count  # the last request still ends within its minute
        for i in range(count):
            t = start + minute * 60_000_000 + i * step + d.rng.randrange(step // 2)
            d.hit(t, client, "GET", API, f"/api/v1/products?page={page % 300 + 1}&limit=50", 200,
                  d.rng.randint(30000, 42000), "api-gateway-8080", ms=(8, 40))
            page += 1


def checkout_outage(d: Day, week: date, pop: Population) -> None:
    """shop-checkout-8080 fails for an hour: refused connections (retried), overload, timeouts."""
    start, pool = plan.at(week, plan.OUTAGE_START), UPSTREAM_ADDRS["shop-checkout-8080"]
    customers = [pop.visitor(d.rng) for _ in range(60)]
    starts = sorted(start + d.rng.randrange(58 * 60_000_000) for _ in range(plan.OUTAGE_REQUESTS))
    for i, t in enumerate(starts):
        client = d.rng.choice(customers)
        if i % 3 == 0:  # every endpoint refuses: nginx tries all three, the client gets 502
            tries = tuple(Attempt(addr, 502, 0, d.rng.randint(0, 1)) for addr in pool)
            _failed(d, t, client, "GET", "/checkout", 502, 552, tries)
        elif i % 3 == 1:  # the app sheds load itself
            _failed(d, t, client, "GET", "/checkout", 503, 190,
                    (Attempt(d.rng.choice(pool), 503, 190, d.rng.randint(1, 5)),))
        else:  # a POST is not retried: one 60-second timeout
            _failed(d, t, client, "POST", "/checkout/payment", 504, 562,
                    (Attempt(d.rng.choice(pool), 504, 0, 60_000 + d.rng.randint(0, 3)),), body=512)


def _failed(d: Day, t: int, client: Client, method: str, uri: str, status: int, size: int,
            tries: tuple[Attempt, ...], body: int = 0) -> Request:
    duration = sum(a.time_ms for a in tries) + 1
    return d.hit(t, client, method, SHOP, uri, status, size, "shop-checkout-8080", ms=(duration, duration),
                 attempts=tries, referer=f"https://{SHOP}/cart", body=body)


def admin_exposure(d: Day, week: date) -> None:
    """Strangers browse the admin portal while its whitelist says 0.0.0.0/0."""
    t = plan.at(week, plan.ADMIN_ACCESS_START)
    visits = ((plan.ADMIN_INTRUDER_IPS[0], ("/admin", "/admin/users", "/admin/users?page=2", "/admin/users/17",
                                            "/admin/orders?status=open", "/admin/orders/88412", "/admin/settings",
                                            "/admin/settings/payments", "/admin/users/export?format=csv",
                                            "/admin/reports/daily", "/admin/returns", "/admin/products/1003",
                                            "/admin/audit-log", "/admin/logout")),
              (plan.ADMIN_INTRUDER_IPS[1], ("/admin", "/admin/users", "/admin/settings", "/admin/settings/api-keys",
                                            "/admin/orders?status=open", "/admin/users/export?format=csv",
                                            "/admin/reports/daily", "/admin/logout")))
    for ip, paths in visits:
        client = Client(ip, UA_DESKTOP[2])
        for path in paths:
            d.hit(t, client, "GET", ADMIN, path, 200, d.rng.randint(8000, 40000), "admin-admin-portal-80",
                  ms=(20, 180), referer=f"https://{ADMIN}/admin")
            t = d.pause(t, 40, 75)


def mistyped_password(d: Day, week: date) -> None:
    """Ordinary: a customer gets the password wrong twice, then logs in."""
    client = Client(plan.MISTYPING_IP, UA_MOBILE[0])
    shop_login(d, client, plan.at(week, plan.MISTYPING_START), failures=2)


def plant_public(d: Day, week: date, pop: Population) -> None:
    brute_force(d, week)
    credential_stuffing(d, week)
    scanner(d, week)
    rate_spike(d, week)
    checkout_outage(d, week, pop)
    admin_exposure(d, week)
    mistyped_password(d, week)


def plaintext_payroll(d: Day, week: date, pop: Population) -> None:
    """Staff use the new payroll app, whose ingress has no TLS: plain http on the internal controller."""
    since = plan.at(week, plan.PLAINTEXT_FROM)
    first_day = plan.PLAINTEXT_FROM[0]
    for day in range(first_day, 7):
        opens = max(plan.at(week, (day, "07:00:00")), since)
        closes = plan.at(week, (day, "17:00:00"))
        count = plan.PLAINTEXT_PER_DAY if day > first_day else plan.PLAINTEXT_PER_DAY // 3
        for _ in range(count):
            client = d.rng.choice(pop.office)
            path = d.rng.choice(("/", "/payslips", "/payslips/2026-10.pdf", "/api/session", "/profile/bank-account"))
            d.hit(opens + d.rng.randrange(closes - opens), client, "GET", plan.PLAINTEXT_HOST, path, 200,
                  d.rng.randint(3000, 90000), "payroll-payroll-web-8080", scheme="http", protocol="HTTP/1.1")


def without_background_checkouts(requests: list[Request], week: date) -> list[Request]:
    """During the outage every checkout request is one of the planted failures."""
    start = plan.at(week, plan.OUTAGE_START)
    return [r for r in requests
            if not (r.upstream == "shop-checkout-8080" and start <= r.end_us < start + HOUR_US)]


def public_gap(week: date) -> range:
    """The hour in which neither public controller pod's logs reached the archive."""
    start = plan.at(week, plan.PUBLIC_GAP_START)
    return range(start, start + HOUR_US)
