"""access_patterns controls AP-02..AP-07: the sample week's planted incidents and look-alikes,
then edge cases as given/expected rows."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from .control_harness import run_control
from .sample_week_access import sample_week  # noqa: F401  (module-scoped fixture)

T0 = datetime(2026, 11, 18, 9, 0, tzinfo=timezone.utc)
ADMIN = {"restricted_hosts": ["admin.example.com"], "restricted_paths": ["/admin/*"],
         "restricted_upstreams": ["admin-admin-portal-*"], "trusted_networks": ["10.0.0.0/8", "fd00:10::/32"]}


def req(ip: str | None, seconds: float = 0, status: int = 200, path: str = "/", **extra) -> dict:
    return {"ts": T0 + timedelta(seconds=seconds), "client_ip": ip, "method": "GET", "path": path,
            "status": status, **extra}


def _window(entry: dict) -> tuple[datetime, datetime]:
    w = entry["window"]
    return (datetime.fromisoformat(w["start"].replace("Z", "+00:00")),
            datetime.fromisoformat(w["end"].replace("Z", "+00:00")))


def _ts(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# --- the sample week ---------------------------------------------------------------------------------

@pytest.mark.slow
def test_ap02_finds_the_strangers_on_the_admin_portal_and_nobody_else(sample_week):
    planted = sample_week.incidents["restricted_host_access"]
    rows = sample_week.findings("AP-02")
    assert {r["client_ip"] for r in rows} == set(planted["entity"]["client_ip"])
    assert {r["upstream"] for r in rows} == {planted["entity"]["upstream"]}
    assert sum(r["requests"] for r in rows) == planted["records"]
    start, end = _window(planted)
    assert all(start <= _ts(r["first_seen"]) and _ts(r["last_seen"]) < end for r in rows)


@pytest.mark.slow
def test_ap02_whitelist_refusals_are_not_findings(sample_week):
    # admin_whitelist_denials: strangers turned away with 403 are the door working
    assert all("403" not in r["statuses"].split(", ") for r in sample_week.findings("AP-02"))
    denied = sample_week.lookalikes["admin_whitelist_denials"]
    assert denied["match"]["status"] == 403 and denied["records"] > 0


@pytest.mark.slow
def test_ap03_finds_the_scanner_not_the_crawlers(sample_week):
    planted = sample_week.incidents["path_scanning"]
    (row,) = sample_week.findings("AP-03")  # Googlebot's few 404s and one-off probes stay below
    assert row["client_ip"] == planted["entity"]["client_ip"]
    assert row["distinct_404_paths"] == planted["distinct"]["path"]
    assert row["sample_sites"] == [planted["entity"]["upstream"]]


@pytest.mark.slow
def test_ap04_finds_the_rate_spike_and_the_partner_sync_is_waived(sample_week):
    planted = sample_week.incidents["rate_spike"]
    rows = sample_week.findings("AP-04")
    assert [r["client_ip"] for r in rows] == [planted["entity"]["client_ip"]]
    start, end = _window(planted)
    assert start <= _ts(rows[0]["peak_start"]) < end
    partner = sample_week.lookalikes["partner_catalogue_sync"]["entity"]["client_ip"]
    # sample_data/policy.yaml waives AP-04 for the partner (contract PRT-112)
    assert [r["client_ip"] for r in sample_week.waived("AP-04")] == [partner]


@pytest.mark.slow
def test_ap05_finds_the_checkout_outage_and_not_the_retried_502s(sample_week):
    planted = sample_week.incidents["upstream_5xx_hour"]
    rows = sample_week.findings("AP-05")
    server_errors = [r for r in rows if r["status_class"] == "5xx"]
    # the background's "502, 200" retries end in 200 and make no 5xx hour anywhere else
    assert [(r["upstream"], r["hour_start"], r["errors"]) for r in server_errors] == [
        (planted["entity"]["upstream"], planted["window"]["start"], planted["records"])]
    # 4xx hours are reported apart; the attack hours of the week are among them
    client_errors = {(r["upstream"], r["hour_start"][:13]) for r in rows if r["status_class"] == "4xx"}
    scan = sample_week.incidents["path_scanning"]
    assert (scan["entity"]["upstream"], scan["window"]["start"][:13]) in client_errors


@pytest.mark.slow
def test_ap06_finds_payroll_over_http_and_not_the_redirects(sample_week):
    planted = sample_week.incidents["plaintext_http"]
    (row,) = sample_week.findings("AP-06")
    assert (row["host"], row["requests"]) == (planted["entity"]["host"], planted["records"])
    hosts = {r["host"] for r in sample_week.findings("AP-06")}
    for lookalike in ("internal_http_redirects", "alb_http_redirects"):
        assert sample_week.lookalikes[lookalike]["entity"]["host"] not in hosts


@pytest.mark.slow
def test_ap07_finds_bobs_shell_and_not_mallorys_refused_attempts(sample_week):
    planted = sample_week.incidents["pod_exec"]["entity"]
    (row,) = sample_week.findings("AP-07")
    assert (row["user"], row["subresource"], row["namespace"], row["name"]) == (
        planted["user"], planted["subresource"], planted["namespace"], planted["name"])
    assert row["minutes"] > 5  # ResponseStarted and ResponseComplete are one session
    denied = sample_week.incidents["rbac_denials"]["entity"]["user"]
    assert denied not in {r["user"] for r in sample_week.findings("AP-07")}


# --- AP-02 restricted access served to untrusted clients ------------------------------------------------

def test_ap02_served_to_an_untrusted_ipv6_client_by_upstream_when_the_host_is_not_logged():
    rows = run_control("AP-02", http=[req("2001:db8:bad:1::17", i, path=f"/admin/p{i}", upstream="admin-admin-portal-80")
                                      for i in range(3)], policy=ADMIN)
    assert [(r["client_ip"], r["host"], r["upstream"], r["requests"]) for r in rows] == [
        ("2001:db8:bad:1::17", None, "admin-admin-portal-80", 3)]


def test_ap02_trusted_clients_ipv4_and_ipv6_are_not_findings():
    http = [req("10.20.1.5", 0, host="admin.example.com"), req("fd00:10::5", 1, host="admin.example.com"),
            req("::ffff:10.20.1.6", 2, host="admin.example.com")]  # IPv4-mapped office address
    assert run_control("AP-02", http=http, policy=ADMIN) == []


@pytest.mark.parametrize("status", [401, 403, 404, 500])
def test_ap02_refusals_and_errors_are_the_door_working(status):
    assert run_control("AP-02", http=[req("198.51.100.150", 0, status, host="admin.example.com")], policy=ADMIN) == []


@pytest.mark.parametrize("status", [101, 200, 304])
def test_ap02_upgrades_content_and_cache_hits_are_served(status):
    assert len(run_control("AP-02", http=[req("198.51.100.150", 0, status, host="ADMIN.example.com")],
                           policy=ADMIN)) == 1  # hosts compare case-insensitively


def test_ap02_restricted_path_on_an_open_host():
    rows = run_control("AP-02", http=[req("198.51.100.9", 0, path="/admin/users", host="shop.example.com"),
                                      req("198.51.100.9", 1, path="/cart", host="shop.example.com")], policy=ADMIN)
    assert [(r["host"], r["requests"], r["restricted_path_requests"]) for r in rows] == [("shop.example.com", 1, 1)]


def test_ap02_the_client_behind_a_trusted_proxy_is_judged_and_a_spoofed_header_is_not_believed():
    policy = {**ADMIN, "trusted_proxies": ["10.0.0.0/24"]}
    http = [
        req("10.0.0.5", 0, host="admin.example.com", forwarded_for="203.0.113.7, 10.0.0.2"),  # stranger via proxy
        req("10.0.0.5", 1, host="admin.example.com", forwarded_for="10.20.4.4, 10.0.0.2"),  # office via proxy
        req("198.51.100.77", 2, host="admin.example.com", forwarded_for="10.20.1.1"),  # spoofed, not a proxy
    ]
    assert sorted(r["client_ip"] for r in run_control("AP-02", http=http, policy=policy)) == [
        "198.51.100.77", "203.0.113.7"]


def test_ap02_an_unlogged_client_address_is_not_trusted():
    (row,) = run_control("AP-02", http=[req(None, 0, host="admin.example.com")], policy=ADMIN)
    assert (row["resource"], row["client_ip"]) == ("(client not logged)", None)


def test_ap02_nothing_is_restricted_without_a_policy_and_empty_tables_pass():
    assert run_control("AP-02", http=[req("198.51.100.150", 0, host="admin.example.com")]) == []
    assert run_control("AP-02", policy=ADMIN) == []


# --- AP-03 scanning -----------------------------------------------------------------------------------

def test_ap03_threshold_is_distinct_paths_at_the_boundary():
    at = [req("198.51.100.23", i, 404, f"/probe/{i}", upstream="shop-web-8080") for i in range(50)]
    (row,) = run_control("AP-03", http=at)
    assert (row["client_ip"], row["distinct_404_paths"], row["requests_404"]) == ("198.51.100.23", 50, 50)
    assert run_control("AP-03", http=at[:49]) == []


def test_ap03_one_broken_link_retried_is_not_scanning():
    assert run_control("AP-03", http=[req("198.51.100.42", i, 404, "/gone") for i in range(200)]) == []


def test_ap03_paths_that_exist_do_not_count_and_ipv6_scanners_are_found():
    http = [req("2001:db8::bad", i, 200, f"/p/{i}") for i in range(60)] + [req("2001:db8::bad", 100 + i, 404, f"/x{i}")
                                                                           for i in range(10)]
    assert run_control("AP-03", http=http) == []
    assert run_control("AP-03", http=http, policy={"thresholds": {"scanning_distinct_404": 10}})[0]["client_ip"] == \
        "2001:db8::bad"


def test_ap03_unlogged_clients_are_not_one_scanner():
    assert run_control("AP-03", http=[req(None, i, 404, f"/x{i}") for i in range(60)]) == []



def test_ap03_a_scan_is_judged_per_cluster():
    # 30 distinct 404s at each of two clusters: 60 in all, 50 at neither door
    split = [req("198.51.100.23", i, 404, f"/probe/{k}/{i}", cluster=k) for i in range(30) for k in ("eu", "us")]
    assert run_control("AP-03", http=split) == []
    more = [req("198.51.100.23", 100 + i, 404, f"/more/{i}", cluster="us") for i in range(20)]
    (row,) = run_control("AP-03", http=split + more)
    assert (row["client_ip"], row["cluster"], row["distinct_404_paths"]) == ("198.51.100.23", "us", 50)


# --- AP-04 request rate -------------------------------------------------------------------------------

RATE = {"thresholds": {"request_rate_per_minute": 30}}


def test_ap04_exactly_the_limit_within_one_minute_is_found_one_less_is_not():
    at = [req("203.0.113.200", i * 2) for i in range(30)]  # 30 requests in 58 s
    (row,) = run_control("AP-04", http=at, policy=RATE)
    assert (row["client_ip"], row["peak_requests"], row["peak_per_minute"]) == ("203.0.113.200", 30, 30.0)
    assert run_control("AP-04", http=at[:29], policy=RATE) == []


def test_ap04_the_window_slides_across_clock_minutes():
    # 30 requests from 09:00:45 to 09:01:14: 15 in each clock minute, 30 in one sliding minute
    rows = run_control("AP-04", http=[req("203.0.113.200", 45 + i) for i in range(30)], policy=RATE)
    assert rows and rows[0]["peak_start"] == "2026-11-18T09:00:45Z"


def test_ap04_a_minute_is_sixty_seconds_not_sixty_one():
    # 15 requests at 09:00:00 and 15 at 09:01:00: never 30 within one minute
    http = [req("203.0.113.200", 0) for _ in range(15)] + [req("203.0.113.200", 60) for _ in range(15)]
    assert run_control("AP-04", http=http, policy=RATE) == []


def test_ap04_the_rate_is_judged_per_cluster():
    split = [req("203.0.113.200", i * 2, cluster=k) for i in range(15) for k in ("eu", "us")]  # 15 + 15
    assert run_control("AP-04", http=split, policy=RATE) == []
    (row,) = run_control("AP-04", http=split + [req("203.0.113.200", 1 + i * 2, cluster="eu") for i in range(15)],
                         policy=RATE)
    assert (row["cluster"], row["peak_requests"], row["requests_in_period"]) == ("eu", 30, 30)


def test_ap04_the_same_requests_spread_out_are_not_a_peak():
    assert run_control("AP-04", http=[req("203.0.113.200", i * 3) for i in range(30)], policy=RATE) == []


def test_ap04_longer_windows_compare_the_average_rate():
    # 50 requests in 100 s: 50 per minute in one minute, but only 25 per minute over two
    http = [req("2001:db8::200", i * 2) for i in range(50)]
    assert len(run_control("AP-04", http=http, policy={"thresholds": {"request_rate_per_minute": 30}})) == 1
    two = {"thresholds": {"request_rate_per_minute": 30, "rate_window_minutes": 2}}
    assert run_control("AP-04", http=http, policy=two) == []
    two["thresholds"]["request_rate_per_minute"] = 25
    (row,) = run_control("AP-04", http=http, policy=two)
    assert (row["peak_requests"], row["peak_per_minute"], row["window_minutes"]) == (50, 25.0, 2)


def test_ap04_clients_are_counted_apart_and_behind_trusted_proxies():
    http = [req("10.0.0.5", i, forwarded_for=f"198.51.100.{i % 2 + 1}") for i in range(40)]
    policy = {**RATE, "trusted_proxies": ["10.0.0.0/24"]}
    assert run_control("AP-04", http=http, policy=policy) == []  # 20 each
    assert run_control("AP-04", http=http, policy=RATE)[0]["client_ip"] == "10.0.0.5"  # the proxy, unbelieved


# --- AP-05 error spikes -------------------------------------------------------------------------------

def _hour(upstream: str, ok: int, errors: list[int], start: int = 0) -> list[dict]:
    rows = [req("198.51.100.1", start + i, 200, upstream=upstream) for i in range(ok)]
    return rows + [req("198.51.100.1", start + ok + i, s, upstream=upstream) for i, s in enumerate(errors)]


def test_ap05_exactly_the_percentage_is_a_spike():
    (row,) = run_control("AP-05", http=_hour("shop-checkout-8080", 40, [502] * 10))  # 10 of 50 = 20 %
    assert (row["upstream"], row["status_class"], row["errors"], row["error_percent"]) == (
        "shop-checkout-8080", "5xx", 10, 20.0)
    assert row["hour_start"] == "2026-11-18T09:00:00Z"
    assert run_control("AP-05", http=_hour("shop-checkout-8080", 41, [502] * 9)) == []


def test_ap05_too_few_requests_in_the_hour_do_not_count():
    assert run_control("AP-05", http=_hour("shop-checkout-8080", 0, [503] * 49)) == []


def test_ap05_a_retried_502_that_ended_in_200_is_a_200():
    http = [req("198.51.100.1", i, 200, upstream="shop-web-8080", upstream_status="502, 200") for i in range(60)]
    assert run_control("AP-05", http=http) == []


def test_ap05_4xx_and_5xx_are_judged_apart():
    rows = run_control("AP-05", http=_hour("api-gateway-8080", 30, [401] * 15 + [500] * 15))
    assert sorted((r["status_class"], r["errors"]) for r in rows) == [("4xx", 15), ("5xx", 15)]
    rows = run_control("AP-05", http=_hour("api-gateway-8080", 40, [401] * 5 + [500] * 5))  # 10 % each
    assert rows == []


def test_ap05_hours_are_separate_and_the_host_stands_in_for_a_missing_upstream():
    http = [req("198.51.100.1", i, 200, host="blog.example.com") for i in range(50)] + \
           [req("198.51.100.1", 3600 + i, 503, host="blog.example.com") for i in range(50)]
    (row,) = run_control("AP-05", http=http)  # 09:00 all fine, 10:00 all failing
    assert (row["host"], row["upstream"], row["hour_start"], row["error_percent"]) == (
        "blog.example.com", None, "2026-11-18T10:00:00Z", 100.0)


def test_ap05_requests_with_neither_upstream_nor_host_are_not_attributed():
    assert run_control("AP-05", http=[req("198.51.100.1", i, 400) for i in range(60)]) == []


# --- AP-06 plaintext ----------------------------------------------------------------------------------

def test_ap06_content_over_http_is_found_redirects_are_not():
    http = [req("10.20.4.21", i, s, host="payroll.internal.example.com", tls=False)
            for i, s in enumerate([200, 304, 301, 302, 303, 307, 308])]
    (row,) = run_control("AP-06", http=http)
    assert (row["host"], row["requests"], row["statuses"]) == ("payroll.internal.example.com", 2, "200, 304")


def test_ap06_unknown_scheme_and_tls_are_not_judged():
    http = [req("10.20.4.21", 0, host="a.example.com", tls=None), req("10.20.4.21", 1, host="a.example.com", tls=True)]
    assert run_control("AP-06", http=http) == []


def test_ap06_allowed_hosts_are_excepted_and_a_missing_host_is_not():
    http = [req("198.51.100.1", 0, host="Status.Example.com", tls=False), req("198.51.100.1", 1, tls=False)]
    rows = run_control("AP-06", http=http, policy={"plaintext_allowed_hosts": ["status.example.com"]})
    assert [(r["resource"], r["host"]) for r in rows] == [("(host not logged)", None)]


def test_ap06_errors_over_http_are_not_content():
    assert run_control("AP-06", http=[req("198.51.100.1", 0, 404, host="a.example.com", tls=False)]) == []


# --- AP-07 exec / attach / port-forward ----------------------------------------------------------------

def event(audit_id: str, stage: str, seconds: float, subresource: str = "exec", verb: str = "create",
          code: int = 101, decision: str | None = "allow", user: str = "bob@example.com", **extra) -> dict:
    return {"audit_id": audit_id, "stage": stage, "ts": T0, "stage_ts": T0 + timedelta(seconds=seconds),
            "verb": verb, "user": user, "resource": "pods", "subresource": subresource, "namespace": "shop",
            "name": "web-1", "response_code": code, "decision": decision, "source_ip": "10.20.4.57", **extra}


def test_ap07_one_session_from_two_stages_with_its_duration():
    (row,) = run_control("AP-07", audit=[event("a1", "ResponseStarted", 0.1), event("a1", "ResponseComplete", 450)])
    assert (row["user"], row["subresource"], row["namespace"], row["name"], row["minutes"]) == (
        "bob@example.com", "exec", "shop", "web-1", 7.5)


def test_ap07_a_session_still_open_has_only_its_start():
    (row,) = run_control("AP-07", audit=[event("a2", "ResponseStarted", 0.1, "attach")])
    assert (row["subresource"], row["ended"], row["minutes"]) == ("attach", None, None)


def test_ap07_websocket_get_and_port_forward_count():
    rows = run_control("AP-07", audit=[event("a3", "ResponseComplete", 60, "portforward", verb="get"),
                                       event("a4", "ResponseComplete", 60, "exec", verb="get")])
    assert sorted(r["subresource"] for r in rows) == ["exec", "portforward"]
    assert "port-forward session" in [r["reason"] for r in rows if r["subresource"] == "portforward"][0]


def test_ap07_refused_attempts_and_other_subresources_are_not_sessions():
    audit = [event("d1", "ResponseStarted", 0.1, code=403, decision="forbid", user="mallory@example.com"),
             event("d1", "ResponseComplete", 0.2, code=403, decision="forbid", user="mallory@example.com"),
             event("l1", "ResponseComplete", 1, "log", verb="get", code=200)]
    assert run_control("AP-07", audit=audit) == []
    assert run_control("AP-07") == []


def test_ap07_the_same_audit_id_in_two_clusters_is_two_sessions():
    """An audit ID is unique only within one API server: sessions are not merged across clusters."""
    audit = [event("same", "ResponseStarted", 0.1, cluster="eu"), event("same", "ResponseComplete", 60, cluster="eu"),
             event("same", "ResponseStarted", 0.1, cluster="us", user="carol@example.com")]
    rows = run_control("AP-07", audit=audit)
    assert sorted((r["cluster"], r["user"], r["minutes"]) for r in rows) == [
        ("eu", "bob@example.com", 1.0), ("us", "carol@example.com", None)]


def test_ap07_a_forbidden_decision_without_a_status_is_not_a_session():
    assert run_control("AP-07", audit=[event("d2", "ResponseStarted", 0.1, code=None, decision="forbid")]) == []
    assert len(run_control("AP-07", audit=[event("d3", "ResponseStarted", 0.1, code=None, decision="allow")])) == 1
