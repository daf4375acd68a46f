"""The planted Kubernetes API incidents, the approved GitOps changes, and planted look-alikes.

Times are (day, "HH:MM:SS" UTC) from the week's Monday, as in sample_data/expected_incidents.yaml.
"""

from __future__ import annotations

import json
from datetime import date

from . import samplegen_plan as plan
from .samplegen_audit import (ALICE, ARGOCD, BOB, CAROL, CERT_MANAGER, DAVE, ERIN, INGRESS_NGINX, MALLORY, Actor,
                              Audit, Ref, forbidden, not_found, rbac_reason)
from .samplegen_formats import rfc3339_seconds, uuid4

RR = "RequestResponse"
NET = "networking.k8s.io"
RBAC = "rbac.authorization.k8s.io"
CM = "cert-manager.io"
LB_HOST = "k8s-ingressn-ingressn-7f3c9a1b2d-0a1b2c3d4e5f6a7b.elb.eu-west-1.amazonaws.com"
DELETE_OPTIONS = {"kind": "DeleteOptions", "apiVersion": "meta.k8s.io/v1", "propagationPolicy": "Background"}
SNIPPET = 'more_set_headers "X-Debug-Upstream: $upstream_addr";\n'


class Planter:
    """Writes the week's planted events into an `Audit` at plan times."""

    def __init__(self, a: Audit, week: date):
        self.a, self.week = a, week

    def at(self, when: tuple[int, str]) -> int:
        return plan.at(self.week, when) + int(self.a.rng.random() * 900_000)

    def change(self, when: tuple[int, str], actor: Actor, verb: str, ref: Ref, *, request_object: dict | None,
               response_object: dict | None, code: int = 200, level: str = RR, reason: str | None = None) -> None:
        """A write by a person or a controller, with its bodies when the policy logs them."""
        uri = ref.uri() if verb != "create" else Ref(ref.resource, ref.namespace, None, ref.api_group,
                                                       ref.api_version).uri()
        self.a.record(self.at(when), actor, verb, uri, ref=ref, code=code, level=level,
                      request_object=request_object, response_object=response_object, reason=reason)

    def uid(self) -> str:
        return uuid4(self.a.rng)


def ingress(p: Planter, ns: str, name: str, host: str, service: str, port: int, *, cls: str = "nginx-public",
            tls: str | None = None, annotations: dict | None = None, created: str = "2026-03-02T09:14:11Z",
            generation: int = 1) -> dict:
    """An Ingress as the API server returns it (field order as Go marshals it)."""
    meta: dict = {"name": name, "namespace": ns, "uid": p.uid(), "resourceVersion": str(p.a.rng.randint(5_000_000, 9_000_000)),
                  "generation": generation, "creationTimestamp": created}
    if annotations:
        meta["annotations"] = annotations
    spec: dict = {"ingressClassName": cls}
    if tls:
        spec["tls"] = [{"hosts": [host], "secretName": tls}]
    spec["rules"] = [{"host": host, "http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": {
        "service": {"name": service, "port": {"number": port}}}}]}}]
    return {"kind": "Ingress", "apiVersion": "networking.k8s.io/v1", "metadata": meta, "spec": spec,
            "status": {"loadBalancer": {"ingress": [{"hostname": LB_HOST}]}}}


def _manifest(obj: dict) -> dict:
    """What a client sends to create an object: no server-set metadata, no status."""
    meta = {k: v for k, v in obj["metadata"].items() if k in ("name", "namespace", "annotations", "labels")}
    return {"kind": obj["kind"], "apiVersion": obj["apiVersion"], "metadata": meta,
            **{k: v for k, v in obj.items() if k not in ("kind", "apiVersion", "metadata", "status")}}


def _deleted(name: str, group: str, kind: str, uid: str) -> dict:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
            "details": {"name": name, "group": group, "kind": kind, "uid": uid}}


def _shop_web(p: Planter, annotations: dict) -> dict:
    return ingress(p, "shop", "shop-web", "shop.example.com", "web", 8080, tls="shop-tls", annotations=annotations,
                   generation=14)


# --- approved GitOps changes (must not be flagged) ---------------------------------------------------

def gitops_changes(p: Planter) -> None:
    base = {"nginx.ingress.kubernetes.io/proxy-body-size": "8m"}
    obj = _shop_web(p, base)
    applied = _manifest(obj)
    # client-side apply: the patch carries the manifest as last-applied-configuration
    patch = {"metadata": {"annotations": {"kubectl.kubernetes.io/last-applied-configuration":
                                          json.dumps(applied, separators=(",", ":")) + "\n", **base}},
             "spec": {"tls": obj["spec"]["tls"]}}
    p.change((0, "09:15:31"), ARGOCD, "patch", Ref("ingresses", "shop", "shop-web", NET),
             request_object=patch, response_object=obj)
    for when, weight in (((2, "10:30:02"), "10"), ((4, "08:00:17"), "25")):
        annotations = {"nginx.ingress.kubernetes.io/canary": "true", "nginx.ingress.kubernetes.io/canary-weight": weight}
        p.change(when, ARGOCD, "patch", Ref("ingresses", "api", "api-gateway-canary", NET),
                 request_object={"metadata": {"annotations": {"nginx.ingress.kubernetes.io/canary-weight": weight}}},
                 response_object=ingress(p, "api", "api-gateway-canary", "api.example.com", "gateway-canary", 8080,
                                         tls="api-tls", annotations=annotations, generation=31))
    restored = {"nginx.ingress.kubernetes.io/whitelist-source-range": "10.20.0.0/16"}
    p.change((6, "21:52:40"), ARGOCD, "patch", Ref("ingresses", "admin", "admin-portal", NET),
             request_object={"metadata": {"annotations": restored}},
             response_object=ingress(p, "admin", "admin-portal", "admin.example.com", "admin-portal", 80,
                                     tls="admin-tls", annotations=restored, generation=9))
    rb = Ref("rolebindings", "monitoring", "prometheus-k8s", RBAC)
    binding = {"kind": "RoleBinding", "apiVersion": "rbac.authorization.k8s.io/v1",
               "metadata": {"name": "prometheus-k8s", "namespace": "monitoring"},
               "roleRef": {"apiGroup": RBAC, "kind": "Role", "name": "prometheus-k8s"},
               "subjects": [{"kind": "ServiceAccount", "name": "prometheus-k8s", "namespace": "monitoring"}]}
    p.change((2, "10:31:12"), ARGOCD, "patch", rb, request_object={"subjects": binding["subjects"]},
             response_object=binding)


# --- ingress changes outside GitOps --------------------------------------------------------------

def ingress_changes(p: Planter) -> None:
    snippet = {"nginx.ingress.kubernetes.io/proxy-body-size": "8m",
               "nginx.ingress.kubernetes.io/configuration-snippet": SNIPPET}
    p.change((1, "10:22:14"), ALICE, "patch", Ref("ingresses", "shop", "shop-web", NET),
             request_object={"metadata": {"annotations": {"nginx.ingress.kubernetes.io/configuration-snippet": SNIPPET}}},
             response_object=_shop_web(p, snippet))
    opened = {"nginx.ingress.kubernetes.io/whitelist-source-range": "0.0.0.0/0"}
    p.change((6, "20:48:03"), BOB, "patch", Ref("ingresses", "admin", "admin-portal", NET),
             request_object={"metadata": {"annotations": opened}},
             response_object=ingress(p, "admin", "admin-portal", "admin.example.com", "admin-portal", 80,
                                     tls="admin-tls", annotations=opened, generation=8))
    uid = p.uid()
    p.change((3, "14:30:55"), CAROL, "delete", Ref("ingresses", "shop", "shop-legacy", NET),
             request_object=DELETE_OPTIONS, response_object=_deleted("shop-legacy", NET, "ingresses", uid))
    payroll = ingress(p, "payroll", "payroll-web", plan.PLAINTEXT_HOST, "payroll-web", 8080, cls="nginx-internal",
                      created="2026-11-18T16:02:10Z")
    _created(p, (2, "16:02:10"), DAVE, Ref("ingresses", "payroll", "payroll-web", NET), payroll)
    promo = ingress(p, "marketing", "promo", "promo.example.com", "promo", 80, tls="promo-tls",
                    annotations={"nginx.ingress.kubernetes.io/ssl-redirect": "false"}, created="2026-11-20T11:03:40Z")
    _created(p, (4, "11:03:40"), CAROL, Ref("ingresses", "marketing", "promo", NET), promo)
    # the controller publishes the new load balancer address (a look-alike: a service account)
    for when, obj in (((2, "16:02:41"), payroll), ((4, "11:04:12"), promo)):
        meta = obj["metadata"]
        p.change(when, INGRESS_NGINX, "update", Ref("ingresses", meta["namespace"], meta["name"], NET, subresource="status"),
                 request_object=obj, response_object=obj)


def _created(p: Planter, when: tuple[int, str], actor: Actor, ref: Ref, obj: dict) -> None:
    p.change(when, actor, "create", ref, request_object=_manifest(obj), response_object=obj, code=201)


# --- certificates ------------------------------------------------------------------------------------

def _certificate(p: Planter, ns: str, name: str, dns: list[str], not_after: str, *, failing: bool = False) -> dict:
    conditions = [{"type": "Ready", "status": "True", "lastTransitionTime": "2026-09-01T07:15:42Z",
                   "reason": "Ready", "message": "Certificate is up to date and has not expired",
                   "observedGeneration": 2}]
    status: dict = {"conditions": conditions, "notAfter": not_after, "notBefore": "2026-09-01T07:15:42Z",
                    "renewalTime": "2026-10-31T07:15:42Z", "revision": 4}
    if failing:  # renewal keeps failing: the old certificate is still served, and expiring
        conditions.append({"type": "Issuing", "status": "False", "lastTransitionTime": "2026-11-17T06:10:33Z",
                           "reason": "Failed", "observedGeneration": 2,
                           "message": "The certificate request has failed to complete and will be retried: "
                                      "Failed to wait for order resource \"grafana-internal-tls-4-1876401342\" "
                                      "to become ready: order is in \"errored\" state: Failed to finalize Order: "
                                      "429 urn:ietf:params:acme:error:rateLimited"})
        status["failedIssuanceAttempts"] = 3
        status["lastFailureTime"] = "2026-11-17T06:10:33Z"
    return {"apiVersion": "cert-manager.io/v1", "kind": "Certificate",
            "metadata": {"name": name, "namespace": ns, "uid": p.uid(), "resourceVersion": str(p.a.rng.randint(5_000_000, 9_000_000)),
                         "generation": 2, "creationTimestamp": "2026-03-02T09:14:11Z"},
            "spec": {"dnsNames": dns, "issuerRef": {"group": CM, "kind": "ClusterIssuer", "name": "letsencrypt-prod"},
                     "secretName": name},
            "status": status}


def certificates(p: Planter) -> None:
    grafana = _certificate(p, "monitoring", "grafana-internal-tls", ["grafana.internal.example.com"],
                           "2026-11-30T07:15:42Z", failing=True)
    for when in ((1, "06:10:33"), (3, "06:10:41"), (5, "06:10:38")):
        p.change(when, CERT_MANAGER, "update", Ref("certificates", "monitoring", "grafana-internal-tls", CM,
                                                   subresource="status"),
                 request_object=grafana, response_object=grafana)
    api = _certificate(p, "api", "api-tls", ["api.example.com"], "2027-02-16T03:12:40Z")
    p.change((2, "03:12:40"), CERT_MANAGER, "update", Ref("certificates", "api", "api-tls", CM, subresource="status"),
             request_object=api, response_object=api)
    p.change((2, "03:12:41"), CERT_MANAGER, "update", Ref("secrets", "api", "api-tls"), request_object=None,
             response_object=None, level="Metadata")
    shop = _certificate(p, "shop", "shop-tls", ["shop.example.com", "www.shop.example.com"], "2027-01-20T04:00:00Z")
    p.change((1, "11:05:09"), ALICE, "patch", Ref("certificates", "shop", "shop-tls", CM),
             request_object={"spec": {"dnsNames": shop["spec"]["dnsNames"]}}, response_object=shop)
    issuer = {"apiVersion": "cert-manager.io/v1", "kind": "ClusterIssuer",
              "metadata": {"name": "letsencrypt-prod", "uid": p.uid(), "resourceVersion": "8123407", "generation": 3,
                           "creationTimestamp": "2025-06-11T08:00:00Z"},
              "spec": {"acme": {"email": "platform@example.com",
                                "server": "https://acme-staging-v02.api.letsencrypt.org/directory",
                                "privateKeySecretRef": {"name": "letsencrypt-prod-account"},
                                "solvers": [{"http01": {"ingress": {"ingressClassName": "nginx-public"}}}]}}}
    p.change((3, "16:40:12"), BOB, "update", Ref("clusterissuers", None, "letsencrypt-prod", CM),
             request_object=issuer, response_object=issuer)
    p.change((4, "09:41:22"), DAVE, "update", Ref("secrets", "shop", "shop-tls"), request_object=None,
             response_object=None, level="Metadata")


# --- the ingress controller's own configuration --------------------------------------------------------

def controller_config(p: Planter) -> None:
    data = {"allow-snippet-annotations": "true", "use-forwarded-headers": "true", "proxy-body-size": "8m"}
    cm = {"kind": "ConfigMap", "apiVersion": "v1",
          "metadata": {"name": "ingress-nginx-controller", "namespace": "ingress-nginx", "uid": p.uid(),
                       "resourceVersion": "8120044", "creationTimestamp": "2025-06-11T08:00:00Z"},
          "data": data}
    p.change((1, "09:51:30"), CAROL, "patch", Ref("configmaps", "ingress-nginx", "ingress-nginx-controller"),
             request_object={"data": {"allow-snippet-annotations": "true"}}, response_object=cm)
    uid = p.uid()
    p.change((1, "09:58:02"), DAVE, "delete", Ref("validatingwebhookconfigurations", None, "ingress-nginx-admission",
                                                   "admissionregistration.k8s.io"),
             request_object=DELETE_OPTIONS,
             response_object=_deleted("ingress-nginx-admission", "admissionregistration.k8s.io",
                                      "validatingwebhookconfigurations", uid))


# --- RBAC ---------------------------------------------------------------------------------------------

def _binding(kind: str, name: str, ns: str | None, role_kind: str, role: str, subject: dict) -> dict:
    meta = {"name": name, **({"namespace": ns} if ns else {})}
    return {"kind": kind, "apiVersion": "rbac.authorization.k8s.io/v1", "metadata": meta,
            "subjects": [subject], "roleRef": {"apiGroup": RBAC, "kind": role_kind, "name": role}}


def _role(name: str, ns: str, rules: list[dict]) -> dict:
    return {"kind": "Role", "apiVersion": "rbac.authorization.k8s.io/v1",
            "metadata": {"name": name, "namespace": ns}, "rules": rules}


def _createrbac_reason(p: Planter, when: tuple[int, str], actor: Actor, obj: dict) -> None:
    meta = obj["metadata"]
    resource = {"Role": "roles", "RoleBinding": "rolebindings", "ClusterRoleBinding": "clusterrolebindings"}[obj["kind"]]
    response = {**obj, "metadata": {**meta, "uid": p.uid(), "resourceVersion": str(p.a.rng.randint(5_000_000, 9_000_000)),
                                    "creationTimestamp": rfc3339_seconds(plan.at(p.week, when))}}
    p.change(when, actor, "create", Ref(resource, meta.get("namespace"), meta["name"], RBAC),
             request_object=obj, response_object=response, code=201)


def rbac_changes(p: Planter) -> None:
    _createrbac_reason(p, (0, "17:30:05"), CAROL, _role("secret-reader", "shop", [
        {"verbs": ["get", "list"], "apiGroups": [""], "resources": ["secrets"]}]))
    _createrbac_reason(p, (0, "17:30:06"), CAROL, _binding("RoleBinding", "debug-anonymous", "shop", "Role", "secret-reader",
                                                      {"kind": "User", "apiGroup": RBAC, "name": "system:anonymous"}))
    _createrbac_reason(p, (2, "17:20:45"), BOB, _binding("ClusterRoleBinding", "mallory-cluster-admin", None, "ClusterRole",
                                                    "cluster-admin",
                                                    {"kind": "User", "apiGroup": RBAC, "name": "mallory@example.com"}))
    _createrbac_reason(p, (3, "10:05:18"), CAROL, _role("ingress-editor", "shop", [
        {"verbs": ["create", "update", "patch"], "apiGroups": [NET], "resources": ["ingresses"]},
        {"verbs": ["get"], "apiGroups": [""], "resources": ["secrets"]}]))
    _createrbac_reason(p, (3, "10:05:19"), CAROL, _binding("RoleBinding", "ci-deployer-ingress-editor", "shop", "Role",
                                                      "ingress-editor",
                                                      {"kind": "ServiceAccount", "name": "ci-deployer", "namespace": "shop"}))
    # dave tries the new role out by impersonating the service account (rare, but ordinary)
    ref = Ref("secrets", "shop", "shop-tls")
    p.a.record(p.at((3, "10:07:00")), DAVE, "get", ref.uri(), ref=ref,
               impersonated={"username": "system:serviceaccount:shop:ci-deployer",
                             "groups": ["system:serviceaccounts", "system:serviceaccounts:shop", "system:authenticated"]},
               reason=rbac_reason("RoleBinding", "ci-deployer-ingress-editor/shop", "Role", "ingress-editor",
                            'ServiceAccount "ci-deployer/shop"'))


# --- access control at the API server ---------------------------------------------------------------

def unauthenticated_burst(p: Planter) -> None:
    """150 requests with a made-up bearer token: the API server logs each 401 without a user."""
    targets = (("list", Ref("secrets", "kube-system")), ("list", Ref("pods")),
               ("list", Ref("clusterrolebindings", api_group=RBAC)), ("get", Ref("namespaces", None, "kube-system")))
    t = p.at(plan.API_401_START)
    for i in range(plan.API_401_REQUESTS):
        verb, ref = targets[i % len(targets)]
        p.a.record(t, None, verb, ref.uri(), ref=ref, code=401, stage="ResponseStarted", stage_us=t + 310,
                   status={"message": "Authentication failed, attempted: bearer"}, decision=None,
                   source_ip=plan.API_401_IP, user_agent="python-requests/2.31.0")
        t += 5_000_000 + int(p.a.rng.random() * 1_000_000)


def anonymous_secrets(p: Planter) -> None:
    """Anonymous reads of secrets, allowed because of the debug-anonymous RoleBinding."""
    reason = rbac_reason("RoleBinding", "debug-anonymous/shop", "Role", "secret-reader", 'User "system:anonymous"')
    t = p.at(plan.ANONYMOUS_AT)
    for verb, ref in (("list", Ref("secrets", "shop")), ("get", Ref("secrets", "shop", "shop-tls")),
                      ("get", Ref("secrets", "shop", "stripe-api-key"))):
        p.a.record(t, None, verb, ref.uri(), ref=ref, anonymous=True, reason=reason, source_ip=plan.ANONYMOUS_IP,
                   user_agent="curl/8.5.0")
        t += 4_000_000 + int(p.a.rng.random() * 3_000_000)


def denials(p: Planter) -> None:
    """mallory probes for secrets and a shell and is refused each time (exec: two stages each)."""
    pod = "shop-web-6f7c9d8b5-x2k4p"
    attempts = (("list", Ref("secrets", "shop")), ("get", Ref("secrets", "kube-system", "db-credentials")),
                ("create", Ref("pods", "shop", pod, subresource="exec")), ("list", Ref("clusterrolebindings", api_group=RBAC)),
                ("list", Ref("secrets", "shop")), ("create", Ref("pods", "shop", pod, subresource="exec")),
                ("get", Ref("nodes", None, "ip-10-0-1-23.eu-west-1.compute.internal")),
                ("list", Ref("secrets", "shop")), ("get", Ref("secrets", "kube-system", "db-credentials")),
                ("create", Ref("pods", "shop", pod, subresource="exec")), ("list", Ref("clusterrolebindings", api_group=RBAC)),
                ("get", Ref("nodes", None, "ip-10-0-2-57.eu-west-1.compute.internal")))
    t = p.at((1, "15:02:00"))
    for verb, ref in attempts:
        status = forbidden(MALLORY.username, verb, ref)
        query = "command=sh&container=web&stdin=true&stdout=true&tty=true" if ref.subresource else ""
        common = dict(ref=ref, code=403, status=status, decision="forbid", reason="")
        if ref.subresource == "exec":  # long-running: the refusal is a ResponseStarted, then the completion
            audit_id = p.a.record(t, MALLORY, verb, ref.uri(query), stage="ResponseStarted", stage_us=t + 900, **common)
            p.a.record(t, MALLORY, verb, ref.uri(query), stage_us=t + 1_300, audit_id=audit_id, **common)
        else:
            p.a.record(t, MALLORY, verb, ref.uri(query), **common)
        t += 150_000_000 + int(p.a.rng.random() * 60_000_000)
    # after bob's ClusterRoleBinding the same request succeeds
    ref = Ref("secrets", "shop")
    p.a.record(p.at((2, "17:26:03")), MALLORY, "list", ref.uri(), ref=ref,
               reason=rbac_reason("ClusterRoleBinding", "mallory-cluster-admin", "ClusterRole", "cluster-admin",
                            'User "mallory@example.com"'))


def pod_exec(p: Planter) -> None:
    """bob opens a shell in a shop pod; the session lasts seven and a half minutes."""
    ref = Ref("pods", "shop", "shop-web-6f7c9d8b5-x2k4p", subresource="exec")
    uri = ref.uri("command=sh&container=web&stdin=true&stdout=true&tty=true")
    t = p.at((3, "11:12:07"))
    audit_id = p.a.record(t, BOB, "create", uri, ref=ref, code=101, stage="ResponseStarted", stage_us=t + 35_000)
    p.a.record(t, BOB, "create", uri, ref=ref, code=101, stage_us=plan.at(p.week, (3, "11:19:44")) + 512_331,
               audit_id=audit_id)


def lookalikes(p: Planter) -> None:
    """Ordinary mistakes: an expired token (two 401s), a typo (404), one refused list (403)."""
    for i in range(2):
        t = p.at((0, "09:02:10")) + i * 9_000_000
        ref = Ref("pods", "shop")
        p.a.record(t, None, "list", ref.uri("limit=500"), ref=ref, code=401, stage="ResponseStarted", stage_us=t + 280,
                   status={"message": "Authentication failed, attempted: bearer"}, decision=None,
                   source_ip=BOB.source_ip, user_agent=BOB.user_agent)
    ref = Ref("pods", "shop", "shop-wbe-6f7c9d8b5-x2k4p")
    p.a.record(p.at((0, "10:14:31")), ERIN, "get", ref.uri(), ref=ref, code=404, status=not_found(ref))
    ref = Ref("secrets", "shop")
    p.a.record(p.at((0, "10:15:02")), ERIN, "list", ref.uri("limit=500"), ref=ref, code=403,
               status=forbidden(ERIN.username, "list", ref), decision="forbid", reason="")


def plant_audit(a: Audit, week: date) -> None:
    p = Planter(a, week)
    gitops_changes(p)
    ingress_changes(p)
    certificates(p)
    controller_config(p)
    rbac_changes(p)
    unauthenticated_burst(p)
    anonymous_secrets(p)
    denials(p)
    pod_exec(p)
    lookalikes(p)

