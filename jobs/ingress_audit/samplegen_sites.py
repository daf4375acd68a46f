"""Ordinary traffic of the other edges: the internal ingress-nginx, Traefik and the AWS ALB."""

from __future__ import annotations

from .samplegen_formats import Request, uuid4
from .samplegen_traffic import (OFFICE_HOURS, PUBLIC_HOURS, UA_CURL, UA_DESKTOP, UA_MOBILE, Client,
                                Day, Population, health_checks)

# Some staff reach the internal controller through the corporate proxy (10.0.0.5, behind the
# hop 10.0.0.2): X-Forwarded-For then names their office address and the hop.
_PROXY = "10.0.0.5"
UA_UPTIMEROBOT = "Mozilla/5.0+(compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)"
_DASHBOARDS = ("k8s-cluster/kubernetes-cluster", "ingress/nginx-ingress-controller", "shop/checkout-slo",
               "api/gateway-latency", "node/node-exporter-full")
_JOBS = ("shop-web", "shop-checkout", "api-gateway", "admin-portal", "infra-terraform")
_DOCS = ("runbooks/checkout-outage", "onboarding", "oncall/rotation", "architecture/ingress",
         "security/access-requests", "postmortems/2026-10-02")


def _office_client(d: Day, pop: Population) -> tuple[Client, dict]:
    """A member of staff, and the fields to log when they come through the corporate proxy."""
    person = d.rng.choice(pop.office)
    if d.rng.random() < 0.12:
        return Client(_PROXY, person.ua), {"forwarded_for": f"{person.ip}, 10.0.0.2"}
    return person, {}


def grafana_session(d: Day, pop: Population) -> None:
    """A dashboard left open: it refreshes every 30 seconds until the tab is closed."""
    rng, host, backend = d.rng, "grafana.internal.example.com", "monitoring-grafana-3000"
    client, via = _office_client(d, pop)
    t = d.when(OFFICE_HOURS)
    if rng.random() < 0.05:  # typed without https: nginx redirects before any upstream
        d.answered_by_nginx(t, client, "GET", host, "/", 308, 164, backend, scheme="http", **via)
        t = d.pause(t, 0.1, 0.3)
    dash = rng.choice(_DASHBOARDS)
    d.hit(t, client, "GET", host, f"/d/{dash}", 200, 38211, backend, **via)
    for asset in ("/public/build/runtime.4c1f2a.js", "/public/build/app.77e0c1.js", "/public/build/grafana.dark.css"):
        d.hit(d.pause(t, 0.05, 0.3), client, "GET", host, asset, 304, 0, backend, ms=(1, 3), **via)
    minutes = rng.randint(3, 40)
    d.hit(d.pause(t, 0.5, 1), client, "GET", host, "/api/live/ws", 101, 5312, backend,
          ms=(minutes * 60_000, minutes * 60_000 + 900), protocol="HTTP/1.1", **via)
    for _ in range(minutes * 2):
        t = d.pause(t, 29.5, 30.5)
        d.hit(t, client, "POST", host, "/api/ds/query?ds_type=prometheus", 200, rng.randint(4000, 30000), backend,
              ms=(30, 400), body=rng.randint(600, 1400),
              referer=f"https://{host}/d/{dash}", **via)


def ci_day(d: Day, pop: Population) -> None:
    """CI runners poll Jenkins with basic auth; people look at job pages."""
    rng, host, backend = d.rng, "ci.internal.example.com", "ci-jenkins-8080"
    runner = Client(f"10.0.8.{rng.randint(11, 14)}", "Jenkins-CLI/2.479")
    for _ in range(rng.randint(25, 45) if not d.weekend else rng.randint(2, 6)):
        t, job = d.when(OFFICE_HOURS), rng.choice(_JOBS)
        d.hit(t, runner, "POST", host, f"/job/{job}/buildWithParameters?ref=main", 201, 0, backend,
              remote_user="deploy-bot", protocol="HTTP/1.1", body=120)
        for _ in range(rng.randint(6, 20)):
            t = d.pause(t, 9, 11)
            d.hit(t, runner, "GET", host, f"/job/{job}/lastBuild/api/json", 200, rng.randint(2100, 2600),
                  backend, remote_user="deploy-bot", protocol="HTTP/1.1", ms=(10, 40))
        if rng.random() < 0.5:
            client, via = _office_client(d, pop)
            d.hit(d.pause(t, 5, 120), client, "GET", host, f"/job/{job}/lastBuild/console", 200,
                  rng.randint(20000, 90000), backend, ms=(50, 300), **via)


def wiki_day(d: Day, pop: Population) -> None:
    rng, host, backend = d.rng, "wiki.internal.example.com", "wiki-outline-3000"
    for _ in range(rng.randint(90, 140) if not d.weekend else rng.randint(5, 12)):
        client, via = _office_client(d, pop)
        t, doc = d.when(OFFICE_HOURS), rng.choice(_DOCS)
        d.hit(t, client, "GET", host, f"/doc/{doc}", 200, rng.randint(12000, 30000), backend, **via)
        d.hit(d.pause(t, 0.3, 1), client, "POST", host, "/api/documents.info", 200, rng.randint(3000, 12000),
              backend, body=64, referer=f"https://{host}/doc/{doc}", **via)


def internal_day(d: Day, pop: Population) -> None:
    health_checks(d, ("grafana.internal.example.com",), ("monitoring-grafana-3000",))
    for _ in range(d.rng.randint(30, 40) if not d.weekend else d.rng.randint(2, 5)):
        grafana_session(d, pop)
    ci_day(d, pop)
    wiki_day(d, pop)


# --- Traefik ----------------------------------------------------------------------------------

TRAEFIK_ROUTES = {  # host: (router, service, backend)
    "blog.example.com": ("blog-ghost-blog-example-com@kubernetes", "blog-ghost-2368@kubernetes", "blog-ghost-2368"),
    "docs.example.com": ("docs-docs-site-docs-example-com@kubernetes", "docs-docs-site-80@kubernetes", "docs-docs-site-80"),
    "status.example.com": ("status-statuspage-status-example-com@kubernetes", "status-statuspage-8080@kubernetes",
                           "status-statuspage-8080"),
}
_POSTS = ("how-we-size-winter-boots", "black-friday-2026", "merino-care-guide", "our-new-warehouse",
          "packaging-without-plastic", "meet-the-team", "gift-guide-2026")
# some visitors come through their own proxy, which sends X-Forwarded-For
_VISITOR_PROXIED = ("203.0.113.7", "198.51.100.61", "192.0.2.144", "203.0.113.181")
_DOC_PAGES = ("api/authentication", "api/products", "api/orders", "api/rate-limits", "guides/webhooks",
              "guides/quickstart", "changelog")


def _traefik(d: Day, client: Client, t: int, host: str, uri: str, status: int, size: int, **kw) -> Request:
    router, service, backend = TRAEFIK_ROUTES[host]
    r = d.hit(t, client, kw.pop("method", "GET"), host, uri, status, size, backend, **kw)
    rng = d.rng
    r.extra = {"router": router, "service": service, "service_addr": r.attempts[0].addr,
               "overhead_ns": rng.randint(40_000, 900_000), "start_ns": rng.randrange(1000),
               "body_size": kw.get("body", 0)}
    r.req_id = uuid4(rng)
    if rng.random() < 0.15:
        r.forwarded_for = rng.choice(_VISITOR_PROXIED)
    return r


def traefik_day(d: Day, pop: Population) -> None:
    rng = d.rng
    uptime = Client("216.144.248.20", UA_UPTIMEROBOT)
    for minute in range(0, 1440, 5):
        _traefik(d, uptime, d.start + minute * 60_000_000 + rng.randrange(2_000_000), "status.example.com",
                 "/", 200, 6120, protocol="HTTP/1.1")
    feedly = Client("54.205.40.12", "Feedly/1.0 (+http://www.feedly.com/fetcher.html; 412 subscribers)")
    for hour in range(24):
        _traefik(d, feedly, d.start + hour * 3_600_000_000 + rng.randrange(60_000_000), "blog.example.com",
                 "/rss/", 200, 48213, protocol="HTTP/1.1")
    for _ in range(rng.randint(150, 200)):
        client, t = pop.visitor(rng), d.when(PUBLIC_HOURS)
        post = rng.choice(_POSTS)
        _traefik(d, client, t, "blog.example.com", f"/{post}/", 200, rng.randint(30000, 52000),
                 referer=rng.choice(("-", "https://www.google.com/", "https://t.co/", "https://shop.example.com/")))
        for asset in ("/assets/built/screen.css?v=4f1e2a", "/assets/built/casper.js?v=4f1e2a",
                      f"/content/images/2026/11/{post}.webp"):
            _traefik(d, client, d.pause(t, 0.05, 0.4), "blog.example.com", asset, 200, rng.randint(4000, 120000),
                     ms=(1, 6), referer=f"https://blog.example.com/{post}/")
    for _ in range(rng.randint(120, 160)):
        client, t = pop.visitor(rng), d.when(OFFICE_HOURS if not d.weekend else PUBLIC_HOURS)
        for _ in range(rng.randint(1, 5)):
            page = rng.choice(_DOC_PAGES)
            status = 200 if rng.random() < 0.98 else 404
            _traefik(d, client, t, "docs.example.com", f"/{page}" if status == 200 else f"/{page}/v1",
                     status, rng.randint(9000, 26000) if status == 200 else 1245)
            t = d.pause(t, 10, 180)
        if rng.random() < 0.3:
            _traefik(d, client, t, "docs.example.com", "/search?q=rate+limit&section=api", 200, 3310)
    for _ in range(rng.randint(30, 60)):
        _traefik(d, pop.visitor(rng), d.when(PUBLIC_HOURS), "status.example.com", "/", 200, 6120)


# --- AWS ALB --------------------------------------------------------------------------------------

def alb_day(d: Day, pop: Population) -> None:
    """www.example.com behind the AWS Load Balancer Controller: landing pages; http is redirected."""
    rng = d.rng
    uptime = Client("216.144.248.21", UA_UPTIMEROBOT)
    for minute in range(0, 1440, 5):
        _alb(d, d.hit(d.start + minute * 60_000_000 + rng.randrange(2_000_000), uptime, "GET", "www.example.com",
                      "/", 200, 14210, "www-landing-8080", protocol="HTTP/1.1", ms=(2, 20)))
    for _ in range(rng.randint(90, 120)):
        client = rng.choice([c for c in pop.public[:600] if "." in c.ip])
        client = Client(client.ip, rng.choice(UA_DESKTOP + UA_MOBILE + (UA_CURL,)))
        t = d.when(PUBLIC_HOURS)
        if rng.random() < 0.15:
            _alb(d, d.answered_by_nginx(t, client, "GET", "www.example.com", "/", 301, 0, "",
                                        scheme="http", protocol="HTTP/1.1"))
            t = d.pause(t, 0.1, 0.3)
        for uri in ("/", rng.choice(("/pricing", "/about", "/stores", "/careers")), "/assets/site.css"):
            _alb(d, d.hit(t, client, "GET", "www.example.com", uri, 200, rng.randint(3000, 40000),
                          "www-landing-8080", protocol="HTTP/1.1", ms=(2, 40)))
            t = d.pause(t, 0.5, 20)


def _alb(d: Day, r: Request) -> None:
    rng = d.rng
    r.extra = {"trace_id": f"Root=1-{r.start_us // 1_000_000:08x}-{rng.getrandbits(96):024x}",
               "conn_trace_id": f"TID_{rng.getrandbits(128):032x}"}
