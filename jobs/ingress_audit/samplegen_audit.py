"""Kubernetes API audit events (audit.k8s.io/v1) as kube-apiserver's log backend writes them.

The cluster's audit policy (sample_data/README.md shows it): RequestReceived is omitted; secrets
and other configmaps are logged at Metadata; writes to ingresses, ingress classes, validating
webhooks, RBAC objects, cert-manager certificates and issuers, and the ingress-nginx namespace's
configmaps at RequestResponse; everything else at Metadata; managed fields are omitted.
This module holds the event builder, the cluster's cast, and the routine background.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from .samplegen_formats import go_json, rfc3339_micro, uuid4

K8S = "v1.29.10"
K8S_COMMIT = "f0e6e2d"
NODES = ("ip-10-0-1-23.eu-west-1.compute.internal", "ip-10-0-2-57.eu-west-1.compute.internal",
         "ip-10-0-3-141.eu-west-1.compute.internal", "ip-10-0-1-88.eu-west-1.compute.internal")
CONTROL_PLANE_IP = "10.0.0.11"
KUBECTL = "kubectl/v1.29.3 (darwin/arm64) kubernetes/6813625"
KUBECTL_LINUX = "kubectl/v1.29.3 (linux/amd64) kubernetes/6813625"
MINUTE_US = 60_000_000

Event = tuple[int, str]  # (stageTimestamp in µs, the JSON line): files are in stage order


@dataclass(frozen=True)
class Actor:
    username: str
    groups: tuple[str, ...]
    source_ip: str
    user_agent: str
    reason: str = ""  # what the authorizer says when it allows this actor
    uid: str | None = None
    extra: dict | None = None

    def user(self) -> dict:
        user: dict = {"username": self.username}
        if self.uid:
            user["uid"] = self.uid
        user["groups"] = list(self.groups)
        if self.extra:
            user["extra"] = self.extra
        return user


def rbac_reason(kind: str, binding: str, role_kind: str, role: str, subject: str) -> str:
    return f'RBAC: allowed by {kind} "{binding}" of {role_kind} "{role}" to {subject}'


def person(email: str, group: str, ip: str, binding: str, role: str, ua: str = KUBECTL) -> Actor:
    """An engineer logged in through OIDC (username = email, groups prefixed `oidc:`)."""
    return Actor(email, (group, "system:authenticated"), ip, ua,
                 rbac_reason("ClusterRoleBinding", binding, "ClusterRole", role, f'Group "{group}"'))


def service_account(ns: str, name: str, ip: str, ua: str, pod: str, uid: str, pod_uid: str,
                    binding: str | None = None) -> Actor:
    binding = binding or name
    return Actor(f"system:serviceaccount:{ns}:{name}",
                 ("system:serviceaccounts", f"system:serviceaccounts:{ns}", "system:authenticated"), ip, ua,
                 rbac_reason("ClusterRoleBinding", binding, "ClusterRole", binding, f'ServiceAccount "{name}/{ns}"'),
                 uid=uid, extra={"authentication.kubernetes.io/pod-name": [pod],
                                 "authentication.kubernetes.io/pod-uid": [pod_uid]})


def kubelet(node: str) -> Actor:
    ip = node.split(".")[0].removeprefix("ip-").replace("-", ".")
    # the Node authorizer allows kubelets and gives no reason
    return Actor(f"system:node:{node}", ("system:nodes", "system:authenticated"), ip,
                 f"kubelet/{K8S} (linux/amd64) kubernetes/{K8S_COMMIT}")


def _component(name: str) -> Actor:
    user = f"system:{name}"
    return Actor(user, ("system:authenticated",), CONTROL_PLANE_IP,
                 f"{name}/{K8S} (linux/amd64) kubernetes/{K8S_COMMIT}/leader-election",
                 rbac_reason("ClusterRoleBinding", user, "ClusterRole", user, f'User "{user}"'))


KCM, SCHEDULER = _component("kube-controller-manager"), _component("kube-scheduler")
ALICE = person("alice@example.com", "oidc:platform-team", "10.20.4.31", "platform-team-admin", "cluster-admin")
BOB = person("bob@example.com", "oidc:platform-team", "10.20.4.57", "platform-team-admin", "cluster-admin",
             KUBECTL_LINUX)
CAROL = person("carol@example.com", "oidc:platform-team", "10.20.7.12", "platform-team-admin", "cluster-admin")
DAVE = person("dave@example.com", "oidc:sre", "10.20.2.8", "sre-admin", "cluster-admin", KUBECTL_LINUX)
ERIN = person("erin@example.com", "oidc:developers", "10.20.5.77", "developers-view", "view")
MALLORY = Actor("mallory@example.com", ("oidc:contractors", "system:authenticated"), "10.20.9.140", KUBECTL)
ARGOCD = service_account("argocd", "argocd-application-controller", "10.2.13.7",
                         "argocd-application-controller/v2.13.1+af54ef8 (linux/amd64)",
                         "argocd-application-controller-0", "3c7e0f52-9d41-4b8e-a1f3-5b2d7c9e6a10",
                         "7b1f0c2d-6e3a-4f59-8c1d-2a9e4b7f0d31")
INGRESS_NGINX = service_account("ingress-nginx", "ingress-nginx", "10.2.0.41",
                                "nginx-ingress-controller/v1.11.3 (linux/amd64) ingress-nginx/0106de65cfccb74405a6dfa7d9daffc6f0a6ef1a",
                                "ingress-nginx-controller-5c8d66c76d-4kq2x", "9a2d4c6e-1b3f-4d5a-8e7c-0f1a2b3c4d5e",
                                "5e4d3c2b-1a0f-4e9d-8c7b-6a5f4e3d2c1b")
CERT_MANAGER = service_account("cert-manager", "cert-manager", "10.2.0.77",
                               "cert-manager-certificates-issuing/v1.16.1 (linux/amd64) cert-manager/7a4a6b5",
                               "cert-manager-6d9f8b7c5-m4x2p", "b6c5d4e3-f2a1-4b0c-9d8e-7f6a5b4c3d2e",
                               "c1d2e3f4-a5b6-4c7d-8e9f-0a1b2c3d4e5f", "cert-manager-controller-certificates")
ANONYMOUS = ("system:anonymous", ("system:unauthenticated",))


@dataclass
class Ref:
    """objectRef: the resource the request was about (core group: no apiGroup key)."""

    resource: str
    namespace: str | None = None
    name: str | None = None
    api_group: str = ""
    api_version: str = "v1"
    subresource: str | None = None

    def json(self) -> dict:
        ref: dict = {"resource": self.resource}
        if self.namespace:
            ref["namespace"] = self.namespace
        if self.name:
            ref["name"] = self.name
        if self.api_group:
            ref["apiGroup"] = self.api_group
        ref["apiVersion"] = self.api_version
        if self.subresource:
            ref["subresource"] = self.subresource
        return ref

    def uri(self, query: str = "") -> str:
        base = f"/apis/{self.api_group}/{self.api_version}" if self.api_group else f"/api/{self.api_version}"
        path = base + (f"/namespaces/{self.namespace}" if self.namespace else "") + f"/{self.resource}"
        path += (f"/{self.name}" if self.name else "") + (f"/{self.subresource}" if self.subresource else "")
        return path + (f"?{query}" if query else "")


@dataclass
class Audit:
    """Collects a source's events; `rng` makes IDs and latencies reproducible."""

    rng: random.Random
    events: list[Event] = field(default_factory=list)

    def record(self, received_us: int, actor: Actor | None, verb: str, uri: str, *, ref: Ref | None = None,
               code: int = 200, level: str = "Metadata", stage: str = "ResponseComplete",
               stage_us: int | None = None, status: dict | None = None, request_object: dict | None = None,
               response_object: dict | None = None, decision: str | None = "allow", reason: str | None = None,
               anonymous: bool = False, impersonated: dict | None = None, audit_id: str | None = None,
               source_ip: str | None = None, user_agent: str | None = None) -> str:
        """Append one event in kube-apiserver's field order; return its auditID.

        actor=None is a request whose authentication failed: the event names no user at all.
        """
        audit_id = audit_id or uuid4(self.rng)
        if stage_us is None:
            stage_us = received_us + 900 + int(self.rng.random() * 25_000)
        if actor is None:
            user: dict = {"username": ANONYMOUS[0], "groups": list(ANONYMOUS[1])} if anonymous else {}
        else:
            user = actor.user()
        ev: dict = {"kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": level, "auditID": audit_id,
                    "stage": stage, "requestURI": uri, "verb": verb, "user": user}
        if impersonated:
            ev["impersonatedUser"] = impersonated
        ev["sourceIPs"] = [source_ip or (actor.source_ip if actor else "")]
        ev["userAgent"] = user_agent or (actor.user_agent if actor else "")
        if ref:
            ev["objectRef"] = ref.json()
        ev["responseStatus"] = {"metadata": {}, **(status or {}), "code": code}
        if request_object is not None:
            ev["requestObject"] = request_object
        if response_object is not None:
            ev["responseObject"] = response_object
        ev["requestReceivedTimestamp"] = rfc3339_micro(received_us)
        ev["stageTimestamp"] = rfc3339_micro(stage_us)
        if decision:
            default_reason = actor.reason if actor else ""
            ev["annotations"] = {"authorization.k8s.io/decision": decision,
                                 "authorization.k8s.io/reason": default_reason if reason is None else reason}
        self.events.append((stage_us, go_json(ev)))
        return audit_id

    def watch(self, start_us: int, actor: Actor, ref: Ref, selector: str = "") -> int:
        """A watch: ResponseStarted when it opens, ResponseComplete when its timeout ends it."""
        timeout_s = 300 + int(self.rng.random() * 300)
        rv = 5_000_000 + int(self.rng.random() * 4_000_000)
        query = "allowWatchBookmarks=true" + (f"&fieldSelector={selector}" if selector else "")
        query += f"&resourceVersion={rv}&timeout={timeout_s // 60}m{timeout_s % 60}s&timeoutSeconds={timeout_s}&watch=true"
        uri = ref.uri(query)
        audit_id = self.record(start_us, actor, "watch", uri, ref=ref, stage="ResponseStarted",
                               stage_us=start_us + 1_200)
        end = start_us + timeout_s * 1_000_000
        self.record(start_us, actor, "watch", uri, ref=ref, stage_us=end + 300, audit_id=audit_id)
        return end + int(self.rng.random() * 200_000)


def forbidden(user: str, verb: str, ref: Ref) -> dict:
    """The 403 Status the RBAC authorizer returns, message and details as the API server words them."""
    resource = f"{ref.resource}/{ref.subresource}" if ref.subresource else ref.resource
    qualified = f"{ref.resource}.{ref.api_group}" if ref.api_group else ref.resource
    subject = f'{qualified} "{ref.name}"' if ref.name else qualified
    scope = f'in the namespace "{ref.namespace}"' if ref.namespace else "at the cluster scope"
    details: dict = {"name": ref.name} if ref.name else {}
    if ref.api_group:
        details["group"] = ref.api_group
    details["kind"] = ref.resource
    return {"status": "Failure",
            "message": f'{subject} is forbidden: User "{user}" cannot {verb} resource "{resource}" '
                       f'in API group "{ref.api_group}" {scope}',
            "reason": "Forbidden", "details": details}


def not_found(ref: Ref) -> dict:
    qualified = f"{ref.resource}.{ref.api_group}" if ref.api_group else ref.resource
    details: dict = {"name": ref.name}
    if ref.api_group:
        details["group"] = ref.api_group
    details["kind"] = ref.resource
    return {"status": "Failure", "message": f'{qualified} "{ref.name}" not found', "reason": "NotFound",
            "details": details}


# --- the routine background ------------------------------------------------------------------

def leader_election(a: Audit, day_start: int, actor: Actor, lease: str) -> None:
    """Lease renewals (get, then update), thinned to one every five minutes to keep the sample small."""
    ref = Ref("leases", "kube-system", lease, "coordination.k8s.io")
    for minute in range(0, 1440, 5):
        t = day_start + minute * MINUTE_US + int(a.rng.random() * 2_000_000)
        a.record(t, actor, "get", ref.uri(), ref=ref, stage_us=t + 2_100)
        a.record(t + 3_000, actor, "update", ref.uri(), ref=ref, stage_us=t + 9_400)


def watcher(a: Audit, day_start: int, actor: Actor, ref: Ref, selector: str = "") -> None:
    """A controller's informer: one watch after another, all day long."""
    t = day_start + int(a.rng.random() * 300_000_000) - 300_000_000
    while t < day_start + 86_400_000_000:
        t = a.watch(t, actor, ref, selector)


def kubelet_day(a: Audit, day_start: int, node: str) -> None:
    actor = kubelet(node)
    watcher(a, day_start, actor, Ref("pods"), f"spec.nodeName%3D{node}")
    for _ in range(a.rng.randint(2, 6)):  # pods (re)started here mount their secrets and configmaps
        t = day_start + int(a.rng.random() * 86_400_000_000)
        ns, secret, cm = a.rng.choice((("shop", "shop-web-env", "shop-web-config"),
                                       ("api", "gateway-env", "gateway-routes"),
                                       ("monitoring", "grafana-admin", "grafana-dashboards")))
        for resource, name in (("secrets", secret), ("configmaps", cm)):
            ref = Ref(resource, ns, name)
            a.record(t, actor, "get", ref.uri(), ref=ref)
            t += 30_000


# namespace: (deployment, one of its pods, its container)
WORKLOADS = {"shop": ("shop-web", "shop-web-6f7c9d8b5-x2k4p", "web"),
             "api": ("gateway", "gateway-7b9d4c8f6-q8wzl", "gateway"),
             "admin": ("admin-portal", "admin-portal-5d8c7b9f4-r2m7n", "portal"),
             "monitoring": ("grafana", "grafana-6c9f8d7b5-k4j2h", "grafana"),
             "argocd": ("argocd-server", "argocd-server-7f9c8b6d4-t5v8w", "argocd-server")}


def people_day(a: Audit, day_start: int) -> None:
    """Engineers looking at things on a working day: gets, lists, logs."""
    rng = a.rng
    for actor in (ALICE, BOB, CAROL, DAVE, ERIN):
        for _ in range(rng.randint(8, 25)):
            t = day_start + (7 * 60 + int(rng.random() * 9 * 60)) * MINUTE_US + int(rng.random() * MINUTE_US)
            ns = rng.choice(tuple(WORKLOADS))
            deployment, pod, container = WORKLOADS[ns]
            verb, ref, query = rng.choice((
                ("list", Ref("pods", ns), "limit=500"),
                ("list", Ref("deployments", ns, api_group="apps"), "limit=500"),
                ("list", Ref("ingresses", ns, api_group="networking.k8s.io"), "limit=500"),
                ("list", Ref("events", ns), "limit=500"),
                ("get", Ref("pods", ns, pod, subresource="log"), f"container={container}&tailLines=200"),
                ("get", Ref("deployments", ns, deployment, api_group="apps"), ""),
            ))
            a.record(t, actor, verb, ref.uri(query), ref=ref)


def anonymous_day(a: Audit, day_start: int) -> None:
    """Anonymous reads that are meant to be public: version checks and OIDC discovery for IRSA."""
    for hour in range(24):
        t = day_start + hour * 3_600_000_000 + int(a.rng.random() * 60_000_000)
        a.record(t, None, "get", "/version", anonymous=True, source_ip="10.0.5.10",
                 user_agent="Blackbox Exporter/0.25.0",
                 reason=rbac_reason("ClusterRoleBinding", "system:public-info-viewer", "ClusterRole",
                              "system:public-info-viewer", 'Group "system:unauthenticated"'))
    for _ in range(a.rng.randint(2, 5)):
        t = day_start + int(a.rng.random() * 86_400_000_000)
        for uri in ("/.well-known/openid-configuration", "/openid/v1/jwks"):
            a.record(t, None, "get", uri, anonymous=True, source_ip="52.94.218.12",
                     user_agent="aws-sdk-go/1.55.5 (go1.22.5; linux; amd64)",
                     reason=rbac_reason("ClusterRoleBinding", "service-account-issuer-discovery", "ClusterRole",
                                  "system:service-account-issuer-discovery", 'Group "system:unauthenticated"'))
            t += 80_000


def argocd_syncs(a: Audit, day_start: int) -> None:
    """GitOps rolling out new images: patches of deployments (Metadata level, so no bodies)."""
    for _ in range(a.rng.randint(3, 9)):
        t = day_start + int(a.rng.random() * 86_400_000_000)
        ns, name = a.rng.choice((("shop", "shop-web"), ("shop", "checkout"), ("api", "gateway"),
                                 ("admin", "admin-portal")))
        ref = Ref("deployments", ns, name, "apps")
        a.record(t, ARGOCD, "get", ref.uri(), ref=ref)
        a.record(t + 40_000, ARGOCD, "patch", ref.uri(), ref=ref)


def background_day(a: Audit, day_start: int, weekend: bool) -> None:
    leader_election(a, day_start, KCM, "kube-controller-manager")
    leader_election(a, day_start, SCHEDULER, "kube-scheduler")
    for node in NODES:
        kubelet_day(a, day_start, node)
    watcher(a, day_start, ARGOCD, Ref("deployments", api_group="apps"))
    watcher(a, day_start, INGRESS_NGINX, Ref("ingresses", api_group="networking.k8s.io"))
    watcher(a, day_start, CERT_MANAGER, Ref("certificates", api_group="cert-manager.io"))
    anonymous_day(a, day_start)
    argocd_syncs(a, day_start)
    if not weekend:
        people_day(a, day_start)
