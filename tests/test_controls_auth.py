"""failed_auth controls FA-02..FA-06 (and a fix to FA-01): the sample week's planted incidents
and look-alikes, then edge cases as given/expected rows."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from .control_harness import run_control, run_control_result
from .sample_week_access import sample_week  # noqa: F401  (module-scoped fixture)

T0 = datetime(2026, 11, 18, 13, 0, tzinfo=timezone.utc)
LOGIN = "/api/v1/auth/login"


def login(ip: str | None, seconds: float, status: int = 401, path: str = LOGIN, method: str = "POST", **extra) -> dict:
    return {"ts": T0 + timedelta(seconds=seconds), "client_ip": ip, "method": method, "path": path,
            "status": status, "upstream": "api-gateway-8080", **extra}


def api(audit_id: str, seconds: float = 0, stage: str = "ResponseComplete", **fields) -> dict:
    ts = T0 + timedelta(seconds=seconds)
    return {"audit_id": audit_id, "stage": stage, "ts": ts, "stage_ts": ts + timedelta(milliseconds=3), **fields}


def _ts(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


POLICY = {"login_paths": ["/login", "/api/*/auth/login", "/oauth/token"]}


# --- the sample week ---------------------------------------------------------------------------------

@pytest.mark.slow
def test_fa02_finds_the_stuffing_run(sample_week):
    planted = sample_week.incidents["credential_stuffing"]
    (row,) = sample_week.findings("FA-02")  # the background's single failures stay far below
    assert (row["path"], row["upstream"]) == (planted["entity"]["path"], planted["entity"]["upstream"])
    # the 45 planted addresses, and perhaps a shopper or two who mistyped in the same hour
    assert planted["distinct"]["client_ip"] <= row["max_clients_in_window"] <= planted["distinct"]["client_ip"] + 5
    assert planted["window"]["start"] <= row["window_start"] < planted["window"]["end"]


@pytest.mark.slow
def test_fa03_finds_the_login_after_the_brute_force_not_the_mistyped_password(sample_week):
    planted = sample_week.incidents["login_after_failures"]
    (row,) = sample_week.findings("FA-03")
    assert (row["client_ip"], row["path"], row["status"]) == (
        planted["entity"]["client_ip"], planted["entity"]["path"], planted["match"]["status"])
    assert planted["window"]["start"] <= row["first_success"] < planted["window"]["end"]
    assert sample_week.lookalikes["mistyped_password"]["entity"]["client_ip"] != row["client_ip"]


@pytest.mark.slow
def test_fa04_finds_the_bad_token_burst_not_bobs_expired_token(sample_week):
    planted = sample_week.incidents["api_unauthenticated_burst"]
    (row,) = sample_week.findings("FA-04")
    assert (row["source_ip"], row["unauthorized_requests"]) == (planted["entity"]["source_ip"], planted["records"])
    assert sample_week.lookalikes["expired_kubectl_token"]["entity"]["source_ip"] != row["source_ip"]


@pytest.mark.slow
def test_fa05_finds_anonymous_secret_reads_not_public_info(sample_week):
    planted = sample_week.incidents["api_anonymous_allowed"]["entity"]
    (row,) = sample_week.findings("FA-05")  # 220 /version and OIDC discovery requests are not findings
    assert (row["user"], row["source_ip"], row["resource_kind"], row["namespace"]) == (
        planted["user"], planted["source_ip"], planted["resource"], planted["namespace"])
    assert row["requests"] == sample_week.incidents["api_anonymous_allowed"]["records"]


@pytest.mark.slow
def test_fa06_finds_mallory_not_erins_typo(sample_week):
    planted = sample_week.incidents["rbac_denials"]
    (row,) = sample_week.findings("FA-06")
    # 15 events, 12 requests: a refused exec is logged at two stages and counts once
    assert (row["user"], row["denials"]) == (planted["entity"]["user"], planted["distinct"]["audit_id"])
    assert sample_week.lookalikes["kubectl_typo"]["entity"]["user"] != row["user"]


# --- FA-01 (fixed: window arithmetic in 32 bits overflowed from 36 minutes on) ------------------------

def test_fa01_windows_of_an_hour_or_more_work():
    rows = [login("203.0.113.9", i * 120, path="/login") for i in range(25)]  # 25 failures in 48 minutes
    found = run_control("FA-01", http=rows, policy={**POLICY, "thresholds": {"brute_force_window_minutes": 60}})
    assert [r["max_failures_in_window"] for r in found] == [25]



# --- per cluster: two clusters are two front doors --------------------------------------------------

BRUTE = {**POLICY, "thresholds": {"brute_force_failures": 10, "brute_force_window_minutes": 5}}


def test_fa01_judges_each_cluster_apart_and_names_it():
    # the same client failing 5 times at each of two clusters' doors, within the window: 10 in
    # all, but no door saw a burst
    split = [login("203.0.113.9", i * 10, path="/login", cluster=k) for i in range(5) for k in ("eu", "us")]
    result = run_control_result("FA-01", http=split, policy=BRUTE)
    assert (result.status, result.finding_count, result.finding_count_by_cluster) == ("pass", 0, {})
    # 10 failures at eu's door (and 5 at us's): eu's burst, named; us stays quiet
    burst = split + [login("203.0.113.9", 60 + i * 10, path="/login", cluster="eu") for i in range(5)]
    result = run_control_result("FA-01", http=burst, policy=BRUTE)
    (row,) = result.findings
    assert (row["resource"], row["client_ip"], row["cluster"], row["max_failures_in_window"]) == (
        "203.0.113.9", "203.0.113.9", "eu", 10)
    assert list(row)[:2] == ["resource", "reason"]
    assert (result.status, result.finding_count, result.finding_count_by_cluster) == ("fail", 1, {"eu": 1})


def test_fa01_the_same_burst_at_two_clusters_is_two_findings_counted_per_cluster():
    burst = [login("203.0.113.9", i * 10, path="/login", cluster=k) for i in range(10) for k in ("eu", "us")]
    result = run_control_result("FA-01", http=burst, policy=BRUTE)
    assert sorted(r["cluster"] for r in result.findings) == ["eu", "us"]
    assert result.finding_count_by_cluster == {"eu": 1, "us": 1}


def test_finding_count_by_cluster_counts_every_kept_row_not_only_those_shown(monkeypatch):
    from ingress_audit import controls

    monkeypatch.setattr(controls, "MAX_FINDINGS_KEPT", 2)
    burst = [login(f"203.0.113.{n}", i * 10, path="/login", cluster="eu" if n < 4 else "us")
             for n in range(1, 6) for i in range(10)]
    result = run_control_result("FA-01", http=burst, policy=BRUTE)
    assert (len(result.findings), result.finding_count) == (2, 5)
    assert result.finding_count_by_cluster == {"eu": 3, "us": 2}


def test_fa03_failures_at_one_cluster_and_a_login_at_another_are_not_one_story():
    rows = [login("203.0.113.9", i, cluster="eu") for i in range(10)] + [login("203.0.113.9", 30, status=302, cluster="us")]
    policy = {**POLICY, "thresholds": {"success_after_failures": 10}}
    assert run_control("FA-03", http=rows, policy=policy) == []
    (row,) = run_control("FA-03", http=rows + [login("203.0.113.9", 40, status=302, cluster="eu")], policy=policy)
    assert (row["client_ip"], row["cluster"]) == ("203.0.113.9", "eu")



def test_a_row_naming_several_clusters_counts_under_each():
    # no built-in control lists several clusters in one cell any more; a control added later may
    from ingress_audit.controls import count_by_cluster

    rows = [{"cluster": "eu, us"}, {"cluster": "eu"}, {"cluster": None}, {"cluster": ""}]
    assert count_by_cluster(rows) == {"eu": 2, "us": 1}


# --- FA-02 credential stuffing ------------------------------------------------------------------------

STUFFING = {**POLICY, "thresholds": {"stuffing_clients": 5, "stuffing_window_minutes": 10}}


def test_fa02_distinct_clients_at_the_threshold_within_the_window():
    http = [login(f"198.18.7.{i}", i * 60) for i in range(5)] + [login(f"198.18.7.{i}", i * 60 + 5) for i in range(5)]
    (row,) = run_control("FA-02", http=http, policy=STUFFING)
    assert (row["path"], row["upstream"], row["max_clients_in_window"], row["failures_in_peak_window"]) == (
        LOGIN, "api-gateway-8080", 5, 10)
    assert run_control("FA-02", http=http[:4] + http[5:9], policy=STUFFING) == []


def test_fa02_one_client_failing_many_times_is_brute_force_not_stuffing():
    assert run_control("FA-02", http=[login("203.0.113.66", i) for i in range(50)], policy=STUFFING) == []


def test_fa02_the_window_slides_and_spread_out_failures_are_not_stuffing():
    spread = [login(f"198.18.8.{i}", i * 180) for i in range(10)]  # one every 3 minutes: 4 per 10 minutes
    assert run_control("FA-02", http=spread, policy=STUFFING) == []
    straddling = [login(f"2001:db8::{i}", 540 + i * 20) for i in range(5)]  # 09:09-09:10:20, IPv6 clients
    assert run_control("FA-02", http=straddling, policy=STUFFING)[0]["max_clients_in_window"] == 5


def test_fa02_paths_are_judged_apart_and_only_login_paths_count():
    http = [login(f"198.18.9.{i}", i, path=("/login" if i % 2 else LOGIN)) for i in range(8)]
    assert run_control("FA-02", http=http, policy=STUFFING) == []  # 4 on each path
    assert run_control("FA-02", http=[login(f"198.18.9.{i}", i, path="/api/v1/orders") for i in range(8)],
                       policy=STUFFING) == []


def test_fa02_default_window_of_an_hour():
    http = [login(f"198.18.10.{i}", i * 170) for i in range(20)]  # 20 clients within 54 minutes
    assert len(run_control("FA-02", http=http, policy=POLICY)) == 1
    assert run_control("FA-02", http=http[:19], policy=POLICY) == []


# --- FA-03 success after a failure burst ----------------------------------------------------------------

def test_fa03_success_right_after_a_burst():
    http = [login("203.0.113.66", i * 4, path="/login") for i in range(10)] + \
           [login("203.0.113.66", 45, 302, path="/login"), login("203.0.113.66", 46, 200, "/account", "GET")]
    (row,) = run_control("FA-03", http=http, policy=POLICY)
    assert (row["client_ip"], row["status"], row["failures_before_first_success"], row["successes_after_bursts"]) == (
        "203.0.113.66", 302, 10, 1)


def test_fa03_fewer_failures_than_the_threshold_is_a_mistyped_password():
    http = [login("198.51.100.42", i * 4, path="/login") for i in range(9)] + [login("198.51.100.42", 40, 302, "/login")]
    assert run_control("FA-03", http=http, policy=POLICY) == []


def test_fa03_a_success_long_after_the_burst_or_a_form_fetch_is_not_one():
    burst = [login("203.0.113.66", i, path="/login") for i in range(12)]
    late = login("203.0.113.66", 12 + 5 * 60 + 1, 302, path="/login")  # just past the 5-minute window
    form = login("203.0.113.66", 13, 200, path="/login", method="GET")
    assert run_control("FA-03", http=burst + [late, form], policy=POLICY) == []


def test_fa03_success_on_another_login_path_of_the_same_client_counts():
    http = [login("2001:db8::66", i) for i in range(10)] + [login("2001:db8::66", 30, 200, "/oauth/token")]
    (row,) = run_control("FA-03", http=http, policy=POLICY)
    assert (row["client_ip"], row["path"]) == ("2001:db8::66", "/oauth/token")


def test_fa03_other_clients_successes_do_not_count():
    http = [login("203.0.113.66", i) for i in range(15)] + [login("198.51.100.1", 20, 200)]
    assert run_control("FA-03", http=http, policy=POLICY) == []


# --- FA-04 API server 401 per source ------------------------------------------------------------------

def unauthenticated(i: int, ip: str | None = "198.51.100.201", **extra) -> dict:
    # what kube-apiserver writes: "user":{}, only ResponseStarted, no annotations
    return api(f"u{ip}{i}", i, "ResponseStarted", user=None, source_ip=ip, response_code=401, verb="list",
               resource="secrets", request_uri="/api/v1/secrets", **extra)


def test_fa04_threshold_counts_requests_at_the_boundary():
    (row,) = run_control("FA-04", audit=[unauthenticated(i) for i in range(20)])
    assert (row["source_ip"], row["unauthorized_requests"], row["sample_targets"]) == ("198.51.100.201", 20, ["secrets"])
    assert run_control("FA-04", audit=[unauthenticated(i) for i in range(19)]) == []


def test_fa04_two_stages_of_one_request_count_once():
    audit = [unauthenticated(i) for i in range(15)]
    audit += [{**e, "stage": "ResponseComplete"} for e in audit]  # 30 events, 15 requests
    assert run_control("FA-04", audit=audit) == []


def test_fa04_sources_apart_ipv6_and_a_missing_address():
    audit = [unauthenticated(i, "2001:db8::201") for i in range(20)] + [unauthenticated(i, None) for i in range(20)] + \
            [unauthenticated(i, "10.20.4.57") for i in range(2)]
    rows = run_control("FA-04", audit=audit)
    assert sorted((r["resource"], r["source_ip"]) for r in rows) == [
        ("(no source address)", None), ("2001:db8::201", "2001:db8::201")]


def test_fa04_judges_each_clusters_api_server_apart_and_names_it():
    # one address refused 10 times by each of two API servers: 20 in all, but neither saw 20
    # (distinct audit IDs: 20 requests in all, were they judged together)
    split = [unauthenticated(i, cluster="eu") for i in range(10)] + \
            [unauthenticated(i, cluster="us") for i in range(10, 20)]
    result = run_control_result("FA-04", audit=split)
    assert (result.status, result.finding_count, result.finding_count_by_cluster) == ("pass", 0, {})
    # 20 at eu's API server (and 10 at us's): eu's finding, named; us stays quiet
    burst = split + [unauthenticated(i, cluster="eu") for i in range(20, 30)]
    result = run_control_result("FA-04", audit=burst)
    (row,) = result.findings
    assert (row["resource"], row["source_ip"], row["cluster"], row["unauthorized_requests"]) == (
        "198.51.100.201", "198.51.100.201", "eu", 20)
    assert (result.status, result.finding_count_by_cluster) == ("fail", {"eu": 1})


def test_fa04_the_same_audit_id_at_two_clusters_is_two_requests():
    # audit IDs are unique within one API server's log, not across clusters: a request is
    # (cluster, audit_id), so both clusters' events count, each in its own cluster
    audit = [unauthenticated(i, cluster=k) for i in range(20) for k in ("eu", "us")]
    assert len({e["audit_id"] for e in audit}) == 20
    rows = run_control("FA-04", audit=audit)
    assert [(r["cluster"], r["unauthorized_requests"]) for r in rows] == [("eu", 20), ("us", 20)]


def test_fa04_forbidden_is_not_unauthenticated():
    audit = [api(f"f{i}", i, user="mallory@example.com", source_ip="10.20.9.140", response_code=403,
                 decision="forbid") for i in range(30)]
    assert run_control("FA-04", audit=audit) == []


# --- FA-05 anonymous requests allowed -----------------------------------------------------------------

def anonymous(audit_id: str, uri: str, code: int = 200, decision: str | None = "allow", **extra) -> dict:
    fields = {"user": "system:anonymous", "groups": ["system:unauthenticated"], "source_ip": "203.0.113.99",
              "verb": "get", "request_uri": uri, "response_code": code, "decision": decision, **extra}
    return api(audit_id, **fields)


PUBLIC = ["/version", "/version?timeout=32s", "/healthz", "/livez", "/readyz", "/readyz/ping", "/livez/etcd",
          "/.well-known/openid-configuration", "/openid/v1/jwks"]


def test_fa05_public_info_endpoints_are_not_findings():
    assert run_control("FA-05", audit=[anonymous(f"p{i}", uri) for i, uri in enumerate(PUBLIC)]) == []


def test_fa05_anonymous_secret_reads_grouped_per_namespace():
    audit = [anonymous("s1", "/api/v1/namespaces/shop/secrets", resource="secrets", namespace="shop", verb="list"),
             anonymous("s2", "/api/v1/namespaces/shop/secrets/shop-tls", resource="secrets", namespace="shop",
                       name="shop-tls"),
             anonymous("s3", "/api/v1/namespaces/shop/secrets/stripe-api-key", resource="secrets", namespace="shop",
                       name="stripe-api-key")]
    (row,) = run_control("FA-05", audit=audit)
    assert (row["user"], row["source_ip"], row["resource_kind"], row["namespace"], row["requests"], row["names"],
            row["verbs"]) == ("system:anonymous", "203.0.113.99", "secrets", "shop", 3, ["shop-tls", "stripe-api-key"],
                              "get, list")


def test_fa05_refused_and_unauthenticated_requests_are_not_allowed_ones():
    audit = [anonymous("r1", "/api/v1/secrets", 403, "forbid", resource="secrets"),
             api("u1", user=None, source_ip="198.51.100.201", response_code=401, request_uri="/api/v1/secrets")]
    assert run_control("FA-05", audit=audit) == []


def test_fa05_the_unauthenticated_group_counts_without_the_user_name_and_look_alike_paths_do_not_pass():
    audit = [api("g1", user="someone", groups=["system:unauthenticated"], request_uri="/api/v1/namespaces",
                 resource="namespaces", verb="list", response_code=200, decision="allow"),
             anonymous("v1", "/versions"), anonymous("v2", "/healthzz")]  # not the public endpoints
    rows = run_control("FA-05", audit=audit)
    assert sorted(r["resource_kind"] for r in rows) == ["/healthzz", "/versions", "namespaces"]


def test_fa05_two_stages_count_once():
    audit = [anonymous("w1", "/api/v1/pods?watch=1", resource="pods", verb="watch", stage="ResponseStarted"),
             anonymous("w1", "/api/v1/pods?watch=1", resource="pods", verb="watch")]
    assert run_control("FA-05", audit=audit)[0]["requests"] == 1


def test_fa05_the_same_anonymous_reads_in_two_clusters_are_two_findings_each_naming_its_own():
    # two API servers, each with its own RBAC: one binding to system:anonymous each, not one finding
    audit = [anonymous("s1", "/api/v1/namespaces/shop/secrets", resource="secrets", namespace="shop", verb="list",
                       cluster=k) for k in ("us", "eu")]
    audit += [anonymous("s2", "/api/v1/namespaces/shop/secrets/shop-tls", resource="secrets", namespace="shop",
                        name="shop-tls", cluster="eu", stage=stage) for stage in ("ResponseStarted", "ResponseComplete")]
    result = run_control_result("FA-05", audit=audit)
    assert [(r["cluster"], r["requests"], r["names"]) for r in result.findings] == [
        ("eu", 2, ["shop-tls"]), ("us", 1, None)]
    assert result.finding_count_by_cluster == {"eu": 1, "us": 1}


# --- FA-06 RBAC denials per user ----------------------------------------------------------------------

def denied(i: int, user: str = "mallory@example.com", decision: str | None = "forbid", code: int = 403, **extra) -> dict:
    return api(f"d{user}{i}", i, user=user, source_ip="10.20.9.140", verb="get", resource="secrets",
               namespace="kube-system", response_code=code, decision=decision, **extra)


def test_fa06_threshold_counts_requests_at_the_boundary():
    (row,) = run_control("FA-06", audit=[denied(i) for i in range(10)])
    assert (row["user"], row["denials"], row["sample_actions"]) == ("mallory@example.com", 10, ["get secrets"])
    assert run_control("FA-06", audit=[denied(i) for i in range(9)]) == []


def test_fa06_a_refused_exec_at_two_stages_counts_once():
    audit = [denied(i, subresource="exec", stage="ResponseStarted") for i in range(6)] + \
            [denied(i, subresource="exec") for i in range(6)]
    assert run_control("FA-06", audit=audit) == []


def test_fa06_403_without_a_decision_counts_admission_refusals_with_allow_do_not():
    audit = [denied(i, decision=None) for i in range(10)]
    assert run_control("FA-06", audit=audit)[0]["denials"] == 10
    admission = [denied(i, decision="allow") for i in range(10)]  # RBAC allowed, a webhook said no
    assert run_control("FA-06", audit=admission) == []


def test_fa06_failed_authentication_has_no_user_and_is_not_an_rbac_denial():
    assert run_control("FA-06", audit=[denied(i, user=None, code=401, decision=None) for i in range(20)]) == []


def test_fa06_half_the_threshold_in_each_of_two_clusters_is_no_finding():
    # each cluster has its own RBAC: 5 denials in each is 10 in all, but no API server saw 10
    # (distinct audit IDs: 10 requests in all, were they judged together)
    audit = [denied(i, cluster="eu") for i in range(5)] + [denied(i, cluster="us") for i in range(5, 10)]
    result = run_control_result("FA-06", audit=audit)
    assert (result.status, result.finding_count, result.finding_count_by_cluster) == ("pass", 0, {})


def test_fa06_the_threshold_in_one_cluster_fires_naming_only_it():
    audit = [denied(i, cluster="eu") for i in range(10)] + [denied(i, cluster="us") for i in range(10, 15)]
    result = run_control_result("FA-06", audit=audit)
    (row,) = result.findings
    assert (row["resource"], row["user"], row["cluster"], row["denials"]) == ("mallory@example.com",
                                                                                "mallory@example.com", "eu", 10)
    assert list(row)[:2] == ["resource", "reason"] and "cluster" in row
    assert (result.status, result.finding_count, result.finding_count_by_cluster) == ("fail", 1, {"eu": 1})
    # both at the threshold: two findings, one per cluster, in a stable order
    both = audit + [denied(i, cluster="us") for i in range(5)]
    assert [(r["cluster"], r["denials"]) for r in run_control("FA-06", audit=both)] == [("eu", 10), ("us", 10)]


def test_fa06_users_apart_and_the_impersonator_named():
    audit = [denied(i, user="system:serviceaccount:shop:ci-deployer", impersonated_by="dave@example.com")
             for i in range(10)] + [denied(i, user="erin@example.com") for i in range(2)]
    (row,) = run_control("FA-06", audit=audit)
    assert (row["user"], row["impersonated_by"]) == ("system:serviceaccount:shop:ci-deployer", "dave@example.com")
