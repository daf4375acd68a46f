"""The certificates controls (CE-01..CE-05): the planted incidents of the sample week, its
look-alikes, and edge cases as given/expected audit events."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from .control_harness import run_control, run_control_result
from .sample_week_drift import rows, week  # noqa: F401  (week is a fixture)

T0 = datetime(2026, 11, 18, 9, 0, tzinfo=timezone.utc)
PERIOD_END = datetime(2026, 11, 23, tzinfo=timezone.utc)
APPROVED = {"approved_actors": ["system:serviceaccount:argocd:*", "system:serviceaccount:cert-manager:cert-manager"]}
API_GROUPS = {"ingresses": "networking.k8s.io", "certificates": "cert-manager.io", "issuers": "cert-manager.io",
              "clusterissuers": "cert-manager.io"}


def event(verb: str, resource: str, namespace: str | None, name: str | None, user: str = "dave@example.com",
          minutes: float = 0, request: dict | None = None, response: dict | None = None, **extra) -> dict:
    """One audit event as audit_events holds it (ResponseComplete, success unless told)."""
    row = {
        "ts": T0 + timedelta(minutes=minutes), "stage_ts": T0 + timedelta(minutes=minutes, seconds=0.01),
        "audit_id": str(uuid.uuid4()), "stage": "ResponseComplete", "verb": verb, "user": user,
        "resource": resource, "api_group": API_GROUPS.get(resource, ""), "namespace": namespace, "name": name,
        "response_code": 201 if verb == "create" else 200,
        "level": "RequestResponse" if request or response else "Metadata",
        "request_object": json.dumps(request) if request is not None else None,
        "response_object": json.dumps(response) if response is not None else None,
    }
    row.update(extra)
    return row


def ingress(namespace: str, name: str, host: str = "shop.example.com", tls: str | None = "shop-tls",
            annotations: dict | None = None) -> dict:
    spec: dict = {"ingressClassName": "nginx-public",
                  "rules": [{"host": host, "http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": {
                      "service": {"name": "web", "port": {"number": 8080}}}}]}}]}
    if tls:
        spec["tls"] = [{"hosts": [host], "secretName": tls}]
    meta: dict = {"name": name, "namespace": namespace}
    if annotations:
        meta["annotations"] = annotations
    return {"kind": "Ingress", "apiVersion": "networking.k8s.io/v1", "metadata": meta, "spec": spec}


def certificate(namespace: str, name: str, not_after: datetime | None, secret: str | None = None) -> dict:
    status = {"notAfter": not_after.strftime("%Y-%m-%dT%H:%M:%SZ")} if not_after else {}
    return {"apiVersion": "cert-manager.io/v1", "kind": "Certificate", "metadata": {"name": name, "namespace": namespace},
            "spec": {"dnsNames": [f"{name}.example.com"], "secretName": secret or name,
                     "issuerRef": {"kind": "ClusterIssuer", "name": "letsencrypt-prod"}}, "status": status}


def keys(found: list[dict], *columns: str) -> set[tuple]:
    return {tuple(r[c] for c in columns) for r in found}


# --- the sample week ----------------------------------------------------------------------------


@pytest.mark.slow
def test_ce01_logs_every_tls_secret_change_in_the_week(week):
    found = rows(week, "CE-01")
    assert week["CE-01"]["status"] == "info"
    assert keys(found, "namespace", "name", "user", "approved") == {
        ("shop", "shop-tls", "dave@example.com", False),  # tls_secret_changed
        ("api", "api-tls", "system:serviceaccount:cert-manager:cert-manager", True),  # cert_manager_renewal
    }


@pytest.mark.slow
def test_ce02_finds_daves_update_of_shop_tls_and_not_cert_managers_renewal(week):
    found = rows(week, "CE-02")
    assert keys(found, "namespace", "name", "user", "verb") == {("shop", "shop-tls", "dave@example.com", "update")}
    # Metadata level: the secret is known as TLS because shop/shop-web's spec.tls names it
    assert "ingress shop/shop-web spec.tls" in found[0]["identified_by"]
    # impersonation_test: dave reading shop-tls as ci-deployer is a read, not a change
    assert not [r for r in found if r["user"] == "system:serviceaccount:shop:ci-deployer"]


@pytest.mark.slow
def test_ce03_finds_payroll_without_tls_and_promo_without_redirect(week):
    found = {(r["namespace"], r["name"]): r for r in rows(week, "CE-03")}
    assert set(found) == {("payroll", "payroll-web"), ("marketing", "promo")}
    assert found["payroll", "payroll-web"]["problems"] == ["no spec.tls"]
    assert found["payroll", "payroll-web"]["user"] == "dave@example.com"  # not the controller's status update
    assert found["marketing", "promo"]["problems"] == ['ssl-redirect "false"']
    assert found["marketing", "promo"]["user"] == "carol@example.com"


@pytest.mark.slow
def test_ce04_finds_the_certificate_and_clusterissuer_changed_by_people(week):
    found = rows(week, "CE-04")
    assert keys(found, "resource_kind", "namespace", "name", "user") == {
        ("certificates", "shop", "shop-tls", "alice@example.com"),
        ("clusterissuers", None, "letsencrypt-prod", "bob@example.com"),
    }
    issuer = next(r for r in found if r["resource_kind"] == "clusterissuers")
    assert "acme-staging-v02" in issuer["reason"]


@pytest.mark.slow
def test_ce05_finds_grafana_expiring_and_not_the_renewed_api_certificate(week):
    found = rows(week, "CE-05")
    assert keys(found, "namespace", "name", "not_after") == {
        ("monitoring", "grafana-internal-tls", "2026-11-30T07:15:42Z")}
    assert found[0]["days_after_period_end"] == pytest.approx(7.3, abs=0.05)
    assert "rateLimited" in found[0]["renewal_message"]


# --- CE-01 / CE-02: which secrets are TLS secrets -----------------------------------------------


def test_ce02_a_plain_secret_is_not_a_tls_secret():
    audit = [event("update", "secrets", "shop", "stripe-api-key"),
             event("create", "secrets", "shop", "db", request={"kind": "Secret", "type": "Opaque"})]
    assert run_control("CE-01", audit=audit) == []
    assert run_control("CE-02", audit=audit) == []


def test_ce02_the_logged_type_marks_a_tls_secret():
    body = {"kind": "Secret", "apiVersion": "v1", "type": "kubernetes.io/tls", "metadata": {"name": "x-tls", "namespace": "web"}}
    audit = [event("create", "secrets", "web", "x-tls", request=body),
             event("delete", "secrets", "web", "x-tls", minutes=5)]  # later, at Metadata level
    found = run_control("CE-02", audit=audit)
    assert [(r["verb"], r["identified_by"]) for r in found] == [
        ("create", ["type kubernetes.io/tls"]), ("delete", ["type kubernetes.io/tls"])]


def test_ce02_an_ingress_list_response_names_tls_secrets_in_other_namespaces():
    listing = {"kind": "IngressList", "items": [ingress("web", "site", tls="site-tls"), ingress("blog", "b", tls="blog-tls")]}
    audit = [event("list", "ingresses", None, None, user="system:serviceaccount:argocd:argocd-server", response=listing),
             event("patch", "secrets", "blog", "blog-tls", minutes=1),
             event("patch", "secrets", "web", "blog-tls", minutes=2)]  # same name, another namespace: not TLS
    assert keys(run_control("CE-02", audit=audit), "namespace", "name") == {("blog", "blog-tls")}


def test_ce02_a_cert_manager_certificate_names_its_secret():
    audit = [event("get", "certificates", "api", "api", user="x", response=certificate("api", "api", None, secret="api-cert")),
             event("update", "secrets", "api", "api-cert", minutes=1)]
    (row,) = run_control("CE-02", audit=audit)
    assert row["identified_by"] == ["cert-manager Certificate api/api"]


def test_ce02_the_baseline_names_tls_secrets(tmp_path):
    (tmp_path / "ing.yaml").write_text(json.dumps(ingress("admin", "portal", tls="admin-tls")))
    audit = [event("update", "secrets", "admin", "admin-tls")]
    assert run_control("CE-02", audit=audit) == []  # without the baseline nothing names it
    (row,) = run_control("CE-02", audit=audit, policy={"baseline": {"ingress_manifests": str(tmp_path)}})
    assert row["identified_by"] == ["baseline ingress admin/portal"]


def test_ce02_approved_actors_are_left_to_the_change_log_and_impersonation_is_not_approval():
    seen = event("get", "ingresses", "shop", "web", user="argocd", response=ingress("shop", "web"))
    renewal = event("update", "secrets", "shop", "shop-tls", user="system:serviceaccount:cert-manager:cert-manager", minutes=1)
    disguised = event("update", "secrets", "shop", "shop-tls", user="system:serviceaccount:cert-manager:cert-manager",
                      impersonated_by="mallory@example.com", minutes=2)
    found = run_control("CE-02", audit=[seen, renewal, disguised], policy=APPROVED)
    assert keys(found, "user", "impersonated_by") == {("system:serviceaccount:cert-manager:cert-manager", "mallory@example.com")}
    assert "impersonated by mallory@example.com" in found[0]["reason"]
    assert len(run_control("CE-01", audit=[seen, renewal, disguised], policy=APPROVED)) == 2


def test_ce02_refused_and_duplicated_requests():
    seen = event("get", "ingresses", "shop", "web", user="x", response=ingress("shop", "web"))
    refused = event("update", "secrets", "shop", "shop-tls", user="mallory@example.com", response_code=403)
    started = event("update", "secrets", "shop", "shop-tls", minutes=1, stage="ResponseStarted")
    logged = event("update", "secrets", "shop", "shop-tls", minutes=2)
    twice = dict(logged, object="webhook-batch.json")  # the same request archived by both backends
    found = run_control("CE-02", audit=[seen, refused, started, logged, twice])
    assert [r["audit_id"] for r in found] == [logged["audit_id"]]


def test_ce02_deleting_every_secret_of_a_namespace_deletes_its_tls_secrets():
    audit = [event("get", "ingresses", "shop", "web", user="x", response=ingress("shop", "web")),
             event("deletecollection", "secrets", "shop", None, user=None, minutes=1),
             event("deletecollection", "secrets", "other", None, minutes=2)]
    (row,) = run_control("CE-02", audit=audit)
    assert (row["namespace"], row["name"], row["resource"]) == ("shop", None, "shop/*")
    assert row["reason"].startswith("(unknown) deleted all secrets including")


def test_ce01_and_ce02_on_empty_tables():
    assert run_control("CE-01") == []
    assert run_control_result("CE-02").status == "pass"


# --- CE-03: ingresses without TLS ---------------------------------------------------------------


def test_ce03_an_ingress_created_without_tls_is_found_with_its_hosts():
    audit = [event("create", "ingresses", "pay", "pay", request=ingress("pay", "pay", host="pay.example.com", tls=None),
                   response=ingress("pay", "pay", host="pay.example.com", tls=None))]
    (row,) = run_control("CE-03", audit=audit)
    assert (row["hosts"], row["problems"], row["still_at_last_change"]) == (["pay.example.com"], ["no spec.tls"], True)


def test_ce03_a_later_fix_is_reported_as_fixed():
    audit = [event("create", "ingresses", "pay", "pay", response=ingress("pay", "pay", tls=None)),
             event("update", "ingresses", "pay", "pay", minutes=30, response=ingress("pay", "pay", tls="pay-tls"))]
    (row,) = run_control("CE-03", audit=audit)
    assert row["still_at_last_change"] is False and row["reason"].endswith("fixed by a later change")


def test_ce03_plaintext_allowed_hosts_and_other_tls_mechanisms_are_exempt():
    plain = event("create", "ingresses", "a", "a", response=ingress("a", "a", host="status.example.com", tls=None))
    traefik = event("create", "ingresses", "b", "b", response=ingress(
        "b", "b", tls=None, annotations={"traefik.ingress.kubernetes.io/router.tls": "true"}))
    alb = event("create", "ingresses", "c", "c", response=ingress(
        "c", "c", tls=None, annotations={"alb.ingress.kubernetes.io/certificate-arn": "arn:aws:acm:eu-west-1:1:certificate/x"}))
    policy = {"plaintext_allowed_hosts": ["status.example.com"]}
    assert run_control("CE-03", audit=[plain, traefik, alb], policy=policy) == []
    assert keys(run_control("CE-03", audit=[plain, traefik, alb]), "name") == {("a",)}


def test_ce03_redirect_switched_off_by_a_bare_patch():
    audit = [event("patch", "ingresses", "shop", "web", request={
        "metadata": {"annotations": {"nginx.ingress.kubernetes.io/force-ssl-redirect": "False"}}})]
    (row,) = run_control("CE-03", audit=audit)
    assert row["problems"] == ['force-ssl-redirect "false"']
    assert row["still_at_last_change"] is None  # a patch alone does not show the whole ingress


def test_ce03_a_merge_patch_that_drops_spec_tls():
    audit = [event("patch", "ingresses", "shop", "web", request={"spec": {"tls": None}})]
    assert [(r["name"], r["problems"]) for r in run_control("CE-03", audit=audit)] == [("web", ["no spec.tls"])]


def test_ce03_status_updates_and_refused_creates_are_not_changes():
    bare = ingress("pay", "pay", tls=None)
    audit = [event("update", "ingresses", "pay", "pay", subresource="status", user="system:serviceaccount:ingress-nginx:ingress-nginx",
                   request=bare, response=bare),
             event("create", "ingresses", "pay", "pay2", request=bare, response_code=403)]
    assert run_control("CE-03", audit=audit) == []


# --- CE-04: cert-manager objects changed by people ----------------------------------------------


def test_ce04_cert_manager_status_updates_are_not_changes_even_unapproved():
    audit = [event("update", "certificates", "api", "api", user="system:serviceaccount:cert-manager:cert-manager",
                   subresource="status", request=certificate("api", "api", T0), response=certificate("api", "api", T0))]
    assert run_control("CE-04", audit=audit) == []  # no approved_actors at all in the default policy


def test_ce04_people_and_not_gitops():
    issuer = {"kind": "Issuer", "apiVersion": "cert-manager.io/v1", "metadata": {"name": "ca", "namespace": "shop"},
              "spec": {"ca": {"secretName": "my-ca"}}}
    audit = [event("create", "issuers", "shop", "ca", user="system:serviceaccount:argocd:argocd-application-controller",
                   request=issuer, response=issuer),
             event("delete", "certificates", "shop", "shop-tls", user="erin@example.com", minutes=3),
             event("update", "issuers", "shop", "ca", user="erin@example.com", minutes=4)]  # Metadata only
    found = run_control("CE-04", audit=audit, policy=APPROVED)
    assert [(r["resource_kind"], r["verb"], r["detail"]) for r in found] == [
        ("certificates", "delete", "deleted"), ("issuers", "update", "(body not logged)")]


# --- CE-05: expiring certificates ---------------------------------------------------------------


def status_update(name: str, not_after: datetime, minutes: float = 0, **extra) -> dict:
    body = certificate("web", name, not_after)
    return event("update", "certificates", "web", name, user="system:serviceaccount:cert-manager:cert-manager",
                 subresource="status", minutes=minutes, request=body, response=body, **extra)


def test_ce05_threshold_is_measured_from_the_period_end():
    limit = PERIOD_END + timedelta(days=21)
    assert run_control("CE-05", audit=[status_update("a", limit)]) == []
    (row,) = run_control("CE-05", audit=[status_update("a", limit - timedelta(seconds=1))])
    assert row["days_after_period_end"] == pytest.approx(21.0)
    assert run_control("CE-05", audit=[status_update("a", PERIOD_END + timedelta(days=5))],
                       policy={"thresholds": {"cert_expiry_days": 5}}) == []


def test_ce05_the_latest_report_wins():
    renewed = [status_update("a", PERIOD_END + timedelta(days=3)), status_update("a", PERIOD_END + timedelta(days=90), minutes=10)]
    assert run_control("CE-05", audit=renewed) == []
    lapsed = [status_update("b", PERIOD_END + timedelta(days=90)), status_update("b", PERIOD_END + timedelta(days=3), minutes=10)]
    assert [r["name"] for r in run_control("CE-05", audit=lapsed)] == ["b"]


def test_ce05_already_expired_and_deleted_certificates():
    expired = status_update("old", PERIOD_END - timedelta(days=2))
    (row,) = run_control("CE-05", audit=[expired])
    assert "expired" in row["reason"] and "2.0 days before the period end" in row["reason"]
    gone = event("delete", "certificates", "web", "old", minutes=20)
    assert run_control("CE-05", audit=[expired, gone]) == []


def test_ce05_reads_certificate_lists_and_ignores_bodies_without_status():
    listing = {"kind": "CertificateList", "items": [certificate("web", "x", PERIOD_END + timedelta(days=1)),
                                                    certificate("web", "y", PERIOD_END + timedelta(days=200))]}
    audit = [event("list", "certificates", None, None, user="alice@example.com", response=listing),
             event("patch", "certificates", "web", "z", request={"spec": {"dnsNames": ["z.example.com"]}})]
    assert [r["name"] for r in run_control("CE-05", audit=audit)] == ["x"]
    assert run_control("CE-05") == []
