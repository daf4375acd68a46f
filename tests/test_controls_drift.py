"""The policy_drift controls (PD-01..PD-08) and the GitOps baseline of the sample week: the
planted incidents, the look-alikes, and edge cases as given/expected audit events."""

from __future__ import annotations

import re

import json
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from ingress_audit.baseline import load_baseline

from .control_harness import run_control, run_control_result
from .sample_week_drift import SAMPLE, rows, week  # noqa: F401  (week is a fixture)
from .test_controls_certificates import APPROVED, event, ingress, keys

ARGOCD = "system:serviceaccount:argocd:argocd-application-controller"
NGINX = "nginx.ingress.kubernetes.io/"


def with_annotations(obj: dict, annotations: dict) -> dict:
    return {**obj, "metadata": {**obj["metadata"], "annotations": annotations}}


def role(kind: str, name: str, rules: list[dict], namespace: str | None = None) -> dict:
    meta = {"name": name, **({"namespace": namespace} if namespace else {})}
    return {"kind": kind, "apiVersion": "rbac.authorization.k8s.io/v1", "metadata": meta, "rules": rules}


def binding(kind: str, name: str, ref_kind: str, ref_name: str, subjects: list[dict], namespace: str | None = None) -> dict:
    meta = {"name": name, **({"namespace": namespace} if namespace else {})}
    return {"kind": kind, "apiVersion": "rbac.authorization.k8s.io/v1", "metadata": meta,
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": ref_kind, "name": ref_name}, "subjects": subjects}


def rbac(verb: str, body: dict, user: str = "carol@example.com", minutes: float = 0, **extra) -> dict:
    resource = {"Role": "roles", "ClusterRole": "clusterroles", "RoleBinding": "rolebindings",
                "ClusterRoleBinding": "clusterrolebindings"}[body["kind"]]
    meta = body["metadata"]
    return event(verb, resource, meta.get("namespace"), meta["name"], user=user, minutes=minutes, request=body,
                 response=body, api_group="rbac.authorization.k8s.io", **extra)


USER = {"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "eve@example.com"}


# --- the GitOps baseline of the sample week -----------------------------------------------------


def test_baseline_manifests_are_valid_kubernetes_1_29_ingresses():
    files = sorted((SAMPLE / "baseline").rglob("*.yaml"))
    assert files
    for path in files:
        for doc in yaml.safe_load_all(path.read_text()):
            kubernetes_validate.validate(doc, "1.29.0", strict=True)  # raises ValidationError


def test_baseline_holds_what_argo_cd_manages_and_not_what_people_made_by_hand():
    names = {(ns, name) for ns, name, _, _ in load_baseline(SAMPLE / "baseline")}
    assert names == {("shop", "shop-web"), ("shop", "shop-legacy"), ("api", "api-gateway"),
                     ("api", "api-gateway-canary"), ("admin", "admin-portal")}
    manifests = {(ns, name): json.loads(m) for ns, name, m, _ in load_baseline(SAMPLE / "baseline")}
    assert manifests["shop", "shop-web"]["spec"]["tls"][0]["secretName"] == "shop-tls"
    assert manifests["admin", "admin-portal"]["metadata"]["annotations"][NGINX + "whitelist-source-range"] == "10.20.0.0/16"


@pytest.mark.parametrize("mistake", ["misspelt field", "port as text", "no backend"])
def test_an_invalid_manifest_is_refused_by_the_validator(mistake):
    broken = ingress("a", "b")
    path = broken["spec"]["rules"][0]["http"]["paths"][0]
    if mistake == "misspelt field":
        broken["spec"]["tlss"] = broken["spec"].pop("tls")
    elif mistake == "port as text":
        path["backend"]["service"]["port"]["number"] = "eighty"
    else:
        del path["backend"]
    kubernetes_validate.validate(ingress("a", "b"), "1.29.0", strict=True)
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, "1.29.0", strict=True)


# --- the sample week ----------------------------------------------------------------------------


@pytest.mark.slow
def test_pd01_logs_the_weeks_ingress_changes_with_what_changed(week):
    found = rows(week, "PD-01")
    assert week["PD-01"]["status"] == "info"
    assert len(found) == 9  # 4 by Argo CD, alice, bob, dave, carol x2; no status updates
    assert not [r for r in found if r["user"] == "system:serviceaccount:ingress-nginx:ingress-nginx"]
    snippet = next(r for r in found if r["user"] == "alice@example.com")
    assert snippet["diff_basis"] == "previous state"
    assert snippet["annotations_changed"] == [NGINX + "configuration-snippet"]
    assert snippet["changes"][0].startswith("added annotation " + NGINX + "configuration-snippet")
    weight = [r for r in found if r["name"] == "api-gateway-canary"][-1]
    assert weight["changes"] == [f'changed annotation {NGINX}canary-weight from "10" to "25"']


@pytest.mark.slow
def test_pd02_finds_every_change_by_people_and_none_by_the_approved_actors(week):
    found = rows(week, "PD-02")
    assert keys(found, "resource_kind", "namespace", "name", "user") == {
        ("roles", "shop", "secret-reader", "carol@example.com"),
        ("rolebindings", "shop", "debug-anonymous", "carol@example.com"),
        ("ingresses", "shop", "shop-web", "alice@example.com"),
        ("ingresses", "payroll", "payroll-web", "dave@example.com"),
        ("clusterrolebindings", None, "mallory-cluster-admin", "bob@example.com"),
        ("roles", "shop", "ingress-editor", "carol@example.com"),
        ("rolebindings", "shop", "ci-deployer-ingress-editor", "carol@example.com"),
        ("ingresses", "shop", "shop-legacy", "carol@example.com"),
        ("secrets", "shop", "shop-tls", "dave@example.com"),
        ("ingresses", "marketing", "promo", "carol@example.com"),
        ("ingresses", "admin", "admin-portal", "bob@example.com"),
    }


@pytest.mark.slow
def test_pd03_finds_the_snippet_the_opened_whitelist_and_the_disabled_redirect(week):
    found = rows(week, "PD-03")
    assert keys(found, "namespace", "name", "annotation", "user") == {
        ("shop", "shop-web", NGINX + "configuration-snippet", "alice@example.com"),
        ("admin", "admin-portal", NGINX + "whitelist-source-range", "bob@example.com"),
        ("marketing", "promo", NGINX + "ssl-redirect", "carol@example.com"),
    }  # Argo CD restoring the whitelist (10.20.0.0/16) and moving the canary weight are not risky


@pytest.mark.slow
def test_pd04_finds_the_deleted_webhook_and_ingress(week):
    assert keys(rows(week, "PD-04"), "resource_kind", "name", "user") == {
        ("validatingwebhookconfigurations", "ingress-nginx-admission", "dave@example.com"),
        ("ingresses", "shop-legacy", "carol@example.com"),
    }


@pytest.mark.slow
def test_pd05_finds_the_controller_configmap_and_webhook_changes(week):
    found = rows(week, "PD-05")
    assert keys(found, "resource_kind", "namespace", "name", "user") == {
        ("configmaps", "ingress-nginx", "ingress-nginx-controller", "carol@example.com"),
        ("validatingwebhookconfigurations", None, "ingress-nginx-admission", "dave@example.com"),
    }
    assert "allow-snippet-annotations" in next(r for r in found if r["resource_kind"] == "configmaps")["reason"]


@pytest.mark.slow
def test_pd06_finds_the_three_grants_and_not_argo_cds_rolebinding(week):
    found = rows(week, "PD-06")
    assert keys(found, "resource_kind", "namespace", "name") == {
        ("roles", "shop", "secret-reader"), ("rolebindings", "shop", "debug-anonymous"),  # rolebinding_to_anonymous
        ("clusterrolebindings", None, "mallory-cluster-admin"),  # cluster_admin_binding
        ("roles", "shop", "ingress-editor"), ("rolebindings", "shop", "ci-deployer-ingress-editor"),
    }  # gitops_rolebinding (monitoring/prometheus-k8s) binds a role that grants nothing listed
    grants = {r["name"]: r["grants"] for r in found}
    assert grants["debug-anonymous"] == ["access for anonymous users", "read secrets"]
    assert grants["mallory-cluster-admin"] == ["full control of the cluster (cluster-admin)"]
    assert grants["ci-deployer-ingress-editor"] == ["read secrets", "write ingresses"]


@pytest.mark.slow
def test_pd07_finds_drift_from_git_and_not_what_argo_cd_restored(week):
    found = {(r["namespace"], r["name"]): r for r in rows(week, "PD-07")}
    assert {k: r["drift"] for k, r in found.items()} == {
        ("shop", "shop-web"): "differs from Git",  # alice's snippet, never reverted
        ("shop", "shop-legacy"): "deleted from the cluster, still in Git",
        ("payroll", "payroll-web"): "in the cluster, not in Git",
        ("marketing", "promo"): "in the cluster, not in Git",
    }  # admin-portal: bob's 0.0.0.0/0 was restored by Argo CD; the canary weight matches Git
    assert found["shop", "shop-web"]["differences"] == [
        f'annotation {NGINX}configuration-snippet: "more_set_headers "X-Debug-Upstream: $upstream_addr"; " in the cluster, absent in Git']


@pytest.mark.slow
def test_pd08_summarizes_the_baseline(week):
    (row,) = rows(week, "PD-08")
    assert (row["baseline_loaded"], row["manifests"], row["manifests_seen"], row["manifests_not_seen"],
            row["seen_not_in_baseline"]) == (True, 5, 4, ["api/api-gateway"], 2)


# --- PD-01: the change log ----------------------------------------------------------------------


def test_pd01_update_compared_with_the_previous_state():
    before = with_annotations(ingress("shop", "web"), {NGINX + "proxy-body-size": "8m", NGINX + "auth-url": "http://auth"})
    after = with_annotations(ingress("shop", "web", tls=None), {NGINX + "proxy-body-size": "16m"})
    audit = [event("get", "ingresses", "shop", "web", user="x", response=before),
             event("update", "ingresses", "shop", "web", minutes=5, request=after, response=after)]
    (row,) = run_control("PD-01", audit=audit)
    assert row["diff_basis"] == "previous state"
    assert row["changes"] == [  # ordered by path
        f'removed annotation {NGINX}auth-url (was "http://auth")',
        f'changed annotation {NGINX}proxy-body-size from "8m" to "16m"',
        'removed spec.tls[0].hosts[0] (was "shop.example.com")',
        'removed spec.tls[0].secretName (was "shop-tls")',
    ]
    assert row["annotations_changed"] == [NGINX + "auth-url", NGINX + "proxy-body-size"]


def test_pd01_json_patch_merge_patch_and_unknown_previous_state():
    json_patch = [{"op": "remove", "path": "/metadata/annotations/nginx.ingress.kubernetes.io~1auth-url"},
                  {"op": "replace", "path": "/spec/rules/0/host", "value": "new.example.com"}]
    audit = [event("patch", "ingresses", "a", "a", request=json_patch),
             event("patch", "ingresses", "b", "b", minutes=1, request={"metadata": {"annotations": {NGINX + "x": None}}}),
             event("update", "ingresses", "c", "c", minutes=2, response=ingress("c", "c", tls=None)),
             event("patch", "ingresses", "d", "d", minutes=3)]  # Metadata level
    found = {r["name"]: r for r in run_control("PD-01", audit=audit)}
    assert found["a"]["changes"] == [f"removed annotation {NGINX}auth-url", 'changed spec.rules.0.host = "new.example.com"']
    assert found["b"]["changes"] == [f"removed annotation {NGINX}x"]
    assert found["c"]["diff_basis"] == "stored object (previous state not seen)"
    assert found["c"]["changes"][0].startswith("set spec.")
    assert found["d"]["reason"] == "dave@example.com patched ingress d/d: what changed was not logged (audit level Metadata)"


def test_pd01_the_state_read_from_a_list_counts_as_the_previous_state():
    listing = {"kind": "IngressList", "items": [with_annotations(ingress("shop", "web"), {NGINX + "canary-weight": "5"})]}
    after = with_annotations(ingress("shop", "web"), {NGINX + "canary-weight": "50"})
    audit = [event("list", "ingresses", None, None, user="x", response=listing),
             event("patch", "ingresses", "shop", "web", minutes=1, request={"metadata": {"annotations": {NGINX + "canary-weight": "50"}}},
                   response=after)]
    (row,) = run_control("PD-01", audit=audit)
    assert row["changes"] == [f'changed annotation {NGINX}canary-weight from "5" to "50"']


# --- PD-02: who changed it ----------------------------------------------------------------------


def test_pd02_scope_is_ingresses_ingressclasses_tls_secrets_and_rbac():
    audit = [event("patch", "ingresses", "shop", "web", user=ARGOCD),
             event("create", "ingressclasses", None, "nginx-new", api_group="networking.k8s.io", minutes=1),
             event("update", "secrets", "shop", "stripe-api-key", minutes=2),  # not a TLS secret
             event("update", "configmaps", "shop", "settings", minutes=3),  # not in scope
             rbac("delete", role("ClusterRole", "viewer", []), minutes=4),
             event("update", "ingresses", "shop", "web", subresource="status", user="some-controller", minutes=5)]
    found = run_control("PD-02", audit=audit, policy=APPROVED)
    assert keys(found, "resource_kind", "name") == {("ingressclasses", "nginx-new"), ("clusterroles", "viewer")}


# --- PD-03: risky annotations -------------------------------------------------------------------


def annotated_update(annotations_before: dict, annotations_after: dict) -> list[dict]:
    before = with_annotations(ingress("shop", "web"), annotations_before)
    after = with_annotations(ingress("shop", "web"), annotations_after)
    return [event("get", "ingresses", "shop", "web", user="x", response=before),
            event("update", "ingresses", "shop", "web", minutes=1, user=ARGOCD, request=after, response=after)]


@pytest.mark.parametrize(("before", "after", "risk"), [
    ({}, {NGINX + "server-snippet": "location /x {}"}, "raw nginx configuration injected through the ingress"),
    ({NGINX + "auth-url": "http://oauth2-proxy/auth"}, {}, "authentication in front of the site removed"),
    ({NGINX + "whitelist-source-range": "10.20.0.0/16"}, {}, "source address allowlist removed: every address may connect"),
    ({NGINX + "whitelist-source-range": "10.20.0.0/16"}, {NGINX + "whitelist-source-range": "10.20.0.0/16, ::/0"},
     "source address allowlist opened to every address"),
    ({NGINX + "backend-protocol": "HTTPS"}, {NGINX + "backend-protocol": "HTTP"}, "traffic to the backend no longer encrypted"),
    ({NGINX + "auth-tls-verify-client": "on"}, {NGINX + "auth-tls-verify-client": "optional_no_ca"},
     "client certificate verification relaxed"),
])
def test_pd03_risky_changes_are_found_even_from_gitops(before, after, risk):
    (row,) = run_control("PD-03", audit=annotated_update(before, after), policy=APPROVED)
    assert (row["risk"], row["user"]) == (risk, ARGOCD)


@pytest.mark.parametrize(("before", "after"), [
    ({NGINX + "whitelist-source-range": "0.0.0.0/0"}, {NGINX + "whitelist-source-range": "10.20.0.0/16"}),  # narrowed
    ({NGINX + "backend-protocol": "HTTP"}, {NGINX + "backend-protocol": "GRPC"}),  # never encrypted
    ({NGINX + "configuration-snippet": "x"}, {NGINX + "configuration-snippet": "x", NGINX + "proxy-body-size": "1m"}),
    ({NGINX + "ssl-redirect": "false"}, {}),  # redirect back on
    ({NGINX + "server-snippet": "x"}, {}),  # snippet removed
])
def test_pd03_harmless_changes_are_not(before, after):
    assert run_control("PD-03", audit=annotated_update(before, after)) == []


def test_pd03_a_patch_with_unknown_previous_state_is_judged_by_what_it_sets():
    audit = [event("patch", "ingresses", "a", "a", request={"metadata": {"annotations": {NGINX + "allowlist-source-range": "0.0.0.0/0"}}}),
             event("patch", "ingresses", "b", "b", minutes=1, request={"metadata": {"annotations": {NGINX + "auth-url": None}}}),
             event("patch", "ingresses", "c", "c", minutes=2, request={"metadata": {"annotations": {NGINX + "backend-protocol": "HTTP"}}})]
    found = run_control("PD-03", audit=audit)
    assert keys(found, "name", "risk") == {("a", "source address allowlist opened to every address"),
                                           ("b", "authentication in front of the site removed")}
    assert found[0]["reason"].startswith(f'dave@example.com set {NGINX}allowlist-source-range="0.0.0.0/0" on ingress a/a')


# --- PD-04 / PD-05: deletions and controller configuration --------------------------------------


def test_pd04_deletions_by_anyone_are_reported_and_marked():
    audit = [event("delete", "ingresses", "shop", "old", user=ARGOCD),
             event("delete", "mutatingwebhookconfigurations", None, "istio-sidecar-injector",
                   api_group="admissionregistration.k8s.io", minutes=1),
             event("delete", "ingresses", "shop", "x", response_code=404, minutes=2),
             event("delete", "services", "shop", "web", minutes=3)]
    found = run_control("PD-04", audit=audit, policy=APPROVED)
    assert keys(found, "resource_kind", "name", "approved") == {
        ("ingresses", "old", True), ("mutatingwebhookconfigurations", "istio-sidecar-injector", False)}


def test_pd05_controller_namespaces_leader_locks_and_approved_actors():
    lock = {"kind": "ConfigMap", "metadata": {"name": "ingress-controller-leader", "namespace": "ingress-nginx",
            "annotations": {"control-plane.alpha.kubernetes.io/leader": "{}"}}}
    audit = [event("patch", "configmaps", "ingress-nginx", "ingress-nginx-controller", user=ARGOCD,
                   request={"data": {"ssl-protocols": "TLSv1.3"}}),
             event("update", "configmaps", "ingress-nginx", "ingress-controller-leader", user="system:serviceaccount:ingress-nginx:x",
                   request=lock, response=lock, minutes=1),
             event("patch", "configmaps", "shop", "settings", minutes=2),
             event("patch", "configmaps", "traefik", "traefik-config", minutes=3, request={"data": {"x": "y"}}),
             event("create", "ingressclasses", None, "rogue", api_group="networking.k8s.io", minutes=4,
                   request={"kind": "IngressClass", "metadata": {"name": "rogue"}, "spec": {"controller": "example.com/rogue"}})]
    found = run_control("PD-05", audit=audit, policy=APPROVED)
    assert [(r["namespace"], r["name"], r["detail"]) for r in found] == [
        ("traefik", "traefik-config", 'patch {"data":{"x":"y"}}'), (None, "rogue", "controller example.com/rogue")]
    assert run_control("PD-05", audit=audit, policy={**APPROVED, "controller_namespaces": ["shop"]})[0]["name"] == "settings"


# --- PD-06: RBAC grants -------------------------------------------------------------------------


def test_pd06_roles_with_dangerous_rules_are_reported_when_written():
    audit = [rbac("create", role("ClusterRole", "wild", [{"apiGroups": ["apps"], "resources": ["*"], "verbs": ["get"]}])),
             rbac("create", role("ClusterRole", "exec", [{"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["create"]}]), minutes=1),
             rbac("create", role("ClusterRole", "imp", [{"apiGroups": [""], "resources": ["users"], "verbs": ["impersonate"]}]), minutes=2),
             rbac("create", role("Role", "tls", [{"apiGroups": [""], "resources": ["secrets"], "resourceNames": ["shop-tls"],
                                                 "verbs": ["update"]}], namespace="shop"), minutes=3),
             rbac("create", role("ClusterRole", "pods", [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]},
                                                        {"nonResourceURLs": ["/metrics"], "verbs": ["get"]}]), minutes=4),
             rbac("create", role("Role", "cfg", [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["update"]}],
                                 namespace="shop"), minutes=5)]
    found = {r["name"]: r for r in run_control("PD-06", audit=audit)}
    assert {k: r["grants"] for k, r in found.items()} == {
        "wild": ["wildcard"], "exec": ["exec into pods"], "imp": ["bind, escalate or impersonate"], "tls": ["write secrets"]}
    assert found["tls"]["dangerous_rules"] == ["update on secrets (only shop-tls)"]


def test_pd06_bindings_are_judged_by_the_role_they_name():
    reader = role("ClusterRole", "secret-reader", [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["list"]}])
    audit = [rbac("create", reader, user=ARGOCD),
             rbac("create", binding("RoleBinding", "a", "ClusterRole", "secret-reader", [USER], namespace="shop"), minutes=1),
             rbac("create", binding("RoleBinding", "b", "Role", "secret-reader", [USER], namespace="shop"), minutes=2),
             rbac("create", binding("ClusterRoleBinding", "c", "ClusterRole", "unknown-role", [USER]), minutes=3),
             rbac("create", binding("RoleBinding", "d", "ClusterRole", "edit", [USER], namespace="shop"), minutes=4)]
    found = {r["name"]: r for r in run_control("PD-06", audit=audit, policy=APPROVED)}
    assert set(found) == {"secret-reader", "a", "d"}  # b names a namespaced Role that was never seen
    assert found["secret-reader"]["approved"] is True and found["secret-reader"]["reason"].endswith("[approved actor]")
    assert found["a"]["grants"] == ["read secrets"] and found["a"]["role_ref"] == "ClusterRole secret-reader"
    assert found["d"]["grants"] == ["built-in role edit (read and write secrets, write ingresses)"]


def test_pd06_anything_bound_to_anonymous_except_the_public_info_role():
    everyone = {"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": "system:unauthenticated"}
    audit = [rbac("create", binding("ClusterRoleBinding", "open", "ClusterRole", "view", [everyone])),
             rbac("update", binding("ClusterRoleBinding", "system:public-info-viewer", "ClusterRole",
                                    "system:public-info-viewer", [everyone]), user="system:apiserver", minutes=1)]
    (row,) = run_control("PD-06", audit=audit)
    assert (row["name"], row["grants"], row["subjects"]) == ("open", ["access for anonymous users"], ["Group system:unauthenticated"])


def test_pd06_a_bare_patch_of_a_binding_is_judged_by_what_it_sets():
    patch = event("patch", "clusterrolebindings", None, "ops", request={"subjects": [{"kind": "User", "name": "system:anonymous"}]},
                  api_group="rbac.authorization.k8s.io")
    (row,) = run_control("PD-06", audit=[patch])
    assert row["grants"] == ["access for anonymous users"]
    assert row["reason"] == ("dave@example.com patched ClusterRoleBinding ops binding (role not in the patch) "
                             "to User system:anonymous: access for anonymous users")
    assert run_control("PD-06", audit=[dict(patch, response_code=403)]) == []


# --- PD-07 / PD-08: drift from the baseline -----------------------------------------------------


def write_baseline(folder: Path, *objects: dict) -> dict:
    for obj in objects:
        (folder / f"{obj['metadata']['name']}.yaml").write_text(yaml.safe_dump(obj))
    return {"baseline": {"ingress_manifests": str(folder)}}


def test_pd07_without_a_baseline_nothing_is_compared_and_pd08_says_so():
    audit = [event("create", "ingresses", "pay", "pay", response=ingress("pay", "pay", tls=None))]
    result = run_control_result("PD-07", audit=audit)
    assert (result.status, result.findings) == ("pass", [])
    (row,) = run_control("PD-08", audit=audit)
    assert row["baseline_loaded"] is False
    assert row["reason"].startswith("No baseline configured") and "not evaluated" in row["reason"]



def test_pd08_one_row_per_cluster_each_with_what_its_audit_log_shows(tmp_path):
    policy = write_baseline(tmp_path, ingress("shop", "web"), ingress("pay", "pay"))
    audit = [event("update", "ingresses", "shop", "web", user=ARGOCD, response=ingress("shop", "web"), cluster="eu"),
             event("create", "ingresses", "tmp", "t", response=ingress("tmp", "t"), cluster="eu"),
             event("update", "ingresses", "pay", "pay", user=ARGOCD, response=ingress("pay", "pay"), cluster="us"),
             event("get", "pods", "pay", "p", cluster="us")]
    result = run_control_result("PD-08", audit=audit, policy=policy)
    assert [(r["cluster"], r["manifests"], r["manifests_seen"], r["manifests_not_seen"], r["seen_not_in_baseline"])
            for r in result.findings] == [("eu", 2, 1, ["pay/pay"], 1), ("us", 2, 1, ["shop/web"], 0)]
    assert result.finding_count_by_cluster == {"eu": 1, "us": 1}
    # without a baseline: one row, the policy's doing, naming no cluster
    (row,) = run_control("PD-08", audit=audit)
    assert (row["baseline_loaded"], row["cluster"], row["seen_not_in_baseline"]) == (False, None, 3)


def test_pd07_spec_and_nginx_annotations_are_compared_other_annotations_are_not(tmp_path):
    git = with_annotations(ingress("shop", "web"), {NGINX + "proxy-body-size": "8m"})
    live = with_annotations(ingress("shop", "web", host="shop2.example.com"),
                            {NGINX + "proxy-body-size": "8m", "argocd.argoproj.io/tracking-id": "shop:x"})
    policy = write_baseline(tmp_path, git)
    audit = [event("update", "ingresses", "shop", "web", user=ARGOCD, response=live)]
    (row,) = run_control("PD-07", audit=audit, policy=policy)
    assert row["differences"] == [
        'spec.rules[0].host: "shop2.example.com" in the cluster, "shop.example.com" in Git',
        'spec.tls[0].hosts[0]: "shop2.example.com" in the cluster, "shop.example.com" in Git']
    assert run_control("PD-07", audit=[dict(audit[0], response_object=json.dumps(git))], policy=policy) == []


def test_pd07_deleted_and_unseen_ingresses(tmp_path):
    policy = write_baseline(tmp_path, ingress("shop", "kept"), ingress("shop", "unseen"))
    audit = [event("delete", "ingresses", "shop", "kept"),
             event("create", "ingresses", "tmp", "t", minutes=1, response=ingress("tmp", "t")),
             event("delete", "ingresses", "tmp", "t", minutes=2)]  # came and went: nothing to drift from
    found = run_control("PD-07", audit=audit, policy=policy)
    assert keys(found, "name", "drift") == {("kept", "deleted from the cluster, still in Git")}
    (summary,) = run_control("PD-08", audit=audit, policy=policy)
    assert (summary["manifests"], summary["manifests_seen"], summary["manifests_not_seen"], summary["seen_not_in_baseline"]) == (
        2, 1, ["shop/unseen"], 1)


def test_pd07_recreated_after_deletion_is_judged_on_the_new_object(tmp_path):
    policy = write_baseline(tmp_path, ingress("shop", "web"))
    audit = [event("delete", "ingresses", "shop", "web"),
             event("create", "ingresses", "shop", "web", minutes=1, response=ingress("shop", "web"))]
    assert run_control("PD-07", audit=audit, policy=policy) == []


# --- all of CE-* and PD-*: empty tables and metadata --------------------------------------------

OURS = [f"CE-0{i}" for i in range(1, 6)] + [f"PD-0{i}" for i in range(1, 9)]
POLICY_TOKENS = {  # how the SQL reads each policy key
    # is_approved_ covers is_approved_actor( and is_approved_change(
    "approved_actors": "is_approved_", "controller_namespaces": "is_controller_namespace(",
    "plaintext_allowed_hosts": "is_plaintext_allowed_host(", "baseline.ingress_manifests": "baseline_",
    "thresholds.cert_expiry_days": "getvariable('cert_expiry_days')",
}


@pytest.mark.parametrize("control_id", OURS)
def test_on_empty_tables_only_the_baseline_summary_has_a_row(control_id):
    result = run_control_result(control_id)
    if control_id == "PD-08":
        assert [r["manifests"] for r in result.findings] == [0]
    else:
        assert result.findings == []
        assert result.status == ("info" if control_id in ("CE-01", "PD-01") else "pass")


def test_metadata_titles_and_policy_keys_match_the_sql():
    from ingress_audit.controls import load_controls

    controls = {c.id: c for c in load_controls() if c.id in OURS}
    assert sorted(controls) == OURS
    for control in controls.values():
        assert len(control.meta.title) <= 70, control.id
        sql = _effective_sql(control.sql)
        used = {key for key, token in POLICY_TOKENS.items() if token in sql}
        assert used == set(control.meta.policy_keys), control.id


def _without_comments(sql: str) -> str:
    return re.sub(r"--[^\n]*", "", sql)


def _effective_sql(sql: str) -> str:
    """A control's SQL plus the library views it reads (transitively), comments removed."""
    from ingress_audit.resources import queries_dir

    views = {}
    for lib in sorted((queries_dir() / "lib").glob("*.sql")):
        for name, body in re.findall(r"CREATE OR REPLACE TEMP VIEW (\w+) AS(.*?)(?=CREATE OR REPLACE|\Z)", lib.read_text(), re.S):
            views[name] = _without_comments(body)
    text, seen = _without_comments(sql), set()
    while True:
        new = [v for v in views if v not in seen and re.search(rf"\b{v}\b", text)]
        if not new:
            return text
        seen.update(new)
        text += "".join(views[v] for v in new)
